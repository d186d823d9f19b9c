/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the page-table walker: translation of device VAs for the engine,
 * through the TLB (hmmdev-tlb.c), walking the tables in system memory
 * (hmmdev-dma.c) on a miss, with the A/D updates; and, with ATS, reading
 * the leaf PTEs ahead of a command to have their pages translated in one
 * round trip (hmmdev-ats.c).
 *
 * Runs on the worker thread, without s->lock except inside the TLB calls.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hmmdev.h"
#include "trace.h"

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

/*
 * Translate @va of context @asid for @access.  Called by the worker between
 * hmmdev_tlb_chunk_begin() and hmmdev_tlb_chunk_end(), without s->lock.
 */
bool hmmdev_walk_translate(HmmdevState *s, uint32_t asid, uint64_t va,
                           uint8_t access, HmmdevXlate *x, HmmdevXlateFault *f)
{
    HmmdevTlbEntry n = { 0 };
    uint64_t root, seq;

    f->error = HMMDEV_ERR_NONE;
    f->reason = 0;
    f->level = 0;

    switch (hmmdev_tlb_lookup(s, asid, va, access, x, &root, &seq)) {
    case HMMDEV_TLB_HIT:
        return true;
    case HMMDEV_TLB_NO_CTX:
        f->error = HMMDEV_ERR_CTX;
        trace_hmmdev_err_ctx(asid, va);
        return false;
    case HMMDEV_TLB_MISS:
        break;
    }
    if (!hmmdev_walk(s, asid, root, va, access, &n, f)) {
        if (f->error == HMMDEV_ERR_FAULT) {
            trace_hmmdev_translate_fault(asid, va, access, f->reason, f->level);
        }
        return false;
    }
    hmmdev_tlb_xlate(&n, va, x);
    hmmdev_tlb_fill(s, &n, seq);
    return true;
}

/* ---------------------------------------------------------------------- */
/* Translating ahead (ATS)                                                */
/* ---------------------------------------------------------------------- */

/*
 * ATS, translating ahead for a stream of device-VA pages: fill @out with
 * what the 4 KiB leaf PTEs from @va's on map (system page address, or
 * device-memory offset | 1), at most @max of them, up to the end of @va's
 * leaf table; returns how many.  Stops at the first PTE the access could
 * not use as it is (not valid, reserved bits, no permission, device memory
 * out of range), and returns 0 under a 2 MiB leaf.  A read-only peek
 * through the ATC: no A/D update, no TLB fill, no fault, nothing counted,
 * no DMA error reported.  The caller holds the chunk
 * (hmmdev_tlb_chunk_begin()), so an invalidation of these PTEs completes
 * only after it: the IOVAs peeked stay mapped while it fetches them.
 */
static uint32_t hmmdev_walk_peek(HmmdevState *s, uint32_t asid,
                                 uint64_t va, uint8_t access, uint64_t *out,
                                 uint32_t max)
{
    uint64_t ptes[HMMDEV_PT_ENTRIES], table, pte;
    uint32_t idx, n, i;
    int level;

    if (!hmmdev_tlb_ctx_root(s, asid, &table)) {
        return 0;
    }

    for (level = HMMDEV_PT_LEVELS; level > 1; level--) {
        unsigned shift = HMMDEV_PAGE_SHIFT + 9 * (level - 1);

        if (!hmmdev_dma_peek(s, table + ((va >> shift) &
                                         (HMMDEV_PT_ENTRIES - 1)) * 8,
                             &pte, sizeof(pte))) {
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
    if (!n || !hmmdev_dma_peek(s, table + idx * 8, ptes, n * 8)) {
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

/*
 * Peek the leaf PTEs of a stream of @len bytes at @va, at most @max pages.
 * 0 unless the first is the page @x translated @va to: otherwise the
 * tables changed since, or @va is under a 2 MiB leaf.
 */
static uint32_t hmmdev_walk_stream(HmmdevState *s, uint32_t asid,
                                   uint64_t va, uint64_t len,
                                   const HmmdevXlate *x, uint8_t access,
                                   uint64_t *out, uint32_t max)
{
    uint32_t n = hmmdev_walk_peek(s, asid, va, access, out,
                                  MIN(max, hmmdev_ats_batch_pages(va, len)));

    if (n && out[0] != ((x->addr & ~4095ull) |
                        (x->loc == HMMDEV_LOC_DEVMEM))) {
        return 0;
    }
    return n;
}

/* The system side of @x (NULL: no such stream) misses in the ATC? */
static bool hmmdev_walk_misses(HmmdevState *s, const HmmdevXlate *x,
                               bool write)
{
    return x && x->loc == HMMDEV_LOC_SYS &&
           !hmmdev_ats_cached(s, x->addr, write);
}

/*
 * Translating ahead for VA commands, when ATS is on and a system page of
 * the access at @src / @dst (NULL translation: no such stream) misses in
 * the ATC.  Peek the leaf PTEs of each stream and list the system pages
 * the command will access from here on, in order, piece by piece as it
 * goes (a piece ends at the first page end of either side: source page,
 * then destination page), stopping where a peek stopped; then have them
 * translated in one round trip.  Called inside the chunk.
 */
void hmmdev_walk_ahead(HmmdevState *s, uint32_t asid,
                       uint64_t src, const HmmdevXlate *xs,
                       uint64_t dst, const HmmdevXlate *xd, uint64_t len)
{
    uint64_t ps[HMMDEV_ATS_BATCH_MAX], pd[HMMDEV_ATS_BATCH_MAX];
    uint64_t off, n, last_s = 1, last_d = 1, is = 0, id = 0;
    uint32_t ns = 0, nd = 0, need;
    HmmdevAtsBatch b;

    if (!hmmdev_ats_active(s) ||
        !(hmmdev_walk_misses(s, xs, false) ||
          hmmdev_walk_misses(s, xd, true))) {
        return;
    }
    b.n = 0;
    b.max = hmmdev_ats_batch_budget(s);
    if (!b.max) {
        return;
    }
    ns = xs ? hmmdev_walk_stream(s, asid, src, len, xs, HMMDEV_ACCESS_READ,
                                 ps, b.max) : 0;
    if (xs && !ns) {
        return;
    }
    nd = xd ? hmmdev_walk_stream(s, asid, dst, len, xd, HMMDEV_ACCESS_WRITE,
                                 pd, b.max) : 0;
    if (xd && !nd) {
        return;
    }
    for (off = 0; off < len; off += n) {
        n = len - off;
        if (xs) {
            n = MIN(n, 4096 - ((src + off) & 4095));
            is = ((src + off) >> 12) - (src >> 12);
            if (is >= ns) {
                break;
            }
        }
        if (xd) {
            n = MIN(n, 4096 - ((dst + off) & 4095));
            id = ((dst + off) >> 12) - (dst >> 12);
            if (id >= nd) {
                break;
            }
        }
        need = (xs && !(ps[is] & 1) && ps[is] != last_s) +
               (xd && !(pd[id] & 1) && pd[id] != last_d);
        if (b.n + need > b.max) {
            break;
        }
        if (xs && !(ps[is] & 1) && ps[is] != last_s) {
            b.page[b.n++] = ps[is];
            last_s = ps[is];
        }
        if (xd && !(pd[id] & 1) && pd[id] != last_d) {
            b.page[b.n++] = pd[id] | 1;
            last_d = pd[id];
        }
    }
    if (b.n) {
        hmmdev_ats_fetch_ahead(s, &b);
    }
}
