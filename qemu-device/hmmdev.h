/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: device state shared by the files of the model.
 */
#ifndef HW_HMMDEV_H
#define HW_HMMDEV_H

#include "hw/pci/pci_device.h"
#include "hmmdev-regs.h"

#define TYPE_HMMDEV "hmmdev"
OBJECT_DECLARE_SIMPLE_TYPE(HmmdevState, HMMDEV)

/* One emulated hmmdev PCIe function. */
struct HmmdevState {
    PCIDevice parent_obj;

    MemoryRegion mmio;          /* BAR0 registers */

    uint32_t scratch;
    uint32_t error;             /* HMMDEV_ERR_*, RW1C */
    uint64_t irq_test_count;
};

/*
 * Report guest misprogramming: a trace event, a LOG_GUEST_ERROR line and the
 * error register, so all three stay in step.
 */
#define HMMDEV_GUEST_ERR(s, code, trace, fmt, ...)                      \
    do {                                                                \
        (trace_##trace)(__VA_ARGS__);                                   \
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: " #trace " in %s: "     \
                      fmt "\n", __func__, ## __VA_ARGS__);              \
        (s)->error = (code);                                            \
    } while (0)

#endif /* HW_HMMDEV_H */
