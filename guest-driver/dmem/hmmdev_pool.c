// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: device memory, migration and eviction (the dmem layer).
 *
 * This file: registration of the pages, the allocator, set-up and teardown.
 * hmmdev_copy.c: the kernel SG_COPY queue; hmmdev_migrate.c:
 * migration both ways; hmmdev_evict.c: eviction and loss.
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
 * migrated it in; the core's reverse map (hmmdev_pt_devmem_young()) knows the
 * device leaf that maps it, for the accessed bit.
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
#include "dmem/hmmdev_dmem.h"
#include "obs/hmmdev_trace.h"

#define HMMDEV_TEARDOWN_TIMEOUT_MS	30000

static unsigned long coherent;
module_param(coherent, ulong, 0444);
MODULE_PARM_DESC(coherent,
		 "bit n set: the n-th hmmdev function (PCI bus order) registers its memory as MEMORY_DEVICE_COHERENT over BAR 4 instead of MEMORY_DEVICE_PRIVATE");

/**
 * hmmdev_dmem_put_free() - return a page (refcount 0) to the free list
 * @dm: the device memory
 * @page: one of its pages
 */
void hmmdev_dmem_put_free(struct hmmdev_dmem *dm, struct page *page)
{
	struct hmmdev_dpage *d;

	spin_lock(&dm->lock);
	d = &dm->dpage[hmmdev_dpage_index(dm, page)];
	*d = (struct hmmdev_dpage) { };
	page->zone_device_data = dm->free;
	dm->free = page;
	dm->nfree++;
	spin_unlock(&dm->lock);
}

/* The last reference to one of our folios (a page on 6.12) went away. */
static void hmmdev_dmem_free(struct hmmdev_freed *freed)
{
	struct page *page = hmmdev_freed_page(freed);
	struct hmmdev_dmem *dm = hmmdev_dmem_page_hd(page)->dmem;
	long i;

	for (i = 0; i < hmmdev_freed_nr(freed); i++)
		hmmdev_dmem_put_free(dm, page + i);
}

/**
 * hmmdev_dmem_take() - take up to @n free pages for @owner
 * @dm: the device memory
 * @pages: out: the pages (refcount 0, not yet initialized)
 * @n: how many are wanted
 * @owner: the context they are for, or NULL
 *
 * Return: how many were taken (0 once teardown started).
 */
unsigned long hmmdev_dmem_take(struct hmmdev_dmem *dm, struct page **pages,
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
		d = &dm->dpage[hmmdev_dpage_index(dm, page)];
		*d = (struct hmmdev_dpage) { .owner = owner, .used = true, .fresh = true };
		pages[got++] = page;
	}
	spin_unlock(&dm->lock);
	return got;
}

static const struct dev_pagemap_ops hmmdev_dmem_ops = {
	HMMDEV_PGMAP_FREE(hmmdev_dmem_free),
	.migrate_to_ram = hmmdev_dmem_migrate_to_ram,
};

/* The CPU maps coherent pages directly: it never faults on them. */
static const struct dev_pagemap_ops hmmdev_dmem_coherent_ops = {
	HMMDEV_PGMAP_FREE(hmmdev_dmem_free),
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
	struct hmmdev_dmem *dm = hd->dmem;
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
	struct hmmdev_dmem *dm = hd->dmem;

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
	struct hmmdev_dmem *dm = ctx->hd->dmem;
	unsigned long i;

	down_read(&dm->users);
	if (dm->enabled && !dm->stopping)
		hmmdev_dmem_evict_matching(ctx->hd, ctx);
	up_read(&dm->users);
	spin_lock(&dm->lock);
	for (i = 0; dm->dpage && i < dm->npages; i++)
		if (dm->dpage[i].owner == ctx)
			dm->dpage[i].owner = NULL;
	spin_unlock(&dm->lock);
}

static void dmem_free_resources(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = hd->dmem;
	struct device *dev = &hd->pdev->dev;

	if (dm->kq.ring) {
		hmmdev_kq_stop(&dm->kq);
		hmmdev_kq_fini(&dm->kq);
	}
	if (dm->sg)
		dma_free_coherent(dev, HMMDEV_MIGRATE_PAGES * HMMDEV_SG_ENTRY_SIZE, dm->sg,
				  dm->sg_dma);
	if (dm->zero)
		dma_free_coherent(dev, PAGE_SIZE, dm->zero, dm->zero_dma);
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
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned int q = hd->num_queues - 1;
	int ret;

	ret = hmmdev_kq_init(hd, &dm->kq);
	if (ret)
		return ret;
	return hmmdev_kq_start(&dm->kq, q, HMMDEV_MSIX_VEC_QUEUE0 + q);
}

/**
 * hmmdev_dmem_init() - register device memory and the migration queue
 * @hd: the device, just reset, before its queue interrupts are requested
 *
 * Reserves the last hardware queue (hd->num_queues shrinks by one).  Without
 * device memory, or when registration fails, the device works without it
 * (migration requests get -EOPNOTSUPP).
 *
 * Return: 0 (failures are only logged), or -ENOMEM when not even the
 * book-keeping can be allocated.
 */
int hmmdev_dmem_init(struct hmmdev *hd)
{
	struct device *dev = &hd->pdev->dev;
	struct hmmdev_dmem *dm;
	unsigned long i;
	void *addr;
	int ret = -ENOMEM;

	/* freed with the device: files closed after its removal still look */
	dm = kzalloc_obj(*dm, GFP_KERNEL);
	if (!dm)
		return -ENOMEM;
	hd->dmem = dm;
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
	ret = hmmdev_pt_devmem_init(hd, &dm->pgmap, dm->pfn_first, dm->npages);
	if (ret) {
		memunmap_pages(&dm->pgmap);
		dmem_release_range(hd);
		goto err;
	}
	hd->num_queues--;	/* the last one is ours */
	dm->enabled = true;
	dev_info(dev, "%llu MiB device memory as device-%s pages at [mem %#010llx-%#010llx]\n",
		 hd->devmem_size >> 20, dm->coherent ? "coherent" : "private",
		 dm->pgmap.range.start, dm->pgmap.range.end);
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
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned long deadline = jiffies + msecs_to_jiffies(HMMDEV_TEARDOWN_TIMEOUT_MS);
	unsigned long left;

	if (!dm || !dm->enabled)
		return;
	down_write(&dm->users);
	spin_lock(&dm->lock);
	dm->stopping = true;
	spin_unlock(&dm->lock);
	up_write(&dm->users);
	while ((left = hmmdev_dmem_evict_matching(hd, NULL))) {
		if (time_after(jiffies, deadline)) {
			dev_err(&hd->pdev->dev, "%lu device pages cannot be migrated back\n",
				left);
			break;
		}
		msleep(20);
	}
	memunmap_pages(&dm->pgmap);
	hmmdev_pt_devmem_fini(hd);
	dmem_release_range(hd);
	dm->enabled = false;
	dmem_free_resources(hd);
}
