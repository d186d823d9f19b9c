// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the map transaction.
 */

/**
 * DOC: Map transaction
 *
 * Every path that installs pages in a context's device page tables goes
 * through hmmdev_map_commit(): the device-fault mirror and its populate pass
 * (hmmdev_mirror.c), and the test_hmm personality's bounce window and
 * exclusive access (frontend/).  One transaction
 *
 *  1. DMA-maps, outside every lock, the system pages that the tables do not
 *     map already (our own device memory needs no mapping);
 *  2. reserves the tables the range may need (allocation is not allowed under
 *     ctx->lock, which reclaim takes through the notifier);
 *  3. takes ctx->lock and gives up with -EAGAIN when the notifier sequence
 *     moved since the pages were looked up (mmu_interval_read_retry()), or
 *     with -ENODEV when the device is gone;
 *  4. writes the leaves: 2 MiB where 512 pages allow it, else 4 KiB;
 *  5. invalidates the device TLB when a valid leaf changed in place;
 *  6. drops the lock and unmaps every DMA mapping the tables did not take.
 *
 * A leaf the device needs (@req) gets ACCESSED preset, because the device
 * is about to use it: its walk then needs no A-bit write (with ATS, a
 * translation round trip for write access to the table page).  DIRTY stays
 * the device's.  Writable pages get WRITE and ATOMIC: device atomics on
 * system memory are host atomics on the mirrored page (PCIe AtomicOp style).
 */
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include "svm/hmmdev_svm.h"

#define HUGE_ORDER	(HMMDEV_HUGE_SHIFT - PAGE_SHIFT)
#define HUGE_PAGES	BIT(HUGE_ORDER)
#define MAP_TRIES	8	/* times the tables are reserved again after -ENOMEM */

/* Can pfns[i..i+511] be one 2 MiB device PTE? */
static bool map_huge(const struct hmmdev_map *m, unsigned long i)
{
	const unsigned long *pfns = m->pfns;
	unsigned long first = pfns[i] & ~HMM_PFN_FLAGS, k;
	u64 va = m->start + i * PAGE_SIZE;

	if ((va & (SZ_2M - 1)) || i + HUGE_PAGES > m->npages ||
	    hmm_pfn_to_map_order(pfns[i]) < HUGE_ORDER || (first & (HUGE_PAGES - 1)))
		return false;
	for (k = 1; k < HUGE_PAGES; k++) {
		if (!(pfns[i + k] & HMM_PFN_VALID) ||
		    (pfns[i + k] & ~HMM_PFN_FLAGS) != first + k ||
		    (pfns[i + k] & HMM_PFN_WRITE) != (pfns[i] & HMM_PFN_WRITE))
			return false;
	}
	return true;
}

/* Size in pages of the mapping unit at page @i: HUGE_PAGES, 1, or 0 (skip it). */
static unsigned int map_unit(const struct hmmdev_map *m, unsigned long i)
{
	struct hmmdev *hd = m->ctx->hd;
	struct page *page;

	if (!(m->pfns[i] & HMM_PFN_VALID) || (m->pfns[i] & HMM_PFN_ERROR))
		return 0;
	page = hmm_pfn_to_page(m->pfns[i]);
	if (hmmdev_page_is_devmem(hd, page))
		return 1;			/* a DEVMEM leaf */
	/* another device's coherent memory is reached by DMA, peer to peer */
	if (is_zone_device_page(page) && !is_device_coherent_page(page))
		return 0;
	return map_huge(m, i) ? HUGE_PAGES : 1;
}

static bool map_required(const struct hmmdev_map *m, unsigned long i)
{
	return !m->req || (m->req[i] & HMM_PFN_REQ_FAULT);
}

/* How many pages of the unit [i, i + n) the device needs. */
static unsigned int map_unit_needed(const struct hmmdev_map *m, unsigned long i, unsigned int n)
{
	unsigned int k, c = 0;

	for (k = 0; k < n; k++)
		c += map_required(m, i + k);
	return c;
}

/* Step 1: DMA-map every unit's first page that the tables do not map already. */
static void map_dma(struct hmmdev_map *m)
{
	struct device *dev = &m->ctx->hd->pdev->dev;
	unsigned long i;
	unsigned int n, order;
	struct page *page;
	u64 pte;

	for (i = 0; i < m->npages; i += max(n, 1U)) {
		n = map_unit(m, i);
		m->dma[i] = DMA_MAPPING_ERROR;
		if (!n)
			continue;
		page = hmm_pfn_to_page(m->pfns[i]);
		if (hmmdev_page_is_devmem(m->ctx->hd, page))
			continue;
		if (hmmdev_pt_lookup(&m->ctx->pt, m->start + i * PAGE_SIZE, &order, &pte) == page &&
		    order == (n > 1 ? HUGE_ORDER : 0))
			continue;	/* the leaf stays: hmmdev_pt_map() returns 0 */
		m->dma[i] = dma_map_page(dev, page, 0, n * PAGE_SIZE, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, m->dma[i]))
			m->dma[i] = DMA_MAPPING_ERROR;	/* hmmdev_pt_map() tries again */
	}
}

/* Step 6: unmap the DMA mappings the page tables did not take. */
static void map_undma(struct hmmdev_map *m)
{
	struct device *dev = &m->ctx->hd->pdev->dev;
	unsigned long i;
	unsigned int n;

	for (i = 0; i < m->npages; i += max(n, 1U)) {
		n = map_unit(m, i);
		if (m->dma[i] == DMA_MAPPING_ERROR)
			continue;
		dma_unmap_page(dev, m->dma[i], n * PAGE_SIZE, DMA_BIDIRECTIONAL);
		m->dma[i] = DMA_MAPPING_ERROR;
	}
}

static u64 map_perm(const struct hmmdev_map *m, unsigned long i)
{
	u64 perm = m->perm;

	if (m->pfns[i] & HMM_PFN_WRITE)
		perm |= HMMDEV_PTE_WRITE | HMMDEV_PTE_ATOMIC;
	if (map_required(m, i))
		perm |= HMMDEV_PTE_ACCESSED;
	return perm;
}

/* A 2 MiB unit that cannot be one leaf here, page by page. */
static int map_unit_4k(struct hmmdev_map *m, unsigned long i, unsigned int n, bool *need_inv)
{
	unsigned int k;
	int r = 0;

	if (m->dma[i] != DMA_MAPPING_ERROR) {
		dma_unmap_page(&m->ctx->hd->pdev->dev, m->dma[i], n * PAGE_SIZE,
			       DMA_BIDIRECTIONAL);
		m->dma[i] = DMA_MAPPING_ERROR;
	}
	for (k = 0; k < n; k++) {
		r = hmmdev_pt_map(m->ctx, m->start + (i + k) * PAGE_SIZE, 0,
				  hmm_pfn_to_page(m->pfns[i + k]), DMA_MAPPING_ERROR,
				  map_perm(m, i + k), need_inv);
		if (r < 0)
			return r;
		m->mapped += r;
	}
	return 0;
}

/* Steps 4 and 5, under ctx->lock: the leaves; -ENOMEM: the table cache ran dry. */
static int map_ptes(struct hmmdev_map *m)
{
	struct hmmdev_ctx *ctx = m->ctx;
	bool need_inv = false;
	unsigned long i;
	unsigned int n;
	int r = 0;

	lockdep_assert_held(&ctx->lock);
	for (i = 0; i < m->npages; i += max(n, 1U)) {
		n = map_unit(m, i);
		if (!n) {
			if (!map_required(m, i))
				continue;
			r = m->pfns[i] & HMM_PFN_VALID ? -EXDEV : -ENOENT;
			m->miss.pages++;
			m->miss.err = r;
			break;
		}
		r = hmmdev_pt_map(ctx, m->start + i * PAGE_SIZE, n == 1 ? 0 : HUGE_ORDER,
				  hmm_pfn_to_page(m->pfns[i]), m->dma[i], map_perm(m, i),
				  &need_inv);
		if (r == 1) {
			m->dma[i] = DMA_MAPPING_ERROR;	/* the page tables own it */
			m->mapped += n;
			m->huge += n > 1;
		} else if (r == -EEXIST && n > 1) {
			r = map_unit_4k(m, i, n, &need_inv);
		}
		/*
		 * A needed page without a leaf fails the transaction, also one
		 * inside a 2 MiB unit that starts with a page the device does
		 * not need: a REPLAY would fault again on it (Forward progress).
		 */
		if (r < 0 && map_unit_needed(m, i, n)) {
			m->miss.pages += map_unit_needed(m, i, n);
			m->miss.err = r;
			break;
		}
		r = 0;
	}
	if (need_inv) {
		hmmdev_invalidate(ctx->hd, HMMDEV_INV_RANGE, ctx->asid, m->start,
				  m->npages << PAGE_SHIFT);
		hmmdev_count(ctx, HMMDEV_STAT_INVALIDATIONS, 1);
	}
	return r;
}

/**
 * hmmdev_map_commit() - install pages in a context's device page tables
 * @m: the transaction; @m->mapped and @m->huge are added to
 *
 * See DOC: Map transaction.  Pages not needed by the device (@m->req) that
 * cannot be mapped are skipped; a needed page that cannot be mapped fails
 * the transaction (@m->miss says which error), and the leaves already
 * written stay (they are valid).
 * Context: process; takes ctx->lock.
 *
 * Return: 0; -EAGAIN when @m->notifier was invalidated since @m->seq (look
 * the pages up again); -ENODEV when the device was removed; -ENOMEM; -EIO
 * when DMA mapping failed; -ENOENT or -EXDEV when hmm_range_fault() gave a
 * needed page no PFN the device can map (a bug: logged).
 */
int hmmdev_map_commit(struct hmmdev_map *m)
{
	struct hmmdev_ctx *ctx = m->ctx;
	u64 t0 = ktime_get_ns();
	unsigned int tries = 0;
	int ret;

	map_dma(m);
	hmmdev_count_ns(ctx, HMMDEV_STAT_NS_DMA_MAP, t0);
	do {
		if (tries++ == MAP_TRIES)
			break;		/* the table cache keeps running dry: -ENOMEM */
		ret = hmmdev_pt_reserve(&ctx->pt, m->start, m->start + (m->npages << PAGE_SHIFT));
		if (ret)
			break;
		t0 = ktime_get_ns();
		mutex_lock(&ctx->lock);
		if (ctx->detached)
			ret = -ENODEV;
		else if (m->notifier && mmu_interval_read_retry(m->notifier, m->seq))
			ret = -EAGAIN;
		else
			ret = map_ptes(m);
		mutex_unlock(&ctx->lock);
		hmmdev_count_ns(ctx, HMMDEV_STAT_NS_PTE_WRITE, t0);
		/* -ENOMEM from the walk: another mapper took the reserved tables */
	} while (ret == -ENOMEM);
	map_undma(m);
	if (ret == -ENOENT || ret == -EXDEV)
		dev_warn_ratelimited(&ctx->hd->pdev->dev,
				     "asid %u: a needed page in 0x%llx+%lu pages has no PFN the device can map (%d)\n",
				     ctx->asid, m->start, m->npages, ret);
	return ret;
}
