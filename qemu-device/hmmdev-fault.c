/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the replayable fault queue.
 *
 * A faulting command stalls its queue and leaves a record in the queue
 * (q->fault).  The worker copies waiting records into the ring whenever it
 * has room, so a full ring delays records but never loses one.  The vector
 * is raised only while the ring is armed; a FQ_HEAD write re-arms it.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/bswap.h"
#include "hmmdev.h"
#include "trace.h"

static bool hmmdev_fq_full_locked(HmmdevFaultQueue *fq)
{
    return ((fq->tail + 1) & (fq->size - 1)) == fq->head;
}

static HmmdevQueue *hmmdev_fq_next_unposted_locked(HmmdevState *s)
{
    int i;

    for (i = 0; i < HMMDEV_NUM_QUEUES; i++) {
        HmmdevQueue *q = &s->queues[i];

        if (q->fault_unposted && q->state == HMMDEV_Q_STALLED &&
            !q->fault_action) {
            return q;
        }
    }
    return NULL;
}

static void hmmdev_fq_note_overflow_locked(HmmdevState *s)
{
    if (!s->fq.overflow) {
        s->fq.overflow = true;
        HMMDEV_STAT_INC(s, fault_overflows);
        trace_hmmdev_fq_overflow(s->fq.head, s->fq.tail);
    }
}

/*
 * The engine faulted on q->fault.va: stall the queue.  Returns false when
 * the fault is not replayable (ring disabled) and the caller must complete
 * the command with HMMDEV_ERR_FAULT.  Worker context, busy.
 */
bool hmmdev_fq_stall(HmmdevState *s, HmmdevQueue *q)
{
    struct HmmdevFaultRecord *r = &q->fault;
    uint32_t qid = hmmdev_queue_index(s, q);
    bool stalled = false;

    HMMDEV_STAT_INC(s, faults);
    qemu_mutex_lock(&s->lock);
    r->asid = q->asid;
    r->queue = qid;
    r->cmd_index = q->head;
    if (s->fq.enabled && q->enabled && !qatomic_read(&q->abort)) {
        r->seq = ++s->fq.seq;
        q->state = HMMDEV_Q_STALLED;
        q->fault_unposted = true;
        q->fault_action = 0;
        if (hmmdev_fq_full_locked(&s->fq)) {
            hmmdev_fq_note_overflow_locked(s);
        }
        stalled = true;
    }
    qemu_mutex_unlock(&s->lock);

    trace_hmmdev_fault(qid, r->asid, r->va, r->access, r->reason, r->level,
                       stalled);
    return stalled;
}

bool hmmdev_fq_has_work_locked(HmmdevState *s)
{
    return s->fq.enabled && !hmmdev_fq_full_locked(&s->fq) &&
           hmmdev_fq_next_unposted_locked(s);
}

/*
 * The ring can no longer take records: queues whose record never reached it
 * cannot be replayed, so the device cancels them itself.  The worker acts
 * on the cancels when it next looks for work: a caller on another thread
 * kicks it once it drops s->lock.
 */
static void hmmdev_fq_cancel_unposted_locked(HmmdevState *s)
{
    int i;

    for (i = 0; i < HMMDEV_NUM_QUEUES; i++) {
        HmmdevQueue *q = &s->queues[i];

        if (q->fault_unposted && q->state == HMMDEV_Q_STALLED &&
            !q->fault_action) {
            q->fault_action = HMMDEV_QFAULT_CANCEL;
            HMMDEV_STAT_INC(s, cancels);
        }
    }
}

/* A record write failed: the ring is unusable, cancel who waits on it. */
static void hmmdev_fq_fail_locked(HmmdevState *s)
{
    s->fq.enabled = false;
    s->fq.error = true;
    hmmdev_fq_cancel_unposted_locked(s);
}

/* Copy waiting records into the ring while it has room.  Worker, busy. */
void hmmdev_fq_work(HmmdevState *s)
{
    HmmdevFaultQueue *fq = &s->fq;

    for (;;) {
        struct HmmdevFaultRecord rec;
        HmmdevQueue *q;
        uint64_t addr;
        uint32_t slot, vector;
        bool ok, irq = false;

        qemu_mutex_lock(&s->lock);
        q = fq->enabled ? hmmdev_fq_next_unposted_locked(s) : NULL;
        if (!q || qatomic_read(&s->stop_req)) {
            qemu_mutex_unlock(&s->lock);
            return;
        }
        if (hmmdev_fq_full_locked(fq)) {
            hmmdev_fq_note_overflow_locked(s);
            qemu_mutex_unlock(&s->lock);
            return;
        }
        slot = fq->tail;
        addr = fq->base + (uint64_t)slot * HMMDEV_FAULT_RECORD_SIZE;
        rec = q->fault;
        rec.flags = fq->phase ? HMMDEV_FR_PHASE : 0;
        qemu_mutex_unlock(&s->lock);

        rec.va = cpu_to_le64(rec.va);
        rec.asid = cpu_to_le16(rec.asid);
        rec.seq = cpu_to_le64(rec.seq);
        rec.cmd_index = cpu_to_le32(rec.cmd_index);
        ok = hmmdev_dma_rw(s, addr, &rec, sizeof(rec),
                           DMA_DIRECTION_FROM_DEVICE);

        qemu_mutex_lock(&s->lock);
        if (!ok) {
            hmmdev_fq_fail_locked(s);
            qemu_mutex_unlock(&s->lock);
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_RING_DMA, hmmdev_err_fq_dma,
                             "slot %u addr 0x%"PRIx64, slot, addr);
            return;
        }
        /*
         * Only the worker moves the tail, and ring reprogramming needs the
         * ring disabled, so slot is still fq->tail unless it was disabled.
         * If the queue was resolved meanwhile, the slot is simply reused.
         */
        if (fq->enabled && q->fault_unposted && q->state == HMMDEV_Q_STALLED &&
            !q->fault_action && q->fault.seq == le64_to_cpu(rec.seq)) {
            q->fault_unposted = false;
            fq->tail = (fq->tail + 1) & (fq->size - 1);
            if (fq->tail == 0) {
                fq->phase = !fq->phase;
            }
            HMMDEV_STAT_INC(s, fault_records);
            trace_hmmdev_fq_post(slot, q->fault.seq, hmmdev_queue_index(s, q),
                                 fq->armed);
            if (fq->armed) {
                fq->armed = false;
                HMMDEV_STAT_INC(s, fault_irqs);
                irq = true;
            }
        }
        vector = fq->vector;
        qemu_mutex_unlock(&s->lock);
        if (irq) {
            hmmdev_kick(s, HMMDEV_KICK_IRQ, vector);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Registers                                                              */
/* ---------------------------------------------------------------------- */

bool hmmdev_fq_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val)
{
    HmmdevFaultQueue *fq = &s->fq;

    qemu_mutex_lock(&s->lock);
    switch (addr) {
    case HMMDEV_REG_FQ_BASE_LO:
        *val = (uint32_t)fq->base;
        break;
    case HMMDEV_REG_FQ_BASE_HI:
        *val = fq->base >> 32;
        break;
    case HMMDEV_REG_FQ_SIZE:
        *val = fq->size;
        break;
    case HMMDEV_REG_FQ_VECTOR:
        *val = fq->vector;
        break;
    case HMMDEV_REG_FQ_CTRL:
        *val = fq->enabled ? HMMDEV_FQ_CTRL_ENABLE : 0;
        break;
    case HMMDEV_REG_FQ_HEAD:
        *val = fq->head;
        break;
    case HMMDEV_REG_FQ_TAIL:
        *val = fq->tail;
        break;
    case HMMDEV_REG_FQ_STATUS:
        *val = (fq->enabled ? HMMDEV_FQ_STATUS_ENABLED : 0) |
               (fq->overflow ? HMMDEV_FQ_STATUS_OVERFLOW : 0) |
               (hmmdev_fq_next_unposted_locked(s) ?
                HMMDEV_FQ_STATUS_PENDING : 0) |
               (fq->error ? HMMDEV_FQ_STATUS_ERROR : 0);
        break;
    default:
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

static void hmmdev_fq_enable_locked(HmmdevState *s)
{
    HmmdevFaultQueue *fq = &s->fq;
    const char *why = NULL;

    if (fq->base & (HMMDEV_FAULT_RECORD_SIZE - 1)) {
        why = "fault ring base not 32-byte aligned";
    } else if (fq->size < 2 || fq->size > 65536 || !is_power_of_2(fq->size)) {
        why = "fault ring size not a power of two in 2..65536";
    }
    if (why) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s", HMMDEV_REG_FQ_CTRL,
                         HMMDEV_FQ_CTRL_ENABLE, why);
        return;
    }
    fq->head = fq->tail = 0;
    fq->phase = true;
    fq->armed = true;
    fq->overflow = false;
    fq->error = false;
    fq->enabled = true;
    trace_hmmdev_fq_enable(fq->base, fq->size, fq->vector);
}

static void hmmdev_fq_disable_locked(HmmdevState *s)
{
    s->fq.enabled = false;
    hmmdev_fq_cancel_unposted_locked(s);
    trace_hmmdev_fq_disable();
}

bool hmmdev_fq_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val)
{
    HmmdevFaultQueue *fq = &s->fq;
    bool raise = false, kick = false;

    switch (addr) {
    case HMMDEV_REG_FQ_BASE_LO:
    case HMMDEV_REG_FQ_BASE_HI:
    case HMMDEV_REG_FQ_SIZE:
    case HMMDEV_REG_FQ_VECTOR:
    case HMMDEV_REG_FQ_CTRL:
    case HMMDEV_REG_FQ_HEAD:
    case HMMDEV_REG_FQ_STATUS:
        break;
    default:
        return false;
    }

    qemu_mutex_lock(&s->lock);
    switch (addr) {
    case HMMDEV_REG_FQ_BASE_LO:
    case HMMDEV_REG_FQ_BASE_HI:
    case HMMDEV_REG_FQ_SIZE:
    case HMMDEV_REG_FQ_VECTOR:
        if (fq->enabled) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_STATE, hmmdev_err_bad_state,
                             "reg 0x%x: %s", (unsigned)addr,
                             "fault ring configuration locked while enabled");
        } else if (addr == HMMDEV_REG_FQ_BASE_LO) {
            fq->base = deposit64(fq->base, 0, 32, val);
        } else if (addr == HMMDEV_REG_FQ_BASE_HI) {
            fq->base = deposit64(fq->base, 32, 32, val);
        } else if (addr == HMMDEV_REG_FQ_SIZE) {
            fq->size = val;
        } else if (!hmmdev_vector_valid(val)) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VECTOR, hmmdev_err_bad_vector,
                             "vector %u, device has %u", val,
                             HMMDEV_MSIX_VECTORS);
        } else {
            fq->vector = val;
        }
        break;
    case HMMDEV_REG_FQ_CTRL:
        if (val & ~HMMDEV_FQ_CTRL_ENABLE) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                             "reg 0x%x val 0x%x: %s", (unsigned)addr, val,
                             "reserved bits");
        } else if ((val & HMMDEV_FQ_CTRL_ENABLE) && !fq->enabled) {
            hmmdev_fq_enable_locked(s);
        } else if (!(val & HMMDEV_FQ_CTRL_ENABLE) && fq->enabled) {
            hmmdev_fq_disable_locked(s);
            kick = true;
        }
        break;
    case HMMDEV_REG_FQ_HEAD:
        if (!fq->enabled) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_STATE, hmmdev_err_bad_state,
                             "reg 0x%x: %s", (unsigned)addr,
                             "fault ring disabled");
        } else if (val >= fq->size) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                             "reg 0x%x val 0x%x: %s", (unsigned)addr, val,
                             "fault ring head beyond the ring");
        } else {
            fq->head = val;
            fq->armed = true;
            /* Unread records left: interrupt again rather than go silent. */
            if (fq->head != fq->tail) {
                fq->armed = false;
                raise = true;
                HMMDEV_STAT_INC(s, fault_irqs);
            }
            trace_hmmdev_fq_head(val, fq->tail, raise);
            kick = true;        /* room for waiting records */
        }
        break;
    case HMMDEV_REG_FQ_STATUS:
        if (val & HMMDEV_FQ_STATUS_OVERFLOW) {
            fq->overflow = false;
        }
        break;
    }
    qemu_mutex_unlock(&s->lock);

    if (kick) {
        hmmdev_kick(s, HMMDEV_KICK_WORK, 0);
    }
    if (raise) {
        hmmdev_kick(s, HMMDEV_KICK_IRQ, fq->vector);
    }
    return true;
}

/* The worker is quiesced. */
void hmmdev_fq_reset(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    memset(&s->fq, 0, sizeof(s->fq));
    qemu_mutex_unlock(&s->lock);
}
