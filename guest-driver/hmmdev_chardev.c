// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: /dev/hmmdevN character devices and their ioctls.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/uaccess.h>
#include <uapi/linux/hmmdev.h>
#include "hmmdev_drv.h"

static dev_t hmmdev_devt;
static DEFINE_IDA(hmmdev_minor_ida);
static const struct class hmmdev_class = {
	.name = "hmmdev",
	.dev_groups = hmmdev_dev_groups,
};

/*
 * Copy an extensible ioctl argument whose first __u32 is its size, the way
 * copy_struct_from_user() defines: short structs are zero-extended, long ones
 * must have a zero tail (-E2BIG otherwise).
 */
static int hmmdev_copy_arg(void *dst, size_t ksize, void __user *uarg, u32 *usize)
{
	int ret;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < sizeof(u32) || *usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, uarg, *usize);
	if (ret)
		return ret;
	*(u32 *)dst = ksize;
	return 0;
}

static long hmmdev_ioctl_get_info(struct hmmdev *hd, void __user *uarg)
{
	struct hmmdev_info info;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&info, sizeof(info), uarg, &usize);
	if (ret)
		return ret;
	if (info.uapi_version || info.hw_version || info.msix_vectors || info.irq_count)
		return -EINVAL;		/* output-only fields must be zero on input */
	info.uapi_version = HMMDEV_UAPI_VERSION;
	info.hw_version = hd->hw_version;
	info.msix_vectors = hd->msix_vectors;
	info.irq_count = atomic64_read(&hd->irq_count);
	info.size = min_t(u32, usize, sizeof(info));
	if (copy_to_user(uarg, &info, info.size))
		return -EFAULT;
	return 0;
}

static long hmmdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct hmmdev *hd = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* Dispatch on the number only: the size field, not _IOC_SIZE, versions. */
	if (_IOC_TYPE(cmd) != HMMDEV_IOC_MAGIC)
		return -ENOTTY;
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(HMMDEV_IOC_GET_INFO):
		return hmmdev_ioctl_get_info(hd, uarg);
	default:
		return -ENOTTY;
	}
}

static int hmmdev_open(struct inode *inode, struct file *file)
{
	file->private_data = container_of(inode->i_cdev, struct hmmdev, cdev);
	return 0;
}

static const struct file_operations hmmdev_fops = {
	.owner = THIS_MODULE,
	.open = hmmdev_open,
	.unlocked_ioctl = hmmdev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

int hmmdev_chardev_add(struct hmmdev *hd)
{
	int ret;

	hd->minor = ida_alloc_max(&hmmdev_minor_ida, HMMDEV_MAX_DEVICES - 1, GFP_KERNEL);
	if (hd->minor < 0)
		return hd->minor;
	cdev_init(&hd->cdev, &hmmdev_fops);
	hd->cdev.owner = THIS_MODULE;
	ret = cdev_add(&hd->cdev, MKDEV(MAJOR(hmmdev_devt), hd->minor), 1);
	if (ret)
		goto err_ida;
	hd->dev = device_create(&hmmdev_class, &hd->pdev->dev,
				MKDEV(MAJOR(hmmdev_devt), hd->minor), hd,
				"hmmdev%d", hd->minor);
	if (IS_ERR(hd->dev)) {
		ret = PTR_ERR(hd->dev);
		goto err_cdev;
	}
	return 0;

err_cdev:
	cdev_del(&hd->cdev);
err_ida:
	ida_free(&hmmdev_minor_ida, hd->minor);
	return ret;
}

void hmmdev_chardev_remove(struct hmmdev *hd)
{
	device_destroy(&hmmdev_class, MKDEV(MAJOR(hmmdev_devt), hd->minor));
	cdev_del(&hd->cdev);
	ida_free(&hmmdev_minor_ida, hd->minor);
}

int hmmdev_chardev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&hmmdev_devt, 0, HMMDEV_MAX_DEVICES, HMMDEV_DRV_NAME);
	if (ret)
		return ret;
	ret = class_register(&hmmdev_class);
	if (ret)
		unregister_chrdev_region(hmmdev_devt, HMMDEV_MAX_DEVICES);
	return ret;
}

void hmmdev_chardev_exit(void)
{
	class_unregister(&hmmdev_class);
	unregister_chrdev_region(hmmdev_devt, HMMDEV_MAX_DEVICES);
}
