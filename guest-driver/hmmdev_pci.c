// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: PCI probe/remove, BAR mapping and MSI-X.
 */
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include "hmmdev_drv.h"

/* Vector 0: the test doorbell and fatal device errors. */
static irqreturn_t hmmdev_irq_test_handler(int irq, void *data)
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

/*
 * A fatal device error stops the engine until a reset: fail every queue
 * (waiters get -EIO) and refuse new queues and migrations with -EIO.  The
 * device is not reset in place: unbind/rebind (or PCI remove/rescan) probes
 * it again, which resets it.
 */
static void hmmdev_fatal_work(struct work_struct *work)
{
	struct hmmdev *hd = container_of(work, struct hmmdev, fatal_work);

	dev_err(&hd->pdev->dev, "device failed: queues stopped, contexts get -EIO until it is rebound\n");
	hmmdev_ctx_fail_all(hd);
	hmmdev_dmem_lost(hd);
}

static void hmmdev_free(struct kref *ref)
{
	struct hmmdev *hd = container_of(ref, struct hmmdev, ref);

	pci_dev_put(hd->pdev);
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

static const struct kobj_type hmmdev_cdev_parent_ktype = {
	.release = hmmdev_cdev_parent_release,
};

static void hmmdev_free_queue_irqs(struct hmmdev *hd, unsigned int n)
{
	while (n--)
		free_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_QUEUE0 + n), &hd->qvec[n]);
}

static int hmmdev_request_queue_irqs(struct hmmdev *hd)
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

static int hmmdev_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct hmmdev *hd;
	u32 magic;
	int nvec, ret;

	hd = kzalloc(sizeof(*hd), GFP_KERNEL);
	if (!hd)
		return -ENOMEM;
	kref_init(&hd->ref);
	kref_get(&hd->ref);		/* dropped by the cdev parent's release */
	kobject_init(&hd->cdev_parent, &hmmdev_cdev_parent_ktype);
	hd->pdev = pdev;
	init_completion(&hd->irq_test_done);
	INIT_WORK(&hd->fatal_work, hmmdev_fatal_work);
	spin_lock_init(&hd->lock);
	spin_lock_init(&hd->inv_lock);
	mutex_init(&hd->ctx_mutex);
	INIT_LIST_HEAD(&hd->contexts);
	pci_dev_get(pdev);
	pci_set_drvdata(pdev, hd);

	ret = pcim_enable_device(pdev);
	if (ret)
		goto err_put;
	ret = pcim_iomap_regions(pdev, BIT(HMMDEV_BAR_REGS), HMMDEV_DRV_NAME);
	if (ret)
		goto err_put;
	hd->regs = pcim_iomap_table(pdev)[HMMDEV_BAR_REGS];
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto err_put;

	magic = hmmdev_rd(hd, HMMDEV_REG_ID);
	if (magic != HMMDEV_ID_MAGIC) {
		dev_err(&pdev->dev, "bad ID register 0x%08x (want 0x%08x)\n",
			magic, HMMDEV_ID_MAGIC);
		ret = -ENODEV;
		goto err_put;
	}
	hd->hw_version = hmmdev_rd(hd, HMMDEV_REG_VERSION);
	if (hd->hw_version >> 16 != HMMDEV_VERSION_MAJOR) {
		dev_err(&pdev->dev, "device major version %u, driver speaks %u\n",
			hd->hw_version >> 16, HMMDEV_VERSION_MAJOR);
		ret = -ENODEV;
		goto err_put;
	}
	hd->msix_vectors = hmmdev_rd(hd, HMMDEV_REG_MSIX_VECTORS);
	hd->num_queues = min_t(u32, hmmdev_rd(hd, HMMDEV_REG_NUM_QUEUES), HMMDEV_NUM_QUEUES);
	hd->num_asids = min_t(u32, hmmdev_rd(hd, HMMDEV_REG_NUM_ASIDS), HMMDEV_NUM_ASIDS);
	hd->devmem_size = hmmdev_rd(hd, HMMDEV_REG_DEVMEM_SIZE_LO) |
			  (u64)hmmdev_rd(hd, HMMDEV_REG_DEVMEM_SIZE_HI) << 32;
	if (hd->msix_vectors < HMMDEV_MSIX_VEC_QUEUE0 + hd->num_queues) {
		dev_err(&pdev->dev, "%u MSI-X vectors are too few\n", hd->msix_vectors);
		ret = -ENODEV;
		goto err_put;
	}
	hmmdev_wr(hd, HMMDEV_REG_CONTROL, HMMDEV_CONTROL_RESET);

	nvec = pci_alloc_irq_vectors(pdev, hd->msix_vectors, hd->msix_vectors,
				     PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_err(&pdev->dev, "cannot allocate %u MSI-X vectors: %d\n",
			hd->msix_vectors, nvec);
		ret = nvec;
		goto err_put;
	}
	ret = request_irq(pci_irq_vector(pdev, HMMDEV_MSIX_VEC_TEST),
			  hmmdev_irq_test_handler, 0, "hmmdev-test", hd);
	if (ret)
		goto err_vectors;

	/* Prove the interrupt path before anything relies on it. */
	ret = hmmdev_irq_test(hd, 1000);
	if (ret) {
		dev_err(&pdev->dev, "MSI-X test interrupt did not arrive: %d\n", ret);
		goto err_irq;
	}

	/* device memory and its migration queue (the last hardware queue) */
	hmmdev_dmem_init(hd);
	ret = hmmdev_request_queue_irqs(hd);
	if (ret)
		goto err_dmem;
	ret = hmmdev_fault_init(hd);
	if (ret)
		goto err_qirqs;
	ret = hmmdev_chardev_add(hd);
	if (ret)
		goto err_fault;
	hmmdev_debugfs_add(hd);

	dev_info(&pdev->dev, "hmmdev%d: hw version %u.%u, %u MSI-X vectors\n",
		 hd->minor, hd->hw_version >> 16, hd->hw_version & 0xffff,
		 hd->msix_vectors);
	return 0;

err_fault:
	hmmdev_fault_fini(hd);
err_qirqs:
	hmmdev_free_queue_irqs(hd, hd->num_queues);
err_dmem:
	hmmdev_dmem_fini(hd);
err_irq:
	free_irq(pci_irq_vector(pdev, HMMDEV_MSIX_VEC_TEST), hd);
	cancel_work_sync(&hd->fatal_work);
err_vectors:
	pci_free_irq_vectors(pdev);
err_put:
	kobject_put(&hd->cdev_parent);
	hmmdev_put(hd);
	return ret;
}

static void hmmdev_remove(struct pci_dev *pdev)
{
	struct hmmdev *hd = pci_get_drvdata(pdev);

	/* no new opens; contexts still open are detached from the hardware */
	hmmdev_chardev_remove(hd);
	hmmdev_ctx_detach_all(hd);	/* also stops fault handling */
	hmmdev_dmem_fini(hd);		/* every device page comes back first */
	hmmdev_debugfs_remove(hd);
	hmmdev_wr(hd, HMMDEV_REG_CONTROL, HMMDEV_CONTROL_RESET);
	hmmdev_free_queue_irqs(hd, hd->num_queues);
	free_irq(pci_irq_vector(pdev, HMMDEV_MSIX_VEC_TEST), hd);
	cancel_work_sync(&hd->fatal_work);
	pci_free_irq_vectors(pdev);
	kobject_put(&hd->cdev_parent);	/* the cdev may keep it: open files */
	hmmdev_put(hd);
}

static const struct pci_device_id hmmdev_pci_ids[] = {
	{ PCI_DEVICE(HMMDEV_PCI_VENDOR_ID, HMMDEV_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, hmmdev_pci_ids);

static struct pci_driver hmmdev_pci_driver = {
	.name = HMMDEV_DRV_NAME,
	.id_table = hmmdev_pci_ids,
	.probe = hmmdev_probe,
	.remove = hmmdev_remove,
};

static int __init hmmdev_init(void)
{
	int ret;

	ret = hmmdev_chardev_init();
	if (ret)
		return ret;
	hmmdev_debugfs_init();
	ret = pci_register_driver(&hmmdev_pci_driver);
	if (ret)
		goto err_chardev;
	/* test_hmm's nodes, when asked for (dmirror=1) */
	ret = hmmdev_dmirror_init();
	if (ret)
		goto err_pci;
	return 0;

err_pci:
	pci_unregister_driver(&hmmdev_pci_driver);
err_chardev:
	hmmdev_debugfs_exit();
	hmmdev_chardev_exit();
	return ret;
}

static void __exit hmmdev_exit(void)
{
	hmmdev_dmirror_exit();
	pci_unregister_driver(&hmmdev_pci_driver);
	hmmdev_debugfs_exit();
	hmmdev_chardev_exit();
}

module_init(hmmdev_init);
module_exit(hmmdev_exit);
MODULE_DESCRIPTION("Driver for the hmmdev emulated HMM accelerator");
MODULE_LICENSE("GPL");
