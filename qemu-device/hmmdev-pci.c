/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: PCI/MMIO glue of the emulated HMM accelerator: global registers,
 * register dispatch, config space, properties, statistics, fault injection,
 * realize and reset.  The top layer: the files below never call into it.
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
#include "qapi/visitor.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "system/hostmem.h"
#include "migration/vmstate.h"
#include "hmmdev.h"
#include "trace.h"

QEMU_BUILD_BUG_ON(sizeof(struct HmmdevCmd) != HMMDEV_CMD_SIZE);
QEMU_BUILD_BUG_ON(offsetof(struct HmmdevCmd, status) != HMMDEV_CMD_STATUS_OFFSET);
QEMU_BUILD_BUG_ON(offsetof(struct HmmdevCmd, info) != HMMDEV_CMD_INFO_OFFSET);
QEMU_BUILD_BUG_ON(sizeof(struct HmmdevSgEntry) != HMMDEV_SG_ENTRY_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct HmmdevFaultRecord) != HMMDEV_FAULT_RECORD_SIZE);
QEMU_BUILD_BUG_ON(HMMDEV_REG_QUEUE_BASE + HMMDEV_NUM_QUEUES * HMMDEV_QUEUE_STRIDE
                  > HMMDEV_REG_CTX_BASE);
QEMU_BUILD_BUG_ON(HMMDEV_REG_CTX_BASE + HMMDEV_NUM_ASIDS * HMMDEV_CTX_STRIDE
                  > HMMDEV_REGS_SIZE);
/* irq_pending is a 32-bit mask of vectors. */
QEMU_BUILD_BUG_ON(HMMDEV_MSIX_VECTORS > 32);
QEMU_BUILD_BUG_ON(HMMDEV_MSIX_VEC_QUEUE0 + HMMDEV_NUM_QUEUES > HMMDEV_MSIX_VECTORS);

static void hmmdev_raise_test_irq(HmmdevState *s, uint32_t vector)
{
    /* msix_notify() asserts on an out-of-range vector: validate first. */
    if (!hmmdev_vector_valid(vector)) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VECTOR, hmmdev_err_bad_vector,
                         "vector %u, device has %u", vector,
                         HMMDEV_MSIX_VECTORS);
        return;
    }
    trace_hmmdev_irq_test(vector);
    s->irq_test_count++;
    hmmdev_raise_irq(s, vector);
}

static void hmmdev_raise_fatal(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->fatal = true;
    qemu_mutex_unlock(&s->lock);
    HMMDEV_GUEST_ERR(s, HMMDEV_ERR_FATAL, hmmdev_err_fatal, "%s",
                     "fatal device error");
    hmmdev_raise_irq(s, HMMDEV_MSIX_VEC_ADMIN);
}

/* Return the whole device to its reset state; BQL held. */
static void hmmdev_reset(HmmdevState *s)
{
    trace_hmmdev_reset();
    hmmdev_quiesce_begin(s);
    /* The worker is now outside every DMA section and starts nothing. */
    hmmdev_queue_reset(s);
    hmmdev_fq_reset(s);
    hmmdev_tlb_reset(s);
    hmmdev_ats_reset(s);
    qemu_mutex_lock(&s->lock);
    s->fatal = false;
    s->irq_pending = 0;
    qemu_mutex_unlock(&s->lock);
    hmmdev_devmem_reset(s);
    hmmdev_quiesce_end(s);

    s->scratch = 0;
    qatomic_set(&s->error, HMMDEV_ERR_NONE);
    qatomic_set(&s->error_count, 0);
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

static bool hmmdev_global_read(HmmdevState *s, hwaddr addr, uint64_t *val)
{
    uint32_t status;

    switch (addr) {
    case HMMDEV_REG_ID:
        *val = HMMDEV_ID_MAGIC;
        return true;
    case HMMDEV_REG_VERSION:
        *val = HMMDEV_VERSION;
        return true;
    case HMMDEV_REG_MSIX_VECTORS:
        *val = HMMDEV_MSIX_VECTORS;
        return true;
    case HMMDEV_REG_SCRATCH:
        *val = s->scratch;
        return true;
    case HMMDEV_REG_CONTROL:
        *val = 0;       /* RESET self-clears: the reset is synchronous */
        return true;
    case HMMDEV_REG_STATUS:
        status = HMMDEV_STATUS_READY;
        if (qatomic_read(&s->error)) {
            status |= HMMDEV_STATUS_ERROR;
        }
        qemu_mutex_lock(&s->lock);
        if (s->fatal) {
            status |= HMMDEV_STATUS_FATAL;
        }
        qemu_mutex_unlock(&s->lock);
        *val = status;
        return true;
    case HMMDEV_REG_ERROR:
        *val = qatomic_read(&s->error);
        return true;
    case HMMDEV_REG_IRQ_TEST_CNT:
        *val = (uint32_t)s->irq_test_count;
        return true;
    case HMMDEV_REG_ERROR_COUNT:
        *val = qatomic_read(&s->error_count);
        return true;
    case HMMDEV_REG_NUM_QUEUES:
        *val = HMMDEV_NUM_QUEUES;
        return true;
    case HMMDEV_REG_NUM_ASIDS:
        *val = HMMDEV_NUM_ASIDS;
        return true;
    case HMMDEV_REG_DEVMEM_SIZE_LO:
        *val = (uint32_t)s->devmem_size;
        return true;
    case HMMDEV_REG_DEVMEM_SIZE_HI:
        *val = s->devmem_size >> 32;
        return true;
    case HMMDEV_REG_TLB_ENTRIES:
        *val = s->tlb_entries;
        return true;
    case HMMDEV_REG_FEATURES:
        *val = s->devmem_bar ? HMMDEV_FEATURE_DEVMEM_BAR : 0;
        return true;
    }
    return false;
}

static bool hmmdev_global_write(HmmdevState *s, hwaddr addr, uint32_t val)
{
    switch (addr) {
    case HMMDEV_REG_SCRATCH:
        s->scratch = val;
        return true;
    case HMMDEV_REG_CONTROL:
        if (val & HMMDEV_CONTROL_RESET) {
            hmmdev_reset(s);
        }
        return true;
    case HMMDEV_REG_ERROR:
        qatomic_and(&s->error, ~val);   /* RW1C */
        return true;
    case HMMDEV_REG_IRQ_TEST:
        hmmdev_raise_test_irq(s, val);
        return true;
    }
    return false;
}

static uint64_t hmmdev_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    HmmdevState *s = opaque;
    uint64_t val = 0;
    bool ok;

    if (!hmmdev_check_access(s, addr, size)) {
        return ~0ull >> (64 - size * 8);
    }

    ok = hmmdev_global_read(s, addr, &val) ||
         hmmdev_fq_mmio_read(s, addr, &val) ||
         hmmdev_tlb_mmio_read(s, addr, &val) ||
         hmmdev_queue_mmio_read(s, addr, &val);
    if (!ok) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_REG, hmmdev_err_bad_reg,
                         "addr 0x%"HWADDR_PRIx" write %d", (uint64_t)addr, 0);
        val = ~0u;
    }
    trace_hmmdev_mmio_read(addr, val, size);
    return val;
}

static void hmmdev_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    HmmdevState *s = opaque;
    bool ok;

    trace_hmmdev_mmio_write(addr, val, size);
    if (!hmmdev_check_access(s, addr, size)) {
        return;
    }

    ok = hmmdev_global_write(s, addr, val) ||
         hmmdev_fq_mmio_write(s, addr, val) ||
         hmmdev_tlb_mmio_write(s, addr, val) ||
         hmmdev_queue_mmio_write(s, addr, val);
    if (!ok) {
        /* Includes writes to read-only registers. */
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_REG, hmmdev_err_bad_reg,
                         "addr 0x%"HWADDR_PRIx" write %d", (uint64_t)addr, 1);
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

/* ---------------------------------------------------------------------- */
/* Statistics and fault injection (QOM)                                   */
/* ---------------------------------------------------------------------- */

static void hmmdev_get_stat(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    HmmdevState *s = HMMDEV(obj);
    uint64_t val = qatomic_read((uint64_t *)((char *)&s->stats +
                                             (uintptr_t)opaque));

    visit_type_uint64(v, name, &val, errp);
}

static void hmmdev_get_u32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    uint32_t val = qatomic_read((uint32_t *)((char *)obj + (uintptr_t)opaque));

    visit_type_uint32(v, name, &val, errp);
}

static void hmmdev_set_u32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    HmmdevState *s = HMMDEV(obj);
    uint32_t val;

    if (!visit_type_uint32(v, name, &val, errp)) {
        return;
    }
    trace_hmmdev_inject(name, val);
    qatomic_set((uint32_t *)((char *)obj + (uintptr_t)opaque), val);
    /* A stalled engine must notice a new knob, e.g. a stall of 0. */
    hmmdev_kick(s, HMMDEV_KICK_WORK, 0);
}

static bool hmmdev_get_fatal(Object *obj, Error **errp)
{
    HmmdevState *s = HMMDEV(obj);
    bool fatal;

    qemu_mutex_lock(&s->lock);
    fatal = s->fatal;
    qemu_mutex_unlock(&s->lock);
    return fatal;
}

static void hmmdev_set_fatal(Object *obj, bool value, Error **errp)
{
    HmmdevState *s = HMMDEV(obj);

    if (!DEVICE(obj)->realized) {
        error_setg(errp, "inject-fatal needs a realized device");
        return;
    }
    if (value) {
        trace_hmmdev_inject("inject-fatal", 1);
        hmmdev_raise_fatal(s);
    }
}

static const struct {
    const char *name;
    size_t offset;
} hmmdev_stat_props[] = {
#define HMMDEV_STAT(field, name) { "stat-" name, offsetof(HmmdevStats, field) },
#define HMMDEV_STAT_CMD(opcode, name) \
    { "stat-cmd-" name, offsetof(HmmdevStats, cmds[HMMDEV_CMD_##opcode]) },
#include "hmmdev-stats.def"
#undef HMMDEV_STAT
#undef HMMDEV_STAT_CMD
};

static void hmmdev_instance_init(Object *obj)
{
    static const struct {
        const char *name;
        size_t offset;
    } knobs[] = {
        { "inject-dma-fail", offsetof(HmmdevState, inject_dma_fail) },
        { "inject-stall-ms", offsetof(HmmdevState, inject_stall_ms) },
        { "inject-drop-completion",
          offsetof(HmmdevState, inject_drop_completion) },
    };
    int i;

    /*
     * Instance rather than qdev properties: qdev refuses to set a property
     * on a realized device, and these are meant for qom-set at run time.
     */
    for (i = 0; i < ARRAY_SIZE(hmmdev_stat_props); i++) {
        object_property_add(obj, hmmdev_stat_props[i].name, "uint64",
                            hmmdev_get_stat, NULL, NULL,
                            (void *)(uintptr_t)hmmdev_stat_props[i].offset);
    }
    for (i = 0; i < ARRAY_SIZE(knobs); i++) {
        object_property_add(obj, knobs[i].name, "uint32",
                            hmmdev_get_u32, hmmdev_set_u32, NULL,
                            (void *)(uintptr_t)knobs[i].offset);
    }
    object_property_add_bool(obj, "inject-fatal", hmmdev_get_fatal,
                             hmmdev_set_fatal);
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

static void hmmdev_realize(PCIDevice *pdev, Error **errp)
{
    HmmdevState *s = HMMDEV(pdev);
    int i;

    if (s->tlb_entries < 1 || s->tlb_entries > 65536) {
        error_setg(errp, "hmmdev: tlb-entries must be 1..65536");
        return;
    }
    if (pcie_endpoint_cap_init(pdev, 0x80) < 0) {
        error_setg(errp, "hmmdev: cannot add the PCIe capability");
        return;
    }

    if (!hmmdev_devmem_realize(s, errp)) {
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
    if (!hmmdev_ats_realize(s, errp)) {
        return;
    }

    qemu_mutex_init(&s->lock);
    qemu_cond_init(&s->work_cond);
    qemu_cond_init(&s->idle_cond);
    hmmdev_tlb_realize(s);
    hmmdev_engine_realize(s);
    hmmdev_worker_realize(s);   /* starts the worker: last */
}

static void hmmdev_exit(PCIDevice *pdev)
{
    HmmdevState *s = HMMDEV(pdev);

    hmmdev_worker_unrealize(s); /* joins the worker: first */
    hmmdev_ats_unrealize(s);
    hmmdev_engine_unrealize(s);
    hmmdev_tlb_unrealize(s);
    qemu_cond_destroy(&s->idle_cond);
    qemu_cond_destroy(&s->work_cond);
    qemu_mutex_destroy(&s->lock);
    msix_uninit_exclusive_bar(pdev);
    hmmdev_devmem_unrealize(s);
}

static void hmmdev_reset_hold(Object *obj, ResetType type)
{
    HmmdevState *s = HMMDEV(obj);

    hmmdev_reset(s);
    hmmdev_ats_pci_reset(s);
    msix_reset(PCI_DEVICE(s));
}

static void hmmdev_config_write(PCIDevice *pdev, uint32_t addr, uint32_t val,
                                int len)
{
    pci_default_write_config(pdev, addr, val, len);
    hmmdev_ats_config_write(HMMDEV(pdev), addr, len);
}

static const VMStateDescription hmmdev_vmstate = {
    .name = "hmmdev",
    /*
     * A command in flight in the worker thread, stalled queues and the TLB
     * have no snapshot point yet, and device memory can be many GiB.
     */
    .unmigratable = 1,
};

static const Property hmmdev_properties[] = {
    DEFINE_PROP_SIZE("devmem-size", HmmdevState, devmem_size, 256 * MiB),
    DEFINE_PROP_LINK("memdev", HmmdevState, hostmem, TYPE_MEMORY_BACKEND,
                     HostMemoryBackend *),
    DEFINE_PROP_BOOL("devmem-bar", HmmdevState, devmem_bar, true),
    DEFINE_PROP_UINT32("tlb-entries", HmmdevState, tlb_entries, 256),
    DEFINE_PROP_ON_OFF_AUTO("ats", HmmdevState, ats.mode, ON_OFF_AUTO_AUTO),
    DEFINE_PROP_UINT32("atc-entries", HmmdevState, ats.entries, 256),
};

static void hmmdev_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = hmmdev_realize;
    k->exit = hmmdev_exit;
    k->config_write = hmmdev_config_write;
    k->vendor_id = HMMDEV_PCI_VENDOR_ID;
    k->device_id = HMMDEV_PCI_DEVICE_ID;
    k->revision = HMMDEV_PCI_REVISION;
    k->class_id = PCI_CLASS_PROCESSOR_CO;
    rc->phases.hold = hmmdev_reset_hold;
    dc->desc = "Emulated HMM accelerator";
    dc->vmsd = &hmmdev_vmstate;
    device_class_set_props(dc, hmmdev_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo hmmdev_types[] = {
    {
        .name          = TYPE_HMMDEV,
        .parent        = TYPE_PCI_DEVICE,
        .instance_size = sizeof(HmmdevState),
        .instance_init = hmmdev_instance_init,
        .class_init    = hmmdev_class_init,
        .interfaces    = (const InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { },
        },
    },
};

DEFINE_TYPES(hmmdev_types)
