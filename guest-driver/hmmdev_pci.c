// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: PCI probe/remove, BAR mapping and MSI-X.
 */
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/pci.h>
#include "hmmdev_drv.h"

static irqreturn_t hmmdev_irq_test_handler(int irq, void *data)
{
	struct hmmdev *hd = data;

	atomic64_inc(&hd->irq_count);
	atomic64_inc(&hd->irq_test_count);
	complete(&hd->irq_test_done);
	return IRQ_HANDLED;
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

	hd = devm_kzalloc(&pdev->dev, sizeof(*hd), GFP_KERNEL);
	if (!hd)
		return -ENOMEM;
	hd->pdev = pdev;
	init_completion(&hd->irq_test_done);
	pci_set_drvdata(pdev, hd);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(HMMDEV_BAR_REGS), HMMDEV_DRV_NAME);
	if (ret)
		return ret;
	hd->regs = pcim_iomap_table(pdev)[HMMDEV_BAR_REGS];
	pci_set_master(pdev);

	magic = hmmdev_rd(hd, HMMDEV_REG_ID);
	if (magic != HMMDEV_ID_MAGIC) {
		dev_err(&pdev->dev, "bad ID register 0x%08x (want 0x%08x)\n",
			magic, HMMDEV_ID_MAGIC);
		return -ENODEV;
	}
	hd->hw_version = hmmdev_rd(hd, HMMDEV_REG_VERSION);
	if (hd->hw_version >> 16 != HMMDEV_VERSION_MAJOR) {
		dev_err(&pdev->dev, "device major version %u, driver speaks %u\n",
			hd->hw_version >> 16, HMMDEV_VERSION_MAJOR);
		return -ENODEV;
	}
	hd->msix_vectors = hmmdev_rd(hd, HMMDEV_REG_MSIX_VECTORS);

	nvec = pci_alloc_irq_vectors(pdev, hd->msix_vectors, hd->msix_vectors,
				     PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_err(&pdev->dev, "cannot allocate %u MSI-X vectors: %d\n",
			hd->msix_vectors, nvec);
		return nvec;
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

	ret = hmmdev_chardev_add(hd);
	if (ret)
		goto err_irq;

	dev_info(&pdev->dev, "hmmdev%d: hw version %u.%u, %u MSI-X vectors\n",
		 hd->minor, hd->hw_version >> 16, hd->hw_version & 0xffff,
		 hd->msix_vectors);
	return 0;

err_irq:
	free_irq(pci_irq_vector(pdev, HMMDEV_MSIX_VEC_TEST), hd);
err_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static void hmmdev_remove(struct pci_dev *pdev)
{
	struct hmmdev *hd = pci_get_drvdata(pdev);

	hmmdev_chardev_remove(hd);
	free_irq(pci_irq_vector(pdev, HMMDEV_MSIX_VEC_TEST), hd);
	pci_free_irq_vectors(pdev);
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
	ret = pci_register_driver(&hmmdev_pci_driver);
	if (ret)
		hmmdev_chardev_exit();
	return ret;
}

static void __exit hmmdev_exit(void)
{
	pci_unregister_driver(&hmmdev_pci_driver);
	hmmdev_chardev_exit();
}

module_init(hmmdev_init);
module_exit(hmmdev_exit);
MODULE_DESCRIPTION("Driver for the hmmdev emulated HMM accelerator");
MODULE_LICENSE("GPL");
