/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the device TLB, the contexts and out-of-band invalidation: the
 * CTX and INV registers, the TLB_INV command's effect, and when an
 * invalidation completes.
 *
 * The walker (hmmdev-walk.c) looks translations up here and fills what it
 * walked; this file touches no memory.  Everything is under s->lock.
 *
 * An invalidation drops the entries it covers at once, but completes (INV_SEQ,
 * INV_STATUS) only when the worker no longer uses a translation it took
 * before: the engine brackets each page access with hmmdev_tlb_chunk_begin()
 * and hmmdev_tlb_chunk_end().  Software polls for completion, so finishing
 * one needs no signal.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/bitops.h"
#include "hmmdev.h"
#include "trace.h"

/* A page address leaves room below bit 12 for the context and the size. */
QEMU_BUILD_BUG_ON(HMMDEV_NUM_ASIDS > 1 << (HMMDEV_PAGE_SHIFT - 1));

static uint64_t hmmdev_tlb_key(uint32_t asid, uint64_t va, unsigned shift)
{
    return (va & ~((1ull << shift) - 1)) | (uint64_t)asid << 1 |
           (shift == HMMDEV_HUGE_SHIFT);
}

/* The valid entry that maps @va in @asid, or -1. */
static int32_t hmmdev_tlb_find_locked(HmmdevState *s, uint32_t asid,
                                      uint64_t va)
{
    int32_t i = hmmdev_lru_lookup(&s->tlb_index,
                                  hmmdev_tlb_key(asid, va, HMMDEV_PAGE_SHIFT));

    return i >= 0 ? i : hmmdev_lru_lookup(&s->tlb_index,
                                          hmmdev_tlb_key(asid, va,
                                                         HMMDEV_HUGE_SHIFT));
}

void hmmdev_tlb_xlate(const HmmdevTlbEntry *e, uint64_t va, HmmdevXlate *x)
{
    uint64_t mask = (1ull << e->shift) - 1;

    x->loc = (e->pte & HMMDEV_PTE_DEVMEM) ? HMMDEV_LOC_DEVMEM : HMMDEV_LOC_SYS;
    x->addr = (e->pte & HMMDEV_PTE_ADDR_MASK) + (va & mask);
    x->len = (1ull << e->shift) - (va & mask);
}

static bool hmmdev_tlb_ctx_root_locked(HmmdevState *s, uint32_t asid,
                                       uint64_t *root)
{
    if (asid >= HMMDEV_NUM_ASIDS || !s->ctx[asid].enabled) {
        return false;
    }
    *root = s->ctx[asid].root;
    return true;
}

/* The root of context @asid; false if it is out of range or disabled. */
bool hmmdev_tlb_ctx_root(HmmdevState *s, uint32_t asid, uint64_t *root)
{
    bool ok;

    qemu_mutex_lock(&s->lock);
    ok = hmmdev_tlb_ctx_root_locked(s, asid, root);
    qemu_mutex_unlock(&s->lock);
    return ok;
}

/*
 * Look @va of context @asid up for @access.  A miss returns what the walk
 * needs: the root, and the invalidation count to hand to hmmdev_tlb_fill().
 */
HmmdevTlbLookup hmmdev_tlb_lookup(HmmdevState *s, uint32_t asid, uint64_t va,
                                  uint8_t access, HmmdevXlate *x,
                                  uint64_t *root, uint64_t *seq)
{
    int32_t i;

    qemu_mutex_lock(&s->lock);
    if (!hmmdev_tlb_ctx_root_locked(s, asid, root)) {
        qemu_mutex_unlock(&s->lock);
        return HMMDEV_TLB_NO_CTX;
    }
    i = hmmdev_tlb_find_locked(s, asid, va);
    /* A write through an entry without D must walk to set D in memory. */
    if (i >= 0 && (access == HMMDEV_ACCESS_READ || s->tlb[i].dirty)) {
        hmmdev_lru_touch(&s->tlb_index, i);
        hmmdev_tlb_xlate(&s->tlb[i], va, x);
        qemu_mutex_unlock(&s->lock);
        HMMDEV_STAT_INC(s, tlb_hits);
        trace_hmmdev_tlb_hit(asid, va, x->loc, x->addr);
        return HMMDEV_TLB_HIT;
    }
    *seq = s->inv_req;
    qemu_mutex_unlock(&s->lock);

    HMMDEV_STAT_INC(s, tlb_misses);
    trace_hmmdev_tlb_miss(asid, va, access);
    return HMMDEV_TLB_MISS;
}

/*
 * Cache what a walk found, unless an invalidation came since the lookup
 * that returned @seq: it may cover what the walk read.  (The walker still
 * uses the result for its chunk; the invalidation completes after it.)  A
 * stale copy of the same page, e.g. one without D, is replaced.
 */
void hmmdev_tlb_fill(HmmdevState *s, const HmmdevTlbEntry *n, uint64_t seq)
{
    bool evicted;
    int32_t i;

    qemu_mutex_lock(&s->lock);
    if (s->inv_req == seq) {
        i = hmmdev_lru_insert(&s->tlb_index,
                              hmmdev_tlb_key(n->asid, n->va, n->shift),
                              &evicted);
        if (evicted) {
            trace_hmmdev_tlb_evict(s->tlb[i].asid, s->tlb[i].va);
        }
        s->tlb[i] = *n;
        trace_hmmdev_tlb_insert(n->asid, n->va, n->shift, n->pte);
    }
    qemu_mutex_unlock(&s->lock);
}

typedef struct HmmdevTlbInv {
    const HmmdevTlbEntry *tlb;
    uint32_t scope, asid;
    uint64_t va, end;
} HmmdevTlbInv;

static bool hmmdev_tlb_inv_match(int32_t i, const void *opaque)
{
    const HmmdevTlbInv *inv = opaque;
    const HmmdevTlbEntry *e = &inv->tlb[i];

    switch (inv->scope) {
    case HMMDEV_INV_ALL:
        return true;
    case HMMDEV_INV_ASID:
        return e->asid == inv->asid;
    default:
        return e->asid == inv->asid && e->va < inv->end &&
               inv->va < e->va + (1ull << e->shift);
    }
}

/*
 * Drop matching entries and start an invalidation.  It completes at once
 * unless the worker is inside a chunk, i.e. may still use a translation it
 * got before; then hmmdev_tlb_chunk_end() completes it.
 */
static void hmmdev_tlb_invalidate_locked(HmmdevState *s, uint32_t scope,
                                         uint32_t asid, uint64_t va,
                                         uint64_t size)
{
    HmmdevTlbInv inv = {
        .tlb = s->tlb, .scope = scope, .asid = asid,
        .va = va, .end = va + size,
    };
    uint32_t dropped = hmmdev_lru_flush(&s->tlb_index, hmmdev_tlb_inv_match,
                                        &inv);

    s->inv_req++;
    if (!s->in_chunk) {
        s->inv_done = s->inv_req;
    }
    HMMDEV_STAT_INC(s, tlb_invalidations);
    trace_hmmdev_tlb_invalidate(scope, asid, va, size, dropped, s->inv_req,
                                s->inv_done);
}

/* The TLB_INV command. */
void hmmdev_tlb_invalidate(HmmdevState *s, uint32_t scope, uint32_t asid,
                           uint64_t va, uint64_t size)
{
    qemu_mutex_lock(&s->lock);
    hmmdev_tlb_invalidate_locked(s, scope, asid, va, size);
    qemu_mutex_unlock(&s->lock);
}

void hmmdev_tlb_chunk_begin(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->in_chunk = true;
    qemu_mutex_unlock(&s->lock);
}

/* The worker no longer uses any translation: pending invalidations are done. */
void hmmdev_tlb_chunk_end(HmmdevState *s)
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
/* Registers                                                              */
/* ---------------------------------------------------------------------- */

static bool hmmdev_is_ctx_reg(hwaddr addr)
{
    return addr >= HMMDEV_REG_CTX_BASE &&
           addr < HMMDEV_REG_CTX_BASE + HMMDEV_NUM_ASIDS * HMMDEV_CTX_STRIDE;
}

/* INV_VA and INV_SIZE are 64 bits wide, written a 32-bit half at a time. */
static uint64_t *hmmdev_inv_reg64(HmmdevState *s, hwaddr addr, unsigned *shift)
{
    *shift = (addr == HMMDEV_REG_INV_VA_HI ||
              addr == HMMDEV_REG_INV_SIZE_HI) ? 32 : 0;
    if (addr == HMMDEV_REG_INV_VA_LO || addr == HMMDEV_REG_INV_VA_HI) {
        return &s->inv_va;
    }
    if (addr == HMMDEV_REG_INV_SIZE_LO || addr == HMMDEV_REG_INV_SIZE_HI) {
        return &s->inv_size;
    }
    return NULL;
}

bool hmmdev_tlb_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val)
{
    unsigned shift;
    uint64_t *reg = hmmdev_inv_reg64(s, addr, &shift);
    bool ok = true;

    qemu_mutex_lock(&s->lock);
    if (hmmdev_is_ctx_reg(addr)) {
        HmmdevCtx *c = &s->ctx[(addr - HMMDEV_REG_CTX_BASE) /
                               HMMDEV_CTX_STRIDE];

        if ((addr & (HMMDEV_CTX_STRIDE - 1)) == HMMDEV_CTXREG_ROOT_LO) {
            *val = (uint32_t)c->root | (c->enabled ? HMMDEV_CTX_ENABLE : 0);
        } else {
            *val = c->root_hi_pending;
        }
    } else if (reg) {
        *val = (uint32_t)(*reg >> shift);
    } else if (addr == HMMDEV_REG_INV_ASID) {
        *val = s->inv_asid;
    } else if (addr == HMMDEV_REG_INV_CMD) {
        *val = 0;
    } else if (addr == HMMDEV_REG_INV_SEQ) {
        *val = (uint32_t)s->inv_done;
    } else if (addr == HMMDEV_REG_INV_STATUS) {
        *val = s->inv_done != s->inv_req ? HMMDEV_INV_STATUS_BUSY : 0;
    } else {
        ok = false;
    }
    qemu_mutex_unlock(&s->lock);
    return ok;
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

bool hmmdev_tlb_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val)
{
    unsigned shift;
    uint64_t *reg = hmmdev_inv_reg64(s, addr, &shift);

    if (hmmdev_is_ctx_reg(addr)) {
        hmmdev_ctx_write(s, (addr - HMMDEV_REG_CTX_BASE) / HMMDEV_CTX_STRIDE,
                         addr & (HMMDEV_CTX_STRIDE - 1), val);
        return true;
    }
    if (addr == HMMDEV_REG_INV_CMD) {
        hmmdev_inv_cmd(s, val);
        return true;
    }
    if (!reg && addr != HMMDEV_REG_INV_ASID) {
        return false;
    }
    qemu_mutex_lock(&s->lock);
    if (reg) {
        *reg = deposit64(*reg, shift, 32, val);
    } else {
        s->inv_asid = val;
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

void hmmdev_tlb_realize(HmmdevState *s)
{
    s->tlb = g_new0(HmmdevTlbEntry, s->tlb_entries);
    hmmdev_lru_init(&s->tlb_index, s->tlb_entries);
}

void hmmdev_tlb_unrealize(HmmdevState *s)
{
    g_free(s->tlb);
    s->tlb = NULL;
    hmmdev_lru_destroy(&s->tlb_index);
}

/* The worker is quiesced. */
void hmmdev_tlb_reset(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    hmmdev_lru_clear(&s->tlb_index);
    memset(s->ctx, 0, sizeof(s->ctx));
    s->in_chunk = false;
    s->inv_req = s->inv_done = 0;
    s->inv_asid = 0;
    s->inv_va = s->inv_size = 0;
    qemu_mutex_unlock(&s->lock);
}
