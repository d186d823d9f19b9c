// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the test_hmm personality, /dev/hmm_dmirror0..3.
 */

/**
 * DOC: test_hmm personality
 *
 * The kernel's HMM conformance suite (tools/testing/selftests/mm/hmm-tests.c)
 * talks to lib/test_hmm.c, a device simulated by the CPU, through the uAPI
 * of lib/test_hmm_uapi.h.  With the module parameter dmirror=1 this file
 * offers the same nodes and ioctls, backed by the emulated hardware, so the
 * same unmodified binary runs against it:
 *
 *  - hmm_dmirror0 and hmm_dmirror1: the first and second hmmdev function (in
 *    PCI bus order) whose memory is MEMORY_DEVICE_PRIVATE;
 *  - hmm_dmirror2 and hmm_dmirror3: the first and second whose memory is
 *    MEMORY_DEVICE_COHERENT (module parameter coherent=, dmem/hmmdev_pool.c).
 *
 * Each open is an ordinary context (core/hmmdev_ctx.c: ASID, device page tables,
 * notifier) with one kernel-owned queue.  READ and WRITE are COPY commands
 * executed by the device between the caller's range and a bounce window
 * mapped at DMIRROR_BOUNCE_VA, above every user address, so only the
 * caller's range can fault.  The device's faults go through the fault ring
 * and svm/hmmdev_fault.c like any other; the queue's fault scope
 * (hmmdev_queue_set_fault_scope()) makes one fault resolve the whole rest of
 * the request, which is test_hmm's "faults" contract: the ioctl reports how
 * many fault records the device raised.
 * Migrations are dmem/hmmdev_migrate.c's, copied by the copy engine; SNAPSHOT reads
 * the CPU page tables like test_hmm; EXCLUSIVE maps the pages returned by
 * hmmdev_make_device_exclusive() with HMMDEV_PTE_SW_EXCLUSIVE, which
 * CHECK_EXCLUSIVE looks for; RELEASE evicts all device memory.
 *
 * The names are test_hmm's own, so only one of the two modules can offer
 * them: the second to register fails with -EBUSY (the sysfs name exists).
 */

/**
 * DOC: test_hmm personality locking
 *
 * dmirror_lock protects the device table below and keeps a device from
 * being detached while an open looks it up.  dmirror.lock serializes the
 * commands of one file (one bounce window, one queue); it is never taken by
 * a notifier.  dmirror.snap_lock is the snapshot notifier's lock, as in
 * test_hmm.  The context's own locks nest inside as usual.
 */
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include "frontend/hmmdev_dmirror.h"

static bool dmirror;
module_param(dmirror, bool, 0444);
MODULE_PARM_DESC(dmirror,
		 "offer /dev/hmm_dmirror0..3 (lib/test_hmm_uapi.h) on hmmdev devices; test_hmm.ko must not be loaded");

#define DMIRROR_NODES		4
#define DMIRROR_QUEUE_ENTRIES	8

/* One /dev/hmm_dmirrorN node. */
struct dmirror_node {
	struct cdev cdev;
	struct device dev;
	bool added;
};

static dev_t dmirror_devt;
static struct dmirror_node dmirror_nodes[DMIRROR_NODES];

static DEFINE_MUTEX(dmirror_lock);	/* protects dmirror_devs[] */
static struct hmmdev *dmirror_devs[HMMDEV_MAX_DEVICES];	/* attached devices */

/**
 * hmmdev_dmirror_attach() - a device's memory is ready: offer it
 * @hd: the device, with device memory (hmmdev_dmem_enabled())
 */
void hmmdev_dmirror_attach(struct hmmdev *hd)
{
	unsigned int i;

	mutex_lock(&dmirror_lock);
	for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++) {
		if (!dmirror_devs[i]) {
			dmirror_devs[i] = hd;
			break;
		}
	}
	mutex_unlock(&dmirror_lock);
}

/**
 * hmmdev_dmirror_detach() - a device is going away: no new opens reach it
 * @hd: the device
 *
 * Files already open keep their context, which the removal detaches.
 */
void hmmdev_dmirror_detach(struct hmmdev *hd)
{
	unsigned int i;

	mutex_lock(&dmirror_lock);
	for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++)
		if (dmirror_devs[i] == hd)
			dmirror_devs[i] = NULL;
	mutex_unlock(&dmirror_lock);
}

/* The device behind node @node: the (node & 1)-th of the wanted kind. */
static struct hmmdev *dmirror_pick(unsigned int node)
{
	bool want_coherent = node >= 2;
	unsigned int want = node & 1, i, rank, seen = 0;

	lockdep_assert_held(&dmirror_lock);
	for (rank = 0; rank < HMMDEV_MAX_DEVICES * 4; rank++) {
		for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++) {
			struct hmmdev *hd = dmirror_devs[i];

			if (!hd || hd->pci_rank != rank ||
			    hmmdev_dmem_coherent(hd) != want_coherent)
				continue;
			if (seen++ == want)
				return hd;
		}
	}
	return NULL;
}

static int dmirror_open(struct inode *inode, struct file *filp)
{
	struct dmirror_node *node = container_of(inode->i_cdev, struct dmirror_node, cdev);
	struct dmirror *dmi;
	struct hmmdev *hd;
	int ret = 0;

	dmi = kzalloc_obj(*dmi, GFP_KERNEL);
	if (!dmi)
		return -ENOMEM;
	dmi->node = node - dmirror_nodes;
	mutex_init(&dmi->lock);
	mutex_init(&dmi->snap_lock);
	mutex_lock(&dmirror_lock);
	hd = dmirror_pick(dmi->node);
	if (!hd) {
		ret = -ENODEV;
	} else {
		dmi->ctx = hmmdev_svm_open(hd);
		if (IS_ERR(dmi->ctx))
			ret = PTR_ERR(dmi->ctx);
		else
			hmmdev_debugfs_ctx_add(dmi->ctx);
	}
	mutex_unlock(&dmirror_lock);
	if (ret) {
		kfree(dmi);
		return ret;
	}
	filp->private_data = dmi;
	return 0;
}

static int dmirror_release(struct inode *inode, struct file *filp)
{
	struct dmirror *dmi = filp->private_data;
	unsigned int i;

	/* stops the queue and unmaps the bounce window from the device */
	hmmdev_debugfs_ctx_remove(dmi->ctx);
	hmmdev_svm_close(dmi->ctx);
	if (dmi->bounce)
		vunmap(dmi->bounce);
	for (i = 0; dmi->bounce_pages && i < DMIRROR_BOUNCE_PAGES; i++)
		if (dmi->bounce_pages[i])
			__free_page(dmi->bounce_pages[i]);
	kvfree(dmi->bounce_pages);
	kfree(dmi);
	return 0;
}

/* Map the bounce window into the context's device page tables. */
static int dmirror_map_bounce(struct dmirror *dmi)
{
	struct hmmdev_map m = {
		.ctx = dmi->ctx,
		.start = DMIRROR_BOUNCE_VA,
		.npages = DMIRROR_BOUNCE_PAGES,
	};
	unsigned long *pfns;
	unsigned int i;
	int ret = -ENOMEM;

	pfns = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(*pfns), GFP_KERNEL);
	m.dma = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(*m.dma), GFP_KERNEL);
	if (pfns && m.dma) {
		for (i = 0; i < DMIRROR_BOUNCE_PAGES; i++)
			pfns[i] = hmmdev_map_pfn(dmi->bounce_pages[i], true);
		m.pfns = pfns;
		ret = hmmdev_map_commit(&m);
	}
	kvfree(m.dma);
	kvfree(pfns);
	return ret;
}

/**
 * hmmdev_dmirror_ready() - the queue and the bounce window, made on first use
 * @dmi: the open file; dmi->lock held
 *
 * Return: 0 or a negative errno of the queue or the mapping.
 */
int hmmdev_dmirror_ready(struct dmirror *dmi)
{
	unsigned int i;
	u32 qid;
	int ret;

	lockdep_assert_held(&dmi->lock);
	if (dmi->q && dmi->bounce)
		return 0;
	if (!dmi->q) {
		ret = hmmdev_queue_create(dmi->ctx, DMIRROR_QUEUE_ENTRIES, &qid);
		if (ret)
			return ret;
		dmi->q = hmmdev_queue_get(dmi->ctx, qid);
		if (!dmi->q)
			return -ENODEV;
	}
	if (!dmi->bounce_pages) {
		dmi->bounce_pages = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(struct page *),
					     GFP_KERNEL);
		if (!dmi->bounce_pages)
			return -ENOMEM;
		for (i = 0; i < DMIRROR_BOUNCE_PAGES; i++) {
			dmi->bounce_pages[i] = alloc_page(GFP_KERNEL);
			if (!dmi->bounce_pages[i])
				return -ENOMEM;	/* freed at release */
		}
	}
	ret = dmirror_map_bounce(dmi);
	if (ret)
		return ret;
	dmi->bounce = vmap(dmi->bounce_pages, DMIRROR_BOUNCE_PAGES, VM_MAP, PAGE_KERNEL);
	return dmi->bounce ? 0 : -ENOMEM;
}

/*
 * Have the device copy @len bytes from VA @src to VA @dst and wait.
 * Return: 0 or the command's errno (-EFAULT, -EPERM: hmm_range_fault()'s,
 * -EIO, -ENODEV), -EINTR when the caller is being killed.
 */
static int dmirror_device_copy(struct dmirror *dmi, u64 dst, u64 src, u64 len)
{
	struct hmmdev_cmd cmd = { .op = HMMDEV_OP_COPY, .dst = dst, .src = src, .len = len };
	struct hmmdev_wait w = { };
	u64 fence;
	int ret;

	ret = hmmdev_queue_submit(dmi->q, &cmd, 1, false, &fence);
	if (ret)
		return ret;
	for (;;) {
		ret = hmmdev_queue_wait(dmi->q, fence, -1, &w);
		if (ret != -EINTR)
			break;
		if (fatal_signal_pending(current)) {
			/* the bounce window must not be written behind our back */
			hmmdev_queue_kill(dmi->q);
			return -EINTR;
		}
	}
	return ret ? ret : w.error;
}

static u64 dmirror_faults(struct dmirror *dmi)
{
	return hmmdev_ctx_stat(dmi->ctx, HMMDEV_STAT_FAULTS);
}

/**
 * hmmdev_dmirror_do_read() - device-read [addr, addr + size) into a user buffer
 * @dmi: the open file, ready
 * @addr: the first VA, in the caller's address space
 * @size: bytes, a multiple of the page size
 * @ptr: the user buffer
 * @cpages: added to: pages read
 *
 * Return: 0 or the command's errno (test_hmm's: -EFAULT, -EPERM).
 */
int hmmdev_dmirror_do_read(struct dmirror *dmi, u64 addr, u64 size, u64 ptr, u64 *cpages)
{
	u64 off, n;
	int ret = 0;

	hmmdev_queue_set_fault_scope(dmi->q, addr + size);
	for (off = 0; off < size && !ret; off += n) {
		n = min_t(u64, size - off, DMIRROR_BOUNCE_SIZE);
		ret = dmirror_device_copy(dmi, DMIRROR_BOUNCE_VA, addr + off, n);
		if (!ret && copy_to_user(u64_to_user_ptr(ptr + off), dmi->bounce, n))
			ret = -EFAULT;
		if (!ret)
			*cpages += n >> PAGE_SHIFT;
	}
	hmmdev_queue_set_fault_scope(dmi->q, 0);
	return ret;
}

static int dmirror_read(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 faults = dmirror_faults(dmi);
	int ret;

	ret = hmmdev_dmirror_ready(dmi);
	if (!ret)
		ret = hmmdev_dmirror_do_read(dmi, cmd->addr, cmd->npages << PAGE_SHIFT,
					     cmd->ptr, &cmd->cpages);
	cmd->faults = dmirror_faults(dmi) - faults;
	return ret;
}

static int dmirror_write(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 faults = dmirror_faults(dmi), size = cmd->npages << PAGE_SHIFT, off, n;
	int ret;

	ret = hmmdev_dmirror_ready(dmi);
	if (ret)
		return ret;
	hmmdev_queue_set_fault_scope(dmi->q, cmd->addr + size);
	for (off = 0; off < size && !ret; off += n) {
		n = min_t(u64, size - off, DMIRROR_BOUNCE_SIZE);
		if (copy_from_user(dmi->bounce, u64_to_user_ptr(cmd->ptr + off), n)) {
			ret = -EFAULT;
			break;
		}
		ret = dmirror_device_copy(dmi, cmd->addr + off, DMIRROR_BOUNCE_VA, n);
		if (!ret)
			cmd->cpages += n >> PAGE_SHIFT;
	}
	hmmdev_queue_set_fault_scope(dmi->q, 0);
	cmd->faults = dmirror_faults(dmi) - faults;
	return ret;
}

static long dmirror_ioctl(struct file *filp, unsigned int command, unsigned long arg)
{
	struct dmirror *dmi = filp->private_data;
	void __user *uarg = (void __user *)arg;
	struct hmm_dmirror_cmd cmd;
	u64 end;
	int ret;

	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	/* test_hmm's argument rules */
	if (cmd.addr & ~PAGE_MASK)
		return -EINVAL;
	if (cmd.npages > (U64_MAX >> PAGE_SHIFT) ||
	    cmd.addr >= cmd.addr + (cmd.npages << PAGE_SHIFT))
		return -EINVAL;
	end = cmd.addr + (cmd.npages << PAGE_SHIFT);
	cmd.cpages = 0;
	cmd.faults = 0;

	mutex_lock(&dmi->lock);
	switch (command) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_EXCLUSIVE:
		/* nothing at or above the bounce window is the caller's */
		if (end > DMIRROR_BOUNCE_VA) {
			ret = -EFAULT;
			break;
		}
		if (command == HMM_DMIRROR_READ)
			ret = dmirror_read(dmi, &cmd);
		else if (command == HMM_DMIRROR_WRITE)
			ret = dmirror_write(dmi, &cmd);
		else
			ret = hmmdev_dmirror_exclusive(dmi, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = hmmdev_dmirror_migrate(dmi, &cmd, true);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = hmmdev_dmirror_migrate(dmi, &cmd, false);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = hmmdev_dmirror_snapshot(dmi, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = hmmdev_dmirror_check_exclusive(dmi, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		hmmdev_dmem_evict_all(dmi->ctx->hd);
		ret = 0;
		break;
	default:
		ret = -EINVAL;
		break;
	}
	mutex_unlock(&dmi->lock);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &cmd, sizeof(cmd)))
		return -EFAULT;
	return 0;
}

/* test_hmm's: zeroed kernel pages inserted into a VM_MIXEDMAP mapping. */
static int dmirror_mmap(struct file *filp, struct vm_area_struct *vma)
{
	unsigned long addr;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		int ret;

		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		if (ret) {
			__free_page(page);
			return ret;
		}
		put_page(page);
	}
	return 0;
}

static const struct file_operations dmirror_fops = {
	.owner = THIS_MODULE,
	.open = dmirror_open,
	.release = dmirror_release,
	.mmap = dmirror_mmap,
	.unlocked_ioctl = dmirror_ioctl,
	.llseek = default_llseek,
};

static void dmirror_node_release(struct device *dev)
{
	/* static storage */
}

/**
 * hmmdev_dmirror_init() - offer /dev/hmm_dmirror0..3 when dmirror=1
 *
 * Return: 0, or -EBUSY when the names are taken (test_hmm.ko is loaded).
 */
int hmmdev_dmirror_init(void)
{
	unsigned int i;
	int ret;

	if (!dmirror)
		return 0;
	ret = alloc_chrdev_region(&dmirror_devt, 0, DMIRROR_NODES, "hmmdev_dmirror");
	if (ret)
		return ret;
	for (i = 0; i < DMIRROR_NODES; i++) {
		struct dmirror_node *node = &dmirror_nodes[i];

		cdev_init(&node->cdev, &dmirror_fops);
		node->cdev.owner = THIS_MODULE;
		device_initialize(&node->dev);
		node->dev.devt = MKDEV(MAJOR(dmirror_devt), i);
		node->dev.release = dmirror_node_release;
		ret = dev_set_name(&node->dev, "hmm_dmirror%u", i);
		if (!ret)
			ret = cdev_device_add(&node->cdev, &node->dev);
		if (ret) {
			put_device(&node->dev);
			pr_err("hmmdev: cannot add hmm_dmirror%u (%d)%s\n", i, ret,
			       ret == -EEXIST ? ": the name is taken; is test_hmm.ko loaded?" : "");
			hmmdev_dmirror_exit();
			return ret == -EEXIST ? -EBUSY : ret;
		}
		node->added = true;
	}
	pr_info("hmmdev: /dev/hmm_dmirror0..3 (test_hmm uAPI) on hmmdev devices\n");
	return 0;
}

/**
 * hmmdev_dmirror_exit() - remove the nodes
 */
void hmmdev_dmirror_exit(void)
{
	unsigned int i;

	if (!dmirror || !dmirror_devt)
		return;
	for (i = 0; i < DMIRROR_NODES; i++) {
		if (dmirror_nodes[i].added) {
			cdev_device_del(&dmirror_nodes[i].cdev, &dmirror_nodes[i].dev);
			put_device(&dmirror_nodes[i].dev);
			dmirror_nodes[i].added = false;
		}
	}
	unregister_chrdev_region(dmirror_devt, DMIRROR_NODES);
	dmirror_devt = 0;
}
