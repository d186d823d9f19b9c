/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the worker thread, and the kick: how the layers below tell the
 * rest of the device that something happened.
 *
 * The worker takes the next piece of work, fault records first, then a
 * runnable queue round robin, and runs it: the queue hands out the command
 * (hmmdev-queue.c), the engine executes it (hmmdev-engine.c), and a fault
 * stalls the queue on the fault ring (hmmdev-fault.c) or completes it.
 *
 * Calls between files only go down (hmmdev.h, "Layers").  What goes up is
 * a signal, and every signal goes through hmmdev_kick(): new work for the
 * worker, an interrupt to raise, or an ATS request that someone waiting
 * for the worker under the BQL must serve.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/rcu.h"
#include "hw/pci/msix.h"
#include "hmmdev.h"
#include "trace.h"

/* Raise a vector; BQL held, vector already validated. */
void hmmdev_raise_irq(HmmdevState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    assert(bql_locked() && hmmdev_vector_valid(vector));
    trace_hmmdev_irq(vector);
    if (msix_enabled(pdev)) {
        msix_notify(pdev, vector);
    }
}

static void hmmdev_irq_bh(void *opaque)
{
    HmmdevState *s = opaque;
    uint32_t pending;
    int v;

    qemu_mutex_lock(&s->lock);
    pending = s->irq_pending;
    s->irq_pending = 0;
    qemu_mutex_unlock(&s->lock);

    for (v = 0; pending; v++, pending >>= 1) {
        if (pending & 1) {
            hmmdev_raise_irq(s, v);
        }
    }
}

/*
 * Signal the worker layer from below; s->lock not held.  The signaller
 * has changed, under s->lock, whatever the woken side re-checks, and takes
 * the lock again here so that a waiter cannot miss the wakeup between its
 * check and its wait.
 */
void hmmdev_kick(HmmdevState *s, HmmdevKick what, uint32_t vector)
{
    /* The worker has no BQL: its interrupts wait for the bottom half. */
    if (what == HMMDEV_KICK_IRQ && bql_locked()) {
        hmmdev_raise_irq(s, vector);
        return;
    }
    qemu_mutex_lock(&s->lock);
    switch (what) {
    case HMMDEV_KICK_WORK:
        qemu_cond_broadcast(&s->work_cond);
        break;
    case HMMDEV_KICK_IRQ:
        s->irq_pending |= 1u << vector;
        qemu_bh_schedule(s->irq_bh);
        break;
    case HMMDEV_KICK_SERVE:
        qemu_cond_broadcast(&s->idle_cond);
        break;
    }
    qemu_mutex_unlock(&s->lock);
}

/*
 * Wait, under the BQL, until the worker is outside any DMA section, and
 * keep it from starting another until hmmdev_quiesce_end().  Safe because
 * the worker waits for the BQL only through ATS translation requests, which
 * the wait serves (hmmdev.h).
 */
void hmmdev_quiesce_begin(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->stop_req++;
    hmmdev_queue_wait_idle_locked(s, NULL);
    qemu_mutex_unlock(&s->lock);
}

void hmmdev_quiesce_end(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->stop_req--;
    qemu_mutex_unlock(&s->lock);
    hmmdev_kick(s, HMMDEV_KICK_WORK, 0);
}

/* Run or resume the command of @q; s->busy is set, s->lock is not held. */
static void hmmdev_worker_run_queue(HmmdevState *s, HmmdevQueue *q)
{
    if (!hmmdev_queue_start(s, q)) {
        return;
    }
    switch (hmmdev_engine_exec(s, q)) {
    case HMMDEV_EXEC_DONE:
        hmmdev_queue_complete(s, q);
        break;
    case HMMDEV_EXEC_FAULT:
        if (!hmmdev_fq_stall(s, q)) {
            /* Not replayable: the fault ring is off. */
            hmmdev_queue_complete_fault(s, q);
        }
        break;
    case HMMDEV_EXEC_ABORT:
        /* Reset or disable owns the queue state now. */
        break;
    }
}

/* inject-stall-ms: wait before the next command, but yield to reset. */
static void hmmdev_injected_stall_locked(HmmdevState *s)
{
    uint32_t ms = qatomic_xchg(&s->inject_stall_ms, 0);
    int64_t deadline = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms;
    int64_t now;

    trace_hmmdev_inject_stall(ms);
    while (!s->stop_req && !s->worker_exit &&
           (now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME)) < deadline) {
        qemu_cond_timedwait(&s->work_cond, &s->lock, deadline - now);
    }
}

static void *hmmdev_worker_thread(void *opaque)
{
    HmmdevState *s = opaque;

    /*
     * DMA looks up the address space's FlatView under rcu_read_lock();
     * synchronize_rcu() only waits for registered readers, so without this
     * a memory map change (BAR move, bus master off) could free the
     * FlatView while the worker still walks it.
     */
    rcu_register_thread();
    qemu_mutex_lock(&s->lock);
    while (!s->worker_exit) {
        HmmdevQueue *q = NULL;
        bool fq_work = false;

        if (!s->stop_req && !s->fatal) {
            fq_work = hmmdev_fq_has_work_locked(s);
            if (!fq_work) {
                q = hmmdev_queue_pick_locked(s);
            }
        }
        if (!fq_work && !q) {
            qemu_cond_wait(&s->work_cond, &s->lock);
            continue;
        }
        if (q && q->state == HMMDEV_Q_IDLE &&
            qatomic_read(&s->inject_stall_ms)) {
            hmmdev_injected_stall_locked(s);
            continue;       /* re-evaluate: a reset may have happened */
        }

        s->busy = true;
        s->busy_queue = q;
        qemu_mutex_unlock(&s->lock);

        if (fq_work) {
            hmmdev_fq_work(s);
        } else {
            hmmdev_worker_run_queue(s, q);
        }

        qemu_mutex_lock(&s->lock);
        s->busy = false;
        s->busy_queue = NULL;
        qemu_cond_broadcast(&s->idle_cond);
    }
    qemu_mutex_unlock(&s->lock);
    rcu_unregister_thread();
    return NULL;
}

/* s->lock and its conditions are initialized. */
void hmmdev_worker_realize(HmmdevState *s)
{
    s->irq_bh = qemu_bh_new_guarded(hmmdev_irq_bh, s,
                                    &DEVICE(s)->mem_reentrancy_guard);
    qemu_thread_create(&s->worker, "hmmdev-worker", hmmdev_worker_thread, s,
                       QEMU_THREAD_JOINABLE);
}

void hmmdev_worker_unrealize(HmmdevState *s)
{
    qemu_mutex_lock(&s->lock);
    s->worker_exit = true;
    s->stop_req++;
    qemu_cond_broadcast(&s->work_cond);
    /* The worker waits for the BQL only through ATS requests, served here. */
    hmmdev_queue_wait_idle_locked(s, NULL);
    qemu_mutex_unlock(&s->lock);
    qemu_thread_join(&s->worker);
    qemu_bh_delete(s->irq_bh);
}
