/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the copy engine: command decode and execution.
 *
 * Runs in the worker thread without the BQL or s->lock.  VA operands are
 * translated one page at a time (hmmdev-walk.c), each page access bracketed
 * by hmmdev_tlb_chunk_begin/end() so out-of-band invalidations know when
 * the engine stopped using a translation.  Progress is kept in the queue,
 * so a REPLAY continues where the fault stopped the command.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "hmmdev.h"
#include "trace.h"

#define HMMDEV_BOUNCE_SIZE  (64 * KiB)
/* Largest physical copy between two checks for reset or queue disable. */
#define HMMDEV_SG_PIECE     (2 * MiB)
#define HMMDEV_VA_LIMIT     (1ull << HMMDEV_VA_BITS)

static HmmdevExec hmmdev_cmd_error(HmmdevQueue *q, uint32_t code)
{
    q->cmd.status = code;
    return HMMDEV_EXEC_DONE;
}

/* Arguments not in @used must be zero. */
static bool hmmdev_args_clean(const struct HmmdevCmd *c, unsigned used)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(c->arg); i++) {
        if (!(used & (1u << i)) && c->arg[i]) {
            return false;
        }
    }
    return true;
}

static uint32_t hmmdev_check_va(uint64_t va, uint64_t len)
{
    if (!len) {
        return HMMDEV_ERR_BAD_CMD;
    }
    if (va >= HMMDEV_VA_LIMIT || len > HMMDEV_VA_LIMIT - va) {
        return HMMDEV_ERR_BAD_ADDR;
    }
    return HMMDEV_ERR_NONE;
}

static void hmmdev_count_bytes(HmmdevState *s, HmmdevLoc from, HmmdevLoc to,
                               uint64_t n)
{
    if (from == HMMDEV_LOC_SYS) {
        if (to == HMMDEV_LOC_SYS) {
            HMMDEV_STAT_ADD(s, bytes_sys_to_sys, n);
        } else {
            HMMDEV_STAT_ADD(s, bytes_sys_to_dev, n);
        }
    } else if (to == HMMDEV_LOC_SYS) {
        HMMDEV_STAT_ADD(s, bytes_dev_to_sys, n);
    } else {
        HMMDEV_STAT_ADD(s, bytes_dev_to_dev, n);
    }
}

/* Device-memory ranges are checked by the caller (walk or SG decode). */
static bool hmmdev_target_rw(HmmdevState *s, HmmdevLoc loc, uint64_t addr,
                             void *buf, uint64_t len, bool is_write)
{
    if (loc == HMMDEV_LOC_DEVMEM) {
        hmmdev_devmem_rw(s, addr, buf, len, is_write);
        return true;
    }
    return hmmdev_dma_rw(s, addr, buf, len, is_write ?
                         DMA_DIRECTION_FROM_DEVICE : DMA_DIRECTION_TO_DEVICE);
}

/* Copy between two translated targets; only MMIO on both sides bounces. */
static bool hmmdev_move(HmmdevState *s, HmmdevLoc sl, uint64_t src,
                        HmmdevLoc dl, uint64_t dst, uint64_t len)
{
    bool ok = true;

    if (sl == HMMDEV_LOC_DEVMEM && dl == HMMDEV_LOC_DEVMEM) {
        memmove(hmmdev_devmem_ptr(s, dst), hmmdev_devmem_ptr(s, src), len);
    } else if (dl == HMMDEV_LOC_DEVMEM) {
        ok = hmmdev_dma_rw(s, src, hmmdev_devmem_ptr(s, dst), len,
                           DMA_DIRECTION_TO_DEVICE);
    } else if (sl == HMMDEV_LOC_DEVMEM) {
        ok = hmmdev_dma_rw(s, dst, hmmdev_devmem_ptr(s, src), len,
                           DMA_DIRECTION_FROM_DEVICE);
    } else {
        ok = hmmdev_dma_copy(s, dst, src, len, s->bounce, HMMDEV_BOUNCE_SIZE);
    }
    if (ok) {
        hmmdev_count_bytes(s, sl, dl, len);
    }
    return ok;
}

/* A translation failed: stall on a fault, or complete with the error. */
static HmmdevExec hmmdev_xlate_fail(HmmdevState *s, HmmdevQueue *q,
                                    uint64_t va, uint8_t access,
                                    const HmmdevXlateFault *f)
{
    hmmdev_tlb_chunk_end(s);
    if (f->error == HMMDEV_ERR_FAULT) {
        q->fault.va = va;
        q->fault.access = access;
        q->fault.reason = f->reason;
        q->fault.level = f->level;
        return HMMDEV_EXEC_FAULT;
    }
    q->cmd.status = f->error;
    q->cmd.result = q->progress;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_dma_fail(HmmdevQueue *q)
{
    q->cmd.status = HMMDEV_ERR_DMA;
    q->cmd.result = q->progress;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_fence(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t val = cpu_to_le64(c->arg[1]);

    if (c->cdw1 || !hmmdev_args_clean(c, 0x3) || (c->arg[0] & 7)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    if (!hmmdev_dma_rw(s, c->arg[0], &val, sizeof(val),
                       DMA_DIRECTION_FROM_DEVICE)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_RING_DMA);
    }
    c->result = c->arg[1];
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_copy(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t dst = c->arg[0], src = c->arg[1], len = c->arg[2];
    uint32_t err;

    if (c->cdw1 || !hmmdev_args_clean(c, 0x7)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    err = hmmdev_check_va(dst, len);
    err = err ? err : hmmdev_check_va(src, len);
    if (!err && src < dst + len && dst < src + len) {
        err = HMMDEV_ERR_BAD_CMD;       /* overlapping ranges */
    }
    if (err) {
        return hmmdev_cmd_error(q, err);
    }

    while (q->progress < len) {
        uint64_t off = q->progress, n;
        HmmdevXlate xs, xd;
        HmmdevXlateFault f;
        bool ok;

        if (hmmdev_stop_requested(s, q)) {
            return HMMDEV_EXEC_ABORT;
        }
        hmmdev_tlb_chunk_begin(s);
        if (!hmmdev_walk_translate(s, q->asid, src + off, HMMDEV_ACCESS_READ,
                                   &xs, &f)) {
            return hmmdev_xlate_fail(s, q, src + off, HMMDEV_ACCESS_READ, &f);
        }
        if (!hmmdev_walk_translate(s, q->asid, dst + off, HMMDEV_ACCESS_WRITE,
                                   &xd, &f)) {
            return hmmdev_xlate_fail(s, q, dst + off, HMMDEV_ACCESS_WRITE, &f);
        }
        hmmdev_walk_ahead(s, q->asid, src + off, &xs, dst + off, &xd,
                          len - off);
        n = MIN(len - off, MIN(xs.len, xd.len));
        ok = hmmdev_move(s, xs.loc, xs.addr, xd.loc, xd.addr, n);
        hmmdev_tlb_chunk_end(s);
        if (!ok) {
            return hmmdev_dma_fail(q);
        }
        q->progress += n;
    }
    c->result = len;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_fill(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t dst = c->arg[0], len = c->arg[2];
    uint64_t pattern = cpu_to_le64(c->arg[1]);
    uint32_t err, i;

    if (c->cdw1 || !hmmdev_args_clean(c, 0x7)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    err = hmmdev_check_va(dst, len);
    if (err) {
        return hmmdev_cmd_error(q, err);
    }
    /* fill_buf[i] is pattern byte i % 8; a piece at VA v starts at v % 8. */
    for (i = 0; i < MIN(len, HMMDEV_BOUNCE_SIZE) + 8; i += 8) {
        memcpy(s->fill_buf + i, &pattern, 8);
    }

    while (q->progress < len) {
        uint64_t off = q->progress, n, done;
        HmmdevXlate xd;
        HmmdevXlateFault f;
        bool ok = true;

        if (hmmdev_stop_requested(s, q)) {
            return HMMDEV_EXEC_ABORT;
        }
        hmmdev_tlb_chunk_begin(s);
        if (!hmmdev_walk_translate(s, q->asid, dst + off, HMMDEV_ACCESS_WRITE,
                                   &xd, &f)) {
            return hmmdev_xlate_fail(s, q, dst + off, HMMDEV_ACCESS_WRITE, &f);
        }
        hmmdev_walk_ahead(s, q->asid, 0, NULL, dst + off, &xd, len - off);
        n = MIN(len - off, xd.len);
        for (done = 0; ok && done < n; done += HMMDEV_BOUNCE_SIZE) {
            ok = hmmdev_target_rw(s, xd.loc, xd.addr + done,
                                  s->fill_buf + ((dst + off + done) & 7),
                                  MIN(n - done, HMMDEV_BOUNCE_SIZE), true);
        }
        hmmdev_tlb_chunk_end(s);
        if (!ok) {
            return hmmdev_dma_fail(q);
        }
        HMMDEV_STAT_ADD(s, bytes_filled, n);
        q->progress += n;
    }
    c->result = len;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_atomic(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t va = c->arg[0], old = 0;
    HmmdevXlate x;
    HmmdevXlateFault f;
    uint32_t err;
    bool ok = true;

    if (c->cdw1 > HMMDEV_ATOMIC_CMPXCHG) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_OPCODE);
    }
    if (!hmmdev_args_clean(c, 0x7) || (va & 7)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    err = hmmdev_check_va(va, 8);
    if (err) {
        return hmmdev_cmd_error(q, err);
    }

    hmmdev_tlb_chunk_begin(s);
    if (!hmmdev_walk_translate(s, q->asid, va, HMMDEV_ACCESS_ATOMIC, &x, &f)) {
        return hmmdev_xlate_fail(s, q, va, HMMDEV_ACCESS_ATOMIC, &f);
    }
    if (x.loc == HMMDEV_LOC_DEVMEM) {
        old = hmmdev_host_atomic64((uint64_t *)hmmdev_devmem_ptr(s, x.addr),
                                   c->cdw1, c->arg[1], c->arg[2]);
    } else {
        ok = hmmdev_dma_atomic64(s, x.addr, c->cdw1, c->arg[1], c->arg[2],
                                 &old);
    }
    hmmdev_tlb_chunk_end(s);
    if (!ok) {
        return hmmdev_dma_fail(q);
    }
    trace_hmmdev_atomic(hmmdev_queue_index(s, q), va, c->cdw1, old);
    c->result = old;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_sum64(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t src = c->arg[1], len = c->arg[2];
    uint32_t err;

    if (!hmmdev_args_clean(c, 0x6) || ((src | len) & 7)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    err = hmmdev_check_va(src, len);
    if (err) {
        return hmmdev_cmd_error(q, err);
    }

    while (q->progress < len) {
        uint64_t off = q->progress, n, done, i;
        HmmdevXlate x;
        HmmdevXlateFault f;
        bool ok = true;

        if (hmmdev_stop_requested(s, q)) {
            return HMMDEV_EXEC_ABORT;
        }
        hmmdev_tlb_chunk_begin(s);
        if (!hmmdev_walk_translate(s, q->asid, src + off, HMMDEV_ACCESS_READ,
                                   &x, &f)) {
            return hmmdev_xlate_fail(s, q, src + off, HMMDEV_ACCESS_READ, &f);
        }
        hmmdev_walk_ahead(s, q->asid, src + off, &x, 0, NULL, len - off);
        n = MIN(len - off, x.len);
        for (done = 0; ok && done < n; done += HMMDEV_BOUNCE_SIZE) {
            uint64_t piece = MIN(n - done, HMMDEV_BOUNCE_SIZE);

            ok = hmmdev_target_rw(s, x.loc, x.addr + done, s->bounce, piece,
                                  false);
            for (i = 0; ok && i < piece; i += 8) {
                q->acc += ldq_le_p(s->bounce + i);
            }
        }
        hmmdev_tlb_chunk_end(s);
        if (!ok) {
            return hmmdev_dma_fail(q);
        }
        q->progress += n;
    }
    c->result = q->acc;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_axpy32(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t dst = c->arg[0], xv = c->arg[1], len = c->arg[2];
    uint64_t yv = c->arg[3];
    uint32_t a = c->arg[4], err;
    uint8_t *xb = s->bounce, *yb = s->bounce2;

    if (c->arg[4] > UINT32_MAX || ((dst | xv | yv | len) & 3)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    err = hmmdev_check_va(dst, len);
    err = err ? err : hmmdev_check_va(xv, len);
    err = err ? err : hmmdev_check_va(yv, len);
    if (err) {
        return hmmdev_cmd_error(q, err);
    }

    while (q->progress < len) {
        uint64_t off = q->progress, n, done, i;
        HmmdevXlate xx, xy, xd;
        HmmdevXlateFault f;
        bool ok = true;

        if (hmmdev_stop_requested(s, q)) {
            return HMMDEV_EXEC_ABORT;
        }
        hmmdev_tlb_chunk_begin(s);
        if (!hmmdev_walk_translate(s, q->asid, xv + off, HMMDEV_ACCESS_READ,
                                   &xx, &f)) {
            return hmmdev_xlate_fail(s, q, xv + off, HMMDEV_ACCESS_READ, &f);
        }
        if (!hmmdev_walk_translate(s, q->asid, yv + off, HMMDEV_ACCESS_READ,
                                   &xy, &f)) {
            return hmmdev_xlate_fail(s, q, yv + off, HMMDEV_ACCESS_READ, &f);
        }
        if (!hmmdev_walk_translate(s, q->asid, dst + off, HMMDEV_ACCESS_WRITE,
                                   &xd, &f)) {
            return hmmdev_xlate_fail(s, q, dst + off, HMMDEV_ACCESS_WRITE, &f);
        }
        n = MIN(len - off, MIN(xx.len, MIN(xy.len, xd.len)));
        for (done = 0; ok && done < n; done += HMMDEV_BOUNCE_SIZE) {
            uint64_t piece = MIN(n - done, HMMDEV_BOUNCE_SIZE);

            ok = hmmdev_target_rw(s, xx.loc, xx.addr + done, xb, piece, false) &&
                 hmmdev_target_rw(s, xy.loc, xy.addr + done, yb, piece, false);
            for (i = 0; ok && i < piece; i += 4) {
                stl_le_p(xb + i, a * ldl_le_p(xb + i) + ldl_le_p(yb + i));
            }
            ok = ok && hmmdev_target_rw(s, xd.loc, xd.addr + done, xb, piece,
                                        true);
        }
        hmmdev_tlb_chunk_end(s);
        if (!ok) {
            return hmmdev_dma_fail(q);
        }
        q->progress += n;
    }
    c->result = len;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_exec_tlb_inv(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint32_t scope = c->cdw1, asid = c->arg[1];
    uint64_t va = c->arg[0], size = c->arg[2], end;
    uint32_t err = HMMDEV_ERR_NONE;

    if (scope < HMMDEV_INV_ALL || scope > HMMDEV_INV_RANGE) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_OPCODE);
    }
    if (!hmmdev_args_clean(c, 0x7) ||
        (scope != HMMDEV_INV_ALL && c->arg[1] >= HMMDEV_NUM_ASIDS)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    if (scope == HMMDEV_INV_RANGE &&
        ((va | size) & ((1ull << HMMDEV_PAGE_SHIFT) - 1))) {
        /* Still invalidate, rounded outwards, but report the sloppiness. */
        end = ROUND_UP(va + size, 1ull << HMMDEV_PAGE_SHIFT);
        va = ROUND_DOWN(va, 1ull << HMMDEV_PAGE_SHIFT);
        size = end - va;
        err = HMMDEV_ERR_BAD_CMD;
    }
    hmmdev_tlb_invalidate(s, scope, asid, va, size);
    return hmmdev_cmd_error(q, err);
}

/* Decode and check one SG entry (little-endian in place). */
static uint32_t hmmdev_sg_decode(HmmdevState *s, struct HmmdevSgEntry *e,
                                 HmmdevLoc *sl, HmmdevLoc *dl)
{
    e->src = le64_to_cpu(e->src);
    e->dst = le64_to_cpu(e->dst);
    e->len = le32_to_cpu(e->len);
    e->flags = le32_to_cpu(e->flags);
    *sl = (e->flags & HMMDEV_SG_SRC_DEVMEM) ? HMMDEV_LOC_DEVMEM
                                            : HMMDEV_LOC_SYS;
    *dl = (e->flags & HMMDEV_SG_DST_DEVMEM) ? HMMDEV_LOC_DEVMEM
                                            : HMMDEV_LOC_SYS;
    if (!e->len || e->rsvd ||
        (e->flags & ~(HMMDEV_SG_SRC_DEVMEM | HMMDEV_SG_DST_DEVMEM))) {
        return HMMDEV_ERR_BAD_CMD;
    }
    if ((*sl == HMMDEV_LOC_DEVMEM && !hmmdev_devmem_range_ok(s, e->src, e->len)) ||
        (*dl == HMMDEV_LOC_DEVMEM && !hmmdev_devmem_range_ok(s, e->dst, e->len))) {
        return HMMDEV_ERR_DEVMEM_RANGE;
    }
    return HMMDEV_ERR_NONE;
}

/*
 * With ATS, translate ahead: list the system pages the SG_COPY will access
 * from (q->progress, q->sg_offset) on, in the order it accesses them (see
 * hmmdev_move(): a system-to-system copy goes through the bounce buffer,
 * source chunk then destination chunk), up to the batch budget, and have
 * them translated in one round trip.  The entries read are those of the
 * current SG-list page (which the command has just read, so no new
 * translation); the window stops before an entry that would fail to
 * decode.  The next SG-list page goes last.  True with the window's end in
 * *pf_entry, *pf_off: the caller cuts its pieces there, so the pieces start
 * where the listing assumed.
 */
static bool hmmdev_sg_fetch_ahead(HmmdevState *s, HmmdevQueue *q,
                                  uint64_t list, uint64_t count,
                                  uint64_t *pf_entry, uint64_t *pf_off)
{
    struct HmmdevSgEntry ent[4096 / HMMDEV_SG_ENTRY_SIZE];
    HmmdevAtsBatch b;
    uint64_t entry = q->progress, first = list + entry * HMMDEV_SG_ENTRY_SIZE;
    uint64_t k, i, o = 0, next;

    b.n = 0;
    b.max = hmmdev_ats_batch_budget(s);
    if (!b.max || qatomic_read(&s->inject_dma_fail)) {
        return false;
    }
    k = MIN(count - entry,
            (4096 - (first & 4095)) / HMMDEV_SG_ENTRY_SIZE);
    k = MAX(k, 1);
    if (!hmmdev_dma_peek(s, first, ent, k * HMMDEV_SG_ENTRY_SIZE)) {
        return false;
    }
    for (i = 0; i < k; i++) {
        struct HmmdevSgEntry *e = &ent[i];
        HmmdevLoc sl, dl;

        if (hmmdev_sg_decode(s, e, &sl, &dl) != HMMDEV_ERR_NONE) {
            break;
        }
        o = i ? 0 : q->sg_offset;
        if (sl == HMMDEV_LOC_SYS && dl == HMMDEV_LOC_SYS) {
            while (o < e->len) {
                uint64_t c = MIN(e->len - o, HMMDEV_BOUNCE_SIZE);

                if (b.n + hmmdev_ats_batch_pages(e->src + o, c) +
                    hmmdev_ats_batch_pages(e->dst + o, c) > b.max) {
                    goto full;
                }
                hmmdev_ats_batch_add(&b, e->src + o, c, false);
                hmmdev_ats_batch_add(&b, e->dst + o, c, true);
                o += c;
            }
        } else if (sl == HMMDEV_LOC_SYS || dl == HMMDEV_LOC_SYS) {
            uint64_t addr = sl == HMMDEV_LOC_SYS ? e->src : e->dst;

            while (o < e->len) {
                uint64_t c = MIN(e->len - o, 4096 - ((addr + o) & 4095));

                if (b.n >= b.max) {
                    goto full;
                }
                hmmdev_ats_batch_add(&b, addr + o, c, dl == HMMDEV_LOC_SYS);
                o += c;
            }
        }
    }
    o = 0;
full:
    *pf_entry = entry + i;
    *pf_off = o;
    if (*pf_entry == entry && *pf_off <= q->sg_offset) {
        return false;               /* nothing fits: no window */
    }
    next = *pf_entry + (*pf_off ? 1 : 0);
    if (next < count && b.n < b.max) {
        hmmdev_ats_batch_add(&b, list + next * HMMDEV_SG_ENTRY_SIZE,
                             MIN(count - next, 4096 / HMMDEV_SG_ENTRY_SIZE) *
                             HMMDEV_SG_ENTRY_SIZE, false);
    }
    hmmdev_ats_fetch_ahead(s, &b);
    return true;
}

static HmmdevExec hmmdev_exec_sg_copy(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;
    uint64_t list = c->arg[0], count = c->arg[1];
    uint64_t pf_entry = 0, pf_off = 0;
    bool ahead = false;

    if (c->cdw1 || !hmmdev_args_clean(c, 0x3) || (list & 7) ||
        count < 1 || count > HMMDEV_SG_MAX_ENTRIES) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }

    while (q->progress < count) {
        struct HmmdevSgEntry e;
        HmmdevLoc sl, dl;
        uint32_t err = HMMDEV_ERR_NONE;

        if (hmmdev_stop_requested(s, q)) {
            return HMMDEV_EXEC_ABORT;
        }
        if (!hmmdev_dma_rw(s, list + q->progress * HMMDEV_SG_ENTRY_SIZE, &e,
                           sizeof(e), DMA_DIRECTION_TO_DEVICE)) {
            err = HMMDEV_ERR_RING_DMA;
        } else {
            err = hmmdev_sg_decode(s, &e, &sl, &dl);
        }
        if (err) {
            trace_hmmdev_err_sg(hmmdev_queue_index(s, q), q->progress, err);
            c->status = err;
            c->info = q->progress;
            c->result = q->acc;
            return HMMDEV_EXEC_DONE;
        }
        trace_hmmdev_sg_entry(hmmdev_queue_index(s, q), q->progress, e.src,
                              e.dst, e.len, e.flags);

        while (q->sg_offset < e.len) {
            uint64_t n = MIN(e.len - q->sg_offset, HMMDEV_SG_PIECE);

            if (hmmdev_stop_requested(s, q)) {
                return HMMDEV_EXEC_ABORT;
            }
            if (sl == HMMDEV_LOC_SYS || dl == HMMDEV_LOC_SYS) {
                if (!ahead || q->progress > pf_entry ||
                    (q->progress == pf_entry && q->sg_offset >= pf_off)) {
                    ahead = hmmdev_sg_fetch_ahead(s, q, list, count,
                                                  &pf_entry, &pf_off);
                }
                if (ahead && q->progress == pf_entry &&
                    pf_off > q->sg_offset) {
                    n = MIN(n, pf_off - q->sg_offset);
                }
            }
            if (!hmmdev_move(s, sl, e.src + q->sg_offset,
                             dl, e.dst + q->sg_offset, n)) {
                c->status = HMMDEV_ERR_DMA;
                c->info = q->progress;
                c->result = q->acc;
                return HMMDEV_EXEC_DONE;
            }
            q->sg_offset += n;
            q->acc += n;
        }
        q->sg_offset = 0;
        q->progress++;
    }
    c->info = count;
    c->result = q->acc;
    return HMMDEV_EXEC_DONE;
}

static HmmdevExec hmmdev_engine_dispatch(HmmdevState *s, HmmdevQueue *q);

/*
 * Execute (or, after REPLAY, resume) q->cmd.  A refusal kept by a batch
 * translated ahead is for this run only: a command that stops (stall,
 * abort, error) before the refused page must not leave it to the next.
 */
HmmdevExec hmmdev_engine_exec(HmmdevState *s, HmmdevQueue *q)
{
    HmmdevExec r = hmmdev_engine_dispatch(s, q);

    hmmdev_ats_forget_ahead(s);
    return r;
}

static HmmdevExec hmmdev_engine_dispatch(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevCmd *c = &q->cmd;

    if (c->rsvd0 || (c->flags & ~HMMDEV_CMD_F_IRQ)) {
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
    }
    switch (c->opcode) {
    case HMMDEV_CMD_NOP:
        if (c->cdw1 || !hmmdev_args_clean(c, 0)) {
            return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_CMD);
        }
        return HMMDEV_EXEC_DONE;
    case HMMDEV_CMD_FENCE:
        return hmmdev_exec_fence(s, q);
    case HMMDEV_CMD_COPY:
        return hmmdev_exec_copy(s, q);
    case HMMDEV_CMD_FILL:
        return hmmdev_exec_fill(s, q);
    case HMMDEV_CMD_ATOMIC:
        return hmmdev_exec_atomic(s, q);
    case HMMDEV_CMD_KERNEL:
        switch (c->cdw1) {
        case HMMDEV_KERNEL_SUM64:
            return hmmdev_exec_sum64(s, q);
        case HMMDEV_KERNEL_AXPY32:
            return hmmdev_exec_axpy32(s, q);
        }
        return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_OPCODE);
    case HMMDEV_CMD_TLB_INV:
        return hmmdev_exec_tlb_inv(s, q);
    case HMMDEV_CMD_SG_COPY:
        return hmmdev_exec_sg_copy(s, q);
    }
    return hmmdev_cmd_error(q, HMMDEV_ERR_BAD_OPCODE);
}

void hmmdev_engine_realize(HmmdevState *s)
{
    s->bounce = g_malloc(HMMDEV_BOUNCE_SIZE);
    s->bounce2 = g_malloc(HMMDEV_BOUNCE_SIZE);
    s->fill_buf = g_malloc(HMMDEV_BOUNCE_SIZE + 16);
}

void hmmdev_engine_unrealize(HmmdevState *s)
{
    g_free(s->bounce);
    g_free(s->bounce2);
    g_free(s->fill_buf);
}
