/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver: state shared by the driver's files.
 *
 * docs/driver.md describes the design and the lock order.
 */
#ifndef HMMDEV_DRV_H
#define HMMDEV_DRV_H

#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/hmm.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/mmu_notifier.h>
#include <linux/memremap.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/hmmdev.h>
#include "hmmdev-regs.h"

#define HMMDEV_DRV_NAME "hmmdev"
#define HMMDEV_MAX_DEVICES 16

#define HMMDEV_FQ_ENTRIES	1024	/* fault ring records */
#define HMMDEV_FAULT_BATCH	64	/* records handled per round */
#define HMMDEV_INV_TIMEOUT_US	1000000	/* out-of-band invalidation */
#define HMMDEV_FAULT_WINDOW	SZ_2M	/* a fault resolves its 2 MiB block */
#define HMMDEV_FAULT_MAX_PAGES	(SZ_8M >> PAGE_SHIFT)	/* one fault group */

#define HMMDEV_KQ_ENTRIES	4	/* kernel queue ring (SG_COPY) */
#define HMMDEV_KQ_TIMEOUT_US	10000000 /* one SG_COPY command */
#define HMMDEV_MIGRATE_PAGES	512	/* pages per migrate_vma call / SG_COPY */

/* PTE bits the device ignores (HMMDEV_PTE_SW_MASK) that the driver uses */
#define HMMDEV_PTE_SW_EXCLUSIVE	(1ull << 52)	/* mapped by make_device_exclusive_range() */

/* Counters kept per device and per context; the order is struct hmmdev_stats'. */
enum hmmdev_stat {
	HMMDEV_STAT_FAULTS,
	HMMDEV_STAT_FAULT_BATCHES,
	HMMDEV_STAT_FAULT_GROUPS,
	HMMDEV_STAT_PAGES_FAULTED,
	HMMDEV_STAT_HUGE_MAPPINGS,
	HMMDEV_STAT_REPLAYS,
	HMMDEV_STAT_CANCELS,
	HMMDEV_STAT_INVALIDATIONS,
	HMMDEV_STAT_PAGES_INVALIDATED,
	HMMDEV_STAT_CMDS_SUBMITTED,
	HMMDEV_STAT_CMDS_COMPLETED,
	HMMDEV_STAT_CMD_ERRORS,
	HMMDEV_STAT_MIGRATED_TO_DEV,
	HMMDEV_STAT_MIGRATED_TO_SYS,
	HMMDEV_STAT_EVICTIONS,
	HMMDEV_STAT_MIGRATE_SKIPPED,
	/* stage times, ns (docs/driver.md "Performance counters") */
	HMMDEV_STAT_NS_HMM_RANGE_FAULT,
	HMMDEV_STAT_NS_DMA_MAP,
	HMMDEV_STAT_NS_PTE_WRITE,
	HMMDEV_STAT_NS_IRQ_TO_WORK,
	HMMDEV_STAT_NS_IRQ_TO_REPLAY,
	HMMDEV_STAT_NS_MIGRATE_ALLOC,
	HMMDEV_STAT_NS_MIGRATE_SETUP,
	HMMDEV_STAT_NS_MIGRATE_INVALIDATE,
	HMMDEV_STAT_NS_MIGRATE_COPY,
	HMMDEV_STAT_NS_MIGRATE_PAGES,
	HMMDEV_STAT_NS_MIGRATE_FINALIZE,
	HMMDEV_STAT_NS_SG_COPY,
	HMMDEV_STAT_SG_COPIES,
	HMMDEV_STAT_NS_MIRROR_FAULT,
	HMMDEV_STAT_NR,
};

/* A set of monotonic counters. */
struct hmmdev_counters {
	atomic64_t v[HMMDEV_STAT_NR];
};

/* One 4 KiB device page table and its software shadow. */
struct hmmdev_pt_table {
	__le64 *e;			/* the entries the device reads */
	dma_addr_t dma;			/* their DMA address */
	unsigned int level;		/* 4 (root) .. 1 */
	unsigned int used;		/* valid entries */
	struct list_head node;		/* in hmmdev_pt.cache while spare */
	/* child table (non-leaf entries) or mapped struct page (leaves) */
	void *sw[HMMDEV_PT_ENTRIES];
};

/* A dma_alloc_coherent() block of table pages. */
struct hmmdev_pt_chunk {
	struct list_head node;		/* in hmmdev_pt.chunks */
	void *va;
	dma_addr_t dma;
	unsigned int pages, next;	/* size; first page not handed out */
};

/* A context's device page tables. */
struct hmmdev_pt {
	struct hmmdev *hd;
	struct hmmdev_pt_table *root;
	unsigned long ntables;

	spinlock_t cache_lock;		/* protects the fields below */
	struct list_head cache;		/* preallocated spare tables */
	unsigned int ncache;
	/* protects the above */

	/*
	 * Table pages come from coherent chunks of several pages (one
	 * allocation and one IOMMU mapping for many tables), carved as needed
	 * and freed with the context.
	 */
	struct mutex chunk_lock;	/* protects the fields below */
	struct list_head chunks;	/* struct hmmdev_pt_chunk */
	struct hmmdev_pt_chunk *cur;	/* the chunk being carved */
	unsigned int carved;		/* table pages handed out so far */
};

/* One hardware submission queue, owned by a context. */
struct hmmdev_queue {
	struct hmmdev_ctx *ctx;
	unsigned int hwq;		/* hardware queue index */
	unsigned int id;		/* handle in the context */
	unsigned int entries;
	struct HmmdevCmd *ring;		/* dma_alloc_coherent */
	dma_addr_t ring_dma;

	/* per ring slot: the command there, its seqno and its saved result */
	struct hmmdev_cmd *slot_cmd;	/* as userspace gave it (fault windows) */
	u64 *slot_seq;
	s32 *slot_err;			/* -errno of the command, 0 if none */
	u32 *slot_status;
	u64 *slot_result;

	spinlock_t lock;		/* protects the fields below */
	u64 submitted;			/* last seqno queued (from 1) */
	u64 retired;			/* every seqno <= retired has completed */
	bool dead;			/* disabled: context or device going away */
	/* protects the above */

	struct mutex submit_lock;	/* serializes submitters */
	wait_queue_head_t wq;		/* woken on completion */
	/*
	 * 0, or the end of the caller's whole request: a device fault then
	 * resolves everything from the faulting page up to here in one round
	 * (test_hmm's semantics, hmmdev_dmirror.c) instead of its 2 MiB block.
	 */
	u64 fault_until;
};

/* One open of /dev/hmmdevN: an address space mirrored on the device. */
struct hmmdev_ctx {
	struct hmmdev *hd;
	struct kref ref;
	struct mm_struct *mm;		/* the notifier's, mmgrab()ed */
	pid_t tgid;			/* the opener, for debugfs */
	unsigned int asid;
	struct mmu_interval_notifier notifier;

	struct mutex lock;		/* device page-table lock (see docs) */
	struct hmmdev_pt pt;
	bool detached;			/* device removed: map nothing more */
	/* protects the above */

	struct mutex queues_lock;	/* protects queues[] */
	struct hmmdev_queue *queues[HMMDEV_NUM_QUEUES];

	struct mutex policy_lock;	/* protects the fields below */
	struct list_head policies;	/* struct hmmdev_prange, sorted */
	unsigned int npolicies;
	/* protects the above */

	struct list_head node;		/* in hmmdev.contexts */
	struct dentry *debugfs;
	struct hmmdev_counters stats;
};

/* Book-keeping of one device-private page (struct hmmdev_dmem.dpage[]). */
struct hmmdev_dpage {
	struct hmmdev_ctx *owner;	/* context that migrated it in, or NULL */
	struct hmmdev_pt_table *t;	/* the device leaf mapping it, or NULL */
	unsigned int idx;		/* ... its index in @t */
	bool used;			/* allocated (not on the free list) */
	bool fresh;			/* just migrated in: one more chance */
};

/* Device memory as MEMORY_DEVICE_PRIVATE pages, and the migration engine. */
struct hmmdev_dmem {
	struct dev_pagemap pgmap;	/* owner: the struct hmmdev */
	struct resource *res;
	unsigned long pfn_first;
	unsigned long npages;

	spinlock_t lock;		/* protects the fields below */
	struct page *free;		/* free pages, linked by zone_device_data */
	unsigned long nfree;
	struct hmmdev_dpage *dpage;	/* per device page */
	unsigned long hand;		/* eviction clock hand */
	/* protects the above */

	struct rw_semaphore users;	/* migrate ioctls (read) vs teardown */
	bool stopping;			/* teardown started: allocate nothing */
	struct mutex evict_lock;	/* serializes evictions; protects ev_* */
	unsigned long *ev_src, *ev_dst;	/* HMMDEV_MIGRATE_PAGES each */
	unsigned long *ev_idx;		/* victims, HMMDEV_MIGRATE_PAGES */
	struct hmmdev_ctx **ev_owner;	/* ... the context each belongs to */
	/* migrate-on-fault scratch (the fault worker only), HMMDEV_MIGRATE_PAGES */
	unsigned long *fm_src, *fm_dst;
	struct page **fm_pool;

	/* the kernel queue: SG_COPY commands of migrations */
	struct mutex copy_lock;		/* protects the fields below */
	unsigned int kq_hwq;
	struct HmmdevCmd *kq_ring;
	dma_addr_t kq_dma;
	unsigned int kq_tail;
	bool kq_broken;			/* a command timed out */
	struct HmmdevSgEntry *sg;	/* HMMDEV_MIGRATE_PAGES entries */
	struct page **sg_pages;		/* system pages of one copy, ... */
	dma_addr_t *sg_dma_pages;	/* ... their DMA addresses, ... */
	unsigned int *sg_slot;		/* ... and their SG_COPY entries */
	dma_addr_t sg_dma;
	/* protects the above */
	void *zero;			/* a zeroed page: source for new pages */
	dma_addr_t zero_dma;
	bool coherent;			/* MEMORY_DEVICE_COHERENT over BAR 4 */
	bool lost;			/* contents lost to a fatal error (dm->lock) */
	bool enabled;			/* registered and usable */
};

/* One bound hmmdev PCI function. */
struct hmmdev {
	struct pci_dev *pdev;
	void __iomem *regs;		/* BAR0 */
	int minor;
	unsigned int pci_rank;		/* among hmmdev functions, in bus order */
	struct cdev cdev;
	struct device *dev;		/* /sys/class/hmmdev/hmmdevN */
	u32 hw_version;
	u32 msix_vectors;
	u32 num_queues;
	u32 num_asids;
	u64 devmem_size;

	atomic64_t irq_count;		/* every vector */
	u64 fault_irq_ns;		/* ktime of the last fault interrupt */
	u64 fault_irq_seen;		/* ... the last one fault_work counted */
	atomic64_t irq_test_count;	/* HMMDEV_MSIX_VEC_TEST only */
	struct completion irq_test_done;
	struct work_struct fatal_work;	/* STATUS.FATAL: fail every queue */
	bool fatal_seen;		/* fatal_work queued (vector 0 only) */
	bool failed;			/* fatal error: new work gets -EIO */

	/* fault ring: written by the device, drained by fault_work */
	struct HmmdevFaultRecord *fq;
	dma_addr_t fq_dma;
	u32 fq_head;
	struct workqueue_struct *fault_wq;
	struct work_struct fault_work;
	/* fault_work's scratch space, HMMDEV_FAULT_MAX_PAGES each */
	unsigned long *fault_req;	/* hmm_range input flags */
	unsigned long *fault_pfns;	/* hmm_range output */
	dma_addr_t *fault_dma;		/* DMA mappings made for them */
	struct HmmdevFaultRecord *fault_recs;	/* HMMDEV_FAULT_BATCH records */
	void *faults;			/* HMMDEV_FAULT_BATCH struct hmmdev_fault */

	spinlock_t inv_lock;		/* protects the INV_* registers and gone */
	bool gone;			/* removed: no more register access */

	struct mutex ctx_mutex;		/* protects the fields below */
	DECLARE_BITMAP(asid_map, HMMDEV_NUM_ASIDS);
	struct list_head contexts;
	bool dead;			/* being removed: no new contexts or queues */
	/* protects the above */

	spinlock_t lock;		/* protects hwq[] (taken from IRQs) */
	struct hmmdev_queue *hwq[HMMDEV_NUM_QUEUES];

	struct hmmdev_qvec {
		struct hmmdev *hd;
		unsigned int q;
	} qvec[HMMDEV_NUM_QUEUES];	/* per queue vector: request_irq() data */

	struct hmmdev_dmem dmem;

	struct kref ref;		/* contexts keep the struct alive */
	struct kobject cdev_parent;	/* @cdev's parent: holds a @ref (hmmdev_pci.c) */
	struct dentry *debugfs;
	struct hmmdev_counters stats;
};

static inline u32 hmmdev_rd(struct hmmdev *hd, u32 reg)
{
	return readl(hd->regs + reg);
}

static inline void hmmdev_wr(struct hmmdev *hd, u32 reg, u32 val)
{
	writel(val, hd->regs + reg);
}

static inline u32 hmmdev_qreg(unsigned int q, u32 reg)
{
	return HMMDEV_REG_QUEUE_BASE + q * HMMDEV_QUEUE_STRIDE + reg;
}

static inline void hmmdev_count(struct hmmdev_ctx *ctx, enum hmmdev_stat s, u64 n)
{
	atomic64_add(n, &ctx->stats.v[s]);
	atomic64_add(n, &ctx->hd->stats.v[s]);
}

/* Add the time since @t0 (ktime_get_ns()) to a HMMDEV_STAT_NS_* counter. */
static inline void hmmdev_count_ns(struct hmmdev_ctx *ctx, enum hmmdev_stat s, u64 t0)
{
	hmmdev_count(ctx, s, ktime_get_ns() - t0);
}

/* hmmdev_chardev.c */
int hmmdev_chardev_init(void);
void hmmdev_chardev_exit(void);
int hmmdev_chardev_add(struct hmmdev *hd);
void hmmdev_chardev_remove(struct hmmdev *hd);

/* hmmdev_pci.c */
int hmmdev_irq_test(struct hmmdev *hd, unsigned int timeout_ms);
void hmmdev_put(struct hmmdev *hd);
int hmmdev_invalidate(struct hmmdev *hd, unsigned int scope, unsigned int asid,
		      u64 va, u64 size);

/* hmmdev_ctx.c */
struct hmmdev_ctx *hmmdev_ctx_create(struct hmmdev *hd);
void hmmdev_ctx_destroy(struct hmmdev_ctx *ctx);
void hmmdev_ctx_put(struct hmmdev_ctx *ctx);
void hmmdev_ctx_detach_all(struct hmmdev *hd);
void hmmdev_ctx_fail_all(struct hmmdev *hd);
static inline void hmmdev_ctx_get(struct hmmdev_ctx *ctx)
{
	kref_get(&ctx->ref);
}

/* hmmdev_pt.c */
int hmmdev_pt_init(struct hmmdev_pt *pt, struct hmmdev *hd);
void hmmdev_pt_fini(struct hmmdev_pt *pt);
int hmmdev_pt_reserve(struct hmmdev_pt *pt, u64 start, u64 end);
struct page *hmmdev_pt_lookup(struct hmmdev_pt *pt, u64 va, unsigned int *order,
			      u64 *pte);
int hmmdev_pt_map(struct hmmdev_ctx *ctx, u64 va, unsigned int order,
		  struct page *page, dma_addr_t dma, u64 perm, bool *need_inv);
unsigned long hmmdev_pt_invalidate(struct hmmdev_ctx *ctx, u64 start, u64 end);
void hmmdev_pt_dump(struct hmmdev_pt *pt, struct seq_file *m);

/* hmmdev_queue.c */
int hmmdev_queue_create(struct hmmdev_ctx *ctx, u32 entries, u32 *id);
int hmmdev_hwq_enable(struct hmmdev *hd, unsigned int hwq, dma_addr_t ring, u32 entries,
		      u32 asid, u32 vector);
void hmmdev_queue_kill(struct hmmdev_queue *q);
void hmmdev_queue_free(struct hmmdev_queue *q);
void hmmdev_queue_release_ring(struct hmmdev_queue *q);
struct hmmdev_queue *hmmdev_queue_get(struct hmmdev_ctx *ctx, u32 id);
int hmmdev_queue_submit(struct hmmdev_queue *q, const struct hmmdev_cmd *cmds,
			u32 count, bool nonblock, u64 *fence);
int hmmdev_queue_wait(struct hmmdev_queue *q, u64 fence, s64 timeout_ns,
		      struct hmmdev_wait *w);
void hmmdev_queue_retire(struct hmmdev_queue *q);
irqreturn_t hmmdev_queue_irq(int irq, void *data);

/* hmmdev_fault.c */
int hmmdev_fault_init(struct hmmdev *hd);
void hmmdev_fault_fini(struct hmmdev *hd);
irqreturn_t hmmdev_fault_irq(int irq, void *data);

/**
 * struct hmmdev_mirror - one run of the canonical HMM loop (hmmdev_mirror.c)
 * @range: notifier, bounds, output pfns, owner and default flags
 * @ctx: whose mm is walked, and whose stage counters are charged
 * @req: per page input flags copied into @range.hmm_pfns before each try,
 *	or NULL (the range's default_flags)
 * @fault: the fault step, called with mmap_read_lock held and
 *	@range.notifier_seq just read; NULL: hmm_range_fault()
 * @commit: takes the caller's lock, checks mmu_interval_read_retry() and
 *	uses the pages; -EAGAIN runs the loop again; NULL: nothing to commit
 */
struct hmmdev_mirror {
	struct hmm_range range;
	struct hmmdev_ctx *ctx;
	const unsigned long *req;
	int (*fault)(struct hmmdev_mirror *mr);
	int (*commit)(struct hmmdev_mirror *mr);
};

/**
 * struct hmmdev_map - one map transaction (hmmdev_map.c)
 * @ctx: the context whose device page tables get the pages
 * @start: VA of @pfns[0], page aligned
 * @npages: pages in the range
 * @pfns: hmm_pfn entries (HMM_PFN_VALID, HMM_PFN_WRITE, map order), as
 *	hmm_range_fault() returns them or hmmdev_map_pfn() makes them
 * @req: per page HMM_PFN_REQ_FAULT for the pages the device needs, or NULL:
 *	every page is needed
 * @dma: scratch, @npages entries
 * @perm: PTE bits added to every leaf (HMMDEV_PTE_SW_EXCLUSIVE)
 * @notifier: the interval notifier @pfns were read under, or NULL for pages
 *	that are not the CPU's (the bounce window)
 * @seq: its sequence when @pfns were read
 * @mapped: out, added to: 4 KiB pages given a new leaf
 * @huge: out, added to: 2 MiB leaves among them
 */
struct hmmdev_map {
	struct hmmdev_ctx *ctx;
	u64 start;
	unsigned long npages;
	const unsigned long *pfns;
	const unsigned long *req;
	dma_addr_t *dma;
	u64 perm;
	struct mmu_interval_notifier *notifier;
	unsigned long seq;
	unsigned long mapped, huge;
};

/* An hmm_pfn entry for a page the driver holds (not from hmm_range_fault()). */
static inline unsigned long hmmdev_map_pfn(struct page *page, bool writable)
{
	return page_to_pfn(page) | HMM_PFN_VALID | (writable ? HMM_PFN_WRITE : 0);
}

/* hmmdev_mirror.c */
extern const struct mmu_interval_notifier_ops hmmdev_mirror_ops;
int hmmdev_mirror_loop(struct hmmdev_mirror *mr);
int hmmdev_mirror_fault(struct hmmdev_ctx *ctx, u64 start, u64 end,
			const unsigned long *req, unsigned long *pfns,
			dma_addr_t *dma);

/* hmmdev_map.c */
int hmmdev_map_commit(struct hmmdev_map *m);

/* hmmdev_dmem.c */
int hmmdev_dmem_init(struct hmmdev *hd);
void hmmdev_dmem_fini(struct hmmdev *hd);
bool hmmdev_dmem_is_ours(struct hmmdev *hd, struct page *page);
u64 hmmdev_dmem_offset(struct hmmdev *hd, struct page *page);
void hmmdev_dmem_link(struct hmmdev *hd, struct page *page,
		      struct hmmdev_pt_table *t, unsigned int idx);
void hmmdev_dmem_unlink(struct hmmdev *hd, u64 offset, struct hmmdev_pt_table *t,
			unsigned int idx);
int hmmdev_dmem_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			u64 *migrated, u64 *skipped);
void hmmdev_dmem_fault_migrate(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev);
void hmmdev_dmem_ctx_gone(struct hmmdev_ctx *ctx);
int hmmdev_dmem_migrate_strict(struct hmmdev_ctx *ctx, u64 start, u64 end, bool to_dev,
			       u64 *migrated);
void hmmdev_dmem_evict_all(struct hmmdev *hd);
void hmmdev_dmem_lost(struct hmmdev *hd);

/* hmmdev_dmirror.c */
int hmmdev_dmirror_init(void);
void hmmdev_dmirror_exit(void);
void hmmdev_dmirror_attach(struct hmmdev *hd);
void hmmdev_dmirror_detach(struct hmmdev *hd);

/* hmmdev_policy.c */
void hmmdev_policy_init(struct hmmdev_ctx *ctx);
void hmmdev_policy_fini(struct hmmdev_ctx *ctx);
int hmmdev_policy_set(struct hmmdev_ctx *ctx, u64 start, u64 end, u32 pref, bool mof);
void hmmdev_policy_fault(struct hmmdev_ctx *ctx, u64 start, u64 end);
void hmmdev_policy_dump(struct hmmdev_ctx *ctx, struct seq_file *m);

struct seq_file;

/* hmmdev_debugfs.c */
void hmmdev_debugfs_init(void);
void hmmdev_debugfs_exit(void);
void hmmdev_debugfs_add(struct hmmdev *hd);
void hmmdev_debugfs_remove(struct hmmdev *hd);
void hmmdev_debugfs_ctx_add(struct hmmdev_ctx *ctx);
void hmmdev_debugfs_ctx_remove(struct hmmdev_ctx *ctx);
struct seq_file;
void hmmdev_stats_show(struct seq_file *m, struct hmmdev_counters *c);
extern const char *const hmmdev_stat_names[HMMDEV_STAT_NR];

/* hmmdev_sysfs.c */
extern const struct attribute_group *hmmdev_dev_groups[];
void hmmdev_sysfs_init(void);

#endif /* HMMDEV_DRV_H */
