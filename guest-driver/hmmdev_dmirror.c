// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the test_hmm personality, /dev/hmm_dmirror0..3.
 *
 * DOC: Overview
 *
 * The kernel's HMM conformance suite (tools/testing/selftests/mm/hmm-tests.c)
 * talks to lib/test_hmm.c, a device simulated by the CPU, through the uAPI
 * of lib/test_hmm_uapi.h.  With the module parameter dmirror=1 this file
 * offers the same nodes and ioctls, backed by the emulated hardware, so the
 * same unmodified binary runs against it:
 *
 *  - hmm_dmirror0 and hmm_dmirror1: the first and second hmmdev function (in
 *    PCI bus order) whose memory is MEMORY_DEVICE_PRIVATE;
 *  - hmm_dmirror2 and hmm_dmirror3: the first and second whose memory is
 *    MEMORY_DEVICE_COHERENT (module parameter coherent=, hmmdev_dmem.c).
 *
 * Each open is an ordinary context (hmmdev_ctx.c: ASID, device page tables,
 * notifier) with one kernel-owned queue.  READ and WRITE are COPY commands
 * executed by the device between the caller's range and a bounce window
 * mapped at DMIRROR_BOUNCE_VA, above every user address, so only the
 * caller's range can fault.  The device's faults go through the fault ring
 * and hmmdev_fault.c like any other; the queue's fault_until makes one fault
 * resolve the whole rest of the request, which is test_hmm's "faults"
 * contract: the ioctl reports how many fault records the device raised.
 * Migrations are hmmdev_dmem.c's, copied by the copy engine; SNAPSHOT reads
 * the CPU page tables like test_hmm; EXCLUSIVE maps the pages returned by
 * make_device_exclusive_range() with HMMDEV_PTE_SW_EXCLUSIVE, which
 * CHECK_EXCLUSIVE looks for; RELEASE evicts all device memory.
 *
 * The names are test_hmm's own, so only one of the two modules can offer
 * them: the second to register fails with -EBUSY (the sysfs name exists).
 *
 * DOC: Locking
 *
 * dmirror_lock protects the device table below and keeps a device from
 * being detached while an open looks it up.  dmirror.lock serializes the
 * commands of one file (one bounce window, one queue); it is never taken by
 * a notifier.  dmirror.snap_lock is the snapshot notifier's lock, as in
 * test_hmm.  The context's own locks nest inside as usual.
 */
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include "test_hmm_uapi.h"
#include "hmmdev_drv.h"

static bool dmirror;
module_param(dmirror, bool, 0444);
MODULE_PARM_DESC(dmirror,
		 "offer /dev/hmm_dmirror0..3 (lib/test_hmm_uapi.h) on hmmdev devices; test_hmm.ko must not be loaded");

#define DMIRROR_NODES		4
#define DMIRROR_BOUNCE_PAGES	1024			/* a 4 MiB window */
#define DMIRROR_BOUNCE_SIZE	((u64)DMIRROR_BOUNCE_PAGES << PAGE_SHIFT)
/*
 * Above the default user address space (with 5-level paging a process gets
 * addresses there only by asking for them with an mmap() hint): the ioctls
 * refuse ranges that reach it.
 */
#define DMIRROR_BOUNCE_VA	(1ULL << 47)
#define DMIRROR_QUEUE_ENTRIES	8
#define DMIRROR_SNAP_PAGES	64			/* as test_hmm */

/* One /dev/hmm_dmirrorN node. */
struct dmirror_node {
	struct cdev cdev;
	struct device dev;
	bool added;
};

static dev_t dmirror_devt;
static struct dmirror_node dmirror_nodes[DMIRROR_NODES];

static DEFINE_MUTEX(dmirror_lock);
static struct hmmdev *dmirror_devs[HMMDEV_MAX_DEVICES];	/* attached devices */
/* protects the above */

/* One open dmirror file: a context on the chosen device, and its bounce. */
struct dmirror {
	struct hmmdev_ctx *ctx;
	unsigned int node;

	struct mutex lock;		/* serializes commands; protects below */
	struct hmmdev_queue *q;		/* created on first use */
	struct page **bounce_pages;	/* DMIRROR_BOUNCE_PAGES, mapped on the device */
	void *bounce;			/* ... and in the kernel (vmap) */
	/* protects the above */

	struct mutex snap_lock;		/* snapshot notifiers' lock */
};

/* A temporary notifier over the range of one snapshot (test_hmm's). */
struct dmirror_interval {
	struct mmu_interval_notifier notifier;
	struct dmirror *dmi;
};

/**
 * hmmdev_dmirror_attach() - a device's memory is ready: offer it
 * @hd: the device; hd->dmem.enabled
 */
void hmmdev_dmirror_attach(struct hmmdev *hd)
{
	unsigned int i;

	mutex_lock(&dmirror_lock);
	for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++) {
		if (!dmirror_devs[i]) {
			dmirror_devs[i] = hd;
			break;
		}
	}
	mutex_unlock(&dmirror_lock);
}

/**
 * hmmdev_dmirror_detach() - a device is going away: no new opens reach it
 * @hd: the device
 *
 * Files already open keep their context, which the removal detaches.
 */
void hmmdev_dmirror_detach(struct hmmdev *hd)
{
	unsigned int i;

	mutex_lock(&dmirror_lock);
	for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++)
		if (dmirror_devs[i] == hd)
			dmirror_devs[i] = NULL;
	mutex_unlock(&dmirror_lock);
}

/* The device behind node @node: the (node & 1)-th of the wanted kind. */
static struct hmmdev *dmirror_pick(unsigned int node)
{
	bool want_coherent = node >= 2;
	unsigned int want = node & 1, i, rank, seen = 0;

	lockdep_assert_held(&dmirror_lock);
	for (rank = 0; rank < HMMDEV_MAX_DEVICES * 4; rank++) {
		for (i = 0; i < ARRAY_SIZE(dmirror_devs); i++) {
			struct hmmdev *hd = dmirror_devs[i];

			if (!hd || hd->pci_rank != rank || hd->dmem.coherent != want_coherent)
				continue;
			if (seen++ == want)
				return hd;
		}
	}
	return NULL;
}

static int dmirror_open(struct inode *inode, struct file *filp)
{
	struct dmirror_node *node = container_of(inode->i_cdev, struct dmirror_node, cdev);
	struct dmirror *dmi;
	struct hmmdev *hd;
	int ret = 0;

	dmi = kzalloc(sizeof(*dmi), GFP_KERNEL);
	if (!dmi)
		return -ENOMEM;
	dmi->node = node - dmirror_nodes;
	mutex_init(&dmi->lock);
	mutex_init(&dmi->snap_lock);
	mutex_lock(&dmirror_lock);
	hd = dmirror_pick(dmi->node);
	if (!hd) {
		ret = -ENODEV;
	} else {
		dmi->ctx = hmmdev_ctx_create(hd);
		if (IS_ERR(dmi->ctx))
			ret = PTR_ERR(dmi->ctx);
	}
	mutex_unlock(&dmirror_lock);
	if (ret) {
		kfree(dmi);
		return ret;
	}
	filp->private_data = dmi;
	return 0;
}

static int dmirror_release(struct inode *inode, struct file *filp)
{
	struct dmirror *dmi = filp->private_data;
	unsigned int i;

	/* stops the queue and unmaps the bounce window from the device */
	hmmdev_ctx_destroy(dmi->ctx);
	if (dmi->bounce)
		vunmap(dmi->bounce);
	for (i = 0; dmi->bounce_pages && i < DMIRROR_BOUNCE_PAGES; i++)
		if (dmi->bounce_pages[i])
			__free_page(dmi->bounce_pages[i]);
	kvfree(dmi->bounce_pages);
	kfree(dmi);
	return 0;
}

/* Map the bounce window into the context's device page tables. */
static int dmirror_map_bounce(struct dmirror *dmi)
{
	struct hmmdev_map m = {
		.ctx = dmi->ctx,
		.start = DMIRROR_BOUNCE_VA,
		.npages = DMIRROR_BOUNCE_PAGES,
	};
	unsigned long *pfns;
	unsigned int i;
	int ret = -ENOMEM;

	pfns = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(*pfns), GFP_KERNEL);
	m.dma = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(*m.dma), GFP_KERNEL);
	if (pfns && m.dma) {
		for (i = 0; i < DMIRROR_BOUNCE_PAGES; i++)
			pfns[i] = hmmdev_map_pfn(dmi->bounce_pages[i], true);
		m.pfns = pfns;
		ret = hmmdev_map_commit(&m);
	}
	kvfree(m.dma);
	kvfree(pfns);
	return ret;
}

/* The queue and the bounce window, made on first use; dmi->lock held. */
static int dmirror_ready(struct dmirror *dmi)
{
	unsigned int i;
	u32 qid;
	int ret;

	lockdep_assert_held(&dmi->lock);
	if (dmi->q && dmi->bounce)
		return 0;
	if (!dmi->q) {
		ret = hmmdev_queue_create(dmi->ctx, DMIRROR_QUEUE_ENTRIES, &qid);
		if (ret)
			return ret;
		dmi->q = hmmdev_queue_get(dmi->ctx, qid);
		if (!dmi->q)
			return -ENODEV;
	}
	if (!dmi->bounce_pages) {
		dmi->bounce_pages = kvcalloc(DMIRROR_BOUNCE_PAGES, sizeof(struct page *),
					     GFP_KERNEL);
		if (!dmi->bounce_pages)
			return -ENOMEM;
		for (i = 0; i < DMIRROR_BOUNCE_PAGES; i++) {
			dmi->bounce_pages[i] = alloc_page(GFP_KERNEL);
			if (!dmi->bounce_pages[i])
				return -ENOMEM;	/* freed at release */
		}
	}
	ret = dmirror_map_bounce(dmi);
	if (ret)
		return ret;
	dmi->bounce = vmap(dmi->bounce_pages, DMIRROR_BOUNCE_PAGES, VM_MAP, PAGE_KERNEL);
	return dmi->bounce ? 0 : -ENOMEM;
}

/*
 * Have the device copy @len bytes from VA @src to VA @dst and wait.
 * Return: 0 or the command's errno (-EFAULT, -EPERM: hmm_range_fault()'s,
 * -EIO, -ENODEV), -EINTR when the caller is being killed.
 */
static int dmirror_device_copy(struct dmirror *dmi, u64 dst, u64 src, u64 len)
{
	struct hmmdev_cmd cmd = { .op = HMMDEV_OP_COPY, .dst = dst, .src = src, .len = len };
	struct hmmdev_wait w = { };
	u64 fence;
	int ret;

	ret = hmmdev_queue_submit(dmi->q, &cmd, 1, false, &fence);
	if (ret)
		return ret;
	for (;;) {
		ret = hmmdev_queue_wait(dmi->q, fence, -1, &w);
		if (ret != -EINTR)
			break;
		if (fatal_signal_pending(current)) {
			/* the bounce window must not be written behind our back */
			hmmdev_queue_kill(dmi->q);
			return -EINTR;
		}
	}
	return ret ? ret : w.error;
}

static u64 dmirror_faults(struct dmirror *dmi)
{
	return atomic64_read(&dmi->ctx->stats.v[HMMDEV_STAT_FAULTS]);
}

/* Device-read [addr, addr + size) into the user buffer @ptr. */
static int dmirror_do_read(struct dmirror *dmi, u64 addr, u64 size, u64 ptr, u64 *cpages)
{
	u64 off, n;
	int ret = 0;

	WRITE_ONCE(dmi->q->fault_until, addr + size);
	for (off = 0; off < size && !ret; off += n) {
		n = min_t(u64, size - off, DMIRROR_BOUNCE_SIZE);
		ret = dmirror_device_copy(dmi, DMIRROR_BOUNCE_VA, addr + off, n);
		if (!ret && copy_to_user(u64_to_user_ptr(ptr + off), dmi->bounce, n))
			ret = -EFAULT;
		if (!ret)
			*cpages += n >> PAGE_SHIFT;
	}
	WRITE_ONCE(dmi->q->fault_until, 0);
	return ret;
}

static int dmirror_read(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 faults = dmirror_faults(dmi);
	int ret;

	ret = dmirror_ready(dmi);
	if (!ret)
		ret = dmirror_do_read(dmi, cmd->addr, cmd->npages << PAGE_SHIFT, cmd->ptr,
				      &cmd->cpages);
	cmd->faults = dmirror_faults(dmi) - faults;
	return ret;
}

static int dmirror_write(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 faults = dmirror_faults(dmi), size = cmd->npages << PAGE_SHIFT, off, n;
	int ret;

	ret = dmirror_ready(dmi);
	if (ret)
		return ret;
	WRITE_ONCE(dmi->q->fault_until, cmd->addr + size);
	for (off = 0; off < size && !ret; off += n) {
		n = min_t(u64, size - off, DMIRROR_BOUNCE_SIZE);
		if (copy_from_user(dmi->bounce, u64_to_user_ptr(cmd->ptr + off), n)) {
			ret = -EFAULT;
			break;
		}
		ret = dmirror_device_copy(dmi, cmd->addr + off, DMIRROR_BOUNCE_VA, n);
		if (!ret)
			cmd->cpages += n >> PAGE_SHIFT;
	}
	WRITE_ONCE(dmi->q->fault_until, 0);
	cmd->faults = dmirror_faults(dmi) - faults;
	return ret;
}

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
		perm = page->pgmap->owner == hd ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
						  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		perm = page->pgmap->owner == hd ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
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

static int dmirror_snapshot(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
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

		if (page && (hmmdev_dmem_is_ours(ctx->hd, page) ||
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
	ret = dmirror_ready(dmi);
	if (ret)
		return ret;
	cmd->cpages = 0;
	return dmirror_do_read(dmi, cmd->addr, size, cmd->ptr, &cmd->cpages);
}

/* MIGRATE_TO_DEV / MIGRATE_TO_SYS with test_hmm's VMA rules. */
static int dmirror_migrate(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd, bool to_dev)
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
 * with make_device_exclusive_range() as the fault step and a map
 * transaction as the commit.
 */
struct dmirror_excl {
	struct hmmdev_mirror mr;
	struct hmmdev_map map;
	struct page *pages[DMIRROR_SNAP_PAGES];	/* locked and referenced */
	int got;				/* ... entries of pages[] */
};

static int dmirror_excl_fault(struct hmmdev_mirror *mr)
{
	struct dmirror_excl *x = container_of(mr, struct dmirror_excl, mr);

	x->got = make_device_exclusive_range(mr->ctx->mm, mr->range.start, mr->range.end,
					     x->pages, mr->ctx);
	return x->got < 0 ? x->got : 0;
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
	for (i = 0; i < x->got; i++) {
		if (x->pages[i]) {
			unlock_page(x->pages[i]);
			put_page(x->pages[i]);
		}
	}
	return ret;
}

static int dmirror_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
{
	u64 end = cmd->addr + (cmd->npages << PAGE_SHIFT), addr;
	struct hmmdev_ctx *ctx = dmi->ctx;
	unsigned long pfns[DMIRROR_SNAP_PAGES];
	dma_addr_t dma[DMIRROR_SNAP_PAGES];
	struct dmirror_excl x = {
		.mr = {
			.range = { .notifier = &ctx->notifier, .hmm_pfns = pfns },
			.ctx = ctx,
			.fault = dmirror_excl_fault,
			.commit = dmirror_excl_commit,
		},
		.map = {
			.ctx = ctx, .pfns = pfns, .dma = dma,
			.perm = HMMDEV_PTE_SW_EXCLUSIVE, .notifier = &ctx->notifier,
		},
	};
	int ret = 0;

	if (!mmget_not_zero(ctx->mm))
		return -EINVAL;
	for (addr = cmd->addr; addr < end && !ret; addr = x.mr.range.end) {
		x.mr.range.start = addr;
		x.mr.range.end = min_t(u64, end, addr + DMIRROR_SNAP_PAGES * PAGE_SIZE);
		ret = hmmdev_mirror_loop(&x.mr);
	}
	mmput(ctx->mm);
	if (ret)
		return ret;
	ret = dmirror_ready(dmi);
	if (ret)
		return ret;
	/* the data, read by the device through the new mappings */
	return dmirror_do_read(dmi, cmd->addr, end - cmd->addr, cmd->ptr, &cmd->cpages);
}

/* -EPERM while a page of the range is still mapped for exclusive access. */
static int dmirror_check_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd)
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

static long dmirror_ioctl(struct file *filp, unsigned int command, unsigned long arg)
{
	struct dmirror *dmi = filp->private_data;
	void __user *uarg = (void __user *)arg;
	struct hmm_dmirror_cmd cmd;
	u64 end;
	int ret;

	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	/* test_hmm's argument rules */
	if (cmd.addr & ~PAGE_MASK)
		return -EINVAL;
	if (cmd.npages > (U64_MAX >> PAGE_SHIFT) ||
	    cmd.addr >= cmd.addr + (cmd.npages << PAGE_SHIFT))
		return -EINVAL;
	end = cmd.addr + (cmd.npages << PAGE_SHIFT);
	cmd.cpages = 0;
	cmd.faults = 0;

	mutex_lock(&dmi->lock);
	switch (command) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_EXCLUSIVE:
		/* nothing at or above the bounce window is the caller's */
		if (end > DMIRROR_BOUNCE_VA) {
			ret = -EFAULT;
			break;
		}
		if (command == HMM_DMIRROR_READ)
			ret = dmirror_read(dmi, &cmd);
		else if (command == HMM_DMIRROR_WRITE)
			ret = dmirror_write(dmi, &cmd);
		else
			ret = dmirror_exclusive(dmi, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = dmirror_migrate(dmi, &cmd, true);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = dmirror_migrate(dmi, &cmd, false);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = dmirror_snapshot(dmi, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = dmirror_check_exclusive(dmi, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		hmmdev_dmem_evict_all(dmi->ctx->hd);
		ret = 0;
		break;
	default:
		ret = -EINVAL;
		break;
	}
	mutex_unlock(&dmi->lock);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &cmd, sizeof(cmd)))
		return -EFAULT;
	return 0;
}

/* test_hmm's: zeroed kernel pages inserted into a VM_MIXEDMAP mapping. */
static int dmirror_mmap(struct file *filp, struct vm_area_struct *vma)
{
	unsigned long addr;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		int ret;

		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		if (ret) {
			__free_page(page);
			return ret;
		}
		put_page(page);
	}
	return 0;
}

static const struct file_operations dmirror_fops = {
	.owner = THIS_MODULE,
	.open = dmirror_open,
	.release = dmirror_release,
	.mmap = dmirror_mmap,
	.unlocked_ioctl = dmirror_ioctl,
	.llseek = default_llseek,
};

static void dmirror_node_release(struct device *dev)
{
	/* static storage */
}

/**
 * hmmdev_dmirror_init() - offer /dev/hmm_dmirror0..3 when dmirror=1
 *
 * Return: 0, or -EBUSY when the names are taken (test_hmm.ko is loaded).
 */
int hmmdev_dmirror_init(void)
{
	unsigned int i;
	int ret;

	if (!dmirror)
		return 0;
	ret = alloc_chrdev_region(&dmirror_devt, 0, DMIRROR_NODES, "hmmdev_dmirror");
	if (ret)
		return ret;
	for (i = 0; i < DMIRROR_NODES; i++) {
		struct dmirror_node *node = &dmirror_nodes[i];

		cdev_init(&node->cdev, &dmirror_fops);
		node->cdev.owner = THIS_MODULE;
		device_initialize(&node->dev);
		node->dev.devt = MKDEV(MAJOR(dmirror_devt), i);
		node->dev.release = dmirror_node_release;
		ret = dev_set_name(&node->dev, "hmm_dmirror%u", i);
		if (!ret)
			ret = cdev_device_add(&node->cdev, &node->dev);
		if (ret) {
			put_device(&node->dev);
			pr_err("hmmdev: cannot add hmm_dmirror%u (%d)%s\n", i, ret,
			       ret == -EEXIST ? ": the name is taken; is test_hmm.ko loaded?" : "");
			hmmdev_dmirror_exit();
			return ret == -EEXIST ? -EBUSY : ret;
		}
		node->added = true;
	}
	pr_info("hmmdev: /dev/hmm_dmirror0..3 (test_hmm uAPI) on hmmdev devices\n");
	return 0;
}

/**
 * hmmdev_dmirror_exit() - remove the nodes
 */
void hmmdev_dmirror_exit(void)
{
	unsigned int i;

	if (!dmirror || !dmirror_devt)
		return;
	for (i = 0; i < DMIRROR_NODES; i++) {
		if (dmirror_nodes[i].added) {
			cdev_device_del(&dmirror_nodes[i].cdev, &dmirror_nodes[i].dev);
			put_device(&dmirror_nodes[i].dev);
			dmirror_nodes[i].added = false;
		}
	}
	unregister_chrdev_region(dmirror_devt, DMIRROR_NODES);
	dmirror_devt = 0;
}
