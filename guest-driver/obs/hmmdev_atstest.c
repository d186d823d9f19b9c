// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: ATS self-tests with IOVAs under the driver's control.
 *
 * /sys/kernel/debug/hmmdev/hmmdevN/ats_selftest
 *	write one of:
 *	  stale      map page A, let the device read it, unmap, map page B at
 *		     the same IOVA (retrying until the allocator gives it back),
 *		     let the device read again: it must see B, never A
 *	  badiova    let the device read an IOVA that was never mapped: the
 *		     command must fail (and the IOMMU report a DMAR fault)
 *	  repeat N   let the device read the same mapped page N times
 *	  writeonly  let the device write a page mapped DMA_FROM_DEVICE (the
 *		     IOMMU may grant write without read: ATS R=0 W=1)
 *	read: the result of the last run, one line starting with
 *	"<test>: ok", "<test>: skip <why>" or "<test>: FAIL <why>".
 *
 * The device reads with SG_COPY (system to system, no device MMU) on a
 * hardware queue borrowed for the duration of the run, polled, like the
 * migration queue of dmem/hmmdev_copy.c.  The queue's slot in hd->hwq[] holds a
 * placeholder whose context matches no ASID, so fault and interrupt
 * handlers ignore it; its completions use the fault vector, which only
 * makes the fault handler look at an empty ring.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include "obs/hmmdev_obs.h"

#define ATST_TIMEOUT_US		5000000
#define ATST_BAD_IOVA		0x7f00000000ULL	/* below 2^39, never mapped */
#define ATST_REUSE_TRIES	100
#define ATST_PAT_A		0xa5
#define ATST_PAT_B		0x5b

struct hmmdev_atstest {
	struct hmmdev *hd;
	struct mutex lock;		/* one run at a time; protects the fields below */
	char result[256];
	/* the placeholder in hd->hwq[] while a queue is borrowed */
	struct hmmdev_ctx ctx;
	struct hmmdev_queue q;
	struct hmmdev_kq kq;		/* on the borrowed hardware queue */
	struct hmmdev_hw_sg_entry *sg;
	dma_addr_t sg_dma;
	u8 *res;
	dma_addr_t res_dma;
};

/* Borrow a free hardware queue as a kernel queue for one run. */
static int atst_claim(struct hmmdev_atstest *t)
{
	int hwq, ret;

	hwq = hmmdev_hwq_claim(t->hd, &t->q);
	if (hwq < 0)
		return hwq;
	ret = hmmdev_kq_init(t->hd, &t->kq);
	if (!ret)
		ret = hmmdev_kq_start(&t->kq, hwq, HMMDEV_MSIX_VEC_FAULT);
	if (ret) {
		hmmdev_kq_fini(&t->kq);
		hmmdev_hwq_unclaim(t->hd, hwq);
	}
	return ret;
}

static void atst_release(struct hmmdev_atstest *t)
{
	hmmdev_kq_stop(&t->kq);
	hmmdev_kq_fini(&t->kq);
	hmmdev_hwq_unclaim(t->hd, t->kq.hwq);
}

/* The device copies one page from @src (a DMA address) to t->res. Status. */
static int atst_read(struct hmmdev_atstest *t, dma_addr_t src, u32 *status)
{
	memset(t->res, 0, PAGE_SIZE);
	*t->sg = (struct hmmdev_hw_sg_entry) {
		.src = src, .dst = t->res_dma, .len = PAGE_SIZE,
	};
	return hmmdev_kq_sg_copy(&t->kq, t->sg_dma, 1, ATST_TIMEOUT_US, status, NULL);
}

/* The device copies one page from t->res to @dst (a DMA address).  Status. */
static int atst_write_page(struct hmmdev_atstest *t, dma_addr_t dst, u32 *status)
{
	*t->sg = (struct hmmdev_hw_sg_entry) {
		.src = t->res_dma, .dst = dst, .len = PAGE_SIZE,
	};
	return hmmdev_kq_sg_copy(&t->kq, t->sg_dma, 1, ATST_TIMEOUT_US, status, NULL);
}

static bool atst_all(const u8 *p, u8 v)
{
	return p[0] == v && !memcmp(p, p + 1, PAGE_SIZE - 1);
}

static void atst_stale(struct hmmdev_atstest *t)
{
	struct device *dev = &t->hd->pdev->dev;
	struct page *a = alloc_page(GFP_KERNEL), *b = alloc_page(GFP_KERNEL);
	dma_addr_t ia, ib = DMA_MAPPING_ERROR;
	int tries = 0;
	u32 st;

	if (!a || !b) {
		snprintf(t->result, sizeof(t->result), "stale: FAIL no memory\n");
		goto out;
	}
	memset(page_address(a), ATST_PAT_A, PAGE_SIZE);
	memset(page_address(b), ATST_PAT_B, PAGE_SIZE);
	ia = dma_map_page(dev, a, 0, PAGE_SIZE, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, ia)) {
		snprintf(t->result, sizeof(t->result), "stale: FAIL map A\n");
		goto out;
	}
	if (atst_read(t, ia, &st) || (st & HMMDEV_CS_CODE_MASK) ||
	    !atst_all(t->res, ATST_PAT_A)) {
		dma_unmap_page(dev, ia, PAGE_SIZE, DMA_TO_DEVICE);
		snprintf(t->result, sizeof(t->result),
			 "stale: FAIL first read status 0x%x byte 0x%02x\n", st, t->res[0]);
		goto out;
	}
	/*
	 * Strict mode: the unmap invalidates the IOTLB and the device TLB
	 * before it returns, and the per-CPU IOVA cache hands the IOVA back
	 * at once (same CPU).  Lazy mode: the IOVA waits in the flush queue
	 * until the deferred invalidation, so it comes back only later.
	 */
	migrate_disable();
	dma_unmap_page(dev, ia, PAGE_SIZE, DMA_TO_DEVICE);
	for (tries = 1; tries <= ATST_REUSE_TRIES; tries++) {
		ib = dma_map_page(dev, b, 0, PAGE_SIZE, DMA_TO_DEVICE);
		if (dma_mapping_error(dev, ib) || ib == ia)
			break;
		dma_unmap_page(dev, ib, PAGE_SIZE, DMA_TO_DEVICE);
		ib = DMA_MAPPING_ERROR;
		if (tries == 1)
			migrate_enable();	/* the freed IOVA may sit in another CPU's cache */
		msleep(20);
	}
	if (tries == 1)
		migrate_enable();
	if (dma_mapping_error(dev, ib)) {
		snprintf(t->result, sizeof(t->result),
			 "stale: skip IOVA not reused (0x%llx, %d tries)\n", (u64)ia, tries - 1);
		goto out;
	}
	if (atst_read(t, ib, &st) || (st & HMMDEV_CS_CODE_MASK)) {
		snprintf(t->result, sizeof(t->result), "stale: FAIL second read status 0x%x\n", st);
	} else if (atst_all(t->res, ATST_PAT_B)) {
		snprintf(t->result, sizeof(t->result),
			 "stale: ok iova 0x%llx reused after %d tries, device saw the new page\n",
			 (u64)ia, tries);
	} else {
		snprintf(t->result, sizeof(t->result),
			 "stale: FAIL iova 0x%llx: device saw byte 0x%02x (old page 0x%02x)\n",
			 (u64)ia, t->res[0], ATST_PAT_A);
	}
	dma_unmap_page(dev, ib, PAGE_SIZE, DMA_TO_DEVICE);
out:
	if (a)
		__free_page(a);
	if (b)
		__free_page(b);
}

static void atst_badiova(struct hmmdev_atstest *t)
{
	u32 st;

	if (atst_read(t, ATST_BAD_IOVA, &st))
		snprintf(t->result, sizeof(t->result), "badiova: FAIL timeout\n");
	else if ((st & HMMDEV_CS_CODE_MASK) == HMMDEV_ERR_DMA)
		snprintf(t->result, sizeof(t->result),
			 "badiova: ok iova 0x%llx status 0x%x\n", ATST_BAD_IOVA, st);
	else
		snprintf(t->result, sizeof(t->result),
			 "badiova: FAIL iova 0x%llx status 0x%x\n", ATST_BAD_IOVA, st);
}

static void atst_repeat(struct hmmdev_atstest *t, unsigned int n)
{
	struct device *dev = &t->hd->pdev->dev;
	struct page *a = alloc_page(GFP_KERNEL);
	unsigned int i;
	dma_addr_t ia;
	u32 st = 0;

	if (!a) {
		snprintf(t->result, sizeof(t->result), "repeat: FAIL no memory\n");
		return;
	}
	memset(page_address(a), ATST_PAT_A, PAGE_SIZE);
	ia = dma_map_page(dev, a, 0, PAGE_SIZE, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, ia)) {
		snprintf(t->result, sizeof(t->result), "repeat: FAIL map\n");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (atst_read(t, ia, &st) || (st & HMMDEV_CS_CODE_MASK) ||
		    !atst_all(t->res, ATST_PAT_A))
			break;
	dma_unmap_page(dev, ia, PAGE_SIZE, DMA_TO_DEVICE);
	if (i == n)
		snprintf(t->result, sizeof(t->result), "repeat: ok %u reads of iova 0x%llx\n",
			 n, (u64)ia);
	else
		snprintf(t->result, sizeof(t->result), "repeat: FAIL read %u status 0x%x\n", i, st);
out:
	__free_page(a);
}

static void atst_writeonly(struct hmmdev_atstest *t)
{
	struct device *dev = &t->hd->pdev->dev;
	struct page *a = alloc_page(GFP_KERNEL);
	dma_addr_t ia;
	u32 st = 0;
	int ret;

	if (!a) {
		snprintf(t->result, sizeof(t->result), "writeonly: FAIL no memory\n");
		return;
	}
	memset(page_address(a), 0, PAGE_SIZE);
	memset(t->res, ATST_PAT_B, PAGE_SIZE);
	ia = dma_map_page(dev, a, 0, PAGE_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, ia)) {
		snprintf(t->result, sizeof(t->result), "writeonly: FAIL map\n");
		goto out;
	}
	ret = atst_write_page(t, ia, &st);
	dma_unmap_page(dev, ia, PAGE_SIZE, DMA_FROM_DEVICE);
	if (ret || (st & HMMDEV_CS_CODE_MASK))
		snprintf(t->result, sizeof(t->result),
			 "writeonly: FAIL write to iova 0x%llx status 0x%x\n", (u64)ia, st);
	else if (!atst_all(page_address(a), ATST_PAT_B))
		snprintf(t->result, sizeof(t->result),
			 "writeonly: FAIL iova 0x%llx: the page holds 0x%02x\n", (u64)ia,
			 *(u8 *)page_address(a));
	else
		snprintf(t->result, sizeof(t->result),
			 "writeonly: ok iova 0x%llx written by the device\n", (u64)ia);
out:
	__free_page(a);
}

static ssize_t atst_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct hmmdev_atstest *t = file->private_data;
	char cmd[32];
	unsigned int n;
	int ret;

	if (len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = 0;
	strim(cmd);

	mutex_lock(&t->lock);
	ret = atst_claim(t);
	if (ret) {
		snprintf(t->result, sizeof(t->result), "%s: skip no free queue (%d)\n", cmd, ret);
		goto unlock;
	}
	if (!strcmp(cmd, "stale"))
		atst_stale(t);
	else if (!strcmp(cmd, "badiova"))
		atst_badiova(t);
	else if (!strcmp(cmd, "writeonly"))
		atst_writeonly(t);
	else if (sscanf(cmd, "repeat %u", &n) == 1 && n >= 1 && n <= 100000)
		atst_repeat(t, n);
	else
		ret = -EINVAL;
	atst_release(t);
unlock:
	mutex_unlock(&t->lock);
	return ret ? ret : len;
}

static ssize_t atst_read_result(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct hmmdev_atstest *t = file->private_data;
	ssize_t ret;

	mutex_lock(&t->lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, t->result, strlen(t->result));
	mutex_unlock(&t->lock);
	return ret;
}

static const struct file_operations atst_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = atst_read_result,
	.write = atst_write,
	.llseek = default_llseek,
};

/**
 * hmmdev_atstest_add() - create the ats_selftest debugfs file
 * @hd: the device, its debugfs directory created
 *
 * Memory is device-managed: it goes when the driver unbinds, after the
 * debugfs directory (and any run in progress) is gone.
 */
void hmmdev_atstest_add(struct hmmdev *hd)
{
	struct device *dev = &hd->pdev->dev;
	struct hmmdev_atstest *t;

	if (!hd->debugfs)
		return;
	t = devm_kzalloc(dev, sizeof(*t), GFP_KERNEL);
	if (!t)
		return;
	t->sg = dmam_alloc_coherent(dev, HMMDEV_SG_ENTRY_SIZE, &t->sg_dma, GFP_KERNEL);
	t->res = dmam_alloc_coherent(dev, PAGE_SIZE, &t->res_dma, GFP_KERNEL);
	if (!t->sg || !t->res)
		return;
	t->hd = hd;
	mutex_init(&t->lock);
	t->ctx.asid = UINT_MAX;		/* matches no fault record */
	t->q.ctx = &t->ctx;
	t->q.dead = true;
	spin_lock_init(&t->q.lock);
	mutex_init(&t->q.submit_lock);
	init_waitqueue_head(&t->q.wq);
	snprintf(t->result, sizeof(t->result), "none: not run\n");
	debugfs_create_file("ats_selftest", 0600, hd->debugfs, t, &atst_fops);
}
