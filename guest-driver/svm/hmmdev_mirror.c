// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: mirroring a process address space (HMM).
 */

/**
 * DOC: Mirror loop
 *
 * hmmdev_mirror_loop() is the one place the canonical HMM loop
 * (Documentation/mm/hmm.rst, lib/test_hmm.c) is written:
 *
 *   mmu_interval_read_begin -> hmm_range_fault -> the pages the device
 *   cannot use as they are made usable (mirror_grant(): forward progress)
 *   -> (caller's commit: lock -> mmu_interval_read_retry -> use the pages
 *   -> unlock), again on -EBUSY or -EAGAIN, until HMM_RANGE_DEFAULT_TIMEOUT.
 *
 * Its users: the device-fault mirror (hmmdev_mirror_fault(), whose commit is
 * the map transaction of hmmdev_map.c), and the test_hmm personality's
 * snapshots and exclusive access (frontend/hmmdev_dmirror_snap.c).  The notifier callback
 * below takes ctx->lock, records the new sequence and removes the device
 * mappings of the range, waiting for the device TLB invalidation before it
 * returns; a commit holding ctx->lock therefore sees either the old mappings
 * and the old sequence, or neither.
 */
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include "svm/hmmdev_svm.h"
#include "obs/hmmdev_trace.h"

static bool hmmdev_mirror_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct hmmdev_ctx *ctx = container_of(mni, struct hmmdev_ctx, notifier);
	unsigned long pages;

	/*
	 * make_device_exclusive() on behalf of this context: the CPU PTE
	 * becomes a device-exclusive entry for the very page the device maps,
	 * so there is nothing to undo, and the caller's sequence check must
	 * not see its own request (nouveau_svm does the same).
	 */
	if (range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == ctx)
		return true;
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&ctx->lock);
	else if (!mutex_trylock(&ctx->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	WRITE_ONCE(ctx->mirror_gen, ctx->mirror_gen + 1);	/* see hmmdev_fault_stuck() */
	/*
	 * This context's own migrations to device memory clear and invalidate
	 * the device PTEs of the pages they move themselves, after
	 * migrate_vma_setup() and before the copy (dmem/hmmdev_migrate.c): skip that
	 * work here.  The sequence still moves on, so a device fault that
	 * looked at the old pages retries.
	 */
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == ctx) {
		mutex_unlock(&ctx->lock);
		return true;
	}
	pages = hmmdev_pt_invalidate(ctx, range->start, range->end);
	mutex_unlock(&ctx->lock);
	if (pages)
		hmmdev_count(ctx, HMMDEV_STAT_PAGES_INVALIDATED, pages);
	trace_hmmdev_invalidate(ctx->asid, range->start, range->end, range->event, pages);
	return true;
}

const struct mmu_interval_notifier_ops hmmdev_mirror_ops = {
	.invalidate = hmmdev_mirror_invalidate,
};

#define POPULATE_PAGES	64	/* pages per hmm_range_fault() of a populate pass */

static bool fault_grant = true;
module_param(fault_grant, bool, 0644);
MODULE_PARM_DESC(fault_grant,
		 "for tests only: N skips the forward-progress fix-up of pages the device cannot write as hmm_range_fault() found them (a device write to our pages after fork() then faults until max_fault_rounds cancels it)");

/* One read_begin + hmm_range_fault() (or the caller's fault step). */
static int mirror_fault_once(struct hmmdev_mirror *mr)
{
	struct hmm_range *range = &mr->range;
	struct mm_struct *mm = mr->ctx->mm;
	u64 t0 = ktime_get_ns();
	int ret;

	if (mr->req)
		memcpy(range->hmm_pfns, mr->req,
		       ((range->end - range->start) >> PAGE_SHIFT) * sizeof(*mr->req));
	range->notifier_seq = mmu_interval_read_begin(range->notifier);
	mmap_read_lock(mm);
	ret = mr->fault ? mr->fault(mr) : hmm_range_fault(range);
	mmap_read_unlock(mm);
	hmmdev_count_ns(mr->ctx, HMMDEV_STAT_NS_HMM_RANGE_FAULT, t0);
	return ret;
}

/*
 * Forward progress: the device must be able to use every page it needs as
 * the loop found it.  hmm_range_fault() does not fault a device-private page
 * whose owner is the caller (our own device memory), whatever the request:
 * it reports the PFN, writable or not.  After fork() such a page is
 * read-only in both processes; mapped read-only, a device write faults
 * again, gets the same answer, and so on forever.  So the pages the device
 * needs written that came back without write permission are faulted once
 * more as not ours (dev_private_owner = NULL): the core then calls our
 * migrate_to_ram(), and the write fault breaks copy-on-write.  No driver
 * lock is held.
 *
 * Return: 0 when every needed page is usable as it is; -EAGAIN after pages
 * were faulted (look the range up again); or hmm_range_fault()'s error
 * (-EPERM: the CPU may not write the page either).
 */
static int mirror_grant(struct hmmdev_mirror *mr)
{
	const unsigned long need = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	unsigned long npages = (mr->range.end - mr->range.start) >> PAGE_SHIFT, i, j;
	unsigned long *pfns = mr->range.hmm_pfns;
	struct hmm_range fix = {
		.notifier = mr->range.notifier,
		.default_flags = need,
		.dev_private_owner = NULL,
	};
	int ret = 0;

	if (!mr->req || mr->fault || !READ_ONCE(fault_grant))
		return 0;	/* nothing asked for, or the caller's own fault step */
	for (i = 0; i < npages && !ret; i = j) {
		for (; i < npages; i++)
			if ((mr->req[i] & need) == need && !(pfns[i] & HMM_PFN_WRITE))
				break;
		for (j = i; j < npages; j++)
			if ((mr->req[j] & need) != need || (pfns[j] & HMM_PFN_WRITE))
				break;
		if (i == j)
			break;
		fix.start = mr->range.start + i * PAGE_SIZE;
		fix.end = mr->range.start + j * PAGE_SIZE;
		fix.hmm_pfns = pfns + i;	/* looked up again afterwards */
		do {
			fix.notifier_seq = mmu_interval_read_begin(fix.notifier);
			mmap_read_lock(mr->ctx->mm);
			ret = hmm_range_fault(&fix);
			mmap_read_unlock(mr->ctx->mm);
		} while (ret == -EBUSY);
		hmmdev_count(mr->ctx, HMMDEV_STAT_GRANT_FAULTS, j - i);
		ret = ret ? ret : -EAGAIN;
	}
	return ret;
}

/*
 * Fault in the requested pages of the range in small pieces, committing
 * nothing.  hmm_range_fault() restarts whenever the range is invalidated,
 * and faulting pages in (copy-on-write of the zero page, for one)
 * invalidates them one by one: over a large window every restart walks it
 * all again, which is quadratic.  After this pass the window is walked once.
 * Each piece gets the time test_hmm gives its 64 pages.
 */
static int mirror_populate(const struct hmmdev_mirror *mr)
{
	unsigned long npages = (mr->range.end - mr->range.start) >> PAGE_SHIFT, off, n;
	struct hmmdev_mirror piece = { .range = mr->range, .ctx = mr->ctx, .fault = mr->fault };
	int ret = 0;

	for (off = 0; off < npages && !ret; off += n) {
		n = min_t(unsigned long, POPULATE_PAGES, npages - off);
		piece.range.start = mr->range.start + off * PAGE_SIZE;
		piece.range.end = piece.range.start + n * PAGE_SIZE;
		piece.range.hmm_pfns = mr->range.hmm_pfns + off;
		piece.req = mr->req ? mr->req + off : NULL;
		ret = hmmdev_mirror_loop(&piece);
	}
	return ret;
}

/**
 * hmmdev_mirror_loop() - the canonical HMM loop over one range
 * @mr: the range (notifier, bounds, pfns, owner), the context, and the
 *	optional fault and commit steps
 *
 * See DOC: Mirror loop.  The caller holds a reference on the mm.  A range
 * longer than POPULATE_PAGES that keeps being invalidated while it faults
 * gets one populate pass in small pieces, then the whole range again.
 * Context: process, no driver lock held (hmm_range_fault() may fault pages
 * in, and reclaim takes ctx->lock through the notifier).
 *
 * Return: 0, the fault step's error (hmm_range_fault(): -EFAULT, -EPERM,
 * -ENOMEM), the commit's, or -EBUSY after HMM_RANGE_DEFAULT_TIMEOUT of
 * invalidations.
 */
int hmmdev_mirror_loop(struct hmmdev_mirror *mr)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long npages = (mr->range.end - mr->range.start) >> PAGE_SHIFT;
	bool populated = false;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		ret = mirror_fault_once(mr);
		if (ret == -EBUSY && !populated && npages > POPULATE_PAGES) {
			populated = true;
			ret = mirror_populate(mr);
			if (ret)
				return ret;
			timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
			continue;	/* now the whole range, once */
		}
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		ret = mirror_grant(mr);
		if (ret == -EAGAIN)
			continue;
		if (ret || !mr->commit)
			return ret;
		ret = mr->commit(mr);
		if (ret != -EAGAIN)
			return ret;
	}
}

/* The device-fault mirror: the loop, committed by a map transaction. */
struct mirror_fault {
	struct hmmdev_mirror mr;
	struct hmmdev_map map;
};

static int mirror_fault_commit(struct hmmdev_mirror *mr)
{
	struct mirror_fault *mf = container_of(mr, struct mirror_fault, mr);

	mf->map.seq = mr->range.notifier_seq;
	return hmmdev_map_commit(&mf->map);
}

/**
 * hmmdev_mirror_fault() - mirror a VA range into the device page tables
 * @ctx: the context
 * @start: first VA of the window, page aligned
 * @end: VA after the window
 * @req: per page HMM_PFN_REQ_FAULT / HMM_PFN_REQ_WRITE: the pages the
 *	device needs; the other pages of the window are mapped too when the CPU
 *	already has them (no fault), so neighbours do not fault later
 * @pfns: scratch, as many entries as @req
 * @dma: scratch, as many entries as @req
 * @miss: out, added to when not NULL: needed pages left without a leaf
 *
 * Context: process, no driver lock held.
 *
 * Return: 0, or the error of hmm_range_fault(): -EFAULT (no access),
 * -EPERM (write to read-only memory), -EBUSY (kept being invalidated),
 * -ENOMEM; -EIO (DMA mapping), -ENODEV (device removed).
 */
int hmmdev_mirror_fault(struct hmmdev_ctx *ctx, u64 start, u64 end,
			const unsigned long *req, unsigned long *pfns,
			dma_addr_t *dma, struct hmmdev_map_miss *miss)
{
	struct mirror_fault mf = {
		.mr = {
			.range = {
				.notifier = &ctx->notifier,
				.start = start,
				.end = end,
				.hmm_pfns = pfns,
				.pfn_flags_mask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
				.dev_private_owner = ctx->hd,
			},
			.ctx = ctx,
			.req = req,
			.commit = mirror_fault_commit,
		},
		.map = {
			.ctx = ctx,
			.start = start,
			.npages = (end - start) >> PAGE_SHIFT,
			.pfns = pfns,
			.req = req,
			.dma = dma,
			.notifier = &ctx->notifier,
		},
	};
	u64 t0 = ktime_get_ns();
	int ret;

	if (!mmget_not_zero(ctx->mm))
		return -EFAULT;		/* the process is exiting */
	ret = hmmdev_mirror_loop(&mf.mr);
	mmput(ctx->mm);
	if (miss && mf.map.miss.pages) {
		miss->pages += mf.map.miss.pages;
		miss->err = mf.map.miss.err;
	}
	hmmdev_count(ctx, HMMDEV_STAT_PAGES_FAULTED, mf.map.mapped);
	hmmdev_count(ctx, HMMDEV_STAT_HUGE_MAPPINGS, mf.map.huge);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIRROR_FAULT, t0);
	return ret;
}
