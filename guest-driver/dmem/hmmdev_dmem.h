/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver, dmem layer: device memory as ZONE_DEVICE pages, migration
 * both ways by the copy engine, eviction, and loss of the contents to a
 * fatal device error.  Below it: the core.
 */
#ifndef HMMDEV_DMEM_H
#define HMMDEV_DMEM_H

#include <linux/migrate.h>
#include <linux/rwsem.h>
#include "core/hmmdev_core.h"

/* Book-keeping of one device page (struct hmmdev_dmem.dpage[]). */
struct hmmdev_dpage {
	struct hmmdev_ctx *owner;	/* context that migrated it in, or NULL */
	bool used;			/* allocated (not on the free list) */
	bool fresh;			/* just migrated in: one more chance */
};

/* Device memory as MEMORY_DEVICE_PRIVATE/COHERENT pages, and the migration engine. */
struct hmmdev_dmem {
	struct dev_pagemap pgmap;	/* owner: the struct hmmdev */
	struct resource *res;
	unsigned long pfn_first;
	unsigned long npages;
	void *zero;			/* a zeroed page: source for new pages */
	dma_addr_t zero_dma;
	bool coherent;			/* MEMORY_DEVICE_COHERENT over BAR 4 */
	bool enabled;			/* registered and usable */

	spinlock_t lock;		/* protects the fields below */
	struct page *free;		/* free pages, linked by zone_device_data */
	unsigned long nfree;
	struct hmmdev_dpage *dpage;	/* per device page */
	unsigned long hand;		/* eviction clock hand */
	bool stopping;			/* teardown started: allocate nothing */
	bool lost;			/* contents lost to a fatal error */

	struct rw_semaphore users;	/* migrate ioctls (read) vs teardown */

	struct mutex evict_lock;	/* protects the fields below */
	unsigned long *ev_src, *ev_dst;	/* HMMDEV_MIGRATE_PAGES each */
	unsigned long *ev_idx;		/* victims, HMMDEV_MIGRATE_PAGES */
	struct hmmdev_ctx **ev_owner;	/* ... the context each belongs to */

	/* migrate-on-fault scratch (the fault worker only), HMMDEV_MIGRATE_PAGES */
	unsigned long *fm_src, *fm_dst;
	struct page **fm_pool;

	/* the kernel queue: SG_COPY commands of migrations */
	struct mutex copy_lock;		/* protects the fields below */
	struct hmmdev_kq kq;		/* the last hardware queue, polled */
	struct hmmdev_hw_sg_entry *sg;	/* HMMDEV_MIGRATE_PAGES entries */
	struct page **sg_pages;		/* system pages of one copy, ... */
	dma_addr_t *sg_dma_pages;	/* ... their DMA addresses, ... */
	unsigned int *sg_slot;		/* ... and their SG_COPY entries */
	dma_addr_t sg_dma;
};

/* Is the device's memory registered as MEMORY_DEVICE_COHERENT? */
static inline bool hmmdev_dmem_coherent(struct hmmdev *hd)
{
	return hd->dmem && hd->dmem->coherent;
}

/* Is the device's memory registered and usable? */
static inline bool hmmdev_dmem_enabled(struct hmmdev *hd)
{
	return hd->dmem && hd->dmem->enabled;
}

/* The device whose memory @page is (one of our ZONE_DEVICE pages). */
static inline struct hmmdev *hmmdev_dmem_page_hd(struct page *page)
{
	return hmmdev_page_pgmap(page)->owner;
}

/* The index of one of our pages in dpage[] (its device-memory offset / 4 KiB). */
static inline unsigned long hmmdev_dpage_index(struct hmmdev_dmem *dm, struct page *page)
{
	return page_to_pfn(page) - dm->pfn_first;
}

/* The layer's interface (hmmdev_pool.c, hmmdev_migrate.c, hmmdev_evict.c) */
int hmmdev_dmem_init(struct hmmdev *hd);
void hmmdev_dmem_fini(struct hmmdev *hd);
int hmmdev_dmem_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			u64 *migrated, u64 *skipped);
void hmmdev_dmem_fault_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev);
void hmmdev_dmem_ctx_gone(struct hmmdev_ctx *ctx);
int hmmdev_dmem_migrate_strict(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			       u64 *migrated);
void hmmdev_dmem_evict_all(struct hmmdev *hd);
void hmmdev_dmem_lost(struct hmmdev *hd);

/* Within the layer */
void hmmdev_dmem_put_free(struct hmmdev_dmem *dm, struct page *page);
unsigned long hmmdev_dmem_take(struct hmmdev_dmem *dm, struct page **pages,
			       unsigned long n, struct hmmdev_ctx *owner);
int hmmdev_dmem_copy_to_sys(struct hmmdev *hd, const unsigned long *src,
			    unsigned long *dst, unsigned long n,
			    struct vm_area_struct *vma, unsigned long start);
int hmmdev_dmem_copy_to_dev(struct hmmdev *hd, struct migrate_vma *args,
			    struct page **pool, unsigned long *npool);
unsigned long hmmdev_dmem_moved(const unsigned long *src, const unsigned long *dst,
				unsigned long n);
unsigned long hmmdev_dmem_evict_lru(struct hmmdev *hd, unsigned long want);
unsigned long hmmdev_dmem_evict_matching(struct hmmdev *hd, struct hmmdev_ctx *owner);
vm_fault_t hmmdev_dmem_migrate_to_ram(struct vm_fault *vmf);

#endif /* HMMDEV_DMEM_H */
