/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: submission queues: their registers and doorbells, fetching
 * commands, writing completions, and which queue runs next.  The worker
 * (hmmdev-worker.c) drives them; the engine executes what they fetch.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/bswap.h"
#include "hmmdev.h"
#include "trace.h"

/*
 * Under the BQL, with s->lock held: wait until the worker is outside any
 * DMA section (@q NULL) or done with @q.  The worker may meanwhile wait for
 * an ATS translation, which needs the BQL we hold: serve it here.
 */
void hmmdev_queue_wait_idle_locked(HmmdevState *s, HmmdevQueue *q)
{
    while (q ? s->busy_queue == q : s->busy) {
        if (hmmdev_ats_serve_pending(s)) {
            qemu_mutex_unlock(&s->lock);
            hmmdev_ats_serve(s);
            qemu_mutex_lock(&s->lock);
            continue;
        }
        qemu_cond_wait(&s->idle_cond, &s->lock);
    }
}

/* A ring access failed: the queue stops until software re-enables it. */
static void hmmdev_queue_ring_error(HmmdevState *s, HmmdevQueue *q,
                                    uint64_t addr)
{
    uint32_t qid = hmmdev_queue_index(s, q);
    uint32_t vector;

    HMMDEV_GUEST_ERR(s, HMMDEV_ERR_RING_DMA, hmmdev_err_ring_dma,
                     "queue %u addr 0x%"PRIx64, qid, addr);
    qemu_mutex_lock(&s->lock);
    q->broken = true;
    q->error = HMMDEV_ERR_RING_DMA;
    q->state = HMMDEV_Q_IDLE;
    vector = q->vector;
    qemu_mutex_unlock(&s->lock);
    hmmdev_kick(s, HMMDEV_KICK_IRQ, vector);
}

static bool hmmdev_take_drop_completion(HmmdevState *s)
{
    uint32_t n = qatomic_read(&s->inject_drop_completion);

    while (n) {
        uint32_t old = qatomic_cmpxchg(&s->inject_drop_completion, n, n - 1);
        if (old == n) {
            return true;
        }
        n = old;
    }
    return false;
}

/* Write the completion record of q->cmd and retire it. */
void hmmdev_queue_complete(HmmdevState *s, HmmdevQueue *q)
{
    uint32_t qid = hmmdev_queue_index(s, q);
    uint64_t slot = q->base + (uint64_t)q->head * HMMDEV_CMD_SIZE;
    uint32_t code = q->cmd.status & HMMDEV_CS_CODE_MASK;
    uint32_t status = q->cmd.status | HMMDEV_CS_DONE;
    bool drop = hmmdev_take_drop_completion(s);
    struct {
        uint32_t info;
        uint64_t result;
    } QEMU_PACKED tail = {
        .info = cpu_to_le32(q->cmd.info),
        .result = cpu_to_le64(q->cmd.result),
    };
    uint32_t status_le = cpu_to_le32(status);
    bool irq = (q->cmd.flags & HMMDEV_CMD_F_IRQ) && !drop;
    uint32_t vector;

    if (code) {
        HMMDEV_STAT_INC(s, cmd_errors);
        trace_hmmdev_err_cmd(qid, q->head, q->cmd.opcode, code, q->cmd.info,
                             q->cmd.result);
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: queue %u slot %u opcode 0x%x "
                      "failed: error 0x%x info 0x%x result 0x%"PRIx64"\n",
                      qid, q->head, q->cmd.opcode, code, q->cmd.info,
                      q->cmd.result);
    }
    trace_hmmdev_cmd_complete(qid, q->head, q->cmd.opcode, status,
                              q->cmd.result, drop);

    if (!drop) {
        /* info and result first: DONE in status publishes them. */
        if (!hmmdev_dma_rw(s, slot + HMMDEV_CMD_INFO_OFFSET, &tail,
                           sizeof(tail), DMA_DIRECTION_FROM_DEVICE) ||
            !hmmdev_dma_rw(s, slot + HMMDEV_CMD_STATUS_OFFSET, &status_le,
                           sizeof(status_le), DMA_DIRECTION_FROM_DEVICE)) {
            hmmdev_queue_ring_error(s, q, slot);
            return;
        }
    }

    qemu_mutex_lock(&s->lock);
    if (code) {
        q->error = code;
    }
    q->head = (q->head + 1) & (q->size - 1);
    q->completed++;
    q->state = HMMDEV_Q_IDLE;
    if (irq) {
        HMMDEV_STAT_INC(s, completion_irqs);
    }
    vector = q->vector;
    qemu_mutex_unlock(&s->lock);
    if (irq) {
        hmmdev_kick(s, HMMDEV_KICK_IRQ, vector);
    }
}

static bool hmmdev_queue_fetch(HmmdevState *s, HmmdevQueue *q)
{
    uint32_t qid = hmmdev_queue_index(s, q);
    uint64_t slot = q->base + (uint64_t)q->head * HMMDEV_CMD_SIZE;
    struct HmmdevCmd *c = &q->cmd;
    int i;

    if (!hmmdev_dma_rw(s, slot, c, HMMDEV_CMD_STATUS_OFFSET,
                       DMA_DIRECTION_TO_DEVICE)) {
        hmmdev_queue_ring_error(s, q, slot);
        return false;
    }
    c->rsvd0 = le16_to_cpu(c->rsvd0);
    c->cdw1 = le32_to_cpu(c->cdw1);
    for (i = 0; i < ARRAY_SIZE(c->arg); i++) {
        c->arg[i] = le64_to_cpu(c->arg[i]);
    }
    c->status = c->info = 0;
    c->result = 0;
    q->progress = q->sg_offset = q->acc = 0;
    if (c->opcode < HMMDEV_CMD_NR_OPCODES) {
        HMMDEV_STAT_INC(s, cmds[c->opcode]);
    }
    trace_hmmdev_cmd_fetch(qid, q->head, c->opcode, c->flags, c->cdw1,
                           c->arg[0], c->arg[1], c->arg[2]);
    return true;
}

/* The command of @q ends on the fault in q->fault: it was not replayed. */
void hmmdev_queue_complete_fault(HmmdevState *s, HmmdevQueue *q)
{
    q->cmd.status = HMMDEV_ERR_FAULT |
                    q->fault.reason << HMMDEV_CS_REASON_SHIFT |
                    q->fault.access << HMMDEV_CS_ACCESS_SHIFT;
    q->cmd.result = q->fault.va;
    hmmdev_queue_complete(s, q);
}

/*
 * Get the command of @q ready for the engine: act on the REPLAY or CANCEL
 * of a stalled queue, or fetch the next command of an idle one.  False
 * when there is nothing to execute (cancelled, or the ring failed).  The
 * worker is busy with @q; s->lock is not held.
 */
bool hmmdev_queue_start(HmmdevState *s, HmmdevQueue *q)
{
    uint32_t action;

    if (q->state == HMMDEV_Q_STALLED) {
        qemu_mutex_lock(&s->lock);
        action = q->fault_action;
        q->fault_action = 0;
        q->fault_unposted = false;
        if (action == HMMDEV_QFAULT_REPLAY) {
            q->state = HMMDEV_Q_RUNNING;
        }
        qemu_mutex_unlock(&s->lock);
        trace_hmmdev_fault_resolve(hmmdev_queue_index(s, q), q->fault.seq,
                                   action);
        if (action == HMMDEV_QFAULT_CANCEL) {
            hmmdev_queue_complete_fault(s, q);
            return false;
        }
    } else if (q->state == HMMDEV_Q_IDLE) {
        if (!hmmdev_queue_fetch(s, q)) {
            return false;
        }
        qemu_mutex_lock(&s->lock);
        q->state = HMMDEV_Q_RUNNING;
        qemu_mutex_unlock(&s->lock);
    }
    return true;
}

static bool hmmdev_queue_runnable_locked(HmmdevQueue *q)
{
    if (!q->enabled || q->broken) {
        return false;
    }
    switch (q->state) {
    case HMMDEV_Q_IDLE:
        return q->head != q->tail;
    case HMMDEV_Q_RUNNING:
        return true;
    case HMMDEV_Q_STALLED:
        return q->fault_action != 0;
    }
    return false;
}

/* The next queue with something to do, round robin. */
HmmdevQueue *hmmdev_queue_pick_locked(HmmdevState *s)
{
    int i;

    for (i = 0; i < HMMDEV_NUM_QUEUES; i++) {
        HmmdevQueue *q = &s->queues[(s->rr_next + i) % HMMDEV_NUM_QUEUES];

        if (hmmdev_queue_runnable_locked(q)) {
            s->rr_next = (hmmdev_queue_index(s, q) + 1) % HMMDEV_NUM_QUEUES;
            return q;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Registers                                                              */
/* ---------------------------------------------------------------------- */

static uint32_t hmmdev_queue_status_locked(HmmdevQueue *q)
{
    uint32_t st = 0;

    if (q->enabled) {
        st |= HMMDEV_QSTATUS_ENABLED;
    }
    /*
     * STALLED means "waiting for software": once REPLAY or CANCEL has been
     * accepted the queue no longer waits, even before the worker acts on it,
     * so a driver that resolves only STALLED queues never writes twice.
     */
    if (q->state == HMMDEV_Q_STALLED && !q->fault_action) {
        st |= HMMDEV_QSTATUS_STALLED;
    }
    if (q->broken) {
        st |= HMMDEV_QSTATUS_ERROR;
    }
    if (q->head == q->tail && q->state == HMMDEV_Q_IDLE) {
        st |= HMMDEV_QSTATUS_IDLE;
    }
    return st;
}

bool hmmdev_queue_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val)
{
    HmmdevQueue *q;

    if (addr < HMMDEV_REG_QUEUE_BASE ||
        addr >= HMMDEV_REG_QUEUE_BASE + HMMDEV_NUM_QUEUES * HMMDEV_QUEUE_STRIDE) {
        return false;
    }
    q = &s->queues[(addr - HMMDEV_REG_QUEUE_BASE) / HMMDEV_QUEUE_STRIDE];

    qemu_mutex_lock(&s->lock);
    switch (addr & (HMMDEV_QUEUE_STRIDE - 1)) {
    case HMMDEV_QREG_BASE_LO:
        *val = (uint32_t)q->base;
        break;
    case HMMDEV_QREG_BASE_HI:
        *val = q->base >> 32;
        break;
    case HMMDEV_QREG_SIZE:
        *val = q->size;
        break;
    case HMMDEV_QREG_ASID:
        *val = q->asid;
        break;
    case HMMDEV_QREG_VECTOR:
        *val = q->vector;
        break;
    case HMMDEV_QREG_CTRL:
        *val = q->enabled ? HMMDEV_QCTRL_ENABLE : 0;
        break;
    case HMMDEV_QREG_STATUS:
        *val = hmmdev_queue_status_locked(q);
        break;
    case HMMDEV_QREG_TAIL:
        *val = q->tail;
        break;
    case HMMDEV_QREG_HEAD:
        *val = q->head;
        break;
    case HMMDEV_QREG_FAULT:
        *val = 0;
        break;
    case HMMDEV_QREG_ERROR:
        *val = q->error;
        break;
    case HMMDEV_QREG_COMPLETED:
        *val = q->completed;
        break;
    default:
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    qemu_mutex_unlock(&s->lock);
    return true;
}

static void hmmdev_queue_enable(HmmdevState *s, HmmdevQueue *q, uint32_t qid)
{
    const char *why = NULL;

    if (q->base & (HMMDEV_CMD_SIZE - 1)) {
        why = "ring base not 64-byte aligned";
    } else if (q->size < 2 || q->size > 4096 || !is_power_of_2(q->size)) {
        why = "ring size not a power of two in 2..4096";
    } else if (q->asid >= HMMDEV_NUM_ASIDS) {
        why = "ASID out of range";
    }
    if (why) {
        HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                         "reg 0x%x val 0x%x: %s",
                         HMMDEV_REG_QUEUE_BASE + qid * HMMDEV_QUEUE_STRIDE +
                         HMMDEV_QREG_CTRL, HMMDEV_QCTRL_ENABLE, why);
        return;
    }
    q->head = q->tail = 0;
    q->completed = 0;
    q->error = HMMDEV_ERR_NONE;
    q->broken = false;
    q->state = HMMDEV_Q_IDLE;
    q->fault_unposted = false;
    q->fault_action = 0;
    qatomic_set(&q->abort, false);
    q->enabled = true;
    trace_hmmdev_queue_enable(qid, q->base, q->size, q->asid, q->vector);
}

/* Stop @q; when this returns the worker no longer touches its ring. */
static void hmmdev_queue_disable_locked(HmmdevState *s, HmmdevQueue *q)
{
    q->enabled = false;
    qatomic_set(&q->abort, true);
    hmmdev_queue_wait_idle_locked(s, q);
    qatomic_set(&q->abort, false);
    q->state = HMMDEV_Q_IDLE;
    q->fault_unposted = false;
    q->fault_action = 0;
    trace_hmmdev_queue_disable(hmmdev_queue_index(s, q));
}

bool hmmdev_queue_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val)
{
    HmmdevQueue *q;
    uint32_t qid, reg;
    bool kick = false;

    if (addr < HMMDEV_REG_QUEUE_BASE ||
        addr >= HMMDEV_REG_QUEUE_BASE + HMMDEV_NUM_QUEUES * HMMDEV_QUEUE_STRIDE) {
        return false;
    }
    qid = (addr - HMMDEV_REG_QUEUE_BASE) / HMMDEV_QUEUE_STRIDE;
    q = &s->queues[qid];
    reg = addr & (HMMDEV_QUEUE_STRIDE - 1);

    qemu_mutex_lock(&s->lock);
    switch (reg) {
    case HMMDEV_QREG_BASE_LO:
    case HMMDEV_QREG_BASE_HI:
    case HMMDEV_QREG_SIZE:
    case HMMDEV_QREG_ASID:
    case HMMDEV_QREG_VECTOR:
        if (q->enabled) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_STATE, hmmdev_err_bad_state,
                             "reg 0x%x: %s", (unsigned)addr,
                             "queue configuration locked while enabled");
            break;
        }
        if (reg == HMMDEV_QREG_BASE_LO) {
            q->base = deposit64(q->base, 0, 32, val);
        } else if (reg == HMMDEV_QREG_BASE_HI) {
            q->base = deposit64(q->base, 32, 32, val);
        } else if (reg == HMMDEV_QREG_SIZE) {
            q->size = val;
        } else if (reg == HMMDEV_QREG_ASID) {
            q->asid = val;
        } else if (!hmmdev_vector_valid(val)) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VECTOR, hmmdev_err_bad_vector,
                             "vector %u, device has %u", val,
                             HMMDEV_MSIX_VECTORS);
        } else {
            q->vector = val;
        }
        break;
    case HMMDEV_QREG_CTRL:
        if (val & ~HMMDEV_QCTRL_ENABLE) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                             "reg 0x%x val 0x%x: %s", (unsigned)addr, val,
                             "reserved bits");
        } else if ((val & HMMDEV_QCTRL_ENABLE) && !q->enabled) {
            hmmdev_queue_enable(s, q, qid);
        } else if (!(val & HMMDEV_QCTRL_ENABLE) && q->enabled) {
            hmmdev_queue_disable_locked(s, q);
        }
        break;
    case HMMDEV_QREG_TAIL:
        if (!q->enabled) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_STATE, hmmdev_err_bad_state,
                             "reg 0x%x: %s", (unsigned)addr,
                             "doorbell of a disabled queue");
        } else if (val >= q->size) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_DOORBELL,
                             hmmdev_err_bad_doorbell,
                             "queue %u tail %u size %u", qid, val, q->size);
        } else {
            trace_hmmdev_doorbell(qid, val);
            q->tail = val;
            kick = true;
        }
        break;
    case HMMDEV_QREG_FAULT:
        if (val != HMMDEV_QFAULT_REPLAY && val != HMMDEV_QFAULT_CANCEL) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_VALUE, hmmdev_err_bad_value,
                             "reg 0x%x val 0x%x: %s", (unsigned)addr, val,
                             "fault action");
        } else if (!q->enabled || q->state != HMMDEV_Q_STALLED ||
                   q->fault_action) {
            HMMDEV_GUEST_ERR(s, HMMDEV_ERR_BAD_STATE, hmmdev_err_bad_state,
                             "reg 0x%x: %s", (unsigned)addr,
                             "queue is not stalled on a fault");
        } else {
            /* Counted when accepted: a disable may still forget the stall. */
            if (val == HMMDEV_QFAULT_REPLAY) {
                HMMDEV_STAT_INC(s, replays);
            } else {
                HMMDEV_STAT_INC(s, cancels);
            }
            q->fault_action = val;
            kick = true;
        }
        break;
    default:
        /* STATUS, HEAD, ERROR, COMPLETED are read-only. */
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    qemu_mutex_unlock(&s->lock);
    if (kick) {
        hmmdev_kick(s, HMMDEV_KICK_WORK, 0);
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

/* The worker is quiesced. */
void hmmdev_queue_reset(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    memset(s->queues, 0, sizeof(s->queues));
    s->rr_next = 0;
    qemu_mutex_unlock(&s->lock);
}
