/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver, core layer: the device, its hardware queues and
 * invalidation, contexts (ASIDs) and device page tables.
 *
 * The layers (DOC: Overview in hmmdev_main.c), bottom up: core, dmem (device
 * memory), svm (faults, mirror, placement), obs (debugfs, sysfs, the ATS
 * self-test; tracepoints are emitted by every layer), frontend (the native
 * chardev and the test_hmm personality), main (module and probe).  A layer
 * includes and calls only its own and lower layers' headers.
 */
#ifndef HMMDEV_CORE_H
#define HMMDEV_CORE_H

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
#include "core/hmmdev_compat.h"

struct hmmdev_dmem;
struct hmmdev_faultq;

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
#define HMMDEV_PTE_SW_EXCLUSIVE	BIT_ULL(52)	/* mapped for exclusive access */

/*
 * Counters kept per device and per context: include/uapi/linux/hmmdev_stats.def
 * is the list, in struct hmmdev_stats order (the stage times, ns, are
 * described in docs/driver.md "Performance counters").
 */
enum hmmdev_stat {
#define HMMDEV_STAT(ENUM, ...)	HMMDEV_STAT_##ENUM,
#include <uapi/linux/hmmdev_stats.def>
#undef HMMDEV_STAT
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

/* A kernel-owned hardware queue, polled (core/hmmdev_kqueue.c). */
struct hmmdev_kq {
	struct hmmdev *hd;
	unsigned int hwq;
	struct hmmdev_hw_cmd *ring;		/* HMMDEV_KQ_ENTRIES, dma_alloc_coherent */
	dma_addr_t ring_dma;
	unsigned int tail;
	bool broken;			/* a command timed out: restart the queue */
};

/* One hardware submission queue, owned by a context. */
struct hmmdev_queue {
	struct hmmdev_ctx *ctx;
	unsigned int hwq;		/* hardware queue index */
	unsigned int id;		/* handle in the context */
	unsigned int entries;
	struct hmmdev_hw_cmd *ring;		/* dma_alloc_coherent */
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

	struct mutex submit_lock;	/* serializes submitters */
	wait_queue_head_t wq;		/* woken on completion */
	u64 fault_scope_end;		/* hmmdev_queue_set_fault_scope() */

	/* the last fault of the stalled command (svm/hmmdev_fault.c's only) */
	struct hmmdev_fault_progress {
		u64 seq;		/* the command's fence */
		u64 va;			/* the page */
		unsigned long gen;	/* ctx->mirror_gen when it was seen */
		unsigned int rounds;	/* rounds without progress since */
		u8 access;
		/* the last resolution of a fault of this queue, for the log */
		u64 last_start, last_end;
		unsigned long last_miss;	/* needed pages left without a leaf */
		int last_miss_err, last_ret;
	} progress;
};

/* One open of /dev/hmmdevN: an address space mirrored on the device. */
struct hmmdev_ctx {
	struct hmmdev *hd;
	struct kref ref;
	struct mm_struct *mm;		/* the notifier's, mmgrab()ed */
	pid_t tgid;			/* the opener, for debugfs */
	unsigned int asid;
	struct mmu_interval_notifier notifier;

	struct mutex lock;		/* the page-table lock; protects the fields below */
	struct hmmdev_pt pt;
	bool detached;			/* device removed: map nothing more */
	unsigned long mirror_gen;	/* notifier invalidations so far */

	struct mutex queues_lock;	/* protects queues[] */
	struct hmmdev_queue *queues[HMMDEV_NUM_QUEUES];

	struct mutex policy_lock;	/* protects the fields below */
	struct list_head policies;	/* struct hmmdev_prange, sorted */
	unsigned int npolicies;

	struct list_head node;		/* in hmmdev.contexts */
	struct dentry *debugfs;
	struct hmmdev_counters stats;
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
	atomic64_t irq_test_count;	/* HMMDEV_MSIX_VEC_TEST only */
	struct completion irq_test_done;
	struct work_struct fatal_work;	/* STATUS.FATAL: fail every queue */
	bool fatal_seen;		/* fatal_work queued (vector 0 only) */
	bool failed;			/* fatal error: new work gets -EIO */

	spinlock_t inv_lock;		/* protects the INV_* registers and gone */
	bool gone;			/* removed: no more register access */

	struct mutex ctx_mutex;		/* protects the fields below */
	DECLARE_BITMAP(asid_map, HMMDEV_NUM_ASIDS);
	struct list_head contexts;
	bool dead;			/* being removed: no new contexts or queues */

	spinlock_t lock;		/* protects hwq[] (taken from IRQs) */
	struct hmmdev_queue *hwq[HMMDEV_NUM_QUEUES];

	struct hmmdev_qvec {
		struct hmmdev *hd;
		unsigned int q;
	} qvec[HMMDEV_NUM_QUEUES];	/* per queue vector: request_irq() data */

	struct hmmdev_dmem *dmem;	/* dmem/: device memory, or NULL */
	struct hmmdev_faultq *faultq;	/* svm/hmmdev_fault.c: the fault ring */

	/*
	 * Device memory as the page tables see it (hmmdev_pt_devmem_init(),
	 * by dmem/): which ZONE_DEVICE pages are ours, their device-memory
	 * offsets, and the leaf that maps each (eviction reads its ACCESSED).
	 */
	struct dev_pagemap *devmem_pgmap;	/* NULL: none */
	unsigned long devmem_pfn_first;
	unsigned long devmem_npages;
	spinlock_t rmap_lock;		/* protects rmap[] */
	struct hmmdev_rmap {
		struct hmmdev_pt_table *t;	/* the level-1 table, or NULL */
		unsigned int idx;		/* ... and the entry */
	} *rmap;			/* devmem_npages entries */

	struct kref ref;		/* contexts keep the struct alive */
	struct kobject cdev_parent;	/* @cdev's parent: holds a @ref (hmmdev_hw.c) */
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

/**
 * hmmdev_queue_set_fault_scope() - how much one device fault of a queue resolves
 * @q: the queue
 * @end: 0, the default: the faulting page's 2 MiB block (and what the
 *	command needs of it); else everything from the faulting page up to
 *	@end, in one round, and a failure anywhere fails the command (test_hmm's
 *	semantics for one READ or WRITE request: hmmdev_dmirror.c)
 */
static inline void hmmdev_queue_set_fault_scope(struct hmmdev_queue *q, u64 end)
{
	WRITE_ONCE(q->fault_scope_end, end);
}

/* The end set by hmmdev_queue_set_fault_scope(), or 0. */
static inline u64 hmmdev_queue_fault_scope(struct hmmdev_queue *q)
{
	return READ_ONCE(q->fault_scope_end);
}

/* A counter of a context. */
static inline u64 hmmdev_ctx_stat(struct hmmdev_ctx *ctx, enum hmmdev_stat s)
{
	return atomic64_read(&ctx->stats.v[s]);
}

/* Is @page one of this device's ZONE_DEVICE pages (private or coherent)? */
static inline bool hmmdev_page_is_devmem(struct hmmdev *hd, struct page *page)
{
	return hd->devmem_pgmap &&
	       (is_device_private_page(page) || is_device_coherent_page(page)) &&
	       hmmdev_page_pgmap(page) == hd->devmem_pgmap;
}

/* The device-memory offset of a page for which hmmdev_page_is_devmem(). */
static inline u64 hmmdev_devmem_offset(struct hmmdev *hd, struct page *page)
{
	return (u64)(page_to_pfn(page) - hd->devmem_pfn_first) << PAGE_SHIFT;
}

struct seq_file;

/* hmmdev_hw.c */
extern const struct kobj_type hmmdev_cdev_parent_ktype;
int hmmdev_irq_test(struct hmmdev *hd, unsigned int timeout_ms);
irqreturn_t hmmdev_irq_misc(int irq, void *data);
void hmmdev_put(struct hmmdev *hd);
int hmmdev_invalidate(struct hmmdev *hd, unsigned int scope, unsigned int asid,
		      u64 va, u64 size);
int hmmdev_request_queue_irqs(struct hmmdev *hd);
void hmmdev_free_queue_irqs(struct hmmdev *hd, unsigned int n);

/* hmmdev_ctx.c */
struct hmmdev_ctx *hmmdev_ctx_create(struct hmmdev *hd,
				     const struct mmu_interval_notifier_ops *ops);
void hmmdev_ctx_stop(struct hmmdev_ctx *ctx);
void hmmdev_ctx_destroy(struct hmmdev_ctx *ctx);
void hmmdev_ctx_put(struct hmmdev_ctx *ctx);
void hmmdev_ctx_kill_all(struct hmmdev *hd, bool failed);
void hmmdev_ctx_detach_all(struct hmmdev *hd);
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
void hmmdev_pt_entries(struct hmmdev_pt *pt, u64 va, u64 raw[HMMDEV_PT_LEVELS]);
int hmmdev_pt_devmem_init(struct hmmdev *hd, struct dev_pagemap *pgmap,
			  unsigned long pfn_first, unsigned long npages);
void hmmdev_pt_devmem_fini(struct hmmdev *hd);
bool hmmdev_pt_devmem_young(struct hmmdev *hd, unsigned long index);

/* hmmdev_kqueue.c */
int hmmdev_hwq_claim(struct hmmdev *hd, struct hmmdev_queue *q);
void hmmdev_hwq_unclaim(struct hmmdev *hd, unsigned int hwq);
int hmmdev_kq_init(struct hmmdev *hd, struct hmmdev_kq *kq);
int hmmdev_kq_start(struct hmmdev_kq *kq, unsigned int hwq, u32 vector);
void hmmdev_kq_stop(struct hmmdev_kq *kq);
void hmmdev_kq_fini(struct hmmdev_kq *kq);
int hmmdev_kq_sg_copy(struct hmmdev_kq *kq, dma_addr_t list, unsigned int n,
		      unsigned long timeout_us, u32 *status, u32 *info);

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

#endif /* HMMDEV_CORE_H */
