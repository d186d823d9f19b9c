// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: kernel queues, and the claim of a hardware queue.
 *
 * A kernel queue is a hardware queue the driver itself submits to, polling
 * the completion record instead of taking an interrupt: the migration copy
 * engine (dmem/hmmdev_copy.c) and the ATS self-test (obs/hmmdev_atstest.c).
 * Its commands run on ASID 0 with DMA addresses only (SG_COPY).  The caller
 * serializes submissions.
 */
#include <linux/dma-mapping.h>
#include <linux/iopoll.h>
#include "core/hmmdev_core.h"

/**
 * hmmdev_hwq_claim() - take a free hardware queue for @q
 * @hd: the device
 * @q: what the interrupt handlers find in hd->hwq[] for it
 *
 * Return: the hardware queue's index, or -EBUSY when none is free.
 */
int hmmdev_hwq_claim(struct hmmdev *hd, struct hmmdev_queue *q)
{
	int hwq;

	spin_lock_irq(&hd->lock);
	for (hwq = 0; hwq < hd->num_queues; hwq++)
		if (!hd->hwq[hwq])
			break;
	if (hwq == hd->num_queues)
		hwq = -EBUSY;
	else
		hd->hwq[hwq] = q;
	spin_unlock_irq(&hd->lock);
	return hwq;
}

/**
 * hmmdev_hwq_unclaim() - give back a hardware queue taken by hmmdev_hwq_claim()
 * @hd: the device
 * @hwq: its index; the caller disabled it, or never enabled it
 */
void hmmdev_hwq_unclaim(struct hmmdev *hd, unsigned int hwq)
{
	spin_lock_irq(&hd->lock);
	hd->hwq[hwq] = NULL;
	spin_unlock_irq(&hd->lock);
}

/**
 * hmmdev_kq_init() - allocate a kernel queue's ring
 * @hd: the device
 * @kq: the queue, zeroed
 *
 * Return: 0 or -ENOMEM.
 */
int hmmdev_kq_init(struct hmmdev *hd, struct hmmdev_kq *kq)
{
	kq->hd = hd;
	kq->ring = dma_alloc_coherent(&hd->pdev->dev, HMMDEV_KQ_ENTRIES * HMMDEV_CMD_SIZE,
				      &kq->ring_dma, GFP_KERNEL);
	return kq->ring ? 0 : -ENOMEM;
}

/**
 * hmmdev_kq_start() - enable a kernel queue on a hardware queue
 * @kq: the queue, initialized
 * @hwq: the hardware queue (reserved or claimed by the caller)
 * @vector: its completion vector (the driver ignores it: kernel queues poll)
 *
 * Return: 0, or -EIO when the device refused the setup.
 */
int hmmdev_kq_start(struct hmmdev_kq *kq, unsigned int hwq, u32 vector)
{
	kq->hwq = hwq;
	kq->tail = 0;
	kq->broken = false;
	memset(kq->ring, 0, HMMDEV_KQ_ENTRIES * HMMDEV_CMD_SIZE);
	return hmmdev_hwq_enable(kq->hd, hwq, kq->ring_dma, HMMDEV_KQ_ENTRIES, 0, vector);
}

/**
 * hmmdev_kq_stop() - disable a kernel queue's hardware queue
 * @kq: the queue
 */
void hmmdev_kq_stop(struct hmmdev_kq *kq)
{
	hmmdev_wr(kq->hd, hmmdev_qreg(kq->hwq, HMMDEV_QREG_CTRL), 0);
}

/**
 * hmmdev_kq_fini() - free a kernel queue's ring (stopped, or never started)
 * @kq: the queue
 */
void hmmdev_kq_fini(struct hmmdev_kq *kq)
{
	if (kq->ring)
		dma_free_coherent(&kq->hd->pdev->dev, HMMDEV_KQ_ENTRIES * HMMDEV_CMD_SIZE,
				  kq->ring, kq->ring_dma);
	kq->ring = NULL;
}

static u32 kq_status(struct hmmdev_hw_cmd *c)
{
	return READ_ONCE(c->status);
}

/**
 * hmmdev_kq_sg_copy() - run one SG_COPY and wait for it, polling
 * @kq: the queue, started; the caller serializes submissions
 * @list: DMA address of the scatter-gather list
 * @n: its entries
 * @timeout_us: how long to poll
 * @status: out: the completion status (HMMDEV_CS_*)
 * @info: out: the completion info (the failing entry), or NULL
 *
 * A command that times out leaves the ring in a state the driver does not
 * know: the queue is broken until it is started again.
 *
 * Return: 0 when the command completed (successfully or not: see
 * @status), -ETIMEDOUT, or -EIO when the queue is broken.
 */
int hmmdev_kq_sg_copy(struct hmmdev_kq *kq, dma_addr_t list, unsigned int n,
		      unsigned long timeout_us, u32 *status, u32 *info)
{
	struct hmmdev_hw_cmd *c;
	int ret;

	if (kq->broken)
		return -EIO;
	c = &kq->ring[kq->tail];
	memset(c, 0, sizeof(*c));
	c->opcode = HMMDEV_CMD_SG_COPY;
	c->arg[0] = list;
	c->arg[1] = n;
	kq->tail = (kq->tail + 1) % HMMDEV_KQ_ENTRIES;
	/* writel orders the command and the list before the doorbell */
	hmmdev_wr(kq->hd, hmmdev_qreg(kq->hwq, HMMDEV_QREG_TAIL), kq->tail);
	ret = read_poll_timeout(kq_status, *status, *status & HMMDEV_CS_DONE, 20,
				timeout_us, false, c);
	if (ret) {
		kq->broken = true;
		return ret;
	}
	dma_rmb();
	if (info)
		*info = READ_ONCE(c->info);
	return 0;
}
