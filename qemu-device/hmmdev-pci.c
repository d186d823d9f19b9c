/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: PCI/MMIO glue of the emulated HMM accelerator.
 *
 * The register ABI is hmmdev-regs.h; the contract is docs/hmmdev-spec.rst.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "hmmdev.h"
#include "trace.h"

static void hmmdev_raise_test_irq(HmmdevState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    /* msix_notify() asserts on an out-of-range vector: validate first. */
    if (vector >= HMMDEV_MSIX_VECTORS) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VECTOR, hmmdev_err_bad_vector,
                         "vector %u, device has %u", vector,
                         HMMDEV_MSIX_VECTORS);
        return;
    }
    trace_hmmdev_irq_test(vector);
    s->irq_test_count++;
    /* MMIO handlers run under the BQL, as msix_notify() requires. */
    if (msix_enabled(pdev)) {
        msix_notify(pdev, vector);
    }
}

static void hmmdev_soft_reset(HmmdevState *s)
{
    trace_hmmdev_reset();
    s->scratch = 0;
    s->error = HMMDEV_ERR_NONE;
    s->irq_test_count = 0;
}

static bool hmmdev_check_access(HmmdevState *s, hwaddr addr, unsigned size)
{
    if (size != 4 || (addr & 3)) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_ACCESS, hmmdev_err_bad_access,
                         "addr 0x%"HWADDR_PRIx" size %u", (uint64_t)addr, size);
        return false;
    }
    return true;
}

static uint64_t hmmdev_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    HmmdevState *s = opaque;
    uint64_t val = 0;

    if (!hmmdev_check_access(s, addr, size)) {
        return ~0ull >> (64 - size * 8);
    }

    switch (addr) {
    case HMMDEV_REG_ID:
        val = HMMDEV_ID_MAGIC;
        break;
    case HMMDEV_REG_VERSION:
        val = HMMDEV_VERSION;
        break;
    case HMMDEV_REG_MSIX_VECTORS:
        val = HMMDEV_MSIX_VECTORS;
        break;
    case HMMDEV_REG_SCRATCH:
        val = s->scratch;
        break;
    case HMMDEV_REG_CONTROL:
        val = 0;        /* RESET self-clears: the reset is synchronous */
        break;
    case HMMDEV_REG_STATUS:
        val = HMMDEV_STATUS_READY | (s->error ? HMMDEV_STATUS_ERROR : 0);
        break;
    case HMMDEV_REG_ERROR:
        val = s->error;
        break;
    case HMMDEV_REG_IRQ_TEST_CNT:
        val = (uint32_t)s->irq_test_count;
        break;
    default:
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_REG, hmmdev_err_bad_reg,
                         "addr 0x%"HWADDR_PRIx" write %d", (uint64_t)addr, 0);
        val = ~0u;
        break;
    }
    trace_hmmdev_mmio_read(addr, val, size);
    return val;
}

static void hmmdev_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    HmmdevState *s = opaque;

    trace_hmmdev_mmio_write(addr, val, size);
    if (!hmmdev_check_access(s, addr, size)) {
        return;
    }

    switch (addr) {
    case HMMDEV_REG_SCRATCH:
        s->scratch = val;
        break;
    case HMMDEV_REG_CONTROL:
        if (val & HMMDEV_CONTROL_RESET) {
            hmmdev_soft_reset(s);
        }
        break;
    case HMMDEV_REG_ERROR:
        s->error &= ~(uint32_t)val;     /* RW1C */
        break;
    case HMMDEV_REG_IRQ_TEST:
        hmmdev_raise_test_irq(s, val);
        break;
    default:
        /* Includes writes to read-only registers. */
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_REG, hmmdev_err_bad_reg,
                         "addr 0x%"HWADDR_PRIx" write %d", (uint64_t)addr, 1);
        break;
    }
}

static const MemoryRegionOps hmmdev_mmio_ops = {
    .read = hmmdev_mmio_read,
    .write = hmmdev_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    /* Accept every size so that a wrong one is reported, not dropped. */
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static void hmmdev_realize(PCIDevice *pdev, Error **errp)
{
    HmmdevState *s = HMMDEV(pdev);
    int i;

    if (pcie_endpoint_cap_init(pdev, 0x80) < 0) {
        error_setg(errp, "hmmdev: cannot add the PCIe capability");
        return;
    }

    memory_region_init_io(&s->mmio, OBJECT(s), &hmmdev_mmio_ops, s,
                          "hmmdev-regs", HMMDEV_REGS_SIZE);
    pci_register_bar(pdev, HMMDEV_BAR_REGS, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->mmio);

    if (msix_init_exclusive_bar(pdev, HMMDEV_MSIX_VECTORS, HMMDEV_BAR_MSIX,
                                errp)) {
        return;
    }
    /* Without msix_vector_use() msix_notify() silently drops the message. */
    for (i = 0; i < HMMDEV_MSIX_VECTORS; i++) {
        msix_vector_use(pdev, i);
    }
}

static void hmmdev_exit(PCIDevice *pdev)
{
    msix_uninit_exclusive_bar(pdev);
}

static void hmmdev_reset_hold(Object *obj, ResetType type)
{
    HmmdevState *s = HMMDEV(obj);

    hmmdev_soft_reset(s);
    msix_reset(PCI_DEVICE(s));
}

static const VMStateDescription hmmdev_vmstate = {
    .name = "hmmdev",
    .unmigratable = 1,  /* device memory, rings and the worker are not yet migratable */
};

static void hmmdev_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = hmmdev_realize;
    k->exit = hmmdev_exit;
    k->vendor_id = HMMDEV_PCI_VENDOR_ID;
    k->device_id = HMMDEV_PCI_DEVICE_ID;
    k->revision = HMMDEV_PCI_REVISION;
    k->class_id = PCI_CLASS_PROCESSOR_CO;
    rc->phases.hold = hmmdev_reset_hold;
    dc->desc = "Emulated HMM accelerator";
    dc->vmsd = &hmmdev_vmstate;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo hmmdev_types[] = {
    {
        .name          = TYPE_HMMDEV,
        .parent        = TYPE_PCI_DEVICE,
        .instance_size = sizeof(HmmdevState),
        .class_init    = hmmdev_class_init,
        .interfaces    = (const InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { },
        },
    },
};

DEFINE_TYPES(hmmdev_types)
