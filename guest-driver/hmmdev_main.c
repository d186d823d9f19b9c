// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the module, and PCI probe/remove, which put the layers
 * together.
 */

/**
 * DOC: Overview
 *
 * hmmdev.ko drives the emulated hmmdev accelerator (docs/hmmdev-spec.rst)
 * as an HMM device: each open of /dev/hmmdevN is a context whose commands
 * run on the process's own virtual addresses; the device faults, and the
 * driver mirrors the CPU page tables into the device's with
 * hmm_range_fault(), keeps them coherent with an mmu_interval_notifier, and
 * moves pages to and from device memory with migrate_vma_*().
 *
 * The driver is layered; a layer calls (and includes the header of) only
 * itself and the layers below it, which tests/scripts/test_driver_layers.py
 * checks on the built objects:
 *
 *  - core/ (hmmdev_core.h): the device, its registers, interrupts and
 *    out-of-band invalidation; hardware queues; contexts (ASIDs); device
 *    page tables and the reverse map of device memory;
 *  - dmem/ (hmmdev_dmem.h): device memory as ZONE_DEVICE pages, migration
 *    both ways, eviction, loss to a fatal error;
 *  - svm/ (hmmdev_svm.h): a context's mirror (hmmdev_svm_open()), device
 *    faults, the one HMM loop (DOC: Mirror loop) and the one map
 *    transaction (DOC: Map transaction), placement policy;
 *  - obs/ (hmmdev_obs.h): debugfs, sysfs, the ATS self-test.  Its
 *    tracepoints are emitted by every layer (a static hook, not a call);
 *  - frontend/ (hmmdev_frontend.h): /dev/hmmdevN and the test_hmm
 *    personality /dev/hmm_dmirror0..3;
 *  - this file: module init, probe and remove.
 *
 * Upward signals go through callbacks set up from above, each documented
 * where it is set: the notifier ops (svm, given to hmmdev_ctx_create()),
 * interrupt handlers (the svm layer's fault vector), dev_pagemap ops (dmem),
 * and hd->fatal_work (this file, queued by the core's vector 0 handler).
 */

/**
 * DOC: Locking
 *
 * Lock order, outermost first; each lock is documented beside the fields
 * it protects, with one "protects" marker per group.
 *
 * 1. mmap_lock (read, around hmm_range_fault() and a migration's
 *    migrate_vma_*() calls; a migration holds it, and the locks of the pages
 *    it isolated, while it takes dmem.evict_lock, ctx->lock and
 *    dmem.copy_lock one at a time).
 *
 *    a. dmem.users (rwsem; read: a migration ioctl and a context's teardown
 *       eviction; write: device removal setting dmem.stopping).
 *    b. dmem.evict_lock: one eviction at a time, and its scratch arrays; it
 *       takes folio locks only with trylock (migrate_device_range()) and runs
 *       notifiers (ctx->lock) inside.
 *    c. dmem.copy_lock: the kernel queue and the SG list; held while
 *       allocating system pages for a copy and while polling the SG_COPY;
 *       never held with ctx->lock.
 *    d. ctx->policy_lock: a leaf (never held across a migration).
 *    e. pt->chunk_lock: table pages being carved; taken by table allocation
 *       only, never with ctx->lock (it allocates with GFP_KERNEL, and reclaim
 *       may run the notifier, which takes ctx->lock).
 *
 * 2. hd->ctx_mutex: the contexts list, the ASID bitmap, hd->dead.
 * 3. ctx->queues_lock: the context's queue table.
 * 4. q->submit_lock: serializes the submitters of a queue.
 * 5. ctx->lock, the page-table lock: PTE contents, the table tree,
 *    ctx->detached.  The notifier takes it, so under it nothing allocates
 *    with GFP_KERNEL (tables come from the cache hmmdev_pt_reserve() filled)
 *    or waits for the device or reclaim; dma_map_page() and dma_unmap_page()
 *    are allowed.  Every PTE write is made under it, by the map transaction
 *    (hmmdev_map_commit()) or by the invalidation.
 * 6. Spinlocks, innermost: hd->lock (the hardware-queue table, taken in
 *    interrupts) -> q->lock (sequence numbers, slot results); pt->cache_lock;
 *    dmem.lock (free list, dpage[], clock hand; from page_free too) ->
 *    hd->rmap_lock (the reverse map of device memory; taken under ctx->lock
 *    when a DEVMEM leaf is written or removed) ; hd->inv_lock (the
 *    invalidation registers, spun on with interrupts off for at most a page
 *    copy; the eviction scan issues its INV_ALL after dropping dmem.lock).
 *
 * Rules:
 *
 * - No driver lock is held across hmm_range_fault() or migrate_vma_setup();
 *   the fault work references the context (kref) it found through the
 *   hardware-queue table.
 * - mmput() of the fault work's mmget_not_zero() may run exit_mmap() and so
 *   the notifier: the work holds no lock at that point.
 * - Fault handling runs on one work item per device, never concurrently
 *   with itself.  Closing a context drains it after stopping the context's
 *   queues (hmmdev_svm_close()), so an ASID is never reused while a fault
 *   of its old owner is being resolved; REPLAY and CANCEL are written under
 *   hd->lock, and only while the queue is still in the hardware table.
 * - Counters a submitter may read are updated before the MMIO write that
 *   lets its command complete.
 */
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include "frontend/hmmdev_frontend.h"

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
	hmmdev_ctx_kill_all(hd, true);
	hmmdev_dmem_lost(hd);
}

static int hmmdev_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct hmmdev *hd;
	u32 magic;
	int nvec, ret;

	hd = kzalloc_obj(*hd, GFP_KERNEL);
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
	spin_lock_init(&hd->rmap_lock);
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
			  hmmdev_irq_misc, 0, "hmmdev-test", hd);
	if (ret)
		goto err_vectors;

	/* Prove the interrupt path before anything relies on it. */
	ret = hmmdev_irq_test(hd, 1000);
	if (ret) {
		dev_err(&pdev->dev, "MSI-X test interrupt did not arrive: %d\n", ret);
		goto err_irq;
	}

	/* device memory and its migration queue (the last hardware queue) */
	ret = hmmdev_dmem_init(hd);
	if (ret)
		goto err_irq;
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
	if (hmmdev_dmem_enabled(hd))
		hmmdev_dmirror_attach(hd);	/* test_hmm's nodes, with dmirror=1 */
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
	hmmdev_dmirror_detach(hd);
	hmmdev_chardev_remove(hd);
	hmmdev_ctx_kill_all(hd, false);	/* no new contexts or queues */
	hmmdev_fault_fini(hd);
	hmmdev_debugfs_ctx_remove_all(hd);
	hmmdev_ctx_detach_all(hd);
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
