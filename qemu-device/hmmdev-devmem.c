/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: device memory and its BAR.
 *
 * Device memory is host RAM the engine reaches with plain loads and stores
 * (it is the device's own memory, not behind any IOMMU).  It must stay
 * sparse, so nothing here touches it as a whole: internal memory is
 * MAP_NORESERVE anonymous RAM, and reset discards pages instead of zeroing.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "system/hostmem.h"
#include "system/ramblock.h"
#include "hmmdev.h"
#include "trace.h"

bool hmmdev_devmem_realize(HmmdevState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (s->hostmem) {
        if (host_memory_backend_is_mapped(s->hostmem)) {
            error_setg(errp, "hmmdev: memory backend %s is already in use",
                       object_get_canonical_path_component(OBJECT(s->hostmem)));
            return false;
        }
        s->devmem = host_memory_backend_get_memory(s->hostmem);
        s->devmem_size = memory_region_size(s->devmem);
        host_memory_backend_set_mapped(s->hostmem, true);
    } else {
        if (!s->devmem_size || s->devmem_size % (2 * MiB)) {
            error_setg(errp, "hmmdev: devmem-size must be a non-zero "
                       "multiple of 2 MiB");
            return false;
        }
        /* NORESERVE: a 16 GiB device must not need 16 GiB of commit. */
        if (!memory_region_init_ram_flags_nomigrate(&s->devmem_ram, OBJECT(s),
                                                    "hmmdev-devmem",
                                                    s->devmem_size,
                                                    RAM_NORESERVE, errp)) {
            return false;
        }
        s->devmem = &s->devmem_ram;
    }
    s->devmem_ptr = memory_region_get_ram_ptr(s->devmem);

    if (s->devmem_bar) {
        /* A BAR is a power of two; the tail past device memory is a hole. */
        memory_region_init(&s->devmem_bar_mr, OBJECT(s), "hmmdev-devmem-bar",
                           pow2ceil(s->devmem_size));
        memory_region_add_subregion(&s->devmem_bar_mr, 0, s->devmem);
        pci_register_bar(pdev, HMMDEV_BAR_DEVMEM,
                         PCI_BASE_ADDRESS_SPACE_MEMORY |
                         PCI_BASE_ADDRESS_MEM_TYPE_64 |
                         PCI_BASE_ADDRESS_MEM_PREFETCH,
                         &s->devmem_bar_mr);
    }
    return true;
}

void hmmdev_devmem_unrealize(HmmdevState *s)
{
    if (s->devmem_bar) {
        memory_region_del_subregion(&s->devmem_bar_mr, s->devmem);
    }
    if (s->hostmem) {
        host_memory_backend_set_mapped(s->hostmem, false);
    }
}

/* Discard, never memset: zeroing would make every page resident. */
void hmmdev_devmem_reset(HmmdevState *s)
{
    RAMBlock *rb = s->devmem ? s->devmem->ram_block : NULL;
    static bool warned;

    if (!rb) {
        return;
    }
    trace_hmmdev_devmem_discard(s->devmem_size);
    if (ram_block_discard_range(rb, 0, s->devmem_size) < 0 && !warned) {
        warn_report("hmmdev: cannot discard device memory on reset; "
                    "its contents survive the reset");
        warned = true;
    }
}

bool hmmdev_devmem_range_ok(HmmdevState *s, uint64_t off, uint64_t len)
{
    return off <= s->devmem_size && len <= s->devmem_size - off;
}

/* The caller has checked the range with hmmdev_devmem_range_ok(). */
void hmmdev_devmem_rw(HmmdevState *s, uint64_t off, void *buf, uint64_t len,
                      bool is_write)
{
    assert(hmmdev_devmem_range_ok(s, off, len));
    if (!is_write) {
        memcpy(buf, s->devmem_ptr + off, len);
    } else {
        memcpy(s->devmem_ptr + off, buf, len);
    }
}

uint8_t *hmmdev_devmem_ptr(HmmdevState *s, uint64_t off)
{
    return s->devmem_ptr + off;
}
