/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: device MMU: system DMA, page-table walk, TLB, invalidation, and
 * the context and out-of-band invalidation registers.
 *
 * hmmdev_dma_rw(), hmmdev_dma_copy() and hmmdev_dma_atomic64() are the only
 * places where the device touches system memory.  Once the guest enables
 * ATS they go through the address translation cache (hmmdev-ats.c), which
 * translates the DMA address (an IOVA under an IOMMU) and accesses the
 * target address space; otherwise through pci_dma_*, i.e. the IOMMU.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "qemu/host-utils.h"
#include "hw/pci/pci.h"
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

bool hmmdev_dma_rw(HmmdevState *s, dma_addr_t addr, void *buf, dma_addr_t len,
                   DMADirection dir)
{
    MemTxResult r = MEMTX_ERROR;

    if (hmmdev_inject_dma_fail(s)) {
        /* r stays MEMTX_ERROR */
    } else if (hmmdev_ats_active(s)) {
        r = hmmdev_ats_rw(s, addr, buf, len, dir, hmmdev_dma_attrs);
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
               hmmdev_ats_atomic64(s, addr, op, operand, compare, old,
                                   hmmdev_dma_attrs, &ok)) {
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

/* ---------------------------------------------------------------------- */
/* TLB                                                                    */
/* ---------------------------------------------------------------------- */

/*
 * Fully associative, least-recently-used: valid entries sit on a recency
 * list (most recent first) and on a hash chain keyed by (ASID, page, size),
 * so a lookup or an insert costs the same whatever tlb-entries is.
 * Invalid entries sit on a free list, used before anything is evicted.
 */
static uint32_t hmmdev_tlb_bucket(HmmdevState *s, uint32_t asid, uint64_t va,
                                  unsigned shift)
{
    uint64_t h = ((va >> shift) ^ ((uint64_t)asid << 40) ^ shift) *
                 0x9e3779b97f4a7c15ull;

    return (h >> 32) & s->tlb_hash_mask;
}

static void hmmdev_lru_unlink(HmmdevState *s, HmmdevTlbEntry *e)
{
    if (e->lru_prev >= 0) {
        s->tlb[e->lru_prev].lru_next = e->lru_next;
    } else {
        s->tlb_mru = e->lru_next;
    }
    if (e->lru_next >= 0) {
        s->tlb[e->lru_next].lru_prev = e->lru_prev;
    } else {
        s->tlb_lru = e->lru_prev;
    }
}

static void hmmdev_lru_push_mru(HmmdevState *s, HmmdevTlbEntry *e)
{
    int32_t i = e - s->tlb;

    e->lru_prev = -1;
    e->lru_next = s->tlb_mru;
    if (s->tlb_mru >= 0) {
        s->tlb[s->tlb_mru].lru_prev = i;
    } else {
        s->tlb_lru = i;
    }
    s->tlb_mru = i;
}

/* Take a valid entry off its hash chain and the recency list. */
static void hmmdev_tlb_drop_locked(HmmdevState *s, HmmdevTlbEntry *e)
{
    int32_t i = e - s->tlb;
    int32_t *link = &s->tlb_hash[hmmdev_tlb_bucket(s, e->asid, e->va,
                                                   e->shift)];

    while (*link != i) {
        g_assert(*link >= 0);
        link = &s->tlb[*link].hash_next;
    }
    *link = e->hash_next;
    hmmdev_lru_unlink(s, e);
    e->valid = false;
}

static void hmmdev_tlb_free_locked(HmmdevState *s, HmmdevTlbEntry *e)
{
    e->lru_next = s->tlb_free;
    s->tlb_free = e - s->tlb;
}

/* The valid entry for (asid, page of va at @shift), or NULL. */
static HmmdevTlbEntry *hmmdev_tlb_find_locked(HmmdevState *s, uint32_t asid,
                                              uint64_t va, unsigned shift)
{
    uint64_t page = va & ~((1ull << shift) - 1);
    int32_t i = s->tlb_hash[hmmdev_tlb_bucket(s, asid, page, shift)];

    for (; i >= 0; i = s->tlb[i].hash_next) {
        HmmdevTlbEntry *e = &s->tlb[i];

        if (e->asid == asid && e->va == page && e->shift == shift) {
            return e;
        }
    }
    return NULL;
}

static HmmdevTlbEntry *hmmdev_tlb_lookup_locked(HmmdevState *s, uint32_t asid,
                                                uint64_t va)
{
    HmmdevTlbEntry *e = hmmdev_tlb_find_locked(s, asid, va, HMMDEV_PAGE_SHIFT);

    return e ? e : hmmdev_tlb_find_locked(s, asid, va, HMMDEV_HUGE_SHIFT);
}

/* A hit: @e becomes the most recently used entry. */
static void hmmdev_tlb_touch_locked(HmmdevState *s, HmmdevTlbEntry *e)
{
    if (s->tlb_mru != e - s->tlb) {
        hmmdev_lru_unlink(s, e);
        hmmdev_lru_push_mru(s, e);
    }
}

static void hmmdev_tlb_insert_locked(HmmdevState *s, const HmmdevTlbEntry *n)
{
    /* Replace a stale copy of the same page (e.g. one without D). */
    HmmdevTlbEntry *victim = hmmdev_tlb_find_locked(s, n->asid, n->va,
                                                    n->shift);
    uint32_t b;

    if (victim) {
        hmmdev_tlb_drop_locked(s, victim);
    } else if (s->tlb_free >= 0) {
        victim = &s->tlb[s->tlb_free];
        s->tlb_free = victim->lru_next;
    } else {
        victim = &s->tlb[s->tlb_lru];
        trace_hmmdev_tlb_evict(victim->asid, victim->va);
        hmmdev_tlb_drop_locked(s, victim);
    }
    victim->valid = true;
    victim->dirty = n->dirty;
    victim->shift = n->shift;
    victim->asid = n->asid;
    victim->va = n->va;
    victim->pte = n->pte;
    b = hmmdev_tlb_bucket(s, n->asid, n->va, n->shift);
    victim->hash_next = s->tlb_hash[b];
    s->tlb_hash[b] = victim - s->tlb;
    hmmdev_lru_push_mru(s, victim);
    trace_hmmdev_tlb_insert(n->asid, n->va, n->shift, n->pte);
}

/* Every entry invalid and free. */
static void hmmdev_tlb_clear_locked(HmmdevState *s)
{
    uint32_t i;

    for (i = 0; i <= s->tlb_hash_mask; i++) {
        s->tlb_hash[i] = -1;
    }
    for (i = 0; i < s->tlb_entries; i++) {
        s->tlb[i] = (HmmdevTlbEntry) {
            .hash_next = -1, .lru_prev = -1,
            .lru_next = i + 1 < s->tlb_entries ? i + 1 : -1,
        };
    }
    s->tlb_free = 0;
    s->tlb_mru = s->tlb_lru = -1;
}

/*
 * Drop matching entries and start an invalidation.  It completes at once
 * unless the worker is inside a chunk, i.e. may still use a translation it
 * got before; then hmmdev_mmu_chunk_end() completes it.
 */
void hmmdev_tlb_invalidate_locked(HmmdevState *s, uint32_t scope,
                                  uint32_t asid, uint64_t va, uint64_t size)
{
    uint64_t end = va + size;
    uint32_t i, dropped = 0;

    for (i = 0; i < s->tlb_entries; i++) {
        HmmdevTlbEntry *e = &s->tlb[i];
        bool match;

        if (!e->valid) {
            continue;
        }
        switch (scope) {
        case HMMDEV_INV_ALL:
            match = true;
            break;
        case HMMDEV_INV_ASID:
            match = e->asid == asid;
            break;
        default:
            match = e->asid == asid && e->va < end &&
                    va < e->va + (1ull << e->shift);
            break;
        }
        if (match) {
            hmmdev_tlb_drop_locked(s, e);
            hmmdev_tlb_free_locked(s, e);
            dropped++;
        }
    }
    s->inv_req++;
    if (!s->in_chunk) {
        s->inv_done = s->inv_req;
    }
    HMMDEV_STAT_INC(s, tlb_invalidations);
    trace_hmmdev_tlb_invalidate(scope, asid, va, size, dropped, s->inv_req,
                                s->inv_done);
}

void hmmdev_mmu_chunk_begin(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->in_chunk = true;
    qemu_mutex_unlock(&s->lock);
}

/* The worker no longer uses any translation: pending invalidations are done. */
void hmmdev_mmu_chunk_end(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->in_chunk = false;
    if (s->inv_done != s->inv_req) {
        s->inv_done = s->inv_req;
        trace_hmmdev_inv_complete(s->inv_done);
    }
    qemu_mutex_unlock(&s->lock);
}

/* ---------------------------------------------------------------------- */
/* Page-table walk                                                        */
/* ---------------------------------------------------------------------- */

typedef enum {
    WALK_OK,
    WALK_FAIL,                  /* fault or error in *f */
    WALK_RETRY,                 /* the leaf changed under the A/D update */
} HmmdevWalkResult;

static HmmdevWalkResult hmmdev_walk_once(HmmdevState *s, uint32_t asid,
                                         uint64_t root, uint64_t va,
                                         uint8_t access, HmmdevTlbEntry *out,
                                         HmmdevXlateFault *f)
{
    uint64_t tables[HMMDEV_PT_LEVELS];
    uint64_t table = root;
    int level, depth = 0;

    for (level = HMMDEV_PT_LEVELS; level >= 1; level--) {
        unsigned shift = HMMDEV_PAGE_SHIFT + 9 * (level - 1);
        uint64_t pte_addr = table + ((va >> shift) & (HMMDEV_PT_ENTRIES - 1)) * 8;
        uint64_t pte, want, actual;
        bool leaf;
        int i;

        f->level = level;
        tables[depth++] = table;
        if (!hmmdev_dma_rw(s, pte_addr, &pte, sizeof(pte),
                           DMA_DIRECTION_TO_DEVICE)) {
            f->error = HMMDEV_ERR_PT_DMA;
            trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
            return WALK_FAIL;
        }
        pte = le64_to_cpu(pte);
        trace_hmmdev_walk_step(asid, va, level, pte_addr, pte);

        if (!(pte & HMMDEV_PTE_VALID)) {
            f->error = HMMDEV_ERR_FAULT;
            f->reason = HMMDEV_FAULT_NOT_PRESENT;
            return WALK_FAIL;
        }
        if (pte & HMMDEV_PTE_RSVD_MASK) {
            f->error = HMMDEV_ERR_PT_BAD;
            trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
            return WALK_FAIL;
        }
        leaf = level == 1 || (level == 2 && (pte & HMMDEV_PTE_LEAF));
        if (!leaf) {
            uint64_t next = pte & HMMDEV_PTE_ADDR_MASK;

            if (pte & (HMMDEV_PTE_LEAF | HMMDEV_PTE_DEVMEM)) {
                f->error = HMMDEV_ERR_PT_BAD;
                trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
                return WALK_FAIL;
            }
            /* Depth is bounded anyway; a repeat is still a broken table. */
            for (i = 0; i < depth; i++) {
                if (tables[i] == next) {
                    f->error = HMMDEV_ERR_PT_BAD;
                    trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
                    return WALK_FAIL;
                }
            }
            table = next;
            continue;
        }

        out->shift = level == 2 ? HMMDEV_HUGE_SHIFT : HMMDEV_PAGE_SHIFT;
        if ((pte & HMMDEV_PTE_ADDR_MASK) & ((1ull << out->shift) - 1)) {
            f->error = HMMDEV_ERR_PT_BAD;
            trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
            return WALK_FAIL;
        }
        if ((access != HMMDEV_ACCESS_READ && !(pte & HMMDEV_PTE_WRITE)) ||
            (access == HMMDEV_ACCESS_ATOMIC && !(pte & HMMDEV_PTE_ATOMIC))) {
            f->error = HMMDEV_ERR_FAULT;
            f->reason = HMMDEV_FAULT_PROTECTION;
            return WALK_FAIL;
        }
        if ((pte & HMMDEV_PTE_DEVMEM) &&
            !hmmdev_devmem_range_ok(s, pte & HMMDEV_PTE_ADDR_MASK,
                                    1ull << out->shift)) {
            f->error = HMMDEV_ERR_DEVMEM_RANGE;
            trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
            return WALK_FAIL;
        }

        want = HMMDEV_PTE_ACCESSED;
        if (access != HMMDEV_ACCESS_READ) {
            want |= HMMDEV_PTE_DIRTY;
        }
        if ((pte & want) != want) {
            if (!hmmdev_dma_atomic64(s, pte_addr, HMMDEV_ATOMIC_CMPXCHG,
                                     pte | want, pte, &actual)) {
                f->error = HMMDEV_ERR_PT_DMA;
                trace_hmmdev_err_walk(asid, va, level, pte_addr, f->error);
                return WALK_FAIL;
            }
            if (actual != pte) {
                return WALK_RETRY;
            }
            pte |= want;
            trace_hmmdev_walk_ad(asid, va, pte_addr, pte);
        }

        out->asid = asid;
        out->va = va & ~((1ull << out->shift) - 1);
        out->pte = pte;
        out->dirty = pte & HMMDEV_PTE_DIRTY;
        return WALK_OK;
    }
    g_assert_not_reached();
}

#define HMMDEV_WALK_RETRIES 16

static bool hmmdev_walk(HmmdevState *s, uint32_t asid, uint64_t root,
                        uint64_t va, uint8_t access, HmmdevTlbEntry *out,
                        HmmdevXlateFault *f)
{
    int i;

    for (i = 0; i < HMMDEV_WALK_RETRIES; i++) {
        HMMDEV_STAT_INC(s, tlb_walks);
        switch (hmmdev_walk_once(s, asid, root, va, access, out, f)) {
        case WALK_OK:
            return true;
        case WALK_FAIL:
            return false;
        case WALK_RETRY:
            break;
        }
    }
    /* Software keeps rewriting the leaf: report it rather than spin. */
    f->error = HMMDEV_ERR_PT_BAD;
    trace_hmmdev_err_walk(asid, va, f->level, 0, f->error);
    return false;
}

static void hmmdev_xlate_from_pte(const HmmdevTlbEntry *e, uint64_t va,
                                  HmmdevXlate *x)
{
    uint64_t mask = (1ull << e->shift) - 1;

    x->loc = (e->pte & HMMDEV_PTE_DEVMEM) ? HMMDEV_LOC_DEVMEM : HMMDEV_LOC_SYS;
    x->addr = (e->pte & HMMDEV_PTE_ADDR_MASK) + (va & mask);
    x->len = (1ull << e->shift) - (va & mask);
}

/*
 * Translate @va of context @asid for @access.  Called by the worker between
 * hmmdev_mmu_chunk_begin() and hmmdev_mmu_chunk_end(), without s->lock.
 */
bool hmmdev_mmu_translate(HmmdevState *s, uint32_t asid, uint64_t va,
                          uint8_t access, HmmdevXlate *x, HmmdevXlateFault *f)
{
    HmmdevTlbEntry *e, n = { 0 };
    uint64_t root, seq;

    f->error = HMMDEV_ERR_NONE;
    f->reason = 0;
    f->level = 0;

    qemu_mutex_lock(&s->lock);
    if (asid >= HMMDEV_NUM_ASIDS || !s->ctx[asid].enabled) {
        qemu_mutex_unlock(&s->lock);
        f->error = HMMDEV_ERR_CTX;
        trace_hmmdev_err_ctx(asid, va);
        return false;
    }
    e = hmmdev_tlb_lookup_locked(s, asid, va);
    /* A write through an entry without D must walk to set D in memory. */
    if (e && (access == HMMDEV_ACCESS_READ || e->dirty)) {
        hmmdev_tlb_touch_locked(s, e);
        hmmdev_xlate_from_pte(e, va, x);
        qemu_mutex_unlock(&s->lock);
        HMMDEV_STAT_INC(s, tlb_hits);
        trace_hmmdev_tlb_hit(asid, va, x->loc, x->addr);
        return true;
    }
    root = s->ctx[asid].root;
    seq = s->inv_req;
    qemu_mutex_unlock(&s->lock);

    HMMDEV_STAT_INC(s, tlb_misses);
    trace_hmmdev_tlb_miss(asid, va, access);
    if (!hmmdev_walk(s, asid, root, va, access, &n, f)) {
        if (f->error == HMMDEV_ERR_FAULT) {
            trace_hmmdev_translate_fault(asid, va, access, f->reason, f->level);
        }
        return false;
    }
    hmmdev_xlate_from_pte(&n, va, x);

    /*
     * An invalidation since the walk started may cover what we read: use
     * the result for this chunk only (the invalidation completes after it),
     * but never cache it.
     */
    qemu_mutex_lock(&s->lock);
    if (s->inv_req == seq) {
        hmmdev_tlb_insert_locked(s, &n);
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

/*
 * ATS, translating ahead for a stream of device-VA pages: fill @out with
 * what the 4 KiB leaf PTEs from @va's on map (system page address, or
 * device-memory offset | 1), at most @max of them, up to the end of @va's
 * leaf table; returns how many.  Stops at the first PTE the access could
 * not use as it is (not valid, reserved bits, no permission, device memory
 * out of range), and returns 0 under a 2 MiB leaf.  A read-only peek
 * through the ATC: no A/D update, no TLB fill, no fault, nothing counted,
 * no DMA error reported.  The caller holds the chunk
 * (hmmdev_mmu_chunk_begin()), so an invalidation of these PTEs completes
 * only after it: the IOVAs peeked stay mapped while it fetches them.
 */
uint32_t hmmdev_mmu_peek(HmmdevState *s, uint32_t asid, uint64_t va,
                         uint8_t access, uint64_t *out, uint32_t max)
{
    static const MemTxAttrs attrs = { .memory = 1 };
    uint64_t ptes[HMMDEV_PT_ENTRIES], table, pte;
    uint32_t idx, n, i;
    int level;

    qemu_mutex_lock(&s->lock);
    if (asid >= HMMDEV_NUM_ASIDS || !s->ctx[asid].enabled) {
        qemu_mutex_unlock(&s->lock);
        return 0;
    }
    table = s->ctx[asid].root;
    qemu_mutex_unlock(&s->lock);

    for (level = HMMDEV_PT_LEVELS; level > 1; level--) {
        unsigned shift = HMMDEV_PAGE_SHIFT + 9 * (level - 1);

        if (hmmdev_ats_rw(s, table + ((va >> shift) & (HMMDEV_PT_ENTRIES - 1)) * 8,
                          &pte, sizeof(pte), DMA_DIRECTION_TO_DEVICE,
                          attrs) != MEMTX_OK) {
            return 0;
        }
        pte = le64_to_cpu(pte);
        if (!(pte & HMMDEV_PTE_VALID) ||
            (pte & (HMMDEV_PTE_RSVD_MASK | HMMDEV_PTE_LEAF |
                    HMMDEV_PTE_DEVMEM))) {
            return 0;
        }
        table = pte & HMMDEV_PTE_ADDR_MASK;
    }
    idx = (va >> HMMDEV_PAGE_SHIFT) & (HMMDEV_PT_ENTRIES - 1);
    n = MIN(max, HMMDEV_PT_ENTRIES - idx);
    if (!n || hmmdev_ats_rw(s, table + idx * 8, ptes, n * 8,
                            DMA_DIRECTION_TO_DEVICE, attrs) != MEMTX_OK) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        uint64_t a;

        pte = le64_to_cpu(ptes[i]);
        a = pte & HMMDEV_PTE_ADDR_MASK;
        if (!(pte & HMMDEV_PTE_VALID) || (pte & HMMDEV_PTE_RSVD_MASK) ||
            (access != HMMDEV_ACCESS_READ && !(pte & HMMDEV_PTE_WRITE))) {
            break;
        }
        if (pte & HMMDEV_PTE_DEVMEM) {
            if (!hmmdev_devmem_range_ok(s, a, 1ull << HMMDEV_PAGE_SHIFT)) {
                break;
            }
            a |= 1;
        }
        out[i] = a;
    }
    return i;
}

/* ---------------------------------------------------------------------- */
/* Registers                                                              */
/* ---------------------------------------------------------------------- */

bool hmmdev_mmu_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val)
{
    if (addr >= HMMDEV_REG_CTX_BASE &&
        addr < HMMDEV_REG_CTX_BASE + HMMDEV_NUM_ASIDS * HMMDEV_CTX_STRIDE) {
        HmmdevCtx *c = &s->ctx[(addr - HMMDEV_REG_CTX_BASE) / HMMDEV_CTX_STRIDE];

        qemu_mutex_lock(&s->lock);
        if ((addr & (HMMDEV_CTX_STRIDE - 1)) == HMMDEV_CTXREG_ROOT_LO) {
            *val = (uint32_t)c->root | (c->enabled ? HMMDEV_CTX_ENABLE : 0);
        } else {
            *val = c->root_hi_pending;
        }
        qemu_mutex_unlock(&s->lock);
        return true;
    }

    qemu_mutex_lock(&s->lock);
    switch (addr) {
    case HMMDEV_REG_INV_ASID:
        *val = s->inv_asid;
        break;
    case HMMDEV_REG_INV_VA_LO:
        *val = (uint32_t)s->inv_va;
        break;
    case HMMDEV_REG_INV_VA_HI:
        *val = s->inv_va >> 32;
        break;
    case HMMDEV_REG_INV_SIZE_LO:
        *val = (uint32_t)s->inv_size;
        break;
    case HMMDEV_REG_INV_SIZE_HI:
        *val = s->inv_size >> 32;
        break;
    case HMMDEV_REG_INV_CMD:
        *val = 0;
        break;
    case HMMDEV_REG_INV_SEQ:
        *val = (uint32_t)s->inv_done;
        break;
    case HMMDEV_REG_INV_STATUS:
        *val = s->inv_done != s->inv_req ? HMMDEV_INV_STATUS_BUSY : 0;
        break;
    default:
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

static void hmmdev_ctx_write(HmmdevState *s, uint32_t asid, hwaddr reg,
                             uint32_t val)
{
    HmmdevCtx *c = &s->ctx[asid];

    if (reg == HMMDEV_CTXREG_ROOT_HI) {
        qemu_mutex_lock(&s->lock);
        c->root_hi_pending = val;
        qemu_mutex_unlock(&s->lock);
        return;
    }
    if (val & ~(HMMDEV_CTX_ROOT_MASK | HMMDEV_CTX_ENABLE)) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s",
                         (unsigned)(HMMDEV_REG_CTX_BASE +
                                    asid * HMMDEV_CTX_STRIDE),
                         val, "context root not 4 KiB aligned");
        return;
    }
    qemu_mutex_lock(&s->lock);
    c->root = (uint64_t)c->root_hi_pending << 32 | (val & HMMDEV_CTX_ROOT_MASK);
    c->enabled = val & HMMDEV_CTX_ENABLE;
    trace_hmmdev_ctx_root(asid, c->root, c->enabled);
    hmmdev_tlb_invalidate_locked(s, HMMDEV_INV_ASID, asid, 0, 0);
    qemu_mutex_unlock(&s->lock);
}

static void hmmdev_inv_cmd(HmmdevState *s, uint32_t scope)
{
    uint64_t va, size, end;

    if (scope < HMMDEV_INV_ALL || scope > HMMDEV_INV_RANGE) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s", HMMDEV_REG_INV_CMD, scope,
                         "invalidation scope");
        return;
    }
    qemu_mutex_lock(&s->lock);
    va = s->inv_va;
    size = s->inv_size;
    if (scope != HMMDEV_INV_ALL && s->inv_asid >= HMMDEV_NUM_ASIDS) {
        qemu_mutex_unlock(&s->lock);
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s", HMMDEV_REG_INV_ASID,
                         s->inv_asid, "ASID out of range");
        return;
    }
    if (scope == HMMDEV_INV_RANGE &&
        ((va | size) & ((1ull << HMMDEV_PAGE_SHIFT) - 1))) {
        /* Round outwards: a sloppy driver still gets a safe invalidation. */
        end = ROUND_UP(va + size, 1ull << HMMDEV_PAGE_SHIFT);
        va = ROUND_DOWN(va, 1ull << HMMDEV_PAGE_SHIFT);
        size = end - va;
        qemu_mutex_unlock(&s->lock);
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s", HMMDEV_REG_INV_VA_LO,
                         (uint32_t)va, "invalidation range not 4 KiB aligned");
        qemu_mutex_lock(&s->lock);
    }
    hmmdev_tlb_invalidate_locked(s, scope, s->inv_asid, va, size);
    qemu_mutex_unlock(&s->lock);
}

bool hmmdev_mmu_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val)
{
    if (addr >= HMMDEV_REG_CTX_BASE &&
        addr < HMMDEV_REG_CTX_BASE + HMMDEV_NUM_ASIDS * HMMDEV_CTX_STRIDE) {
        hmmdev_ctx_write(s, (addr - HMMDEV_REG_CTX_BASE) / HMMDEV_CTX_STRIDE,
                         addr & (HMMDEV_CTX_STRIDE - 1), val);
        return true;
    }

    switch (addr) {
    case HMMDEV_REG_INV_CMD:
        hmmdev_inv_cmd(s, val);
        return true;
    case HMMDEV_REG_INV_ASID:
    case HMMDEV_REG_INV_VA_LO:
    case HMMDEV_REG_INV_VA_HI:
    case HMMDEV_REG_INV_SIZE_LO:
    case HMMDEV_REG_INV_SIZE_HI:
        break;
    default:
        return false;
    }

    qemu_mutex_lock(&s->lock);
    switch (addr) {
    case HMMDEV_REG_INV_ASID:
        s->inv_asid = val;
        break;
    case HMMDEV_REG_INV_VA_LO:
        s->inv_va = deposit64(s->inv_va, 0, 32, val);
        break;
    case HMMDEV_REG_INV_VA_HI:
        s->inv_va = deposit64(s->inv_va, 32, 32, val);
        break;
    case HMMDEV_REG_INV_SIZE_LO:
        s->inv_size = deposit64(s->inv_size, 0, 32, val);
        break;
    case HMMDEV_REG_INV_SIZE_HI:
        s->inv_size = deposit64(s->inv_size, 32, 32, val);
        break;
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

void hmmdev_mmu_realize(HmmdevState *s)
{
    s->tlb = g_new0(HmmdevTlbEntry, s->tlb_entries);
    s->tlb_hash_mask = pow2ceil(2 * s->tlb_entries) - 1;
    s->tlb_hash = g_new(int32_t, s->tlb_hash_mask + 1);
    hmmdev_tlb_clear_locked(s);
}

void hmmdev_mmu_unrealize(HmmdevState *s)
{
    g_free(s->tlb);
    s->tlb = NULL;
    g_free(s->tlb_hash);
    s->tlb_hash = NULL;
}

/* The worker is quiesced. */
void hmmdev_mmu_reset(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    hmmdev_tlb_clear_locked(s);
    memset(s->ctx, 0, sizeof(s->ctx));
    s->in_chunk = false;
    s->inv_req = s->inv_done = 0;
    s->inv_asid = 0;
    s->inv_va = s->inv_size = 0;
    qemu_mutex_unlock(&s->lock);
}
