/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver, svm layer: device faults, mirroring the CPU page tables
 * into the device's (one loop, one map transaction) and the placement
 * policy.  Below it: dmem and the core.
 */
#ifndef HMMDEV_SVM_H
#define HMMDEV_SVM_H

#include <linux/hmm.h>
#include "dmem/hmmdev_dmem.h"

/* The fault ring: written by the device, drained by fault_work. */
struct hmmdev_faultq {
	struct hmmdev *hd;
	struct hmmdev_hw_fault_record *fq;
	dma_addr_t fq_dma;
	u32 fq_head;
	u64 irq_ns;			/* ktime of the last fault interrupt */
	u64 irq_seen;			/* ... the last one fault_work counted */
	struct workqueue_struct *wq;
	struct work_struct work;
	/* fault_work's scratch space, HMMDEV_FAULT_MAX_PAGES each */
	unsigned long *req;		/* hmm_range input flags */
	unsigned long *pfns;		/* hmm_range output */
	dma_addr_t *dma;		/* DMA mappings made for them */
	struct hmmdev_hw_fault_record *recs;	/* HMMDEV_FAULT_BATCH records */
	void *faults;			/* HMMDEV_FAULT_BATCH struct hmmdev_fault */
};

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

/* Needed pages a map transaction left without a leaf, and why (diagnostics). */
struct hmmdev_map_miss {
	unsigned long pages;
	int err;	/* -ENOENT: no valid PFN; -EXDEV: not mappable; else hmmdev_pt_map()'s */
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
 * @miss: out, added to: needed pages left without a leaf (diagnostics)
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
	struct hmmdev_map_miss miss;
};

/* An hmm_pfn entry for a page the driver holds (not from hmm_range_fault()). */
static inline unsigned long hmmdev_map_pfn(struct page *page, bool writable)
{
	return page_to_pfn(page) | HMM_PFN_VALID | (writable ? HMM_PFN_WRITE : 0);
}

/* hmmdev_svm.c: a context with its mirror */
struct hmmdev_ctx *hmmdev_svm_open(struct hmmdev *hd);
void hmmdev_svm_close(struct hmmdev_ctx *ctx);

/* hmmdev_fault.c */
int hmmdev_fault_init(struct hmmdev *hd);
void hmmdev_fault_fini(struct hmmdev *hd);
void hmmdev_fault_drain(struct hmmdev *hd);

/* hmmdev_mirror.c */
extern const struct mmu_interval_notifier_ops hmmdev_mirror_ops;
int hmmdev_mirror_loop(struct hmmdev_mirror *mr);
int hmmdev_mirror_fault(struct hmmdev_ctx *ctx, u64 start, u64 end,
			const unsigned long *req, unsigned long *pfns,
			dma_addr_t *dma, struct hmmdev_map_miss *miss);

/* hmmdev_map.c */
int hmmdev_map_commit(struct hmmdev_map *m);

/* hmmdev_policy.c */
void hmmdev_policy_init(struct hmmdev_ctx *ctx);
void hmmdev_policy_fini(struct hmmdev_ctx *ctx);
int hmmdev_policy_set(struct hmmdev_ctx *ctx, u64 start, u64 end, u32 pref, bool mof);
void hmmdev_policy_fault(struct hmmdev_ctx *ctx, u64 start, u64 end);
void hmmdev_policy_dump(struct hmmdev_ctx *ctx, struct seq_file *m);

#endif /* HMMDEV_SVM_H */
