// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: submission queues, commands and fences.
 *
 * Each user queue owns one hardware queue of the device bound to its
 * context's ASID.  Commands are numbered from 1 per queue (the fence); the
 * command with fence s lives in ring slot (s - 1) % entries.  At most
 * entries - 1 commands are outstanding, so the hardware HEAD register tells
 * unambiguously how many completed: retiring copies their completion records
 * into per-slot arrays that hmmdev_queue_wait() reads.  Every command asks
 * for a completion interrupt; waiters also re-check every 10 ms, so a lost
 * interrupt or completion record only delays them.
 */
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include "core/hmmdev_core.h"
#include "obs/hmmdev_trace.h"

#define HMMDEV_WAIT_SLICE	msecs_to_jiffies(10)

/**
 * hmmdev_queue_create() - create a queue on a free hardware queue
 * @ctx: the context
 * @entries: ring size, a power of two 2..4096, or 0 for the default
 * @id: out: the queue's handle in the context
 *
 * Return: 0, -EINVAL (bad @entries), -EBUSY (no free hardware queue),
 * -ENODEV (device removed), -ENOMEM or -EIO (the device refused the setup).
 */
int hmmdev_queue_create(struct hmmdev_ctx *ctx, u32 entries, u32 *id)
{
	struct hmmdev *hd = ctx->hd;
	struct device *dev = &hd->pdev->dev;
	struct hmmdev_queue *q;
	unsigned int i, hwq;
	int ret;

	if (!entries)
		entries = HMMDEV_QUEUE_DEFAULT_ENTRIES;
	if (entries < 2 || entries > HMMDEV_QUEUE_MAX_ENTRIES || !is_power_of_2(entries))
		return -EINVAL;
	q = kzalloc_obj(*q, GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	q->ctx = ctx;
	q->entries = entries;
	spin_lock_init(&q->lock);
	mutex_init(&q->submit_lock);
	init_waitqueue_head(&q->wq);
	q->slot_cmd = kvcalloc(entries, sizeof(*q->slot_cmd), GFP_KERNEL);
	q->slot_seq = kvcalloc(entries, sizeof(*q->slot_seq), GFP_KERNEL);
	q->slot_err = kvcalloc(entries, sizeof(*q->slot_err), GFP_KERNEL);
	q->slot_status = kvcalloc(entries, sizeof(*q->slot_status), GFP_KERNEL);
	q->slot_result = kvcalloc(entries, sizeof(*q->slot_result), GFP_KERNEL);
	q->ring = dma_alloc_coherent(dev, entries * HMMDEV_CMD_SIZE, &q->ring_dma, GFP_KERNEL);
	if (!q->slot_cmd || !q->slot_seq || !q->slot_err || !q->slot_status ||
	    !q->slot_result || !q->ring) {
		ret = -ENOMEM;
		goto err_free;
	}

	mutex_lock(&ctx->queues_lock);
	for (i = 0; i < ARRAY_SIZE(ctx->queues); i++)
		if (!ctx->queues[i])
			break;
	ret = -EBUSY;
	if (i == ARRAY_SIZE(ctx->queues))
		goto err_unlock;
	mutex_lock(&hd->ctx_mutex);
	ret = READ_ONCE(hd->failed) ? -EIO : -ENODEV;
	if (hd->dead || ctx->detached || READ_ONCE(hd->failed))
		goto err_unlock_hd;
	ret = hmmdev_hwq_claim(hd, q);
	if (ret < 0)
		goto err_unlock_hd;
	hwq = ret;
	q->hwq = hwq;
	q->id = i;

	if (hmmdev_hwq_enable(hd, hwq, q->ring_dma, entries, ctx->asid,
			      HMMDEV_MSIX_VEC_QUEUE0 + hwq)) {
		dev_err(dev, "queue %u refused its setup (ERROR 0x%x)\n", hwq,
			hmmdev_rd(hd, HMMDEV_REG_ERROR));
		hmmdev_hwq_unclaim(hd, hwq);
		ret = -EIO;
		goto err_unlock_hd;
	}
	ctx->queues[i] = q;
	mutex_unlock(&hd->ctx_mutex);
	mutex_unlock(&ctx->queues_lock);
	*id = i;
	return 0;

err_unlock_hd:
	mutex_unlock(&hd->ctx_mutex);
err_unlock:
	mutex_unlock(&ctx->queues_lock);
err_free:
	hmmdev_queue_free(q);
	return ret;
}

/**
 * hmmdev_hwq_enable() - program and enable one hardware queue
 * @hd: the device
 * @hwq: the hardware queue
 * @ring: DMA address of its ring
 * @entries: ring size (a power of two)
 * @asid: the address space its commands use
 * @vector: its completion vector
 *
 * Shared by user queues, the kernel's migration queue (dmem/hmmdev_copy.c) and
 * the ATS self-test (obs/hmmdev_atstest.c).
 *
 * Return: 0, or -EIO when the device refused the setup (see ERROR).
 */
int hmmdev_hwq_enable(struct hmmdev *hd, unsigned int hwq, dma_addr_t ring, u32 entries,
		      u32 asid, u32 vector)
{
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_BASE_HI), upper_32_bits(ring));
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_BASE_LO), lower_32_bits(ring));
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_SIZE), entries);
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_ASID), asid);
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_VECTOR), vector);
	hmmdev_wr(hd, hmmdev_qreg(hwq, HMMDEV_QREG_CTRL), HMMDEV_QCTRL_ENABLE);
	if (!(hmmdev_rd(hd, hmmdev_qreg(hwq, HMMDEV_QREG_STATUS)) & HMMDEV_QSTATUS_ENABLED))
		return -EIO;
	return 0;
}

/**
 * hmmdev_queue_get() - look up a queue of a context
 * @ctx: the context
 * @id: the handle
 *
 * Queues live as long as their context, so no reference is taken.
 *
 * Return: the queue or NULL.
 */
struct hmmdev_queue *hmmdev_queue_get(struct hmmdev_ctx *ctx, u32 id)
{
	struct hmmdev_queue *q = NULL;

	if (id >= ARRAY_SIZE(ctx->queues))
		return NULL;
	mutex_lock(&ctx->queues_lock);
	q = ctx->queues[id];
	mutex_unlock(&ctx->queues_lock);
	return q;
}

/* Save slot @slot's completion; q->lock held. */
static void hmmdev_queue_retire_slot(struct hmmdev_queue *q, unsigned int slot,
				     int lost_err)
{
	struct hmmdev_hw_cmd *c = &q->ring[slot];
	u32 status = READ_ONCE(c->status);
	struct hmmdev_ctx *ctx = q->ctx;

	dma_rmb();
	q->slot_status[slot] = status;
	q->slot_result[slot] = READ_ONCE(c->result);
	if (!(status & HMMDEV_CS_DONE)) {
		q->slot_err[slot] = lost_err;	/* completion lost, or abandoned */
	} else if ((status & HMMDEV_CS_CODE_MASK) == HMMDEV_ERR_FAULT) {
		if (!q->slot_err[slot])
			q->slot_err[slot] = -EFAULT;
	} else if (status & HMMDEV_CS_CODE_MASK) {
		q->slot_err[slot] = -EIO;
	}
	if (q->slot_err[slot])
		hmmdev_count(ctx, HMMDEV_STAT_CMD_ERRORS, 1);
	hmmdev_count(ctx, HMMDEV_STAT_CMDS_COMPLETED, 1);
	q->retired++;
}

/**
 * hmmdev_queue_retire() - collect the completions the device has made
 * @q: the queue
 *
 * Callable from any context (interrupt handler included).
 */
void hmmdev_queue_retire(struct hmmdev_queue *q)
{
	unsigned long flags;
	u32 head, n;

	spin_lock_irqsave(&q->lock, flags);
	if (q->dead || q->retired == q->submitted) {
		spin_unlock_irqrestore(&q->lock, flags);
		return;
	}
	head = hmmdev_rd(q->ctx->hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_HEAD));
	n = (head - q->retired) & (q->entries - 1);
	n = min_t(u64, n, q->submitted - q->retired);
	while (n--)
		hmmdev_queue_retire_slot(q, q->retired % q->entries, -EIO);
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up_all(&q->wq);
}

/**
 * hmmdev_queue_irq() - completion interrupt of one hardware queue
 * @irq: the Linux IRQ
 * @data: the struct hmmdev_qvec of the vector
 *
 * Return: IRQ_HANDLED.
 */
irqreturn_t hmmdev_queue_irq(int irq, void *data)
{
	struct hmmdev_qvec *v = data;
	struct hmmdev *hd = v->hd;
	struct hmmdev_queue *q;

	atomic64_inc(&hd->irq_count);
	spin_lock(&hd->lock);
	q = hd->hwq[v->q];
	if (q)
		hmmdev_queue_retire(q);
	spin_unlock(&hd->lock);
	return IRQ_HANDLED;
}

/**
 * hmmdev_queue_kill() - stop a queue for good
 * @q: the queue
 *
 * The hardware queue is disabled (a command in flight is abandoned) and
 * freed for other contexts.  Completed commands keep their results; the
 * others complete with -ENODEV (-EIO after a fatal device error).  Waiters
 * wake up.
 */
void hmmdev_queue_kill(struct hmmdev_queue *q)
{
	struct hmmdev *hd = q->ctx->hd;
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	if (q->dead) {
		spin_unlock_irqrestore(&q->lock, flags);
		return;
	}
	spin_unlock_irqrestore(&q->lock, flags);

	spin_lock_irq(&hd->lock);
	hd->hwq[q->hwq] = NULL;
	spin_unlock_irq(&hd->lock);
	hmmdev_wr(hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_CTRL), 0);

	spin_lock_irqsave(&q->lock, flags);
	while (q->retired < q->submitted)
		hmmdev_queue_retire_slot(q, q->retired % q->entries,
					 READ_ONCE(hd->failed) ? -EIO : -ENODEV);
	q->dead = true;
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up_all(&q->wq);
}

/**
 * hmmdev_queue_release_ring() - free a stopped queue's DMA ring now
 * @q: a queue stopped by hmmdev_queue_kill()
 *
 * Device removal calls it: the DMA memory must go back while the PCI device
 * still exists; the struct lives until the file is closed.
 */
void hmmdev_queue_release_ring(struct hmmdev_queue *q)
{
	mutex_lock(&q->submit_lock);	/* a submitter past its dead check */
	if (q->ring)
		dma_free_coherent(&q->ctx->hd->pdev->dev, q->entries * HMMDEV_CMD_SIZE,
				  q->ring, q->ring_dma);
	q->ring = NULL;
	mutex_unlock(&q->submit_lock);
}

/**
 * hmmdev_queue_free() - free a queue's memory
 * @q: the queue, killed (or never enabled)
 */
void hmmdev_queue_free(struct hmmdev_queue *q)
{
	if (q->ring)
		dma_free_coherent(&q->ctx->hd->pdev->dev, q->entries * HMMDEV_CMD_SIZE,
				  q->ring, q->ring_dma);
	kvfree(q->slot_cmd);
	kvfree(q->slot_seq);
	kvfree(q->slot_err);
	kvfree(q->slot_status);
	kvfree(q->slot_result);
	kfree(q);
}

static bool hmmdev_range_ok(u64 va, u64 len)
{
	return len && va + len > va && va + len <= HMMDEV_VA_LIMIT;
}

/* Translate a user command into a device command; -EINVAL if malformed. */
static int hmmdev_cmd_encode(const struct hmmdev_cmd *u, struct hmmdev_hw_cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->opcode = u->op;
	c->flags = HMMDEV_CMD_F_IRQ;
	if (u->flags || u->pad0)
		return -EINVAL;
	switch (u->op) {
	case HMMDEV_OP_COPY:
		if (u->subop || u->value || u->compare || u->y ||
		    !hmmdev_range_ok(u->dst, u->len) || !hmmdev_range_ok(u->src, u->len) ||
		    (u->dst < u->src + u->len && u->src < u->dst + u->len))
			return -EINVAL;
		c->arg[0] = u->dst;
		c->arg[1] = u->src;
		c->arg[2] = u->len;
		return 0;
	case HMMDEV_OP_FILL:
		if (u->subop || u->src || u->compare || u->y ||
		    !hmmdev_range_ok(u->dst, u->len))
			return -EINVAL;
		c->arg[0] = u->dst;
		c->arg[1] = u->value;
		c->arg[2] = u->len;
		return 0;
	case HMMDEV_OP_ATOMIC:
		if (u->src || u->len || u->y || (u->dst & 7) || !hmmdev_range_ok(u->dst, 8))
			return -EINVAL;
		switch (u->subop) {
		case HMMDEV_ATOMIC_OP_ADD:
			if (u->compare)
				return -EINVAL;
			break;
		case HMMDEV_ATOMIC_OP_INC:
			if (u->compare || u->value)
				return -EINVAL;
			break;
		case HMMDEV_ATOMIC_OP_CMPXCHG:
			break;
		default:
			return -EINVAL;
		}
		c->cdw1 = u->subop;
		c->arg[0] = u->dst;
		c->arg[1] = u->value;
		c->arg[2] = u->compare;
		return 0;
	case HMMDEV_OP_KERNEL:
		c->cdw1 = u->subop;
		switch (u->subop) {
		case HMMDEV_KERNEL_OP_SUM64:
			if (u->dst || u->value || u->compare || u->y ||
			    (u->src & 7) || (u->len & 7) || !hmmdev_range_ok(u->src, u->len))
				return -EINVAL;
			c->arg[1] = u->src;
			c->arg[2] = u->len;
			return 0;
		case HMMDEV_KERNEL_OP_AXPY32:
			if (u->compare || u->value >> 32 ||
			    ((u->dst | u->src | u->y | u->len) & 3) ||
			    !hmmdev_range_ok(u->dst, u->len) || !hmmdev_range_ok(u->src, u->len) ||
			    !hmmdev_range_ok(u->y, u->len))
				return -EINVAL;
			c->arg[0] = u->dst;
			c->arg[1] = u->src;
			c->arg[2] = u->len;
			c->arg[3] = u->y;
			c->arg[4] = u->value;
			return 0;
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static bool hmmdev_queue_has_room(struct hmmdev_queue *q, u32 count)
{
	hmmdev_queue_retire(q);
	return READ_ONCE(q->dead) ||
	       q->entries - 1 - (q->submitted - READ_ONCE(q->retired)) >= count;
}

/**
 * hmmdev_queue_submit() - queue commands
 * @q: the queue
 * @cmds: the commands (kernel copy)
 * @count: how many, 1..entries-1
 * @nonblock: fail with -EAGAIN instead of waiting for room
 * @fence: out: the fence of the last command
 *
 * Return: 0, -EINVAL (a malformed command: nothing queued), -EAGAIN, -EINTR,
 * -ENODEV (queue stopped).
 */
int hmmdev_queue_submit(struct hmmdev_queue *q, const struct hmmdev_cmd *cmds,
			u32 count, bool nonblock, u64 *fence)
{
	struct hmmdev *hd = q->ctx->hd;
	struct hmmdev_hw_cmd hw;
	unsigned int slot;
	unsigned long flags;
	u32 i;
	int ret;

	if (!count || count > q->entries - 1)
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (hmmdev_cmd_encode(&cmds[i], &hw))
			return -EINVAL;
	if (mutex_lock_interruptible(&q->submit_lock))
		return -EINTR;
	if (!hmmdev_queue_has_room(q, count)) {
		ret = -EAGAIN;
		if (nonblock)
			goto out;
		ret = -EINTR;
		if (wait_event_interruptible(q->wq, hmmdev_queue_has_room(q, count)))
			goto out;
	}
	spin_lock_irqsave(&q->lock, flags);
	if (q->dead) {
		spin_unlock_irqrestore(&q->lock, flags);
		ret = READ_ONCE(hd->failed) ? -EIO : -ENODEV;
		goto out;
	}
	for (i = 0; i < count; i++) {
		slot = q->submitted % q->entries;
		hmmdev_cmd_encode(&cmds[i], &hw);
		memcpy(&q->ring[slot], &hw, sizeof(hw));
		q->slot_cmd[slot] = cmds[i];
		q->slot_err[slot] = 0;
		q->slot_seq[slot] = ++q->submitted;
		trace_hmmdev_submit(q->ctx->asid, q->hwq, q->submitted, hw.opcode);
	}
	*fence = q->submitted;
	/* the commands are visible before the doorbell (writel orders that) */
	hmmdev_wr(hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_TAIL), q->submitted % q->entries);
	spin_unlock_irqrestore(&q->lock, flags);
	hmmdev_count(q->ctx, HMMDEV_STAT_CMDS_SUBMITTED, count);
	ret = 0;
out:
	mutex_unlock(&q->submit_lock);
	return ret;
}

static bool hmmdev_queue_done(struct hmmdev_queue *q, u64 fence)
{
	hmmdev_queue_retire(q);
	return READ_ONCE(q->retired) >= fence || READ_ONCE(q->dead);
}

/**
 * hmmdev_queue_wait() - wait for a command to complete
 * @q: the queue
 * @fence: its fence
 * @timeout_ns: relative timeout, 0 polls, < 0 forever
 * @w: out: error, result and info of the command
 *
 * Return: 0 when it completed (its own error is in @w), -ETIME, -EINTR, or
 * -EINVAL for a fence never returned.
 */
int hmmdev_queue_wait(struct hmmdev_queue *q, u64 fence, s64 timeout_ns,
		      struct hmmdev_wait *w)
{
	u64 deadline = timeout_ns > 0 ? get_jiffies_64() + nsecs_to_jiffies64(timeout_ns) : 0;
	unsigned long flags;
	unsigned int slot;

	if (!fence || fence > READ_ONCE(q->submitted))
		return -EINVAL;
	while (!hmmdev_queue_done(q, fence)) {
		long slice = HMMDEV_WAIT_SLICE;

		if (!timeout_ns)
			return -ETIME;
		if (timeout_ns > 0) {
			u64 now = get_jiffies_64();

			if (time_after_eq64(now, deadline))
				return -ETIME;
			slice = min_t(u64, slice, deadline - now);
		}
		if (wait_event_interruptible_timeout(q->wq, hmmdev_queue_done(q, fence),
						     slice) < 0)
			return -EINTR;
	}
	spin_lock_irqsave(&q->lock, flags);
	slot = (fence - 1) % q->entries;
	if (q->retired < fence) {
		w->error = READ_ONCE(q->ctx->hd->failed) ? -EIO : -ENODEV;
	} else if (q->slot_seq[slot] != fence) {
		w->error = -ENODATA;
	} else {
		w->error = q->slot_err[slot];
		w->result = q->slot_result[slot];
		w->info = q->slot_status[slot];
	}
	spin_unlock_irqrestore(&q->lock, flags);
	return 0;
}
