// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: eviction of device memory (a second-chance clock over dpage[]) and the
 * loss of its contents to a fatal device error.
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

/*
 * Linux 6.12's migrate_device_unmap() restores every page it does not
 * migrate with remove_migration_ptes(), also a folio it never unmapped.  An
 * anonymous device-coherent page that munmap() or a process exit has just
 * unmapped is still referenced by the mmu_gather until its TLB flush, and
 * its anon_vma may already be freed: the restore then walks a dead anon_vma
 * and Oopses (docs/driver.md, "Known problems").  Such a page is
 * about to be freed anyway, so eviction leaves it.  Device-private pages
 * are put at once by the zap, never batched, so they are never in that
 * state.  The test is a hint taken without a reference (the struct page
 * lives as long as the pgmap); the window left is the few instructions
 * between it and migrate_device_range().
 */
static bool dmem_evictable(struct hmmdev_dmem *dm, unsigned long i)
{
	return !dm->coherent || folio_mapped(page_folio(pfn_to_page(dm->pfn_first + i)));
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
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned long *src = dm->ev_src, *dst = dm->ev_dst, moved, i;

	lockdep_assert_held(&dm->evict_lock);
	migrate_device_range(src, dm->pfn_first + first, n);
	hmmdev_dmem_copy_to_sys(hd, src, dst, n, NULL, 0);
	migrate_device_pages(src, dst, n);
	moved = hmmdev_dmem_moved(src, dst, n);
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

/**
 * hmmdev_dmem_evict_lru() - evict up to @want least recently used pages
 * @hd: the device
 * @want: how many
 *
 * A second-chance clock on the device's ACCESSED bits.
 *
 * Return: pages moved to system memory.
 */
unsigned long hmmdev_dmem_evict_lru(struct hmmdev *hd, unsigned long want)
{
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned long *idx = dm->ev_idx, n = 0, scanned, cleared = 0, moved;
	struct dmem_victim victims;

	want = min_t(unsigned long, want, HMMDEV_MIGRATE_PAGES);
	mutex_lock(&dm->evict_lock);
	spin_lock(&dm->lock);
	for (scanned = 0; n < want && scanned < 2 * dm->npages; scanned++) {
		unsigned long i = dm->hand;
		struct hmmdev_dpage *d = &dm->dpage[i];

		dm->hand = (i + 1) % dm->npages;
		if (!d->used || !dmem_evictable(dm, i))
			continue;
		if (d->fresh) {
			d->fresh = false;
			continue;
		}
		if (hmmdev_pt_devmem_young(hd, i)) {
			cleared++;
			continue;
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

/**
 * hmmdev_dmem_evict_matching() - evict every page of @owner, or every page
 * @hd: the device
 * @owner: the context whose pages go, or NULL for all
 *
 * Return: pages still in use that match (pinned or busy).
 */
unsigned long hmmdev_dmem_evict_matching(struct hmmdev *hd, struct hmmdev_ctx *owner)
{
	struct hmmdev_dmem *dm = hd->dmem;
	unsigned long *idx = dm->ev_idx, i = 0, n, moved = 0, left = 0;

	mutex_lock(&dm->evict_lock);
	while (i < dm->npages) {
		n = 0;
		spin_lock(&dm->lock);
		for (; i < dm->npages && n < HMMDEV_MIGRATE_PAGES; i++) {
			if (!dm->dpage[i].used || (owner && dm->dpage[i].owner != owner))
				continue;
			if (dmem_evictable(dm, i))
				idx[n++] = i;
			else
				left++;		/* being freed: the caller may wait for it */
		}
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

/**
 * hmmdev_dmem_evict_all() - move every device page back to system memory
 * @hd: the device
 *
 * Best effort: pages pinned or busy right now stay.  test_hmm's RELEASE.
 */
void hmmdev_dmem_evict_all(struct hmmdev *hd)
{
	struct hmmdev_dmem *dm = hd->dmem;

	down_read(&dm->users);
	if (dm->enabled && !dm->stopping)
		hmmdev_dmem_evict_matching(hd, NULL);
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
	struct hmmdev_dmem *dm = hd->dmem;
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

