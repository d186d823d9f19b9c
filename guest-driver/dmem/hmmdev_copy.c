// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the copy engine for migrations: one SG_COPY per batch on the kernel queue
 * (the last hardware queue, polled), with one scatter-gather DMA mapping.
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

/* Run the first @n entries of dm->sg with one SG_COPY; copy_lock held. */
static int dmem_sg_copy(struct hmmdev *hd, unsigned int n)
{
	struct hmmdev_dmem *dm = hd->dmem;
	u32 status, info = 0;
	u64 t0 = ktime_get_ns();
	int ret;

	lockdep_assert_held(&dm->copy_lock);
	ret = hmmdev_kq_sg_copy(&dm->kq, dm->sg_dma, n, HMMDEV_KQ_TIMEOUT_US, &status, &info);
	atomic64_add(ktime_get_ns() - t0, &hd->stats.v[HMMDEV_STAT_NS_SG_COPY]);
	atomic64_inc(&hd->stats.v[HMMDEV_STAT_SG_COPIES]);
	if (ret == -ETIMEDOUT)
		dev_err(&hd->pdev->dev, "SG_COPY of %u pages timed out\n", n);
	if (ret)
		return -EIO;
	if (status & HMMDEV_CS_CODE_MASK) {
		dev_err_ratelimited(&hd->pdev->dev, "SG_COPY failed: error 0x%x at entry %u\n",
				    status & HMMDEV_CS_CODE_MASK, info);
		return -EIO;
	}
	return 0;
}

static void sg_set(struct hmmdev_hw_sg_entry *e, u64 src, u64 dst, u32 flags)
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

/**
 * hmmdev_dmem_copy_to_sys() - device -> system for selected migration entries
 * @hd: the device
 * @src: migrate_pfn entries; those with MIGRATE_PFN_MIGRATE are copied
 * @dst: out: the new system pages as migrate_pfn entries
 * @n: entries
 * @vma: the VMA the pages are for (page allocation policy), or NULL
 * @start: the VA of @src[0] in @vma
 *
 * Allocates system pages, copies with one SG_COPY and fills @dst.
 *
 * Return: 0, -ENOMEM (a page could not be allocated; the others were
 * copied) or -EIO (the copy failed: @dst all 0).
 */
int hmmdev_dmem_copy_to_sys(struct hmmdev *hd, const unsigned long *src,
			    unsigned long *dst, unsigned long n,
			    struct vm_area_struct *vma, unsigned long start)
{
	struct hmmdev_dmem *dm = hd->dmem;
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
		if (WARN_ON_ONCE(!hmmdev_page_is_devmem(hd, spage)))
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
		sg_set(&dm->sg[k], hmmdev_devmem_offset(hd, spage), 0, HMMDEV_SG_SRC_DEVMEM);
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

/**
 * hmmdev_dmem_moved() - pages of a finished migration that moved
 * @src: its source entries
 * @dst: its destination entries
 * @n: entries
 *
 * Return: the number of entries that migrated.
 */
unsigned long hmmdev_dmem_moved(const unsigned long *src, const unsigned long *dst,
				unsigned long n)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++)
		if ((src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
			moved++;
	return moved;
}

/**
 * hmmdev_dmem_copy_to_dev() - system -> device for selected migration entries
 * @hd: the device
 * @args: the migration; its selected entries get device pages in dst
 * @pool: device pages to use, taken from the end
 * @npool: in/out: pages left in @pool
 *
 * One SG_COPY.
 *
 * Return: 0 or -EIO (then nothing migrates: @args->dst all 0).
 */
int hmmdev_dmem_copy_to_dev(struct hmmdev *hd, struct migrate_vma *args,
			    struct page **pool, unsigned long *npool)
{
	struct hmmdev_dmem *dm = hd->dmem;
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
		hmmdev_zone_device_page_init(dpage, &dm->pgmap);
		/* a page never written is the zero page (spage NULL) */
		sg_set(&dm->sg[k], dm->zero_dma, hmmdev_devmem_offset(hd, dpage),
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

