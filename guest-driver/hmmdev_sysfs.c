// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: attributes of /sys/class/hmmdev/hmmdevN.
 */
#include <linux/device.h>
#include <linux/kstrtox.h>
#include <linux/sysfs.h>
#include "hmmdev_drv.h"

static ssize_t version_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct hmmdev *hd = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u.%u\n", hd->hw_version >> 16,
			  hd->hw_version & 0xffff);
}
static DEVICE_ATTR_RO(version);

static ssize_t irq_count_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	struct hmmdev *hd = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&hd->irq_count));
}
static DEVICE_ATTR_RO(irq_count);

static ssize_t irq_test_count_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct hmmdev *hd = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&hd->irq_test_count));
}
static DEVICE_ATTR_RO(irq_test_count);

/* Writing 1 rings the test doorbell and waits up to a second for the MSI-X. */
static ssize_t irq_test_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct hmmdev *hd = dev_get_drvdata(dev);
	bool go;
	int ret;

	ret = kstrtobool(buf, &go);
	if (ret)
		return ret;
	if (!go)
		return -EINVAL;
	ret = hmmdev_irq_test(hd, 1000);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(irq_test);

static struct attribute *hmmdev_dev_attrs[] = {
	&dev_attr_version.attr,
	&dev_attr_irq_count.attr,
	&dev_attr_irq_test_count.attr,
	&dev_attr_irq_test.attr,
	NULL,
};

static const struct attribute_group hmmdev_dev_group = {
	.attrs = hmmdev_dev_attrs,
};

const struct attribute_group *hmmdev_dev_groups[] = {
	&hmmdev_dev_group,
	NULL,
};
