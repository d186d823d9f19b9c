// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: device memory, migration and eviction.
 *
 * The whole device memory (DEVMEM_SIZE) is registered as ZONE_DEVICE pages,
 * in one of two modes chosen per device at load time (module parameter
 * coherent=, bit n for the n-th hmmdev function in PCI bus order):
 *  - MEMORY_DEVICE_PRIVATE (default) over a free physical range that the CPU
 *    cannot access: a CPU fault migrates the page back (migrate_to_ram);
 *  - MEMORY_DEVICE_COHERENT over BAR 4, where the CPU reads and writes the
 *    device memory directly; pages leave only by explicit migration,
 *    eviction, or when the kernel migrates them for a long-term pin.
 * Either way device page n is device-memory offset n * PAGE_SIZE.  Free pages sit on a list linked
 * through page->zone_device_data; per page, dpage[] records the context that
 * migrated it in and the device leaf that maps it (for the accessed bit).
 *
 * Every copy is done by the device: SG_COPY commands (one list entry per
 * page, HMMDEV_MIGRATE_PAGES per command) on a kernel-internal hardware queue
 * that the driver reserves (the last one) and polls.
 *
 * To the device: migrate_vma_setup(SELECT_SYSTEM, owner = the context) ->
 * clear the context's device PTEs of the range and invalidate the TLB ->
 * SG_COPY -> migrate_vma_pages -> migrate_vma_finalize.  The notifier skips
 * the PTE work of these events (owner == context) but still bumps the
 * sequence, so a device fault racing with the migration retries.  The pages
 * are not mapped on the device by the migration: the next device access
 * faults and hmm_range_fault() (dev_private_owner) returns them, and they get
 * DEVMEM leaves.
 *
 * To system memory (ioctl, CPU fault via migrate_to_ram, eviction,
 * teardown): owner = the device, so the notifier does its full work (clear,
 * invalidate, wait) inside migrate_vma_setup()/migrate_device_range(),
 * before the copy.
 *
 * Eviction is a clock over dpage[]: a page whose leaf has ACCESSED set (the
 * device sets it with a cmpxchg) or that was just migrated in gets a second
 * chance (the bit is cleared with a cmpxchg and the TLB flushed, so the next
 * device access sets it again); the others are victims, migrated back with
 * migrate_device_range() per contiguous PFN run.
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
#include "hmmdev_drv.h"
#include "hmmdev_trace.h"

#define HMMDEV_FAULT_MIGRATE_PAGES	16	/* window of a CPU fault */
#define HMMDEV_TEARDOWN_TIMEOUT_MS	30000

static unsigned long coherent;
module_param(coherent, ulong, 0444);
MODULE_PARM_DESC(coherent,
		 "bit n set: the n-th hmmdev function (PCI bus order) registers its memory as MEMORY_DEVICE_COHERENT over BAR 4 instead of MEMORY_DEVICE_PRIVATE");

static struct hmmdev *page_to_hd(struct page *page)
{
	return container_of(page->pgmap, struct hmmdev, dmem.pgmap);
}

static unsigned long dpage_index(struct hmmdev_dmem *dm, struct page *page)
{
	return page_to_pfn(page) - dm->pfn_first;
}

/**
 * hmmdev_dmem_is_ours() - is a page device-private memory of this device
 * @hd: the device
 * @page: the page
 *
 * Return: true for our device-private pages.
 */
bool hmmdev_dmem_is_ours(struct hmmdev *hd, struct page *page)
{
	return (is_device_private_page(page) || is_device_coherent_page(page)) &&
	       page->pgmap == &hd->dmem.pgmap;
}

/**
 * hmmdev_dmem_offset() - the device-memory offset of one of our pages
 * @hd: the device
 * @page: a page for which hmmdev_dmem_is_ours() is true
 *
 * Return: the offset, as a DEVMEM leaf or an SG_COPY entry names it.
 */
u64 hmmdev_dmem_offset(struct hmmdev *hd, struct page *page)
{
	return (u64)dpage_index(&hd->dmem, page) << PAGE_SHIFT;
}

/**
 * hmmdev_dmem_link() - record the device leaf that maps a device page
 * @hd: the device
 * @page: our device page
 * @t: the level-1 table
 * @idx: the entry
 *
 * Called with ctx->lock held; eviction reads the leaf's ACCESSED bit.
 */
void hmmdev_dmem_link(struct hmmdev *hd, struct page *page,
		      struct hmmdev_pt_table *t, unsigned int idx)
{
	struct hmmdev_dmem *dm = &hd->dmem;

	spin_lock(&dm->lock);
	if (dm->dpage) {
		dm->dpage[dpage_index(dm, page)].t = t;
		dm->dpage[dpage_index(dm, page)].idx = idx;
	}
	spin_unlock(&dm->lock);
}

/**
 * hmmdev_dmem_unlink() - forget a device leaf that is being removed
 * @hd: the device
 * @offset: the device-memory offset it mapped
 * @t: its table
 * @idx: its entry
 *
 * Called with ctx->lock held, before the table can be freed.
 */
void hmmdev_dmem_unlink(struct hmmdev *hd, u64 offset, struct hmmdev_pt_table *t,
			unsigned int idx)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long i = offset >> PAGE_SHIFT;

	spin_lock(&dm->lock);
	if (dm->dpage && i < dm->npages && dm->dpage[i].t == t && dm->dpage[i].idx == idx)
		dm->dpage[i].t = NULL;
	spin_unlock(&dm->lock);
}

/* Return a page (refcount 0) to the free list. */
static void dmem_put_free(struct hmmdev_dmem *dm, struct page *page)
{
	struct hmmdev_dpage *d;

	spin_lock(&dm->lock);
	d = &dm->dpage[dpage_index(dm, page)];
	*d = (struct hmmdev_dpage) { };
	page->zone_device_data = dm->free;
	dm->free = page;
	dm->nfree++;
	spin_unlock(&dm->lock);
}

static void hmmdev_dmem_page_free(struct page *page)
{
	dmem_put_free(&page_to_hd(page)->dmem, page);
}

/* Take up to @n free pages for @owner. */
static unsigned long dmem_take(struct hmmdev_dmem *dm, struct page **pages,
			       unsigned long n, struct hmmdev_ctx *owner)
{
	unsigned long got = 0;
	struct hmmdev_dpage *d;
	struct page *page;

	spin_lock(&dm->lock);
	while (got < n && dm->free && !dm->stopping) {
		page = dm->free;
		dm->free = page->zone_device_data;
		page->zone_device_data = NULL;
		dm->nfree--;
		d = &dm->dpage[dpage_index(dm, page)];
		*d = (struct hmmdev_dpage) { .owner = owner, .used = true, .fresh = true };
		pages[got++] = page;
	}
	spin_unlock(&dm->lock);
	return got;
}

static u32 kq_status(struct HmmdevCmd *c)
{
	return READ_ONCE(c->status);
}

/* Run the first @n entries of dm->sg with one SG_COPY; copy_lock held. */
static int dmem_sg_copy(struct hmmdev *hd, unsigned int n)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct HmmdevCmd *c;
	u32 status;
	u64 t0;
	int ret;

	lockdep_assert_held(&dm->copy_lock);
	if (dm->kq_broken)
		return -EIO;
	c = &dm->kq_ring[dm->kq_tail];
	memset(c, 0, sizeof(*c));
	c->opcode = HMMDEV_CMD_SG_COPY;
	c->arg[0] = dm->sg_dma;
	c->arg[1] = n;
	dm->kq_tail = (dm->kq_tail + 1) % HMMDEV_KQ_ENTRIES;
	/* writel orders the command and the list before the doorbell */
	t0 = ktime_get_ns();
	hmmdev_wr(hd, hmmdev_qreg(dm->kq_hwq, HMMDEV_QREG_TAIL), dm->kq_tail);
	ret = read_poll_timeout(kq_status, status, status & HMMDEV_CS_DONE, 20,
				HMMDEV_KQ_TIMEOUT_US, false, c);
	atomic64_add(ktime_get_ns() - t0, &hd->stats.v[HMMDEV_STAT_NS_SG_COPY]);
	atomic64_inc(&hd->stats.v[HMMDEV_STAT_SG_COPIES]);
	if (ret) {
		dm->kq_broken = true;
		dev_err(&hd->pdev->dev, "SG_COPY of %u pages timed out\n", n);
		return -EIO;
	}
	dma_rmb();
	if (status & HMMDEV_CS_CODE_MASK) {
		dev_err_ratelimited(&hd->pdev->dev, "SG_COPY failed: error 0x%x at entry %u\n",
				    status & HMMDEV_CS_CODE_MASK, READ_ONCE(c->info));
		return -EIO;
	}
	return 0;
}

static void sg_set(struct HmmdevSgEntry *e, u64 src, u64 dst, u32 flags)
{
	e->src = src;
	e->dst = dst;
	e->len = PAGE_SIZE;
	e->flags = flags;
	e->rsvd = 0;
}

/*
 * DMA-map the system pages of one copy with one scatter-gather mapping: one
 * IOVA range and one IOTLB flush per copy instead of one per page, which is
 * what an IOMMU charges for.  @out gets each page's DMA address, in order.
 */
static int dmem_map_sg(struct device *dev, struct sg_table *sgt, struct page **pages,
		       unsigned int n, enum dma_data_direction dir, dma_addr_t *out)
{
	struct sg_dma_page_iter it;
	unsigned int i = 0;
	int ret;

	ret = sg_alloc_table_from_pages(sgt, pages, n, 0, (size_t)n << PAGE_SHIFT, GFP_KERNEL);
	if (ret)
		return ret;
	ret = dma_map_sgtable(dev, sgt, dir, 0);
	if (ret) {
		sg_free_table(sgt);
		return ret;
	}
	for_each_sgtable_dma_page(sgt, &it, 0)
		out[i++] = sg_page_iter_dma_address(&it);
	return 0;
}

static void dmem_unmap_sg(struct device *dev, struct sg_table *sgt, enum dma_data_direction dir)
{
	dma_unmap_sgtable(dev, sgt, dir, 0);
	sg_free_table(sgt);
}

/*
 * Device -> system for the entries of @src selected for migration: allocate
 * system pages (for @vma at @start, or anywhere without a VMA), copy with
 * one SG_COPY, fill @dst.  Return: 0, -ENOMEM (a page could not be
 * allocated; the others were copied) or -EIO (copy failed: @dst all 0).
 */
static int dmem_copy_to_sys(struct hmmdev *hd, const unsigned long *src,
			    unsigned long *dst, unsigned long n,
			    struct vm_area_struct *vma, unsigned long start)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct device *dev = &hd->pdev->dev;
	struct sg_table sgt;
	unsigned long i;
	unsigned int k = 0, j;
	int ret = 0, err = 0;

	mutex_lock(&dm->copy_lock);
	for (i = 0; i < n; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]), *dpage;

		dst[i] = 0;
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (WARN_ON_ONCE(!hmmdev_dmem_is_ours(hd, spage)))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, start + i * PAGE_SIZE);
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE);
		if (!dpage) {
			ret = -ENOMEM;
			continue;
		}
		lock_page(dpage);
		sg_set(&dm->sg[k], hmmdev_dmem_offset(hd, spage), 0, HMMDEV_SG_SRC_DEVMEM);
		dm->sg_pages[k++] = dpage;
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	if (k && READ_ONCE(dm->lost)) {
		/* nothing to copy from: the owners got SIGBUS (hmmdev_dmem_lost()) */
		for (j = 0; j < k; j++)
			clear_highpage(dm->sg_pages[j]);
	} else if (k) {
		err = dmem_map_sg(dev, &sgt, dm->sg_pages, k, DMA_FROM_DEVICE, dm->sg_dma_pages);
		if (!err) {
			for (j = 0; j < k; j++)
				dm->sg[j].dst = dm->sg_dma_pages[j];
			err = dmem_sg_copy(hd, k);
			dmem_unmap_sg(dev, &sgt, DMA_FROM_DEVICE);
		} else {
			err = -EIO;
		}
	}
	if (err) {
		for (i = 0; i < n; i++) {
			struct page *dpage = migrate_pfn_to_page(dst[i]);

			if (!dpage)
				continue;
			unlock_page(dpage);
			__free_page(dpage);
			dst[i] = 0;
		}
		ret = err;
	}
	mutex_unlock(&dm->copy_lock);
	return ret;
}

/* Pages of a finished migration that moved. */
static unsigned long dmem_moved(const unsigned long *src, const unsigned long *dst,
				unsigned long n)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++)
		if ((src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
			moved++;
	return moved;
}

/*
 * Migrate device pages [first, first + n) back to system memory without a
 * VMA (eviction and teardown).  evict_lock held (so no context in @owner
 * can be freed: hmmdev_dmem_ctx_gone() takes it).  With @owner (the
 * contexts the pages belong to, or NULL) each moved page counts as an
 * eviction of its context.  Return: pages moved.
 */
static unsigned long dmem_evict_run(struct hmmdev *hd, unsigned long first,
				    unsigned long n, struct hmmdev_ctx *const *owner)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long *src = dm->ev_src, *dst = dm->ev_dst, moved, i;

	lockdep_assert_held(&dm->evict_lock);
	migrate_device_range(src, dm->pfn_first + first, n);
	dmem_copy_to_sys(hd, src, dst, n, NULL, 0);
	migrate_device_pages(src, dst, n);
	moved = dmem_moved(src, dst, n);
	for (i = 0; owner && i < n; i++)
		if (owner[i] && (src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
			atomic64_inc(&owner[i]->stats.v[HMMDEV_STAT_EVICTIONS]);
	migrate_device_finalize(src, dst, n);
	return moved;
}

/* Evict the sorted device pages idx[0..n) (of @owner[], or NULL) in contiguous runs. */
static unsigned long dmem_evict_list(struct hmmdev *hd, const unsigned long *idx,
				     struct hmmdev_ctx *const *owner, unsigned long n)
{
	unsigned long i, j, moved = 0;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && idx[j] == idx[j - 1] + 1 &&
		     j - i < HMMDEV_MIGRATE_PAGES; j++)
			;
		moved += dmem_evict_run(hd, idx[i], j - i, owner ? owner + i : NULL);
	}
	return moved;
}

/* Sort victims by index, keeping each one's owner alongside. */
struct dmem_victim {
	unsigned long *idx;
	struct hmmdev_ctx **owner;
};

static void dmem_victim_swap(void *a, void *b, int size, const void *priv)
{
	const struct dmem_victim *v = priv;
	unsigned long *x = a, *y = b, i = x - v->idx, j = y - v->idx;

	swap(*x, *y);
	swap(v->owner[i], v->owner[j]);
}

static int dmem_idx_cmp(const void *a, const void *b, const void *priv)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/*
 * Evict up to @want least recently used pages (second-chance clock on the
 * device's ACCESSED bits).  Return: pages moved to system memory.
 */
static unsigned long dmem_evict_lru(struct hmmdev *hd, unsigned long want)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long *idx = dm->ev_idx, n = 0, scanned, cleared = 0, moved;
	struct dmem_victim victims;

	want = min_t(unsigned long, want, HMMDEV_MIGRATE_PAGES);
	mutex_lock(&dm->evict_lock);
	spin_lock(&dm->lock);
	for (scanned = 0; n < want && scanned < 2 * dm->npages; scanned++) {
		unsigned long i = dm->hand;
		struct hmmdev_dpage *d = &dm->dpage[i];

		dm->hand = (i + 1) % dm->npages;
		if (!d->used)
			continue;
		if (d->fresh) {
			d->fresh = false;
			continue;
		}
		if (d->t) {
			u64 *e = (u64 *)&d->t->e[d->idx];
			u64 old = READ_ONCE(*e);

			if ((le64_to_cpu(old) & HMMDEV_PTE_VALID) &&
			    (le64_to_cpu(old) & HMMDEV_PTE_ACCESSED)) {
				/* the device sets A with cmpxchg too: no update is lost */
				while (!try_cmpxchg64(e, &old,
						      cpu_to_le64(le64_to_cpu(old) &
								  ~HMMDEV_PTE_ACCESSED)))
					;
				cleared++;
				continue;
			}
		}
		dm->ev_owner[n] = d->owner;
		idx[n++] = i;
	}
	spin_unlock(&dm->lock);
	/* cached translations do not set A again: drop them */
	if (cleared)
		hmmdev_invalidate(hd, HMMDEV_INV_ALL, 0, 0, 0);
	/* the clock may have wrapped: runs need ascending indices */
	victims = (struct dmem_victim) { .idx = idx, .owner = dm->ev_owner };
	sort_r(idx, n, sizeof(*idx), dmem_idx_cmp, dmem_victim_swap, &victims);
	moved = dmem_evict_list(hd, idx, dm->ev_owner, n);
	mutex_unlock(&dm->evict_lock);
	if (moved) {
		atomic64_add(moved, &hd->stats.v[HMMDEV_STAT_EVICTIONS]);
		atomic64_add(moved, &hd->stats.v[HMMDEV_STAT_MIGRATED_TO_SYS]);
		trace_hmmdev_migrate(U32_MAX, 0, 0, false, moved);
	}
	return moved;
}

/*
 * Evict every used page (@owner NULL) or every page @owner migrated in.
 * Return: pages still in use that match.
 */
static unsigned long dmem_evict_matching(struct hmmdev *hd, struct hmmdev_ctx *owner)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long *idx = dm->ev_idx, i = 0, n, moved = 0, left = 0;

	mutex_lock(&dm->evict_lock);
	while (i < dm->npages) {
		n = 0;
		spin_lock(&dm->lock);
		for (; i < dm->npages && n < HMMDEV_MIGRATE_PAGES; i++)
			if (dm->dpage[i].used && (!owner || dm->dpage[i].owner == owner))
				idx[n++] = i;
		spin_unlock(&dm->lock);
		moved += dmem_evict_list(hd, idx, NULL, n);
		left += n;
	}
	mutex_unlock(&dm->evict_lock);
	if (moved) {
		atomic64_add(moved, &hd->stats.v[HMMDEV_STAT_MIGRATED_TO_SYS]);
		trace_hmmdev_migrate(owner ? owner->asid : U32_MAX, 0, 0, false, moved);
	}
	return left - moved;
}

/*
 * Get up to @n device pages for @ctx, evicting least recently used pages when
 * device memory is full.  Return: how many (refcount 0, not yet initialized).
 */
static unsigned long dmem_alloc(struct hmmdev *hd, struct hmmdev_ctx *ctx,
				struct page **pages, unsigned long n)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long got, tries;

	got = dmem_take(dm, pages, n, ctx);
	for (tries = 0; got < n && tries < 4; tries++) {
		dmem_evict_lru(hd, n - got);
		got += dmem_take(dm, pages + got, n - got, ctx);
	}
	return got;
}

/*
 * System -> device for the selected entries of @args, using pages of @pool
 * (@npool left, taken from the end).  One SG_COPY.  Return: 0 or -EIO (then
 * nothing migrates: @args->dst all 0).
 */
static int dmem_copy_to_dev(struct hmmdev *hd, struct migrate_vma *args,
			    struct page **pool, unsigned long *npool)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct device *dev = &hd->pdev->dev;
	unsigned long i, n = (args->end - args->start) >> PAGE_SHIFT;
	unsigned int k = 0, m = 0, j;
	struct sg_table sgt;
	int ret = 0;

	mutex_lock(&dm->copy_lock);
	for (i = 0; i < n; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]), *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) || !*npool)
			continue;
		if (spage && is_zone_device_page(spage))
			continue;
		dpage = pool[--*npool];
		zone_device_page_init(dpage);
		/* a page never written is the zero page (spage NULL) */
		sg_set(&dm->sg[k], dm->zero_dma, hmmdev_dmem_offset(hd, dpage),
		       HMMDEV_SG_DST_DEVMEM);
		if (spage) {
			dm->sg_pages[m] = spage;
			dm->sg_slot[m++] = k;
		}
		k++;
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	if (m && dmem_map_sg(dev, &sgt, dm->sg_pages, m, DMA_TO_DEVICE, dm->sg_dma_pages)) {
		ret = -EIO;
		m = 0;		/* nothing mapped */
	}
	for (j = 0; j < m; j++)
		dm->sg[dm->sg_slot[j]].src = dm->sg_dma_pages[j];
	if (k && !ret)
		ret = dmem_sg_copy(hd, k);
	if (m)
		dmem_unmap_sg(dev, &sgt, DMA_TO_DEVICE);
	if (ret) {
		for (i = 0; i < n; i++) {
			struct page *dpage = migrate_pfn_to_page(args->dst[i]);

			if (!dpage)
				continue;
			unlock_page(dpage);
			put_page(dpage);	/* page_free() takes it back */
			args->dst[i] = 0;
		}
	}
	mutex_unlock(&dm->copy_lock);
	return ret;
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
			 hd->dmem.coherent ? MIGRATE_VMA_SELECT_DEVICE_COHERENT :
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
		dmem_copy_to_dev(hd, &args, pool, &npool);
	} else {
		dmem_copy_to_sys(hd, src, dst, n, vma, start);
	}
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_COPY, t0);
	t0 = ktime_get_ns();
	migrate_vma_pages(&args);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_PAGES, t0);
	moved = dmem_moved(src, dst, n);
	t0 = ktime_get_ns();
	migrate_vma_finalize(&args);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_MIGRATE_FINALIZE, t0);
	*migrated += moved;
	*skipped += cpages - moved;
	trace_hmmdev_migrate(ctx->asid, start, end, to_dev, moved);
out:
	while (npool)
		dmem_put_free(&hd->dmem, pool[--npool]);
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
	if (!ctx->hd->dmem.enabled)
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
 * hmmdev_dmem_evict_all() - move every device page back to system memory
 * @hd: the device
 *
 * Best effort: pages pinned or busy right now stay.  test_hmm's RELEASE.
 */
void hmmdev_dmem_evict_all(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;

	down_read(&dm->users);
	if (dm->enabled && !dm->stopping)
		dmem_evict_matching(hd, NULL);
	up_read(&dm->users);
}

#define LOST_MAX_PIDS	64

/**
 * hmmdev_dmem_lost() - a fatal error took the contents of device memory
 * @hd: the device; hd->failed is set, nothing can be copied any more
 *
 * The policy (docs/driver.md, "Fatal device errors"), the way
 * memory_failure() treats poisoned RAM with early kill: every process that
 * owns pages in device memory gets SIGBUS now; a CPU access to such a page
 * (migrate_to_ram) gets SIGBUS too; eviction and teardown give the pages
 * back as zeroed system pages without the device, so unbind never waits on
 * a dead copy engine.
 */
void hmmdev_dmem_lost(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	pid_t pids[LOST_MAX_PIDS];
	unsigned int npids = 0, k;
	unsigned long i, pages = 0;

	if (!dm->enabled)
		return;
	spin_lock(&dm->lock);
	WRITE_ONCE(dm->lost, true);
	for (i = 0; dm->dpage && i < dm->npages; i++) {
		struct hmmdev_ctx *owner = dm->dpage[i].owner;

		if (!dm->dpage[i].used)
			continue;
		pages++;
		/* an owner is alive while it is recorded: ctx_gone() clears it first */
		for (k = 0; owner && k < npids && pids[k] != owner->tgid; k++)
			;
		if (owner && k == npids && npids < LOST_MAX_PIDS)
			pids[npids++] = owner->tgid;
	}
	spin_unlock(&dm->lock);
	if (!pages)
		return;
	dev_err(&hd->pdev->dev, "device memory lost: %lu pages of %u processes; sending SIGBUS\n",
		pages, npids);
	for (k = 0; k < npids; k++) {
		struct pid *pid = find_get_pid(pids[k]);

		if (pid) {
			kill_pid(pid, SIGBUS, 1);
			put_pid(pid);
		}
	}
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
	struct hmmdev_dmem *dm = &ctx->hd->dmem;
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
	struct hmmdev_dmem *dm = &hd->dmem;
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

static vm_fault_t hmmdev_dmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmmdev *hd = page_to_hd(vmf->page);
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
	if (READ_ONCE(hd->dmem.lost))
		return VM_FAULT_SIGBUS;		/* its contents are gone */
	start = ALIGN_DOWN(vmf->address, HMMDEV_FAULT_MIGRATE_PAGES * PAGE_SIZE);
	end = start + HMMDEV_FAULT_MIGRATE_PAGES * PAGE_SIZE;
	args.start = max(start, vma->vm_start);
	args.end = min(end, vma->vm_end);
	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	ret = dmem_copy_to_sys(hd, src, dst, (args.end - args.start) >> PAGE_SHIFT, vma,
			       args.start);
	migrate_vma_pages(&args);
	moved = dmem_moved(src, dst, (args.end - args.start) >> PAGE_SHIFT);
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

static const struct dev_pagemap_ops hmmdev_dmem_ops = {
	.page_free = hmmdev_dmem_page_free,
	.migrate_to_ram = hmmdev_dmem_migrate_to_ram,
};

/* The CPU maps coherent pages directly: it never faults on them. */
static const struct dev_pagemap_ops hmmdev_dmem_coherent_ops = {
	.page_free = hmmdev_dmem_page_free,
};

/* This function's index among the hmmdev functions, in PCI bus order. */
static unsigned int dmem_pci_rank(struct pci_dev *pdev)
{
	struct pci_dev *other = NULL;
	unsigned int rank = 0;

	while ((other = pci_get_device(pdev->vendor, pdev->device, other))) {
		if (pci_domain_nr(other->bus) < pci_domain_nr(pdev->bus) ||
		    (pci_domain_nr(other->bus) == pci_domain_nr(pdev->bus) &&
		     PCI_DEVID(other->bus->number, other->devfn) <
		     PCI_DEVID(pdev->bus->number, pdev->devfn)))
			rank++;
	}
	return rank;
}

/* Claim the physical range the pages will cover: free space, or BAR 4. */
static int dmem_claim_range(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct pci_dev *pdev = hd->pdev;
	resource_size_t start;
	int ret;

	if (!dm->coherent) {
		dm->res = request_free_mem_region(&iomem_resource, hd->devmem_size,
						  "hmmdev-devmem");
		if (IS_ERR(dm->res))
			return PTR_ERR(dm->res);
		dm->pgmap.range.start = dm->res->start;
		dm->pgmap.range.end = dm->res->end;
		return 0;
	}
	if (!(pci_resource_flags(pdev, HMMDEV_BAR_DEVMEM) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, HMMDEV_BAR_DEVMEM) < hd->devmem_size) {
		dev_err(&pdev->dev, "coherent mode needs BAR %d to expose all device memory (devmem-bar=on)\n",
			HMMDEV_BAR_DEVMEM);
		return -ENXIO;
	}
	ret = pci_request_region(pdev, HMMDEV_BAR_DEVMEM, "hmmdev-coherent");
	if (ret)
		return ret;
	start = pci_resource_start(pdev, HMMDEV_BAR_DEVMEM);
	dm->pgmap.range.start = start;
	dm->pgmap.range.end = start + hd->devmem_size - 1;
	return 0;
}

static void dmem_release_range(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;

	if (dm->coherent)
		pci_release_region(hd->pdev, HMMDEV_BAR_DEVMEM);
	else
		release_mem_region(dm->res->start, resource_size(dm->res));
}

/**
 * hmmdev_dmem_ctx_gone() - a context is being destroyed
 * @ctx: the context
 *
 * The pages it migrated in go back to system memory (a process that closed
 * the file keeps its data); when the process is exiting they were freed
 * already.  Afterwards no page refers to @ctx.
 */
void hmmdev_dmem_ctx_gone(struct hmmdev_ctx *ctx)
{
	struct hmmdev_dmem *dm = &ctx->hd->dmem;
	unsigned long i;

	down_read(&dm->users);
	if (dm->enabled && !dm->stopping)
		dmem_evict_matching(ctx->hd, ctx);
	up_read(&dm->users);
	spin_lock(&dm->lock);
	for (i = 0; dm->dpage && i < dm->npages; i++)
		if (dm->dpage[i].owner == ctx)
			dm->dpage[i].owner = NULL;
	spin_unlock(&dm->lock);
}

static void dmem_free_resources(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct device *dev = &hd->pdev->dev;

	if (dm->kq_ring) {
		hmmdev_wr(hd, hmmdev_qreg(dm->kq_hwq, HMMDEV_QREG_CTRL), 0);
		dma_free_coherent(dev, HMMDEV_KQ_ENTRIES * HMMDEV_CMD_SIZE, dm->kq_ring,
				  dm->kq_dma);
	}
	if (dm->sg)
		dma_free_coherent(dev, HMMDEV_MIGRATE_PAGES * HMMDEV_SG_ENTRY_SIZE, dm->sg,
				  dm->sg_dma);
	if (dm->zero)
		dma_free_coherent(dev, PAGE_SIZE, dm->zero, dm->zero_dma);
	dm->kq_ring = NULL;
	dm->sg = NULL;
	dm->zero = NULL;
	spin_lock(&dm->lock);
	kvfree(dm->dpage);
	dm->dpage = NULL;
	spin_unlock(&dm->lock);
	/* the scratch arrays: nobody looks at them once dm->enabled is false */
	kvfree(dm->ev_src);
	kvfree(dm->ev_dst);
	kvfree(dm->ev_idx);
	kvfree(dm->ev_owner);
	kvfree(dm->fm_src);
	kvfree(dm->fm_dst);
	kvfree(dm->fm_pool);
	kvfree(dm->sg_pages);
	kvfree(dm->sg_dma_pages);
	kvfree(dm->sg_slot);
}

/* Reserve the last hardware queue for SG_COPY and enable it (ASID 0, polled). */
static int dmem_kq_init(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned int q = hd->num_queues - 1;

	dm->kq_ring = dma_alloc_coherent(&hd->pdev->dev, HMMDEV_KQ_ENTRIES * HMMDEV_CMD_SIZE,
					 &dm->kq_dma, GFP_KERNEL);
	if (!dm->kq_ring)
		return -ENOMEM;
	dm->kq_hwq = q;
	dm->kq_tail = 0;
	return hmmdev_hwq_enable(hd, q, dm->kq_dma, HMMDEV_KQ_ENTRIES, 0,
				 HMMDEV_MSIX_VEC_QUEUE0 + q);
}

/**
 * hmmdev_dmem_init() - register device memory and the migration queue
 * @hd: the device, just reset, before its queue interrupts are requested
 *
 * Reserves the last hardware queue (hd->num_queues shrinks by one).  Without
 * device memory, or when registration fails, the device works without it
 * (migration requests get -EOPNOTSUPP).
 *
 * Return: 0 (failures are only logged).
 */
int hmmdev_dmem_init(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	struct device *dev = &hd->pdev->dev;
	unsigned long i;
	void *addr;
	int ret = -ENOMEM;

	spin_lock_init(&dm->lock);
	init_rwsem(&dm->users);
	mutex_init(&dm->evict_lock);
	mutex_init(&dm->copy_lock);
	hd->pci_rank = dmem_pci_rank(hd->pdev);
	dm->coherent = hd->pci_rank < BITS_PER_LONG && (coherent & BIT(hd->pci_rank));
	if (!hd->devmem_size || hd->num_queues < 2)
		return 0;
	dm->npages = hd->devmem_size >> PAGE_SHIFT;
	dm->dpage = kvcalloc(dm->npages, sizeof(*dm->dpage), GFP_KERNEL);
	dm->ev_src = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->ev_src), GFP_KERNEL);
	dm->ev_dst = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->ev_dst), GFP_KERNEL);
	dm->ev_idx = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->ev_idx), GFP_KERNEL);
	dm->ev_owner = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->ev_owner), GFP_KERNEL);
	dm->fm_src = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->fm_src), GFP_KERNEL);
	dm->fm_dst = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->fm_dst), GFP_KERNEL);
	dm->fm_pool = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->fm_pool), GFP_KERNEL);
	dm->zero = dma_alloc_coherent(dev, PAGE_SIZE, &dm->zero_dma, GFP_KERNEL);
	dm->sg = dma_alloc_coherent(dev, HMMDEV_MIGRATE_PAGES * HMMDEV_SG_ENTRY_SIZE,
				    &dm->sg_dma, GFP_KERNEL);
	dm->sg_pages = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->sg_pages), GFP_KERNEL);
	dm->sg_dma_pages = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->sg_dma_pages), GFP_KERNEL);
	dm->sg_slot = kvcalloc(HMMDEV_MIGRATE_PAGES, sizeof(*dm->sg_slot), GFP_KERNEL);
	if (!dm->dpage || !dm->ev_src || !dm->ev_dst || !dm->ev_idx || !dm->ev_owner ||
	    !dm->zero || !dm->sg ||
	    !dm->fm_src || !dm->fm_dst || !dm->fm_pool || !dm->sg_pages || !dm->sg_dma_pages ||
	    !dm->sg_slot)
		goto err;
	ret = dmem_kq_init(hd);
	if (ret)
		goto err;

	ret = dmem_claim_range(hd);
	if (ret)
		goto err;
	dm->pgmap.type = dm->coherent ? MEMORY_DEVICE_COHERENT : MEMORY_DEVICE_PRIVATE;
	dm->pgmap.nr_range = 1;
	dm->pgmap.ops = dm->coherent ? &hmmdev_dmem_coherent_ops : &hmmdev_dmem_ops;
	dm->pgmap.owner = hd;
	addr = memremap_pages(&dm->pgmap, dev_to_node(dev));
	if (IS_ERR(addr)) {
		ret = PTR_ERR(addr);
		dmem_release_range(hd);
		goto err;
	}
	dm->pfn_first = dm->pgmap.range.start >> PAGE_SHIFT;
	for (i = dm->npages; i--; ) {
		struct page *page = pfn_to_page(dm->pfn_first + i);

		page->zone_device_data = dm->free;
		dm->free = page;
	}
	dm->nfree = dm->npages;
	hd->num_queues--;	/* the last one is ours */
	dm->enabled = true;
	dev_info(dev, "%llu MiB device memory as device-%s pages at [mem %#010llx-%#010llx]\n",
		 hd->devmem_size >> 20, dm->coherent ? "coherent" : "private",
		 dm->pgmap.range.start, dm->pgmap.range.end);
	hmmdev_dmirror_attach(hd);
	return 0;

err:
	dev_warn(dev, "no device memory pages: %d\n", ret);
	dmem_free_resources(hd);
	return 0;
}

/**
 * hmmdev_dmem_fini() - migrate everything back and unregister device memory
 * @hd: the device; user queues and fault handling are stopped
 *
 * memunmap_pages() waits for every device page to be freed, so every page
 * goes back to system memory first (pages pinned elsewhere are retried for
 * a while).
 */
void hmmdev_dmem_fini(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = &hd->dmem;
	unsigned long deadline = jiffies + msecs_to_jiffies(HMMDEV_TEARDOWN_TIMEOUT_MS);
	unsigned long left;

	if (!dm->enabled)
		return;
	hmmdev_dmirror_detach(hd);
	down_write(&dm->users);
	spin_lock(&dm->lock);
	dm->stopping = true;
	spin_unlock(&dm->lock);
	up_write(&dm->users);
	while ((left = dmem_evict_matching(hd, NULL))) {
		if (time_after(jiffies, deadline)) {
			dev_err(&hd->pdev->dev, "%lu device pages cannot be migrated back\n",
				left);
			break;
		}
		msleep(20);
	}
	memunmap_pages(&dm->pgmap);
	dmem_release_range(hd);
	dm->enabled = false;
	dmem_free_resources(hd);
}
