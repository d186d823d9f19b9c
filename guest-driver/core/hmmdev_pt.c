// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: device page tables.
 *
 * A context's tables are 4 KiB pages of dma_alloc_coherent() chunks (several
 * tables per allocation and IOMMU mapping) that the device walks
 * (docs/hmmdev-spec.rst, "Page tables"), each with a software shadow that
 * holds the child table of a non-leaf entry or the struct page of a leaf.
 * Leaves map 4 KiB (level 1) or 2 MiB (level 2, LEAF) of system memory at a
 * DMA address that the driver mapped with dma_map_page(); the address in a
 * leaf is unmapped only after the device TLB has been invalidated.
 *
 * All entry updates happen under ctx->lock.  Tables are allocated outside
 * that lock (hmmdev_pt_reserve() fills a small cache) because the lock is
 * taken by MMU-notifier callbacks, which may run in reclaim.  Tables are
 * freed only when the context is destroyed.
 */
#include <linux/dma-mapping.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include "core/hmmdev_core.h"

#define PT_LEVEL_SHIFT(l)	(HMMDEV_PAGE_SHIFT + 9 * ((l) - 1))
#define PT_LEVEL_SIZE(l)	(1ULL << PT_LEVEL_SHIFT(l))
#define PT_IDX(va, l)		(((va) >> PT_LEVEL_SHIFT(l)) & (HMMDEV_PT_ENTRIES - 1))
#define PT_PERM_MASK		(HMMDEV_PTE_WRITE | HMMDEV_PTE_ATOMIC | HMMDEV_PTE_SW_EXCLUSIVE)

#define PT_CHUNK_MIN	4	/* table pages per coherent chunk: first ... */
#define PT_CHUNK_MAX	16	/* ... and at most (as many as carved so far) */

/*
 * A zeroed table page from the context's current chunk.  Every
 * dma_alloc_coherent() costs an IOMMU mapping (and, under TCG, tens of
 * microseconds), so chunks hold several pages; they grow with the tables a
 * context has used, so a small context wastes little.
 */
static int pt_page_alloc(struct hmmdev_pt *pt, __le64 **e, dma_addr_t *dma)
{
	struct device *dev = &pt->hd->pdev->dev;
	struct hmmdev_pt_chunk *c;
	unsigned int pages;

	mutex_lock(&pt->chunk_lock);
	c = pt->cur;
	if (!c || c->next == c->pages) {
		c = kzalloc_obj(*c, GFP_KERNEL);
		if (!c)
			goto nomem;
		pages = clamp_t(unsigned int, roundup_pow_of_two(pt->carved + 1),
				PT_CHUNK_MIN, PT_CHUNK_MAX);
		for (; pages; pages >>= 1) {
			c->va = dma_alloc_coherent(dev, pages * PAGE_SIZE, &c->dma,
						   GFP_KERNEL | (pages > 1 ? __GFP_NOWARN : 0));
			if (c->va)
				break;
		}
		if (!c->va) {
			kfree(c);
			goto nomem;
		}
		c->pages = pages;
		list_add(&c->node, &pt->chunks);
		pt->cur = c;
	}
	*e = c->va + c->next * PAGE_SIZE;
	*dma = c->dma + c->next * PAGE_SIZE;
	c->next++;
	pt->carved++;
	mutex_unlock(&pt->chunk_lock);
	return 0;
nomem:
	mutex_unlock(&pt->chunk_lock);
	return -ENOMEM;
}

static struct hmmdev_pt_table *pt_table_alloc(struct hmmdev_pt *pt)
{
	struct hmmdev_pt_table *t;

	t = kzalloc_obj(*t, GFP_KERNEL);
	if (!t)
		return NULL;
	if (pt_page_alloc(pt, &t->e, &t->dma)) {
		kfree(t);
		return NULL;
	}
	return t;
}

/* The table page stays in its chunk, freed by hmmdev_pt_fini(). */
static void pt_table_free(struct hmmdev_pt_table *t)
{
	kfree(t);
}

static inline u64 pt_get(struct hmmdev_pt_table *t, unsigned int i)
{
	return le64_to_cpu(READ_ONCE(t->e[i]));
}

static inline void pt_set(struct hmmdev_pt_table *t, unsigned int i, u64 v)
{
	WRITE_ONCE(t->e[i], cpu_to_le64(v));
}

static inline bool pt_is_leaf(unsigned int level, u64 pte)
{
	return level == 1 || (level == 2 && (pte & HMMDEV_PTE_LEAF));
}

/**
 * hmmdev_pt_init() - allocate a context's root table
 * @pt: the page tables
 * @hd: the device
 *
 * Return: 0 or -ENOMEM.
 */
int hmmdev_pt_init(struct hmmdev_pt *pt, struct hmmdev *hd)
{
	pt->hd = hd;
	spin_lock_init(&pt->cache_lock);
	INIT_LIST_HEAD(&pt->cache);
	mutex_init(&pt->chunk_lock);
	INIT_LIST_HEAD(&pt->chunks);
	pt->cur = NULL;
	pt->carved = 0;
	pt->root = pt_table_alloc(pt);
	if (!pt->root)
		return -ENOMEM;
	pt->root->level = HMMDEV_PT_LEVELS;
	pt->ntables = 1;
	return 0;
}

/**
 * hmmdev_pt_reserve() - preallocate the tables a mapping of a range may need
 * @pt: the page tables
 * @start: first VA
 * @end: VA after the last
 *
 * Called without ctx->lock; the tables are consumed under it.
 *
 * Return: 0 or -ENOMEM.
 */
int hmmdev_pt_reserve(struct hmmdev_pt *pt, u64 start, u64 end)
{
	unsigned int need = 0, l;
	struct hmmdev_pt_table *t;

	for (l = 1; l < HMMDEV_PT_LEVELS; l++)
		need += ((end - 1) >> PT_LEVEL_SHIFT(l + 1)) -
			(start >> PT_LEVEL_SHIFT(l + 1)) + 1;
	for (;;) {
		spin_lock(&pt->cache_lock);
		if (pt->ncache >= need) {
			spin_unlock(&pt->cache_lock);
			return 0;
		}
		spin_unlock(&pt->cache_lock);
		t = pt_table_alloc(pt);
		if (!t)
			return -ENOMEM;
		spin_lock(&pt->cache_lock);
		list_add(&t->node, &pt->cache);
		pt->ncache++;
		spin_unlock(&pt->cache_lock);
	}
}

static struct hmmdev_pt_table *pt_take(struct hmmdev_pt *pt)
{
	struct hmmdev_pt_table *t;

	spin_lock(&pt->cache_lock);
	t = list_first_entry_or_null(&pt->cache, struct hmmdev_pt_table, node);
	if (t) {
		list_del(&t->node);
		pt->ncache--;
		pt->ntables++;
	}
	spin_unlock(&pt->cache_lock);
	return t;
}

/*
 * The table at @level on the walk to @va.  Missing tables come from the cache
 * when @alloc.  -EEXIST: a 2 MiB leaf sits at level 2 (only for level 1).
 */
static struct hmmdev_pt_table *pt_walk(struct hmmdev_pt *pt, u64 va,
				       unsigned int level, bool alloc, int *err)
{
	struct hmmdev_pt_table *t = pt->root, *child;
	unsigned int l, i;
	u64 pte;

	for (l = HMMDEV_PT_LEVELS; l > level; l--) {
		i = PT_IDX(va, l);
		pte = pt_get(t, i);
		if (pte & HMMDEV_PTE_VALID) {
			if (pt_is_leaf(l, pte)) {
				*err = -EEXIST;
				return NULL;
			}
			t = t->sw[i];
			continue;
		}
		if (!alloc) {
			*err = -ENOENT;
			return NULL;
		}
		if (pte) {		/* a leaf waiting for its unmap */
			*err = -EEXIST;
			return NULL;
		}
		child = pt_take(pt);
		if (!child) {
			*err = -ENOMEM;
			return NULL;
		}
		child->level = l - 1;
		t->sw[i] = child;
		t->used++;
		pt_set(t, i, child->dma | HMMDEV_PTE_VALID);
		t = child;
	}
	return t;
}

/**
 * hmmdev_pt_lookup() - the page a valid leaf maps at a VA (lockless hint)
 * @pt: the page tables
 * @va: the address
 * @order: out: 0 for 4 KiB, 9 for 2 MiB
 * @pte: out: the entry
 *
 * Used without ctx->lock to skip DMA-mapping pages already mapped; the answer
 * is confirmed under the lock.
 *
 * Return: the page, or NULL.
 */
struct page *hmmdev_pt_lookup(struct hmmdev_pt *pt, u64 va, unsigned int *order,
			      u64 *pte)
{
	struct hmmdev_pt_table *t = pt->root;
	unsigned int l, i;
	u64 e;

	for (l = HMMDEV_PT_LEVELS; l >= 1; l--) {
		i = PT_IDX(va, l);
		e = pt_get(t, i);
		if (!(e & HMMDEV_PTE_VALID))
			return NULL;
		if (pt_is_leaf(l, e)) {
			*order = l == 2 ? 9 : 0;
			*pte = e;
			return READ_ONCE(t->sw[i]);
		}
		t = READ_ONCE(t->sw[i]);
		if (!t)
			return NULL;
	}
	return NULL;
}

/**
 * hmmdev_pt_entries() - the raw entries on the walk to a VA (diagnostics)
 * @pt: the page tables
 * @va: the address
 * @raw: out: raw[l - 1] is the entry at level l, 0 below where the walk stops
 *
 * Unlike hmmdev_pt_lookup(), shows entries that are not valid, such as a
 * leaf waiting for its unmap.  Lockless; for log lines only.
 */
void hmmdev_pt_entries(struct hmmdev_pt *pt, u64 va, u64 raw[HMMDEV_PT_LEVELS])
{
	struct hmmdev_pt_table *t = pt->root;
	unsigned int l;
	u64 e;

	memset(raw, 0, HMMDEV_PT_LEVELS * sizeof(*raw));
	for (l = HMMDEV_PT_LEVELS; l >= 1 && t; l--) {
		e = pt_get(t, PT_IDX(va, l));
		raw[l - 1] = e;
		if (!(e & HMMDEV_PTE_VALID) || pt_is_leaf(l, e))
			return;
		t = READ_ONCE(t->sw[PT_IDX(va, l)]);
	}
}

/*
 * The reverse map of device memory: per device page, the level-1 entry that
 * maps it (a device page is mapped by at most one leaf: it belongs to one
 * mm).  Written under ctx->lock and hd->rmap_lock; eviction reads it under
 * the latter only (hmmdev_pt_devmem_young()).
 */
static void pt_rmap_set(struct hmmdev *hd, u64 offset, struct hmmdev_pt_table *t,
			unsigned int idx, bool link)
{
	unsigned long i = offset >> PAGE_SHIFT;

	spin_lock(&hd->rmap_lock);
	if (hd->rmap && i < hd->devmem_npages) {
		if (link)
			hd->rmap[i] = (struct hmmdev_rmap) { .t = t, .idx = idx };
		else if (hd->rmap[i].t == t && hd->rmap[i].idx == idx)
			hd->rmap[i].t = NULL;
	}
	spin_unlock(&hd->rmap_lock);
}

/**
 * hmmdev_pt_devmem_init() - device memory exists: know its pages
 * @hd: the device
 * @pgmap: its ZONE_DEVICE pages
 * @pfn_first: the PFN of device-memory offset 0
 * @npages: device pages
 *
 * Return: 0 or -ENOMEM.
 */
int hmmdev_pt_devmem_init(struct hmmdev *hd, struct dev_pagemap *pgmap,
			  unsigned long pfn_first, unsigned long npages)
{
	struct hmmdev_rmap *rmap = kvcalloc(npages, sizeof(*rmap), GFP_KERNEL);

	if (!rmap)
		return -ENOMEM;
	spin_lock(&hd->rmap_lock);
	hd->rmap = rmap;
	hd->devmem_pfn_first = pfn_first;
	hd->devmem_npages = npages;
	hd->devmem_pgmap = pgmap;
	spin_unlock(&hd->rmap_lock);
	return 0;
}

/**
 * hmmdev_pt_devmem_fini() - device memory is gone (no leaf maps it any more)
 * @hd: the device
 */
void hmmdev_pt_devmem_fini(struct hmmdev *hd)
{
	struct hmmdev_rmap *rmap;

	spin_lock(&hd->rmap_lock);
	rmap = hd->rmap;
	hd->rmap = NULL;
	hd->devmem_pgmap = NULL;
	spin_unlock(&hd->rmap_lock);
	kvfree(rmap);
}

/**
 * hmmdev_pt_devmem_young() - test and clear the ACCESSED bit of a device page
 * @hd: the device
 * @index: the device page (offset >> PAGE_SHIFT)
 *
 * The eviction clock's question: has the device used the page since the
 * last time?  The device sets ACCESSED with a compare-and-swap too, so no
 * update is lost.  The caller flushes the device TLB after clearing bits
 * (cached translations do not set the bit again).
 *
 * Return: true when a valid leaf maps the page with ACCESSED set (now clear).
 */
bool hmmdev_pt_devmem_young(struct hmmdev *hd, unsigned long index)
{
	bool young = false;
	__le64 *e;
	u64 old;

	spin_lock(&hd->rmap_lock);
	if (hd->rmap && index < hd->devmem_npages && hd->rmap[index].t) {
		e = &hd->rmap[index].t->e[hd->rmap[index].idx];
		old = READ_ONCE(*(u64 *)e);
		young = (le64_to_cpu(old) & HMMDEV_PTE_VALID) &&
			(le64_to_cpu(old) & HMMDEV_PTE_ACCESSED);
		while (young &&
		       !try_cmpxchg64((u64 *)e, &old,
				      cpu_to_le64(le64_to_cpu(old) & ~HMMDEV_PTE_ACCESSED)))
			;
	}
	spin_unlock(&hd->rmap_lock);
	return young;
}

static void pt_unmap_leaf(struct hmmdev *hd, struct hmmdev_pt_table *t, unsigned int i,
			  u64 pte)
{
	if (pte & HMMDEV_PTE_DEVMEM)
		pt_rmap_set(hd, pte & HMMDEV_PTE_ADDR_MASK, t, i, false);
	else
		dma_unmap_page(&hd->pdev->dev, pte & HMMDEV_PTE_ADDR_MASK,
			       PT_LEVEL_SIZE(t->level), DMA_BIDIRECTIONAL);
}

/* Remove one valid leaf at once: clear, invalidate the device TLB, unmap. */
static void pt_zap_leaf(struct hmmdev_ctx *ctx, struct hmmdev_pt_table *t,
			unsigned int i, u64 va)
{
	u64 pte = pt_get(t, i), size = PT_LEVEL_SIZE(t->level);

	pt_set(t, i, 0);
	hmmdev_invalidate(ctx->hd, HMMDEV_INV_RANGE, ctx->asid, va & ~(size - 1), size);
	hmmdev_count(ctx, HMMDEV_STAT_INVALIDATIONS, 1);
	pt_unmap_leaf(ctx->hd, t, i, pte);
	t->sw[i] = NULL;
	t->used--;
}

/**
 * hmmdev_pt_map() - install a leaf for a page of system or device memory
 * @ctx: the context, ctx->lock held
 * @va: the VA, aligned to the mapping size
 * @order: 0 (4 KiB) or 9 (2 MiB; system memory only)
 * @page: the first page; one of our device-private pages gets a DEVMEM leaf
 *	with its device-memory offset (and ACCESSED, as it is about to be used)
 * @dma: its DMA mapping (PAGE_SIZE << @order), or DMA_MAPPING_ERROR to have
 *	it mapped here (dma_map_page() does not sleep or reclaim); unused for
 *	device memory
 * @perm: HMMDEV_PTE_WRITE / HMMDEV_PTE_ATOMIC, plus HMMDEV_PTE_ACCESSED to
 *	install a new leaf with ACCESSED already set (a page the device is
 *	about to use: its walk then needs no A-bit write; an existing leaf is
 *	left as it is)
 * @need_inv: set when a valid entry changed in place, so the device TLB must
 *	be invalidated before the device continues
 *
 * Return: 1 when @dma is now owned by the page tables, 0 when the leaf
 * already mapped @page (the caller still owns @dma), or a negative errno:
 * -ENOMEM when the table cache ran dry (reserve and retry), -EEXIST when a
 * 2 MiB mapping is not possible here, -EIO when DMA mapping failed.
 */
int hmmdev_pt_map(struct hmmdev_ctx *ctx, u64 va, unsigned int order,
		  struct page *page, dma_addr_t dma, u64 perm, bool *need_inv)
{
	unsigned int level = order ? 2 : 1, i;
	struct device *dev = &ctx->hd->pdev->dev;
	bool devmem = hmmdev_page_is_devmem(ctx->hd, page);
	struct hmmdev_pt_table *t;
	u64 pte, size = PT_LEVEL_SIZE(level), accessed = perm & HMMDEV_PTE_ACCESSED;
	int err = 0;

	lockdep_assert_held(&ctx->lock);
	perm &= ~HMMDEV_PTE_ACCESSED;
	if (devmem && level != 1)
		return -EEXIST;
	t = pt_walk(&ctx->pt, va, level, true, &err);
	if (!t && err == -EEXIST && level == 1) {
		/* a 2 MiB leaf covers the page: take it down, then retry */
		struct hmmdev_pt_table *l2 = pt_walk(&ctx->pt, va, 2, false, &err);

		if (!l2)
			return -EEXIST;
		i = PT_IDX(va, 2);
		pte = pt_get(l2, i);
		if (!(pte & HMMDEV_PTE_VALID))
			return -EEXIST;
		pt_zap_leaf(ctx, l2, i, va);
		t = pt_walk(&ctx->pt, va, level, true, &err);
	}
	if (!t)
		return err;
	i = PT_IDX(va, level);
	pte = pt_get(t, i);
	if (level == 2 && (pte & HMMDEV_PTE_VALID) && !(pte & HMMDEV_PTE_LEAF))
		return -EEXIST;		/* 4 KiB entries already below: keep them */
	if (pte & HMMDEV_PTE_VALID) {
		if (t->sw[i] == page && !(pte & HMMDEV_PTE_DEVMEM) == !devmem) {
			if ((pte & PT_PERM_MASK) != perm) {
				pt_set(t, i, (pte & ~PT_PERM_MASK) | perm);
				*need_inv = true;
			}
			return 0;
		}
		pt_zap_leaf(ctx, t, i, va);
	}
	if (devmem) {
		t->sw[i] = page;
		t->used++;
		pt_set(t, i, hmmdev_devmem_offset(ctx->hd, page) | perm | HMMDEV_PTE_VALID |
		       HMMDEV_PTE_DEVMEM | HMMDEV_PTE_ACCESSED);
		pt_rmap_set(ctx->hd, hmmdev_devmem_offset(ctx->hd, page), t, i, true);
		return 1;
	}
	if (dma == DMA_MAPPING_ERROR) {
		dma = dma_map_page(dev, page, 0, size, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, dma))
			return -EIO;
	}
	if (dma & (size - 1)) {
		/* an IOVA not aligned for a 2 MiB leaf: the caller maps 4 KiB pages */
		return -EEXIST;
	}
	t->sw[i] = page;
	t->used++;
	pt_set(t, i, dma | perm | accessed | HMMDEV_PTE_VALID |
	       (level == 2 ? HMMDEV_PTE_LEAF : 0));
	return 1;
}

struct pt_sweep {
	u64 start, end;		/* the range asked for */
	u64 lo, hi;		/* what the cleared leaves cover */
	unsigned long pages;	/* 4 KiB pages cleared */
	bool unmap;		/* second pass: unmap and zero */
};

static void pt_sweep(struct hmmdev_pt *pt, struct hmmdev_pt_table *t, u64 base,
		     struct pt_sweep *s)
{
	unsigned int l = t->level, i, first, last;
	u64 size = PT_LEVEL_SIZE(l), va, pte;

	first = s->start > base ? (s->start - base) >> PT_LEVEL_SHIFT(l) : 0;
	last = min_t(u64, HMMDEV_PT_ENTRIES - 1, (s->end - 1 - base) >> PT_LEVEL_SHIFT(l));
	for (i = first; i <= last; i++) {
		va = base + i * size;
		pte = pt_get(t, i);
		if (!pte)
			continue;
		if (!pt_is_leaf(l, pte)) {
			if (pte & HMMDEV_PTE_VALID)
				pt_sweep(pt, t->sw[i], va, s);
			continue;
		}
		if (s->unmap) {
			if (pte & HMMDEV_PTE_VALID)
				continue;
			pt_unmap_leaf(pt->hd, t, i, pte);
			pt_set(t, i, 0);
			t->sw[i] = NULL;
			t->used--;
			continue;
		}
		if (!(pte & HMMDEV_PTE_VALID))
			continue;
		pt_set(t, i, pte & ~HMMDEV_PTE_VALID);
		s->lo = min(s->lo, va);
		s->hi = max(s->hi, va + size);
		s->pages += size >> PAGE_SHIFT;
	}
}

/**
 * hmmdev_pt_invalidate() - remove the device's mappings of a VA range
 * @ctx: the context, ctx->lock held
 * @start: first VA
 * @end: VA after the last
 *
 * Clears every leaf overlapping the range (a 2 MiB leaf goes as a whole),
 * invalidates the device TLB for what was cleared and waits for that to
 * complete, then DMA-unmaps the pages.  Never sleeps or allocates: MMU
 * notifiers call it.
 *
 * Return: the number of 4 KiB pages that were mapped.
 */
unsigned long hmmdev_pt_invalidate(struct hmmdev_ctx *ctx, u64 start, u64 end)
{
	struct pt_sweep s = { .start = start, .end = min_t(u64, end, HMMDEV_VA_LIMIT),
			      .lo = U64_MAX, .hi = 0 };

	lockdep_assert_held(&ctx->lock);
	if (s.start >= s.end || !ctx->pt.root)	/* freed: device removed */
		return 0;
	pt_sweep(&ctx->pt, ctx->pt.root, 0, &s);
	if (!s.pages)
		return 0;
	hmmdev_invalidate(ctx->hd, HMMDEV_INV_RANGE, ctx->asid, s.lo, s.hi - s.lo);
	hmmdev_count(ctx, HMMDEV_STAT_INVALIDATIONS, 1);
	s.unmap = true;
	s.start = s.lo;
	s.end = s.hi;
	pt_sweep(&ctx->pt, ctx->pt.root, 0, &s);
	return s.pages;
}

static void pt_free_tree(struct hmmdev_pt *pt, struct hmmdev_pt_table *t)
{
	unsigned int i;
	u64 pte;

	for (i = 0; i < HMMDEV_PT_ENTRIES; i++) {
		pte = pt_get(t, i);
		if (!pte)
			continue;
		if (pt_is_leaf(t->level, pte))
			pt_unmap_leaf(pt->hd, t, i, pte);
		else
			pt_free_tree(pt, t->sw[i]);
	}
	pt_table_free(t);
}

/**
 * hmmdev_pt_fini() - free the page tables and unmap every page they map
 * @pt: the page tables; the device no longer uses them (context disabled)
 */
void hmmdev_pt_fini(struct hmmdev_pt *pt)
{
	struct hmmdev_pt_table *t, *n;
	struct hmmdev_pt_chunk *c, *cn;

	if (pt->root)
		pt_free_tree(pt, pt->root);
	pt->root = NULL;
	list_for_each_entry_safe(t, n, &pt->cache, node)
		pt_table_free(t);
	INIT_LIST_HEAD(&pt->cache);
	pt->ncache = 0;
	/* no chunk_lock: fini runs under ctx->lock, which reclaim may need */
	list_for_each_entry_safe(c, cn, &pt->chunks, node) {
		dma_free_coherent(&pt->hd->pdev->dev, c->pages * PAGE_SIZE, c->va, c->dma);
		kfree(c);
	}
	INIT_LIST_HEAD(&pt->chunks);
	pt->cur = NULL;
}

static void pt_dump_table(struct hmmdev_pt_table *t, u64 base, struct seq_file *m)
{
	unsigned int l = t->level, i;
	u64 pte, va;

	for (i = 0; i < HMMDEV_PT_ENTRIES; i++) {
		pte = pt_get(t, i);
		if (!(pte & HMMDEV_PTE_VALID))
			continue;
		va = base + ((u64)i << PT_LEVEL_SHIFT(l));
		if (!pt_is_leaf(l, pte)) {
			pt_dump_table(t->sw[i], va, m);
			continue;
		}
		seq_printf(m, "%012llx %s %c%c%c%c%c %s 0x%llx\n", va,
			   l == 2 ? "2M" : "4K",
			   pte & HMMDEV_PTE_WRITE ? 'w' : '-',
			   pte & HMMDEV_PTE_ATOMIC ? 'x' : '-',
			   pte & HMMDEV_PTE_ACCESSED ? 'a' : '-',
			   pte & HMMDEV_PTE_DIRTY ? 'd' : '-',
			   pte & HMMDEV_PTE_DEVMEM ? 'D' : 's',
			   pte & HMMDEV_PTE_DEVMEM ? "dev" : "dma",
			   pte & HMMDEV_PTE_ADDR_MASK);
	}
}

/**
 * hmmdev_pt_dump() - print every valid leaf, one per line
 * @pt: the page tables, ctx->lock held
 * @m: the debugfs file
 *
 * Format: "VA SIZE FLAGS KIND ADDR" with FLAGS w (write), x (atomic),
 * a (accessed), d (dirty), D/s (device or system memory).
 */
void hmmdev_pt_dump(struct hmmdev_pt *pt, struct seq_file *m)
{
	seq_printf(m, "# tables %lu\n", pt->ntables);
	if (pt->root)
		pt_dump_table(pt->root, 0, m);
}
