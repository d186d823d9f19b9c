// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the device's lifetime, its interrupts (vector 0, the queue
 * vectors) and out-of-band TLB invalidation.  Probe and remove, which put
 * the layers together, are hmmdev_main.c's.
 */
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include "core/hmmdev_core.h"

/**
 * hmmdev_irq_misc() - vector 0: the test doorbell and fatal device errors
 * @irq: the Linux IRQ
 * @data: the device
 *
 * A fatal error queues hd->fatal_work once; what it does is the top
 * layer's (hmmdev_main.c), which set it up at probe.
 *
 * Return: IRQ_HANDLED.
 */
irqreturn_t hmmdev_irq_misc(int irq, void *data)
{
	struct hmmdev *hd = data;
	u32 status = hmmdev_rd(hd, HMMDEV_REG_STATUS);

	atomic64_inc(&hd->irq_count);
	if (status & HMMDEV_STATUS_FATAL) {
		dev_err_ratelimited(&hd->pdev->dev, "fatal device error (ERROR 0x%x)\n",
				    hmmdev_rd(hd, HMMDEV_REG_ERROR));
		if (!hd->fatal_seen) {
			hd->fatal_seen = true;
			schedule_work(&hd->fatal_work);
		}
	}
	atomic64_inc(&hd->irq_test_count);
	complete(&hd->irq_test_done);
	return IRQ_HANDLED;
}

/**
 * hmmdev_invalidate() - out-of-band device TLB invalidation, waited for
 * @hd: the device
 * @scope: HMMDEV_INV_ALL, HMMDEV_INV_ASID or HMMDEV_INV_RANGE
 * @asid: the context (ASID and RANGE scopes)
 * @va: range start, 4 KiB aligned (RANGE)
 * @size: range length, a 4 KiB multiple (RANGE)
 *
 * Returns when the device no longer uses a translation it obtained before
 * the call.  Spins (never sleeps): MMU notifiers call it, including
 * non-blockable ones.  The device completes an invalidation within one page
 * copy, independent of queues and faults, so the wait is short.
 *
 * Return: 0, or -ETIMEDOUT if the device did not complete it in a second.
 */
int hmmdev_invalidate(struct hmmdev *hd, unsigned int scope, unsigned int asid,
		      u64 va, u64 size)
{
	unsigned long flags;
	u32 status;
	int ret;

	spin_lock_irqsave(&hd->inv_lock, flags);
	if (hd->gone) {
		spin_unlock_irqrestore(&hd->inv_lock, flags);
		return 0;
	}
	hmmdev_wr(hd, HMMDEV_REG_INV_ASID, asid);
	hmmdev_wr(hd, HMMDEV_REG_INV_VA_HI, upper_32_bits(va));
	hmmdev_wr(hd, HMMDEV_REG_INV_VA_LO, lower_32_bits(va));
	hmmdev_wr(hd, HMMDEV_REG_INV_SIZE_HI, upper_32_bits(size));
	hmmdev_wr(hd, HMMDEV_REG_INV_SIZE_LO, lower_32_bits(size));
	hmmdev_wr(hd, HMMDEV_REG_INV_CMD, scope);
	ret = readl_poll_timeout_atomic(hd->regs + HMMDEV_REG_INV_STATUS, status,
					!(status & HMMDEV_INV_STATUS_BUSY), 1,
					HMMDEV_INV_TIMEOUT_US);
	spin_unlock_irqrestore(&hd->inv_lock, flags);
	if (ret)
		dev_err_ratelimited(&hd->pdev->dev, "TLB invalidation timed out\n");
	return ret;
}

static void hmmdev_free(struct kref *ref)
{
	struct hmmdev *hd = container_of(ref, struct hmmdev, ref);

	pci_dev_put(hd->pdev);
	kfree(hd->dmem);	/* the dmem layer's, kept as long as the device */
	kfree(hd);
}

/**
 * hmmdev_put() - drop a reference to the device structure
 * @hd: the device
 */
void hmmdev_put(struct hmmdev *hd)
{
	kref_put(&hd->ref, hmmdev_free);
}

/*
 * The cdev is embedded in struct hmmdev, and __fput() puts an open file's
 * cdev *after* ->release(), which may drop the last context and with it the
 * last reference to the structure (a file closed after the device was
 * removed).  So the cdev's parent kobject (cdev_set_parent() in
 * hmmdev_chardev_add()) holds a reference: the structure goes only after
 * the cdev's last user.
 */
static void hmmdev_cdev_parent_release(struct kobject *kobj)
{
	hmmdev_put(container_of(kobj, struct hmmdev, cdev_parent));
}

const struct kobj_type hmmdev_cdev_parent_ktype = {
	.release = hmmdev_cdev_parent_release,
};

/**
 * hmmdev_free_queue_irqs() - free the first @n queue vectors' handlers
 * @hd: the device
 * @n: how many
 */
void hmmdev_free_queue_irqs(struct hmmdev *hd, unsigned int n)
{
	while (n--)
		free_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_QUEUE0 + n), &hd->qvec[n]);
}

/**
 * hmmdev_request_queue_irqs() - one handler per hardware queue's vector
 * @hd: the device; hd->num_queues as the device memory left it
 *
 * Return: 0 or the errno of request_irq().
 */
int hmmdev_request_queue_irqs(struct hmmdev *hd)
{
	unsigned int q;
	int ret;

	for (q = 0; q < hd->num_queues; q++) {
		hd->qvec[q].hd = hd;
		hd->qvec[q].q = q;
		ret = request_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_QUEUE0 + q),
				  hmmdev_queue_irq, 0, "hmmdev-queue", &hd->qvec[q]);
		if (ret) {
			hmmdev_free_queue_irqs(hd, q);
			return ret;
		}
	}
	return 0;
}

/**
 * hmmdev_irq_test() - ring the test doorbell and wait for its MSI-X message
 * @hd: the device
 * @timeout_ms: how long to wait
 *
 * Return: 0 when the interrupt arrived, -ETIMEDOUT when it did not, -EINTR
 * when a signal interrupted the wait.
 */
int hmmdev_irq_test(struct hmmdev *hd, unsigned int timeout_ms)
{
	long left;

	reinit_completion(&hd->irq_test_done);
	hmmdev_wr(hd, HMMDEV_REG_IRQ_TEST, HMMDEV_MSIX_VEC_TEST);
	left = wait_for_completion_interruptible_timeout(&hd->irq_test_done,
							 msecs_to_jiffies(timeout_ms));
	if (left < 0)
		return left;
	return left ? 0 : -ETIMEDOUT;
}

