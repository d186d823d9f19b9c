/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: every access of the device to system memory: reads, writes,
 * copies and atomics, for rings, page-table walks, data and fault records.
 *
 * Without ATS they go through pci_dma_*, i.e. the IOMMU.  Once the guest
 * enables ATS they take a translation from the ATC (hmmdev-ats.c) a page at
 * a time and access the translated address in its address space; the ATC
 * only translates, the access itself is made here.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "hw/pci/pci.h"
#include "system/memory.h"
#include "hmmdev.h"
#include "trace.h"

/*
 * Memory only: a device access that resolves to MMIO fails instead of
 * taking the BQL in prepare_mmio_access(), which the worker must never do
 * (see hmmdev.h).  It also stops the device from DMAing into its own BARs.
 */
static const MemTxAttrs hmmdev_dma_attrs = { .memory = 1 };

static bool hmmdev_inject_dma_fail(HmmdevState *s)
{
    uint32_t n = qatomic_read(&s->inject_dma_fail);

    while (n) {
        uint32_t old = qatomic_cmpxchg(&s->inject_dma_fail, n, n - 1);
        if (old == n) {
            trace_hmmdev_inject_dma_fail(n - 1);
            return true;
        }
        n = old;
    }
    return false;
}

/* An ATC translation counts for nothing without Bus Master Enable. */
static bool hmmdev_bus_master(HmmdevState *s)
{
    return pci_get_word(PCI_DEVICE(s)->config + PCI_COMMAND) &
           PCI_COMMAND_MASTER;
}

/*
 * DMA through the ATC, a page at a time.  Pages the ATC does not cover
 * (ATS switched off meanwhile) go through the IOMMU with pci_dma_rw().
 */
static MemTxResult hmmdev_dma_atc_rw(HmmdevState *s, dma_addr_t addr,
                                     void *buf, dma_addr_t len,
                                     DMADirection dir)
{
    bool write = dir == DMA_DIRECTION_FROM_DEVICE;
    uint8_t *p = buf;

    while (len) {
        HmmdevAtsRef r;
        MemTxResult res;
        uint64_t n;

        switch (hmmdev_ats_get(s, addr, len, write, &r)) {
        case HMMDEV_ATS_OK:
            n = MIN(len, r.len);
            res = hmmdev_bus_master(s) ?
                  address_space_rw(r.as, r.addr, hmmdev_dma_attrs, p, n,
                                   write) :
                  MEMTX_ERROR;
            hmmdev_ats_put(s, &r);
            break;
        case HMMDEV_ATS_BYPASS:
            n = len;
            res = pci_dma_rw(PCI_DEVICE(s), addr, p, n, dir, hmmdev_dma_attrs);
            break;
        default:
            return MEMTX_DECODE_ERROR;
        }
        if (res != MEMTX_OK) {
            return res;
        }
        addr += n;
        p += n;
        len -= n;
    }
    return MEMTX_OK;
}

bool hmmdev_dma_rw(HmmdevState *s, dma_addr_t addr, void *buf, dma_addr_t len,
                   DMADirection dir)
{
    MemTxResult r = MEMTX_ERROR;

    if (hmmdev_inject_dma_fail(s)) {
        /* r stays MEMTX_ERROR */
    } else if (hmmdev_ats_active(s)) {
        r = hmmdev_dma_atc_rw(s, addr, buf, len, dir);
    } else {
        r = pci_dma_rw(PCI_DEVICE(s), addr, buf, len, dir, hmmdev_dma_attrs);
    }
    if (r != MEMTX_OK) {
        HMMDEV_STAT_INC(s, dma_errors);
        trace_hmmdev_err_dma(addr, len, dir == DMA_DIRECTION_FROM_DEVICE, r);
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: DMA %s 0x%"PRIx64" +0x%"PRIx64
                      " failed (%d)\n",
                      dir == DMA_DIRECTION_FROM_DEVICE ? "write" : "read",
                      addr, len, r);
        return false;
    }
    return true;
}

/*
 * A read for translating ahead (ATS on): it looks at what the device is
 * about to use, so it neither takes an injected failure nor reports one.
 */
bool hmmdev_dma_peek(HmmdevState *s, dma_addr_t addr, void *buf,
                     dma_addr_t len)
{
    return hmmdev_dma_atc_rw(s, addr, buf, len, DMA_DIRECTION_TO_DEVICE) ==
           MEMTX_OK;
}

/*
 * Map [addr, addr + *len) of system memory for direct access if it is plain
 * RAM; *len may come back shorter.  NULL for anything else, with nothing
 * mapped: the caller falls back to hmmdev_dma_rw(), which reports errors.
 * (address_space_map() hands out a bounce buffer for MMIO, and a failed
 * read into it goes unnoticed; such buffers are not RAM blocks.)
 */
static void *hmmdev_dma_map_ram(HmmdevState *s, dma_addr_t addr,
                                dma_addr_t *len, DMADirection dir)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    ram_addr_t off;
    void *p;

    p = dma_memory_map(pci_get_address_space(pdev), addr, len, dir,
                       hmmdev_dma_attrs);
    if (p && !memory_region_from_host(p, &off)) {
        pci_dma_unmap(pdev, p, *len, dir, 0);
        p = NULL;
    }
    return p;
}

/*
 * Copy @len bytes of system memory from @src to @dst.  Where both sides are
 * RAM the data moves with one memmove, straight between the host mappings;
 * the rest goes through @bounce (@bounce_size bytes) with hmmdev_dma_rw().
 * Injected DMA failures take the bounce path, so they hit as before.
 */
bool hmmdev_dma_copy(HmmdevState *s, dma_addr_t dst, dma_addr_t src,
                     dma_addr_t len, void *bounce, dma_addr_t bounce_size)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool ok = true;

    /* With ATS every page goes through the ATC: the bounce path does that. */
    while (len && !qatomic_read(&s->inject_dma_fail) && !hmmdev_ats_active(s)) {
        dma_addr_t sl = len, dl;
        void *sp, *dp;

        sp = hmmdev_dma_map_ram(s, src, &sl, DMA_DIRECTION_TO_DEVICE);
        if (!sp) {
            break;
        }
        dl = sl;
        dp = hmmdev_dma_map_ram(s, dst, &dl, DMA_DIRECTION_FROM_DEVICE);
        if (!dp) {
            pci_dma_unmap(pdev, sp, sl, DMA_DIRECTION_TO_DEVICE, 0);
            break;
        }
        /* The ordering dma_memory_rw() gives; ranges may alias in RAM. */
        smp_mb();
        memmove(dp, sp, dl);
        pci_dma_unmap(pdev, dp, dl, DMA_DIRECTION_FROM_DEVICE, dl);
        pci_dma_unmap(pdev, sp, sl, DMA_DIRECTION_TO_DEVICE, dl);
        src += dl;
        dst += dl;
        len -= dl;
    }
    while (ok && len) {
        dma_addr_t n = MIN(len, bounce_size);

        ok = hmmdev_dma_rw(s, src, bounce, n, DMA_DIRECTION_TO_DEVICE) &&
             hmmdev_dma_rw(s, dst, bounce, n, DMA_DIRECTION_FROM_DEVICE);
        src += n;
        dst += n;
        len -= n;
    }
    return ok;
}

static uint64_t hmmdev_atomic_apply(uint32_t op, uint64_t cur,
                                    uint64_t operand, uint64_t compare)
{
    switch (op) {
    case HMMDEV_ATOMIC_ADD:
        return cur + operand;
    case HMMDEV_ATOMIC_INC:
        return cur + 1;
    case HMMDEV_ATOMIC_CMPXCHG:
        return cur == compare ? operand : cur;
    default:
        g_assert_not_reached();
    }
}

/* A host atomic on a little-endian 64-bit word, compare-and-swap based. */
uint64_t hmmdev_host_atomic64(uint64_t *w, uint32_t op, uint64_t operand,
                              uint64_t compare)
{
    uint64_t cur = qatomic_read(w), prev;

    for (;;) {
        uint64_t val = le64_to_cpu(cur);
        uint64_t new = hmmdev_atomic_apply(op, val, operand, compare);

        if (new == val) {
            return val;
        }
        prev = qatomic_cmpxchg(w, cur, cpu_to_le64(new));
        if (prev == cur) {
            return val;
        }
        cur = prev;
    }
}

/*
 * An atomic on a 64-bit word through the ATC.  False when ATS is not in
 * use (the caller goes through the IOMMU); else *ok tells the outcome.
 */
static bool hmmdev_dma_atc_atomic64(HmmdevState *s, dma_addr_t addr,
                                    uint32_t op, uint64_t operand,
                                    uint64_t compare, uint64_t *old, bool *ok)
{
    HmmdevAtsRef r;
    hwaddr len = sizeof(uint64_t);
    ram_addr_t off;
    void *p;

    switch (hmmdev_ats_get(s, addr, sizeof(uint64_t), true, &r)) {
    case HMMDEV_ATS_OK:
        break;
    case HMMDEV_ATS_BYPASS:
        return false;
    default:
        *ok = false;
        return true;
    }
    *ok = false;
    if (hmmdev_bus_master(s)) {
        p = address_space_map(r.as, r.addr, &len, true, hmmdev_dma_attrs);
        if (p) {
            if (len >= sizeof(uint64_t) && memory_region_from_host(p, &off)) {
                *old = hmmdev_host_atomic64(p, op, operand, compare);
                *ok = true;
            }
            address_space_unmap(r.as, p, len, true, *ok ? sizeof(uint64_t) : 0);
        }
    }
    hmmdev_ats_put(s, &r);
    return true;
}

/*
 * Atomic read-modify-write of a 64-bit word of system memory, atomic with
 * respect to CPU atomics: it needs a direct host mapping, so anything but
 * RAM (a bounce buffer would not be atomic) fails.  @addr is 8-aligned.
 */
bool hmmdev_dma_atomic64(HmmdevState *s, dma_addr_t addr, uint32_t op,
                         uint64_t operand, uint64_t compare, uint64_t *old)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    dma_addr_t len = sizeof(uint64_t);
    ram_addr_t off;
    void *p = NULL;
    bool ok;

    if (hmmdev_inject_dma_fail(s)) {
        /* p stays NULL */
    } else if (hmmdev_ats_active(s) &&
               hmmdev_dma_atc_atomic64(s, addr, op, operand, compare, old,
                                       &ok)) {
        if (ok) {
            return true;
        }
    } else {
        p = dma_memory_map(pci_get_address_space(pdev), addr, &len,
                           DMA_DIRECTION_FROM_DEVICE, hmmdev_dma_attrs);
    }
    if (p && (len < sizeof(uint64_t) || !memory_region_from_host(p, &off))) {
        pci_dma_unmap(pdev, p, len, DMA_DIRECTION_FROM_DEVICE, 0);
        p = NULL;
    }
    if (!p) {
        HMMDEV_STAT_INC(s, dma_errors);
        trace_hmmdev_err_dma(addr, sizeof(uint64_t), 1, MEMTX_ERROR);
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: atomic DMA at 0x%"PRIx64
                      " failed: not RAM\n", addr);
        return false;
    }
    *old = hmmdev_host_atomic64(p, op, operand, compare);
    pci_dma_unmap(pdev, p, len, DMA_DIRECTION_FROM_DEVICE, sizeof(uint64_t));
    return true;
}
