/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver: the one place where the kernels it builds against differ.
 *
 * One source builds against Linux 6.12.y (the LTS line, checked on 6.12.107)
 * and Linux 7.2 (checked on 7.2.8); the releases in between are not checked
 * and refused.  A feature macro decides where the kernel has one
 * (MIGRATE_PFN_COMPOUND: device-private THP); the version numbers elsewhere.
 * The differences, with the files they come from, are in docs/driver.md
 * ("Kernels").  Nothing outside this header tests a kernel version.
 */
#ifndef HMMDEV_COMPAT_H
#define HMMDEV_COMPAT_H

#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/version.h>

#if LINUX_VERSION_MAJOR > 7 || (LINUX_VERSION_MAJOR == 7 && LINUX_VERSION_PATCHLEVEL >= 2)
#define HMMDEV_K72 1
#elif LINUX_VERSION_MAJOR == 6 && LINUX_VERSION_PATCHLEVEL == 12
#define HMMDEV_K72 0
#else
#error "hmmdev builds against Linux 6.12.y or 7.2 and newer (docs/driver.md, Kernels)"
#endif

/* Device-private and device-coherent THP (migrate_vma of 2 MiB folios). */
#ifdef MIGRATE_PFN_COMPOUND
#define HMMDEV_DEVICE_THP 1
#else
#define HMMDEV_DEVICE_THP 0
#endif

/* The dev_pagemap of a ZONE_DEVICE page (struct page lost the member in 6.15). */
static inline struct dev_pagemap *hmmdev_page_pgmap(const struct page *page)
{
#if HMMDEV_K72
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/*
 * Give a free device page its first reference, locked, as one 4 KiB folio
 * of @pgmap (7.2 sets pgmap and the order here; 6.12 kept them in the page).
 */
static inline void hmmdev_zone_device_page_init(struct page *page, struct dev_pagemap *pgmap)
{
#if HMMDEV_K72
	zone_device_page_init(page, pgmap, 0);
#else
	zone_device_page_init(page);
#endif
}

/*
 * The free callback of dev_pagemap_ops: .page_free (6.12) per page,
 * .folio_free (7.2, required by memremap_pages()) per folio.  The driver
 * writes one function, taking a struct hmmdev_freed: a folio on 7.2, a
 * page on 6.12.
 */
#if HMMDEV_K72
#define hmmdev_freed			folio
#define HMMDEV_PGMAP_FREE(fn)		.folio_free = (fn)
#else
#define hmmdev_freed			page
#define HMMDEV_PGMAP_FREE(fn)		.page_free = (fn)
#endif

/* The first page of what .folio_free or .page_free was given, and how many. */
static inline struct page *hmmdev_freed_page(struct hmmdev_freed *freed)
{
#if HMMDEV_K72
	return folio_page(freed, 0);
#else
	return freed;
#endif
}

static inline long hmmdev_freed_nr(struct hmmdev_freed *freed)
{
#if HMMDEV_K72
	return folio_nr_pages(freed);
#else
	return 1;
#endif
}

/**
 * hmmdev_make_device_exclusive() - make one page exclusive to the device
 * @mm: the mm, mmap_lock held for reading
 * @addr: the page's address
 * @owner: passed to the MMU notifier (MMU_NOTIFY_EXCLUSIVE's owner on 6.12)
 *
 * 7.2's make_device_exclusive() on both kernels.  On 6.12 the range
 * function of one page: a large folio is refused there (-EBUSY), where 7.2
 * splits the PMD first.
 *
 * Return: the page, locked and referenced, or an ERR_PTR: -EBUSY, and on
 * 7.2 -EOPNOTSUPP for memory that is not anonymous, or GUP's error.
 */
static inline struct page *hmmdev_make_device_exclusive(struct mm_struct *mm,
							unsigned long addr, void *owner)
{
#if HMMDEV_K72
	struct folio *folio;

	return make_device_exclusive(mm, addr, owner, &folio);
#else
	struct page *page = NULL;
	int n = make_device_exclusive_range(mm, addr, addr + PAGE_SIZE, &page, owner);

	if (n < 0)
		return ERR_PTR(n);
	return page ? page : ERR_PTR(-EBUSY);
#endif
}

#endif /* HMMDEV_COMPAT_H */
