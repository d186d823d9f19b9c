/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver: state shared by the driver's files.
 */
#ifndef HMMDEV_DRV_H
#define HMMDEV_DRV_H

#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/pci.h>
#include "hmmdev-regs.h"

#define HMMDEV_DRV_NAME "hmmdev"
#define HMMDEV_MAX_DEVICES 16

/* One bound hmmdev PCI function. */
struct hmmdev {
	struct pci_dev *pdev;
	void __iomem *regs;		/* BAR0 */
	int minor;
	struct cdev cdev;
	struct device *dev;		/* /sys/class/hmmdev/hmmdevN */
	u32 hw_version;
	u32 msix_vectors;

	atomic64_t irq_count;		/* every vector */
	atomic64_t irq_test_count;	/* HMMDEV_MSIX_VEC_TEST only */
	struct completion irq_test_done;
};

static inline u32 hmmdev_rd(struct hmmdev *hd, u32 reg)
{
	return readl(hd->regs + reg);
}

static inline void hmmdev_wr(struct hmmdev *hd, u32 reg, u32 val)
{
	writel(val, hd->regs + reg);
}

/* hmmdev_chardev.c */
int hmmdev_chardev_init(void);
void hmmdev_chardev_exit(void);
int hmmdev_chardev_add(struct hmmdev *hd);
void hmmdev_chardev_remove(struct hmmdev *hd);

/* hmmdev_pci.c */
int hmmdev_irq_test(struct hmmdev *hd, unsigned int timeout_ms);

/* hmmdev_sysfs.c */
extern const struct attribute_group *hmmdev_dev_groups[];

#endif /* HMMDEV_DRV_H */
