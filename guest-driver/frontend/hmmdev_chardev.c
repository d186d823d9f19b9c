// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: /dev/hmmdevN character devices and their ioctls.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/uaccess.h>
#include <uapi/linux/hmmdev.h>
#include "frontend/hmmdev_frontend.h"

static dev_t hmmdev_devt;
static DEFINE_IDA(hmmdev_minor_ida);
static const struct class hmmdev_class = {
	.name = "hmmdev",
	.dev_groups = hmmdev_dev_groups,
};

/*
 * Copy an extensible ioctl argument whose first __u32 is its size, the way
 * copy_struct_from_user() defines: short structs are zero-extended, long ones
 * must have a zero tail (-E2BIG otherwise).  Sizes below @minsize (the first
 * version of the struct) or above a page are -EINVAL.
 */
static int hmmdev_copy_arg(void *dst, size_t ksize, size_t minsize,
			   void __user *uarg, u32 *usize)
{
	int ret;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < minsize || *usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, uarg, *usize);
	if (ret)
		return ret;
	*(u32 *)dst = ksize;
	return 0;
}

/* Write back at most what userspace gave; size says how much was filled. */
static int hmmdev_copy_out(void __user *uarg, void *src, size_t ksize, u32 usize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)src = n;
	return copy_to_user(uarg, src, n) ? -EFAULT : 0;
}

/* Are all bytes of a field range zero? */
static bool hmmdev_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static long hmmdev_ioctl_get_info(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev *hd = ctx->hd;
	struct hmmdev_info info;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&info, sizeof(info), sizeof(u32), uarg, &usize);
	if (ret)
		return ret;
	/* output-only fields must be zero on input */
	if (!hmmdev_zero(&info.uapi_version, sizeof(info) - sizeof(info.size)))
		return -EINVAL;
	info.uapi_version = HMMDEV_UAPI_VERSION;
	info.hw_version = hd->hw_version;
	info.msix_vectors = hd->msix_vectors;
	info.irq_count = atomic64_read(&hd->irq_count);
	info.asid = ctx->asid;
	info.num_queues = hd->num_queues;
	info.num_asids = hd->num_asids;
	info.devmem_size = hd->devmem_size;
	return hmmdev_copy_out(uarg, &info, sizeof(info), usize);
}

static long hmmdev_ioctl_queue_create(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_queue_create qc;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&qc, sizeof(qc), sizeof(qc), uarg, &usize);
	if (ret)
		return ret;
	if (qc.flags || qc.queue_id)
		return -EINVAL;
	ret = hmmdev_queue_create(ctx, qc.entries, &qc.queue_id);
	if (ret)
		return ret;
	return hmmdev_copy_out(uarg, &qc, sizeof(qc), usize);
}

static long hmmdev_ioctl_submit(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_submit sb;
	struct hmmdev_queue *q;
	struct hmmdev_cmd *cmds;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&sb, sizeof(sb), sizeof(sb), uarg, &usize);
	if (ret)
		return ret;
	if ((sb.flags & ~HMMDEV_SUBMIT_F_NONBLOCK) || sb.pad0 || sb.fence ||
	    sb.cmd_size != sizeof(struct hmmdev_cmd) || !sb.count ||
	    sb.count >= HMMDEV_QUEUE_MAX_ENTRIES)
		return -EINVAL;
	q = hmmdev_queue_get(ctx, sb.queue_id);
	if (!q)
		return -ENOENT;
	if (sb.count > q->entries - 1)
		return -EINVAL;
	cmds = memdup_array_user(u64_to_user_ptr(sb.cmds), sb.count, sizeof(*cmds));
	if (IS_ERR(cmds))
		return PTR_ERR(cmds);
	ret = hmmdev_queue_submit(q, cmds, sb.count,
				  sb.flags & HMMDEV_SUBMIT_F_NONBLOCK, &sb.fence);
	kfree(cmds);
	if (ret)
		return ret;
	return hmmdev_copy_out(uarg, &sb, sizeof(sb), usize);
}

static long hmmdev_ioctl_wait(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_wait w;
	struct hmmdev_queue *q;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&w, sizeof(w), sizeof(w), uarg, &usize);
	if (ret)
		return ret;
	if (w.flags || w.error || w.result || w.info || w.pad0)
		return -EINVAL;
	q = hmmdev_queue_get(ctx, w.queue_id);
	if (!q)
		return -ENOENT;
	ret = hmmdev_queue_wait(q, w.fence, w.timeout_ns, &w);
	if (ret)
		return ret;
	return hmmdev_copy_out(uarg, &w, sizeof(w), usize);
}

/* Counter i is u64 number i of struct hmmdev_stats from .faults: the list's order. */
#define HMMDEV_STAT_INDEX(field)	\
	((offsetof(struct hmmdev_stats, field) - offsetof(struct hmmdev_stats, faults)) / \
	 sizeof(u64))
static const char hmmdev_stat_order[] __maybe_unused = {
#define HMMDEV_STAT(ENUM, name)		\
	BUILD_BUG_ON_ZERO(HMMDEV_STAT_INDEX(name) != HMMDEV_STAT_##ENUM),
#include <uapi/linux/hmmdev_stats.def>
#undef HMMDEV_STAT
};

static long hmmdev_ioctl_stats(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_stats st;
	struct hmmdev_counters *c;
	u64 *out = &st.faults;
	unsigned int i;
	u32 usize;
	int ret;

	/* the uAPI struct has the list's counters and no others */
	BUILD_BUG_ON(sizeof(st) != offsetof(struct hmmdev_stats, faults) +
		     HMMDEV_STAT_NR * sizeof(u64));
	ret = hmmdev_copy_arg(&st, sizeof(st), offsetof(struct hmmdev_stats, faults),
			      uarg, &usize);
	if (ret)
		return ret;
	if (!hmmdev_zero(&st.faults, sizeof(st) - offsetof(struct hmmdev_stats, faults)))
		return -EINVAL;
	switch (st.scope) {
	case HMMDEV_STATS_CONTEXT:
		c = &ctx->stats;
		break;
	case HMMDEV_STATS_DEVICE:
		c = &ctx->hd->stats;
		break;
	default:
		return -EINVAL;
	}
	for (i = 0; i < HMMDEV_STAT_NR; i++)
		out[i] = atomic64_read(&c->v[i]);
	return hmmdev_copy_out(uarg, &st, sizeof(st), usize);
}

static long hmmdev_ioctl_migrate(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_migrate mg;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&mg, sizeof(mg), sizeof(mg), uarg, &usize);
	if (ret)
		return ret;
	if (mg.flags || mg.pad0 || mg.migrated || mg.skipped ||
	    mg.target > HMMDEV_MEM_DEVICE || !PAGE_ALIGNED(mg.addr) ||
	    !PAGE_ALIGNED(mg.len) || !mg.len || mg.addr + mg.len < mg.addr ||
	    mg.addr + mg.len > HMMDEV_VA_LIMIT)
		return -EINVAL;
	if (READ_ONCE(ctx->hd->failed))
		return -EIO;
	ret = hmmdev_dmem_migrate(ctx, mg.addr, mg.addr + mg.len,
				  mg.target == HMMDEV_MEM_DEVICE, &mg.migrated, &mg.skipped);
	if (ret)
		return ret;
	return hmmdev_copy_out(uarg, &mg, sizeof(mg), usize);
}

static long hmmdev_ioctl_set_policy(struct hmmdev_ctx *ctx, void __user *uarg)
{
	struct hmmdev_policy pol;
	u32 usize;
	int ret;

	ret = hmmdev_copy_arg(&pol, sizeof(pol), sizeof(pol), uarg, &usize);
	if (ret)
		return ret;
	if (pol.flags || pol.preferred_location > HMMDEV_MEM_DEVICE ||
	    pol.migrate_on_fault > 1 || !PAGE_ALIGNED(pol.addr) ||
	    !PAGE_ALIGNED(pol.len) || !pol.len || pol.addr + pol.len < pol.addr ||
	    pol.addr + pol.len > HMMDEV_VA_LIMIT)
		return -EINVAL;
	if (READ_ONCE(ctx->detached))
		return -ENODEV;
	ret = hmmdev_policy_set(ctx, pol.addr, pol.addr + pol.len, pol.preferred_location,
				pol.migrate_on_fault);
	if (ret)
		return ret;
	return hmmdev_copy_out(uarg, &pol, sizeof(pol), usize);
}

static long hmmdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct hmmdev_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* Dispatch on the number only: the size field, not _IOC_SIZE, versions. */
	if (_IOC_TYPE(cmd) != HMMDEV_IOC_MAGIC)
		return -ENOTTY;
	/* A context belongs to the address space that opened it (as amdkfd). */
	if (ctx->mm != current->mm)
		return -EBADF;
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(HMMDEV_IOC_GET_INFO):
		return hmmdev_ioctl_get_info(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_QUEUE_CREATE):
		return hmmdev_ioctl_queue_create(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_SUBMIT):
		return hmmdev_ioctl_submit(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_WAIT):
		return hmmdev_ioctl_wait(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_STATS):
		return hmmdev_ioctl_stats(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_MIGRATE):
		return hmmdev_ioctl_migrate(ctx, uarg);
	case _IOC_NR(HMMDEV_IOC_SET_POLICY):
		return hmmdev_ioctl_set_policy(ctx, uarg);
	default:
		return -ENOTTY;
	}
}

static int hmmdev_open(struct inode *inode, struct file *file)
{
	struct hmmdev *hd = container_of(inode->i_cdev, struct hmmdev, cdev);
	struct hmmdev_ctx *ctx;

	ctx = hmmdev_svm_open(hd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	hmmdev_debugfs_ctx_add(ctx);
	file->private_data = ctx;
	return 0;
}

static int hmmdev_release(struct inode *inode, struct file *file)
{
	hmmdev_debugfs_ctx_remove(file->private_data);
	hmmdev_svm_close(file->private_data);
	return 0;
}

static const struct file_operations hmmdev_fops = {
	.owner = THIS_MODULE,
	.open = hmmdev_open,
	.release = hmmdev_release,
	.unlocked_ioctl = hmmdev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * hmmdev_chardev_add() - create /dev/hmmdevN and /sys/class/hmmdev/hmmdevN
 * @hd: the device, probed
 *
 * Return: 0 or a negative errno (no free minor, cdev or device creation).
 */
int hmmdev_chardev_add(struct hmmdev *hd)
{
	int ret;

	hd->minor = ida_alloc_max(&hmmdev_minor_ida, HMMDEV_MAX_DEVICES - 1, GFP_KERNEL);
	if (hd->minor < 0)
		return hd->minor;
	cdev_init(&hd->cdev, &hmmdev_fops);
	hd->cdev.owner = THIS_MODULE;
	/* open files keep struct hmmdev until their cdev_put() (core/hmmdev_hw.c) */
	cdev_set_parent(&hd->cdev, &hd->cdev_parent);
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

/**
 * hmmdev_chardev_remove() - no new opens of the device's node
 * @hd: the device, being removed; files already open stay valid
 */
void hmmdev_chardev_remove(struct hmmdev *hd)
{
	device_destroy(&hmmdev_class, MKDEV(MAJOR(hmmdev_devt), hd->minor));
	cdev_del(&hd->cdev);
	ida_free(&hmmdev_minor_ida, hd->minor);
}

/**
 * hmmdev_chardev_init() - register the class and the char device region
 *
 * Return: 0 or a negative errno.
 */
int hmmdev_chardev_init(void)
{
	int ret;

	hmmdev_sysfs_init();
	ret = alloc_chrdev_region(&hmmdev_devt, 0, HMMDEV_MAX_DEVICES, HMMDEV_DRV_NAME);
	if (ret)
		return ret;
	ret = class_register(&hmmdev_class);
	if (ret)
		unregister_chrdev_region(hmmdev_devt, HMMDEV_MAX_DEVICES);
	return ret;
}

/**
 * hmmdev_chardev_exit() - unregister what hmmdev_chardev_init() registered
 */
void hmmdev_chardev_exit(void)
{
	class_unregister(&hmmdev_class);
	unregister_chrdev_region(hmmdev_devt, HMMDEV_MAX_DEVICES);
}
