// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the test_hmm personality's commands on page tables:
 * SNAPSHOT (the CPU's, as test_hmm reads them), MIGRATE_TO_DEV/_SYS with the
 * read-back of the migrated data, EXCLUSIVE and CHECK_EXCLUSIVE.  Each runs
 * the one HMM loop (hmmdev_mirror_loop()) with a commit of its own.
 */
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "frontend/hmmdev_dmirror.h"

/* A temporary notifier over the range of one snapshot (test_hmm's). */
struct dmirror_interval {
	struct mmu_interval_notifier notifier;
	struct dmirror *dmi;
};

static bool dmirror_snapshot_invalidate(struct mmu_interval_notifier *mni,
					const struct mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror_interval *di = container_of(mni, struct dmirror_interval, notifier);

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&di->dmi->snap_lock);
	else if (!mutex_trylock(&di->dmi->snap_lock))
		return false;
	/* any invalidation in the interval invalidates the whole snapshot */
	mmu_interval_set_seq(mni, cur_seq);
	mutex_unlock(&di->dmi->snap_lock);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_snapshot_ops = {
	.invalidate = dmirror_snapshot_invalidate,
};

/* A look at the CPU page tables: the mirror loop, committed under snap_lock. */
struct dmirror_snap {
	struct hmmdev_mirror mr;
	struct dmirror *dmi;
	void (*fn)(struct dmirror *dmi, struct hmm_range *range, void *arg);
	void *arg;
};

static int dmirror_snap_commit(struct hmmdev_mirror *mr)
{
	struct dmirror_snap *s = container_of(mr, struct dmirror_snap, mr);

	mutex_lock(&s->dmi->snap_lock);
	if (mmu_interval_read_retry(mr->range.notifier, mr->range.notifier_seq)) {
		mutex_unlock(&s->dmi->snap_lock);
		return -EAGAIN;
	}
	s->fn(s->dmi, &mr->range, s->arg);
	mutex_unlock(&s->dmi->snap_lock);
	return 0;
}

/*
 * hmm_range_fault() without faulting over s->mr.range (at most
 * DMIRROR_SNAP_PAGES), consistent as of one sequence of a notifier over just
 * that range; then s->fn looks at the entries under snap_lock.
 */
static int dmirror_range_snapshot(struct dmirror_snap *s)
{
	struct hmm_range *range = &s->mr.range;
	struct dmirror_interval di = { .dmi = s->dmi };
	int ret;

	range->notifier = &di.notifier;
	ret = mmu_interval_notifier_insert(range->notifier, s->dmi->ctx->mm, range->start,
					   range->end - range->start, &dmirror_snapshot_ops);
	if (ret)
		return ret;
	ret = hmmdev_mirror_loop(&s->mr);
	mmu_interval_notifier_remove(range->notifier);
	return ret;
}

/* Run dmirror_range_snapshot() over [start, end) in DMIRROR_SNAP_PAGES pieces. */
static int dmirror_snapshot_walk(struct dmirror *dmi, u64 start, u64 end,
				 void (*fn)(struct dmirror *, struct hmm_range *, void *),
				 void *arg)
{
	unsigned long pfns[DMIRROR_SNAP_PAGES] = { };	/* no stale input flags */
	struct dmirror_snap s = {
		.mr = {
			.range = {
				.hmm_pfns = pfns,
				.dev_private_owner = dmi->ctx->hd,
			},
			.ctx = dmi->ctx,
			.commit = dmirror_snap_commit,
		},
		.dmi = dmi, .fn = fn, .arg = arg,
	};
	struct mm_struct *mm = dmi->ctx->mm;
	u64 addr;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	for (addr = start; addr < end && !ret; addr = s.mr.range.end) {
		s.mr.range.start = addr;
		s.mr.range.end = min_t(u64, addr + ARRAY_SIZE(pfns) * PAGE_SIZE, end);
		ret = dmirror_range_snapshot(&s);
	}
	mmput(mm);
	return ret;
}

static unsigned char dmirror_perm(struct dmirror *dmi, unsigned long entry)
{
	struct hmmdev *hd = dmi->ctx->hd;
	unsigned char perm;
	struct page *page;

	if (entry & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(entry & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(entry);
	if (is_device_private_page(page))
		perm = hmmdev_page_pgmap(page)->owner == hd ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
						  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		perm = hmmdev_page_pgmap(page)->owner == hd ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
						  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		perm = HMM_DMIRROR_PROT_ZERO;
	else
		perm = HMM_DMIRROR_PROT_NONE;
	perm |= entry & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PMD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PUD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PUD;
	return perm;
}

/* Where SNAPSHOT's bytes go. */
struct dmirror_snap_out {
	unsigned char perm[DMIRROR_SNAP_PAGES];
	unsigned long n;
};

static void dmirror_snap_fill(struct dmirror *dmi, struct hmm_range *range, void *arg)
{
	struct dmirror_snap_out *out = arg;
	unsigned long i;

	out->n = (range->end - range->start) >> PAGE_SHIFT;
	for (i = 0; i < out->n; i++)
		out->perm[i] = dmirror_perm(dmi, range->hmm_pfns[i]);
}

/**
 * hmmdev_dmirror_snapshot() - SNAPSHOT: one HMM_DMIRROR_PROT_* byte per page
 * @dmi: the open file
 * @cmd: the request; cpages is set
 *
 * Return: 0 or a negative errno.
 */
int hmmdev_dmirror_snapshot(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 end = cmd->addr + (cmd->npages << PAGE_SHIFT), addr, next;
	char __user *uptr = u64_to_user_ptr(cmd->ptr);
	struct dmirror_snap_out out;
	int ret = 0;

	for (addr = cmd->addr; addr < end && !ret; addr = next) {
		next = min_t(u64, end, addr + DMIRROR_SNAP_PAGES * PAGE_SIZE);
		ret = dmirror_snapshot_walk(dmi, addr, next, dmirror_snap_fill, &out);
		if (ret)
			break;
		if (copy_to_user(uptr, out.perm, out.n))
			return -EFAULT;
		cmd->cpages += out.n;
		uptr += out.n;
	}
	return ret;
}

/* How many leading pages are on this device or mapped by it. */
struct dmirror_resident {
	u64 pages;
	bool gap;
};

static void dmirror_resident_count(struct dmirror *dmi, struct hmm_range *range, void *arg)
{
	struct dmirror_resident *r = arg;
	struct hmmdev_ctx *ctx = dmi->ctx;
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;
	unsigned int order;
	u64 pte;

	mutex_lock(&ctx->lock);
	for (i = 0; i < n && !r->gap; i++) {
		unsigned long e = range->hmm_pfns[i];
		struct page *page = (e & HMM_PFN_VALID) ? hmm_pfn_to_page(e) : NULL;
		u64 va = range->start + i * PAGE_SIZE;

		if (page && (hmmdev_page_is_devmem(ctx->hd, page) ||
			     (!ctx->detached &&
			      hmmdev_pt_lookup(&ctx->pt, va, &order, &pte) ==
			      (order ? compound_head(page) : page))))
			r->pages++;
		else
			r->gap = true;
	}
	mutex_unlock(&ctx->lock);
}

/*
 * test_hmm returns "the migrated data for verification" by reading its
 * mirror without faulting: -ENOENT at the first page that is neither on
 * this device nor mapped by it.  Here the device reads it.
 */
static int dmirror_read_back(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 size = cmd->npages << PAGE_SHIFT;
	struct dmirror_resident r = { };
	int ret;

	ret = dmirror_snapshot_walk(dmi, cmd->addr, cmd->addr + size,
				    dmirror_resident_count, &r);
	if (ret)
		return ret;
	if (r.gap) {
		cmd->cpages = r.pages;
		return -ENOENT;
	}
	ret = hmmdev_dmirror_ready(dmi);
	if (ret)
		return ret;
	cmd->cpages = 0;
	return hmmdev_dmirror_do_read(dmi, cmd->addr, size, cmd->ptr, &cmd->cpages);
}

/**
 * hmmdev_dmirror_migrate() - MIGRATE_TO_DEV / MIGRATE_TO_SYS, test_hmm's VMA rules
 * @dmi: the open file
 * @cmd: the request; cpages is set
 * @to_dev: to device memory, else to system memory
 *
 * Return: 0, or the errno test_hmm gives (-EINVAL, -EFAULT, -ENOENT, ...).
 */
int hmmdev_dmirror_migrate(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd, bool to_dev)
{
	u64 end = cmd->addr + (cmd->npages << PAGE_SHIFT), moved;
	int ret;

	ret = hmmdev_dmem_migrate_strict(dmi->ctx, cmd->addr, end, to_dev, &moved);
	if (ret)
		return ret;
	if (!to_dev) {
		cmd->cpages = moved;
		return 0;
	}
	return dmirror_read_back(dmi, cmd);
}

/*
 * Exclusive access to a piece of at most DMIRROR_SNAP_PAGES: the mirror loop
 * with hmmdev_make_device_exclusive() as the fault step and a map
 * transaction as the commit.
 */
struct dmirror_excl {
	struct hmmdev_mirror mr;
	struct hmmdev_map map;
	struct page *pages[DMIRROR_SNAP_PAGES];	/* locked and referenced */
	int got;				/* ... entries of pages[] */
	unsigned long pfns[DMIRROR_SNAP_PAGES];	/* the transaction's */
	dma_addr_t dma[DMIRROR_SNAP_PAGES];
};

static void dmirror_excl_put(struct page *page)
{
	if (page) {
		unlock_page(page);
		put_page(page);
	}
}

/*
 * Page by page (hmmdev_make_device_exclusive()).  A page that cannot be made
 * exclusive is a NULL entry, and the commit answers -EBUSY as 6.12's
 * test_hmm does; 7.2's errors other than -EBUSY (-EOPNOTSUPP: not
 * anonymous memory) are returned as they are, as 7.2's test_hmm does.
 */
static int dmirror_excl_fault(struct hmmdev_mirror *mr)
{
	struct dmirror_excl *x = container_of(mr, struct dmirror_excl, mr);
	unsigned long addr;
	struct page *page;

	for (x->got = 0, addr = mr->range.start; addr < mr->range.end; addr += PAGE_SIZE) {
		page = hmmdev_make_device_exclusive(mr->ctx->mm, addr, mr->ctx);
		if (IS_ERR(page) && PTR_ERR(page) != -EBUSY && HMMDEV_K72) {
			while (x->got)
				dmirror_excl_put(x->pages[--x->got]);
			return PTR_ERR(page);
		}
		x->pages[x->got++] = IS_ERR(page) ? NULL : page;
	}
	return 0;
}

static int dmirror_excl_commit(struct hmmdev_mirror *mr)
{
	struct dmirror_excl *x = container_of(mr, struct dmirror_excl, mr);
	unsigned long n = (mr->range.end - mr->range.start) >> PAGE_SHIFT, i;
	int ret = -EBUSY;	/* test_hmm: not every page became exclusive */

	for (i = 0; i < n && i < x->got && x->pages[i]; i++)
		mr->range.hmm_pfns[i] = hmmdev_map_pfn(x->pages[i], true);
	if (i == n) {
		x->map.start = mr->range.start;
		x->map.npages = n;
		x->map.seq = mr->range.notifier_seq;
		ret = hmmdev_map_commit(&x->map);
	}
	for (i = 0; i < x->got; i++)
		dmirror_excl_put(x->pages[i]);
	return ret;
}

/**
 * hmmdev_dmirror_exclusive() - EXCLUSIVE: map the range for exclusive access
 * @dmi: the open file
 * @cmd: the request; the data are read back through the new mappings
 *
 * Return: 0, -EBUSY (a page did not become exclusive) or a negative errno.
 */
int hmmdev_dmirror_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 end = cmd->addr + (cmd->npages << PAGE_SHIFT), addr;
	struct hmmdev_ctx *ctx = dmi->ctx;
	struct dmirror_excl *x;
	int ret = 0;

	/* 2 KiB of arrays: not on the stack (KASAN kernels warn past 2 KiB) */
	x = kzalloc_obj(*x, GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	x->mr = (struct hmmdev_mirror) {
		.range = { .notifier = &ctx->notifier, .hmm_pfns = x->pfns },
		.ctx = ctx,
		.fault = dmirror_excl_fault,
		.commit = dmirror_excl_commit,
	};
	x->map = (struct hmmdev_map) {
		.ctx = ctx, .pfns = x->pfns, .dma = x->dma,
		.perm = HMMDEV_PTE_SW_EXCLUSIVE, .notifier = &ctx->notifier,
	};
	if (!mmget_not_zero(ctx->mm)) {
		kfree(x);
		return -EINVAL;
	}
	for (addr = cmd->addr; addr < end && !ret; addr = x->mr.range.end) {
		x->mr.range.start = addr;
		x->mr.range.end = min_t(u64, end, addr + DMIRROR_SNAP_PAGES * PAGE_SIZE);
		ret = hmmdev_mirror_loop(&x->mr);
	}
	mmput(ctx->mm);
	kfree(x);
	if (ret)
		return ret;
	ret = hmmdev_dmirror_ready(dmi);
	if (ret)
		return ret;
	/* the data, read by the device through the new mappings */
	return hmmdev_dmirror_do_read(dmi, cmd->addr, end - cmd->addr, cmd->ptr, &cmd->cpages);
}

/**
 * hmmdev_dmirror_check_exclusive() - CHECK_EXCLUSIVE
 * @dmi: the open file
 * @cmd: the request
 *
 * Return: -EPERM while a page of the range is still mapped for exclusive
 * access, else 0.
 */
int hmmdev_dmirror_check_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 end = cmd->addr + (cmd->npages << PAGE_SHIFT), va, pte;
	struct hmmdev_ctx *ctx = dmi->ctx;
	unsigned int order;
	int ret = 0;

	mutex_lock(&ctx->lock);
	for (va = cmd->addr; va < end && !ret && !ctx->detached; va += PAGE_SIZE)
		if (hmmdev_pt_lookup(&ctx->pt, va, &order, &pte) &&
		    (pte & HMMDEV_PTE_SW_EXCLUSIVE))
			ret = -EPERM;
	mutex_unlock(&ctx->lock);
	return ret;
}

