// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: migration between system and device memory: the ioctls
 * (migrate_vma_*), migrate-on-device-fault, and a CPU fault on a
 * device-private page (migrate_to_ram).
 */
#include <linux/dma-mapping.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/iopoll.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/scatterlist.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include "dmem/hmmdev_dmem.h"
#include "obs/hmmdev_trace.h"

#define HMMDEV_FAULT_MIGRATE_PAGES	16	/* window of a CPU fault */

/*
 * Get up to @n device pages for @ctx, evicting least recently used pages when
 * device memory is full.  Return: how many (refcount 0, not yet initialized).
 */
static unsigned long dmem_alloc(struct hmmdev *hd, struct hmmdev_ctx *ctx,
				struct page **pages, unsigned long n)
{
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned long got, tries;

	got = hmmdev_dmem_take(dm, pages, n, ctx);
	for (tries = 0; got < n && tries < 4; tries++) {
		hmmdev_dmem_evict_lru(hd, n - got);
		got += hmmdev_dmem_take(dm, pages + got, n - got, ctx);
	}
	return got;
}

/* Can migrate_vma move this VMA's pages at all? */
static bool dmem_vma_migratable(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && !is_vm_hugetlb_page(vma) &&
	       !(vma->vm_flags & VM_SPECIAL) && !vma_is_dax(vma);
}

/* One migrate_vma round over [start, end) of @vma, at most HMMDEV_MIGRATE_PAGES. */
static int dmem_migrate_chunk(struct hmmdev_ctx *ctx, struct vm_area_struct *vma,
			      u64 start, u64 end, bool to_dev, unsigned long *src,
			      unsigned long *dst, struct page **pool, u64 *migrated,
			      u64 *skipped)
{
	struct hmmdev *hd = ctx->hd;
	unsigned long n = (end - start) >> PAGE_SHIFT, npool = 0, moved, inv, cpages;
	struct migrate_vma args = {
		.vma = vma,
		.start = start,
		.end = end,
		.src = src,
		.dst = dst,
		/* owner = context: the notifier leaves this context's PTEs to us */
		.pgmap_owner = to_dev ? (void *)ctx : (void *)hd,
		.flags = to_dev ? MIGRATE_VMA_SELECT_SYSTEM :
			 hd->dmem->coherent ? MIGRATE_VMA_SELECT_DEVICE_COHERENT :
			 MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	u64 t0;
	int ret;

	if (to_dev) {
		t0 = ktime_get_ns();
		npool = dmem_alloc(hd, ctx, pool, n);
		hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_ALLOC, t0);
		if (!npool) {
			*skipped += n;	/* device memory exhausted */
			return 0;
		}
	}
	t0 = ktime_get_ns();
	ret = migrate_vma_setup(&args);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_SETUP, t0);
	if (ret)
		goto out;
	cpages = args.cpages;
	t0 = ktime_get_ns();
	if (to_dev) {
		/*
		 * The ordering that makes skipping our own notifications safe:
		 * the source pages are unmapped and locked now; remove the
		 * device's translations of them before the copy reads them.
		 */
		mutex_lock(&ctx->lock);
		inv = hmmdev_pt_invalidate(ctx, start, end);
		mutex_unlock(&ctx->lock);
		trace_hmmdev_invalidate(ctx->asid, start, end, MMU_NOTIFY_MIGRATE, inv);
		hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_INVALIDATE, t0);
		t0 = ktime_get_ns();
		hmmdev_dmem_copy_to_dev(hd, &args, pool, &npool);
	} else {
		hmmdev_dmem_copy_to_sys(hd, src, dst, n, vma, start);
	}
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_COPY, t0);
	t0 = ktime_get_ns();
	migrate_vma_pages(&args);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_PAGES, t0);
	moved = hmmdev_dmem_moved(src, dst, n);
	t0 = ktime_get_ns();
	migrate_vma_finalize(&args);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_FINALIZE, t0);
	*migrated += moved;
	*skipped += cpages - moved;
	trace_hmmdev_migrate(ctx->asid, start, end, to_dev, moved);
out:
	while (npool)
		hmmdev_dmem_put_free(hd->dmem, pool[--npool]);
	return ret;
}

static int dmem_migrate_range(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			      bool strict, unsigned long *src, unsigned long *dst,
			      struct page **pool, u64 *migrated, u64 *skipped);

/* dmem_migrate_range() with scratch arrays of its own. */
static int dmem_migrate_alloc(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			      bool strict, u64 *migrated, u64 *skipped)
{
	unsigned long *src, *dst;
	struct page **pool;
	int ret = -ENOMEM;

	*migrated = 0;
	*skipped = 0;
	if (!ctx->hd->dmem->enabled)
		return -EOPNOTSUPP;
	src = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*src), GFP_KERNEL);
	dst = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dst), GFP_KERNEL);
	pool = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*pool), GFP_KERNEL);
	if (src && dst && pool)
		ret = dmem_migrate_range(ctx, start, end, to_dev, strict, src, dst, pool,
					 migrated, skipped);
	kvfree(src);
	kvfree(dst);
	kvfree(pool);
	return ret;
}

/**
 * hmmdev_dmem_migrate() - migrate a VA range of a context's process
 * @ctx: the context (current->mm is its mm)
 * @start: first VA, page aligned
 * @end: VA after the last, page aligned
 * @to_dev: to device memory, else to system memory
 * @migrated: out: pages moved
 * @skipped: out: pages that could not be moved: file-backed, shmem,
 *	hugetlb, DAX and special mappings, busy or pinned pages, and pages
 *	for which no device memory could be freed
 *
 * Best effort: pages already where they should be count in neither.
 *
 * Return: 0, -EFAULT (a hole in the range), -EINTR (fatal signal),
 * -ENODEV (device going away), -EOPNOTSUPP (no device memory), -ENOMEM.
 */
int hmmdev_dmem_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			u64 *migrated, u64 *skipped)
{
	return dmem_migrate_alloc(ctx, start, end, to_dev, false, migrated, skipped);
}

/**
 * hmmdev_dmem_migrate_strict() - migrate a VA range with test_hmm's VMA rules
 * @ctx: the context (current->mm is its mm)
 * @start: first VA, page aligned
 * @end: VA after the last, page aligned
 * @to_dev: to device memory, else to system memory
 * @migrated: out: pages moved
 *
 * Unlike hmmdev_dmem_migrate() a hole or a VMA without VM_READ is -EINVAL,
 * and VMAs are not filtered first: what migrate_vma_setup() refuses
 * (hugetlb, VM_SPECIAL, DAX) is its error, and pages it cannot move stay
 * where they are.  This is the contract of test_hmm's migrate ioctls, which
 * the dmirror personality (hmmdev_dmirror.c) keeps.
 *
 * Return: 0, -EINVAL, migrate_vma_setup()'s error, -EIO (device failed),
 * -ENODEV (device going away), -EOPNOTSUPP (no device memory), -ENOMEM.
 */
int hmmdev_dmem_migrate_strict(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			       u64 *migrated)
{
	u64 skipped;

	return dmem_migrate_alloc(ctx, start, end, to_dev, true, migrated, &skipped);
}

/**
 * hmmdev_dmem_fault_migrate() - migrate-on-device-fault (placement policy)
 * @ctx: the faulting context (referenced by the caller)
 * @start: first VA, page aligned
 * @end: VA after the last, page aligned
 * @to_dev: to device memory, else to system memory
 *
 * Called by the fault worker only (an ordered workqueue: one caller at a
 * time), with no driver lock held; uses the dedicated scratch arrays
 * hmmdev_dmem.fm_*, so nothing is allocated on the fault path.  Best
 * effort: the result only shows in the counters.
 */
void hmmdev_dmem_fault_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev)
{
	struct hmmdev_dmem *dm = ctx->hd->dmem;
	u64 migrated = 0, skipped = 0;

	if (!dm->enabled)
		return;
	dmem_migrate_range(ctx, start, end, to_dev, false, dm->fm_src, dm->fm_dst, dm->fm_pool,
			   &migrated, &skipped);
}

/*
 * hmmdev_dmem_migrate() (or, @strict, hmmdev_dmem_migrate_strict()) with the
 * caller's scratch arrays (HMMDEV_MIGRATE_PAGES).  Lock order: dm->users,
 * then mmap_lock.
 */
static int dmem_migrate_range(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			      bool strict, unsigned long *src, unsigned long *dst,
			      struct page **pool, u64 *migrated, u64 *skipped)
{
	struct hmmdev *hd = ctx->hd;
	struct hmmdev_dmem *dm = hd->dmem;
	struct mm_struct *mm = ctx->mm;
	struct vm_area_struct *vma;
	u64 addr, next, nonmig = 0;
	int ret = 0;

	down_read(&dm->users);
	if (dm->stopping || ctx->detached) {
		ret = -ENODEV;
		goto out_unlock;
	}
	if (READ_ONCE(hd->failed)) {
		ret = -EIO;
		goto out_unlock;
	}
	if (!mmget_not_zero(mm)) {
		ret = -EFAULT;
		goto out_unlock;
	}
	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		vma = vma_lookup(mm, addr);
		if (!vma || (strict && !(vma->vm_flags & VM_READ))) {
			ret = strict ? -EINVAL : -EFAULT;
			break;
		}
		next = min3(end, (u64)vma->vm_end, addr + HMMDEV_MIGRATE_PAGES * PAGE_SIZE);
		if (!strict && !dmem_vma_migratable(vma)) {
			/* stays (mirrored) in system memory */
			if (to_dev)
				nonmig += (next - addr) >> PAGE_SHIFT;
			continue;
		}
		ret = dmem_migrate_chunk(ctx, vma, addr, next, to_dev, src, dst, pool,
					 migrated, skipped);
		if (ret)
			break;
	}
	mmap_read_unlock(mm);
	mmput(mm);
	*skipped += nonmig;
	hmmdev_count(ctx, to_dev ? HMMDEV_STAT_MIGRATED_TO_DEV : HMMDEV_STAT_MIGRATED_TO_SYS,
		     *migrated);
	hmmdev_count(ctx, HMMDEV_STAT_MIGRATE_SKIPPED, *skipped);
out_unlock:
	up_read(&dm->users);
	return ret;
}

/**
 * hmmdev_dmem_migrate_to_ram() - dev_pagemap_ops.migrate_to_ram: a CPU fault
 * @vmf: the fault, on one of our device-private pages
 *
 * Return: 0, VM_FAULT_SIGBUS (contents lost) or VM_FAULT_OOM.
 */
vm_fault_t hmmdev_dmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmmdev *hd = hmmdev_dmem_page_hd(vmf->page);
	struct vm_area_struct *vma = vmf->vma;
	unsigned long src[HMMDEV_FAULT_MIGRATE_PAGES], dst[HMMDEV_FAULT_MIGRATE_PAGES];
	unsigned long start, end, moved;
	struct migrate_vma args = {
		.vma = vma,
		.src = src,
		.dst = dst,
		.pgmap_owner = hd,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	int ret;

	/*
	 * No driver lock here: the notifier callback (ctx->lock) runs inside
	 * migrate_vma_setup(), and copy_lock is never held across anything
	 * that faults.
	 */
	if (READ_ONCE(hd->dmem->lost))
		return VM_FAULT_SIGBUS;		/* its contents are gone */
	start = ALIGN_DOWN(vmf->address, HMMDEV_FAULT_MIGRATE_PAGES * PAGE_SIZE);
	end = start + HMMDEV_FAULT_MIGRATE_PAGES * PAGE_SIZE;
	args.start = max(start, vma->vm_start);
	args.end = min(end, vma->vm_end);
	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	ret = hmmdev_dmem_copy_to_sys(hd, src, dst, (args.end - args.start) >> PAGE_SHIFT,
				      vma, args.start);
	migrate_vma_pages(&args);
	moved = hmmdev_dmem_moved(src, dst, (args.end - args.start) >> PAGE_SHIFT);
	migrate_vma_finalize(&args);
	if (moved) {
		atomic64_add(moved, &hd->stats.v[HMMDEV_STAT_MIGRATED_TO_SYS]);
		trace_hmmdev_migrate(U32_MAX, args.start, args.end, false, moved);
	}
	if (ret == -EIO)
		return VM_FAULT_SIGBUS;
	if (ret == -ENOMEM)
		return VM_FAULT_OOM;
	return 0;
}

