// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: attributes of /sys/class/hmmdev/hmmdevN.
 *
 * stats/<name>: the device's counters (those of HMMDEV_IOC_STATS with the
 * device scope, and the stage times), one read-only decimal file each.
 */
#include <linux/device.h>
#include <linux/kstrtox.h>
#include <linux/sysfs.h>
#include "obs/hmmdev_obs.h"

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

/* stats/<counter>: the attribute's var is the enum hmmdev_stat index */
static ssize_t hmmdev_stat_show(struct device *dev, struct device_attribute *attr,
				char *buf)
{
	struct dev_ext_attribute *ea = container_of(attr, struct dev_ext_attribute, attr);
	struct hmmdev *hd = dev_get_drvdata(dev);
	unsigned long i = (unsigned long)ea->var;

	return sysfs_emit(buf, "%lld\n", atomic64_read(&hd->stats.v[i]));
}

static struct dev_ext_attribute hmmdev_stat_attrs[HMMDEV_STAT_NR];
static struct attribute *hmmdev_stat_attr_list[HMMDEV_STAT_NR + 1];

static const struct attribute_group hmmdev_stats_group = {
	.name = "stats",
	.attrs = hmmdev_stat_attr_list,
};

const struct attribute_group *hmmdev_dev_groups[] = {
	&hmmdev_dev_group,
	&hmmdev_stats_group,
	NULL,
};

/**
 * hmmdev_sysfs_init() - build the stats/ attributes (before the class exists)
 */
void hmmdev_sysfs_init(void)
{
	unsigned long i, n = 0;

	for (i = 0; i < HMMDEV_STAT_NR; i++) {
		struct dev_ext_attribute *ea = &hmmdev_stat_attrs[i];

		if (WARN_ONCE(!hmmdev_stat_names[i],
			      "hmmdev: counter %lu is not in hmmdev_stats.def\n", i))
			continue;
		sysfs_attr_init(&ea->attr.attr);
		ea->attr.attr.name = hmmdev_stat_names[i];
		ea->attr.attr.mode = 0444;
		ea->attr.show = hmmdev_stat_show;
		ea->var = (void *)i;
		hmmdev_stat_attr_list[n++] = &ea->attr.attr;
	}
}
