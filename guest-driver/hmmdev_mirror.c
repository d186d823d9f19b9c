// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: mirroring a process address space (HMM).
 *
 * hmmdev_mirror_fault() is the canonical HMM loop (Documentation/mm/hmm.rst):
 * mmu_interval_read_begin -> hmm_range_fault -> DMA-map -> ctx->lock ->
 * mmu_interval_read_retry -> write PTEs.  The notifier callback takes the
 * same lock, records the new sequence and removes the device mappings of
 * the range, waiting for the device TLB invalidation before it returns.
 */
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/sched/mm.h>
#include "hmmdev_drv.h"
#include "hmmdev_trace.h"

#define HUGE_PAGES	(1U << (HMMDEV_HUGE_SHIFT - PAGE_SHIFT))

static bool hmmdev_mirror_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct hmmdev_ctx *ctx = container_of(mni, struct hmmdev_ctx, notifier);
	unsigned long pages;

	/*
	 * make_device_exclusive_range() on behalf of this context: the CPU PTE
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
	/*
	 * This context's own migrations to device memory clear and invalidate
	 * the device PTEs of the pages they move themselves, after
	 * migrate_vma_setup() and before the copy (hmmdev_dmem.c): skip that
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

/* Can pfns[i..i+511] be one 2 MiB device PTE? */
static bool hmmdev_mirror_huge(const unsigned long *pfns, unsigned long i,
			       unsigned long npages, u64 va)
{
	unsigned long first = pfns[i] & ~HMM_PFN_FLAGS, k;

	if ((va & (SZ_2M - 1)) || i + HUGE_PAGES > npages ||
	    hmm_pfn_to_map_order(pfns[i]) < HMMDEV_HUGE_SHIFT - PAGE_SHIFT ||
	    (first & (HUGE_PAGES - 1)))
		return false;
	for (k = 1; k < HUGE_PAGES; k++) {
		if (!(pfns[i + k] & HMM_PFN_VALID) ||
		    (pfns[i + k] & ~HMM_PFN_FLAGS) != first + k ||
		    (pfns[i + k] & HMM_PFN_WRITE) != (pfns[i] & HMM_PFN_WRITE))
			return false;
	}
	return true;
}

/* Size of the mapping unit starting at page i: HUGE_PAGES or 1 (or 0: skip). */
static unsigned int hmmdev_mirror_unit(struct hmmdev *hd, const unsigned long *pfns,
				       unsigned long i, unsigned long npages, u64 va)
{
	struct page *page;

	if (!(pfns[i] & HMM_PFN_VALID) || (pfns[i] & HMM_PFN_ERROR))
		return 0;
	page = hmm_pfn_to_page(pfns[i]);
	if (hmmdev_dmem_is_ours(hd, page))
		return 1;			/* a DEVMEM leaf */
	/* another device's coherent memory is reached by DMA, peer to peer */
	if (is_zone_device_page(page) && !is_device_coherent_page(page))
		return 0;
	return hmmdev_mirror_huge(pfns, i, npages, va) ? HUGE_PAGES : 1;
}

/* Undo the DMA mappings made for a window that is not installed. */
static void hmmdev_mirror_unmap_all(struct hmmdev *hd, const unsigned long *pfns,
				    dma_addr_t *dma, u64 start, unsigned long npages)
{
	struct device *dev = &hd->pdev->dev;
	unsigned long i;
	unsigned int n;

	for (i = 0; i < npages; i++) {
		if (dma[i] == DMA_MAPPING_ERROR)
			continue;
		n = hmmdev_mirror_unit(hd, pfns, i, npages, start + i * PAGE_SIZE);
		dma_unmap_page(dev, dma[i], max(n, 1U) * PAGE_SIZE, DMA_BIDIRECTIONAL);
		dma[i] = DMA_MAPPING_ERROR;
	}
}

#define POPULATE_PAGES	64	/* pages per hmm_range_fault() of a populate pass */

/*
 * Fault in the requested pages of [start, end) in small pieces, without
 * mapping anything.  hmm_range_fault() restarts whenever the range is
 * invalidated, and faulting pages in (copy-on-write of the zero page, for
 * one) invalidates them one by one: over a large window every restart
 * walks it all again, which is quadratic.  After this pass the window is
 * walked once.
 */
static int hmmdev_mirror_populate(struct hmmdev_ctx *ctx, u64 start, u64 end,
				  const unsigned long *req, unsigned long *pfns)
{
	unsigned long timeout;
	struct hmm_range range = {
		.notifier = &ctx->notifier,
		.pfn_flags_mask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
		.dev_private_owner = ctx->hd,
	};
	unsigned long off, n;
	int ret = 0;

	for (off = 0; start + off * PAGE_SIZE < end && !ret; off += n) {
		n = min_t(unsigned long, POPULATE_PAGES, ((end - start) >> PAGE_SHIFT) - off);
		range.start = start + off * PAGE_SIZE;
		range.end = range.start + n * PAGE_SIZE;
		range.hmm_pfns = pfns + off;
		/* each piece gets the time test_hmm gives its 64 pages */
		timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		do {
			if (time_after(jiffies, timeout))
				return -EBUSY;
			memcpy(range.hmm_pfns, req + off, n * sizeof(*pfns));
			range.notifier_seq = mmu_interval_read_begin(&ctx->notifier);
			mmap_read_lock(ctx->mm);
			ret = hmm_range_fault(&range);
			mmap_read_unlock(ctx->mm);
		} while (ret == -EBUSY);
	}
	return ret;
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
 *
 * Writable pages are mapped with WRITE and ATOMIC: device atomics on
 * system memory are host atomics on the mirrored page (PCIe AtomicOp
 * style), atomic with respect to CPU atomics.
 *
 * Return: 0, or the error of hmm_range_fault(): -EFAULT (no access),
 * -EPERM (write to read-only memory), -EBUSY (kept being invalidated),
 * -ENOMEM, -EIO (DMA mapping), -ENODEV (device removed).
 */
int hmmdev_mirror_fault(struct hmmdev_ctx *ctx, u64 start, u64 end,
			const unsigned long *req, unsigned long *pfns,
			dma_addr_t *dma)
{
	unsigned long npages = (end - start) >> PAGE_SHIFT, i, timeout;
	struct device *dev = &ctx->hd->pdev->dev;
	struct mm_struct *mm = ctx->mm;
	struct hmm_range range = {
		.notifier = &ctx->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.pfn_flags_mask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
		.dev_private_owner = ctx->hd,
	};
	unsigned long faulted = 0, huge = 0;
	bool need_inv, populated = false;
	u64 t0, t_start = ktime_get_ns();
	int ret;

	if (!mmget_not_zero(mm))
		return -EFAULT;		/* the process is exiting */
	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
again:
	if (time_after(jiffies, timeout)) {
		ret = -EBUSY;
		goto out;
	}
	ret = hmmdev_pt_reserve(&ctx->pt, start, end);
	if (ret)
		goto out;
	memcpy(pfns, req, npages * sizeof(*pfns));
	range.notifier_seq = mmu_interval_read_begin(&ctx->notifier);
	t0 = ktime_get_ns();
	mmap_read_lock(mm);
	ret = hmm_range_fault(&range);
	mmap_read_unlock(mm);
	if (ret == -EBUSY && !populated && npages > POPULATE_PAGES) {
		populated = true;
		ret = hmmdev_mirror_populate(ctx, start, end, req, pfns);
		if (!ret) {
			ret = -EBUSY;	/* now the whole window, once */
			timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		}
	}
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_HMM_RANGE_FAULT, t0);
	if (ret == -EBUSY)
		goto again;
	if (ret)
		goto out;

	/* DMA-map, outside the lock, what the device does not map already */
	t0 = ktime_get_ns();
	for (i = 0; i < npages; ) {
		u64 va = start + i * PAGE_SIZE, pte;
		unsigned int n = hmmdev_mirror_unit(ctx->hd, pfns, i, npages, va), order;
		struct page *page;

		dma[i] = DMA_MAPPING_ERROR;
		if (!n) {
			i++;
			continue;
		}
		page = hmm_pfn_to_page(pfns[i]);
		if (hmmdev_dmem_is_ours(ctx->hd, page)) {
			i++;		/* our device memory: no DMA mapping */
			continue;
		}
		if (hmmdev_pt_lookup(&ctx->pt, va, &order, &pte) != page ||
		    (order != 0) != (n != 1)) {
			dma[i] = dma_map_page(dev, page, 0, n * PAGE_SIZE, DMA_BIDIRECTIONAL);
			if (dma_mapping_error(dev, dma[i]))
				dma[i] = DMA_MAPPING_ERROR;
		}
		while (--n)
			dma[++i] = DMA_MAPPING_ERROR;
		i++;
	}
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_DMA_MAP, t0);

	t0 = ktime_get_ns();
	mutex_lock(&ctx->lock);
	if (ctx->detached) {
		ret = -ENODEV;
		goto unlock_unmap;
	}
	if (mmu_interval_read_retry(&ctx->notifier, range.notifier_seq)) {
		mutex_unlock(&ctx->lock);
		hmmdev_mirror_unmap_all(ctx->hd, pfns, dma, start, npages);
		goto again;
	}
	need_inv = false;
	for (i = 0; i < npages; ) {
		u64 va = start + i * PAGE_SIZE;
		unsigned int n = hmmdev_mirror_unit(ctx->hd, pfns, i, npages, va), k;
		u64 perm;
		int r;

		if (!n) {
			i++;
			continue;
		}
		perm = pfns[i] & HMM_PFN_WRITE ? HMMDEV_PTE_WRITE | HMMDEV_PTE_ATOMIC : 0;
		/*
		 * A page the device faulted on is used right after the REPLAY:
		 * a new leaf gets ACCESSED now, which spares the device's walk
		 * its A-bit write (with ATS, a translation round trip for write
		 * access to the table page).  DIRTY stays the device's.
		 */
		if (req[i] & HMM_PFN_REQ_FAULT)
			perm |= HMMDEV_PTE_ACCESSED;
		r = hmmdev_pt_map(ctx, va, n == 1 ? 0 : 9, hmm_pfn_to_page(pfns[i]),
				  dma[i], perm, &need_inv);
		if (r == 1) {
			faulted += n;
			huge += n > 1;
		} else if (r == -EEXIST && n > 1) {
			/* no 2 MiB PTE here: map the block page by page */
			if (dma[i] != DMA_MAPPING_ERROR)
				dma_unmap_page(dev, dma[i], n * PAGE_SIZE, DMA_BIDIRECTIONAL);
			for (k = 0; k < n; k++) {
				u64 pk = perm & ~HMMDEV_PTE_ACCESSED;

				if (req[i + k] & HMM_PFN_REQ_FAULT)
					pk |= HMMDEV_PTE_ACCESSED;
				r = hmmdev_pt_map(ctx, va + k * PAGE_SIZE, 0,
						  hmm_pfn_to_page(pfns[i + k]),
						  DMA_MAPPING_ERROR, pk, &need_inv);
				if (r < 0)
					break;
				faulted += r;
			}
		} else if (r == 0 && dma[i] != DMA_MAPPING_ERROR) {
			dma_unmap_page(dev, dma[i], n * PAGE_SIZE, DMA_BIDIRECTIONAL);
		}
		if (r < 0 && dma[i] != DMA_MAPPING_ERROR && !(r == -EEXIST && n > 1))
			dma_unmap_page(dev, dma[i], n * PAGE_SIZE, DMA_BIDIRECTIONAL);
		dma[i] = DMA_MAPPING_ERROR;
		if (r < 0 && (pfns[i] & HMM_PFN_VALID) && (req[i] & HMM_PFN_REQ_FAULT)) {
			ret = r;
			break;
		}
		i += n;
	}
	if (i < npages)
		hmmdev_mirror_unmap_all(ctx->hd, pfns + i, dma + i, start + i * PAGE_SIZE,
					npages - i);
	if (need_inv) {
		hmmdev_invalidate(ctx->hd, HMMDEV_INV_RANGE, ctx->asid, start, end - start);
		hmmdev_count(ctx, HMMDEV_STAT_INVALIDATIONS, 1);
	}
	mutex_unlock(&ctx->lock);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_PTE_WRITE, t0);
	if (ret == -ENOMEM) {		/* the table cache ran dry: refill, retry */
		ret = 0;
		goto again;
	}
	hmmdev_count(ctx, HMMDEV_STAT_PAGES_FAULTED, faulted);
	hmmdev_count(ctx, HMMDEV_STAT_HUGE_MAPPINGS, huge);
	goto out;

unlock_unmap:
	mutex_unlock(&ctx->lock);
	hmmdev_mirror_unmap_all(ctx->hd, pfns, dma, start, npages);
out:
	mmput(mm);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIRROR_FAULT, t_start);
	return ret;
}
