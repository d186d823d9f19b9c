// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: the device fault ring.
 *
 * The fault vector only queues the ring's work on a high-priority workqueue (the
 * only item there, so it runs serialized, as on an ordered one).  The work
 * drains the ring in batches of up to HMMDEV_FAULT_BATCH records; a batch is
 * sorted by context and address and cut into groups of records whose 2 MiB
 * windows touch, and each group is resolved with one hmm_range_fault() call
 * (hmmdev_mirror_fault()).  A queue with a fault scope set (the test_hmm
 * personality) gets the whole rest of its request resolved instead.  Every
 * record's stalled queue then gets REPLAY, or CANCEL with the errno saved
 * for the submitter.  Writing FQ_HEAD
 * afterwards re-arms the interrupt.
 *
 * A record is matched to its queue by the queue number and checked against
 * the queue's owner and ASID: records of a queue stopped meanwhile are
 * dropped, as the spec allows.
 */
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/interrupt.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include "svm/hmmdev_svm.h"
#include "obs/hmmdev_trace.h"

static unsigned int max_fault_rounds = 32;
module_param(max_fault_rounds, uint, 0644);
MODULE_PARM_DESC(max_fault_rounds,
		 "rounds a command may fault on one page without progress before it is cancelled with ELOOP (rounds lost to invalidations do not count)");

/* One fault record being resolved. */
struct hmmdev_fault {
	struct hmmdev_ctx *ctx;		/* referenced */
	struct hmmdev_queue *q;
	u64 va;
	u64 win_start, win_end;		/* 2 MiB block around va */
	u64 req_start, req_end;		/* pages the command needs faulted */
	u32 cmd_index;
	u8 access;
	int err;
};

/* The operand range of the stalled command that contains @va. */
static void hmmdev_fault_operand(const struct hmmdev_cmd *c, u64 va, u64 *s, u64 *e)
{
	u64 r[3][2] = { { c->dst, c->len }, { c->src, c->len }, { c->y, c->len } };
	unsigned int i;

	if (c->op == HMMDEV_OP_ATOMIC)
		r[0][1] = 8;
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		if (r[i][1] && va >= r[i][0] && va - r[i][0] < r[i][1]) {
			*s = r[i][0];
			*e = r[i][0] + r[i][1];
			return;
		}
	}
	*s = va;
	*e = va + 1;
}

static int hmmdev_fault_cmp(const void *a, const void *b)
{
	const struct hmmdev_fault *x = a, *y = b;

	if (x->ctx != y->ctx)
		return x->ctx < y->ctx ? -1 : 1;
	if (x->va != y->va)
		return x->va < y->va ? -1 : 1;
	return 0;
}

/*
 * Resolve faults f[0..n): one window, one context.  A window longer than
 * HMMDEV_FAULT_MAX_PAGES (hmmdev_queue_fault_scope()) is mirrored in pieces, still
 * one round.
 */
static int hmmdev_fault_group(struct hmmdev *hd, struct hmmdev_fault *f,
			      unsigned int n, u64 start, u64 end)
{
	unsigned long *req = hd->faultq->req;
	struct hmmdev_map_miss miss = { };
	unsigned long i, first, last;
	unsigned int k;
	u64 done = start, cs, ce;
	int ret = 0;

	/* placement policy: migrate-on-fault before mirroring (f[] is sorted) */
	for (k = 0; k < n; k++) {
		if (f[k].req_end > done)
			hmmdev_policy_fault(f[0].ctx, max(f[k].req_start, done), f[k].req_end);
		done = max(done, f[k].req_end);
	}
	hmmdev_count(f[0].ctx, HMMDEV_STAT_FAULT_GROUPS, 1);
	for (cs = start; cs < end && !ret; cs = ce) {
		ce = min_t(u64, end, cs + HMMDEV_FAULT_MAX_PAGES * PAGE_SIZE);
		memset(req, 0, ((ce - cs) >> PAGE_SHIFT) * sizeof(*req));
		for (k = 0; k < n; k++) {
			unsigned long flags = HMM_PFN_REQ_FAULT;

			if (f[k].req_end <= cs || f[k].req_start >= ce)
				continue;
			if (f[k].access != HMMDEV_ACCESS_READ)
				flags |= HMM_PFN_REQ_WRITE;
			first = (max(f[k].req_start, cs) - cs) >> PAGE_SHIFT;
			last = (min(f[k].req_end, ce) - cs) >> PAGE_SHIFT;
			for (i = first; i < last; i++)
				req[i] |= flags;
		}
		ret = hmmdev_mirror_fault(f[0].ctx, cs, ce, req, hd->faultq->pfns, hd->faultq->dma,
					  &miss);
	}
	for (k = 0; k < n; k++) {
		f[k].q->progress.last_start = start;
		f[k].q->progress.last_end = end;
		f[k].q->progress.last_miss = miss.pages;
		f[k].q->progress.last_miss_err = miss.err;
		f[k].q->progress.last_ret = ret;
	}
	trace_hmmdev_fault_group(f[0].ctx->asid, start, end, n, ret);
	return ret;
}

static void hmmdev_fault_resolve(struct hmmdev *hd, struct hmmdev_fault *f)
{
	struct hmmdev_queue *q = f->q;
	u32 action = HMMDEV_QFAULT_REPLAY;

	if (f->err)
		action = HMMDEV_QFAULT_CANCEL;
	trace_hmmdev_fault(f->ctx->asid, q->hwq, f->va, f->access, f->err);
	spin_lock_irq(&hd->lock);
	/* the queue must still be ours and stalled on this very command */
	if (hd->hwq[q->hwq] == q &&
	    (hmmdev_rd(hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_STATUS)) & HMMDEV_QSTATUS_STALLED) &&
	    hmmdev_rd(hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_HEAD)) == f->cmd_index) {
		/* the submitter sees hmm_range_fault()'s errno */
		if (f->err)
			q->slot_err[f->cmd_index] = f->err == -EPERM ? -EPERM :
						    f->err == -EFAULT ? -EFAULT :
						    f->err == -ELOOP ? -ELOOP : -EIO;
		/* counted first: the submitter may look as soon as it completes */
		hmmdev_count(f->ctx, f->err ? HMMDEV_STAT_CANCELS : HMMDEV_STAT_REPLAYS, 1);
		hmmdev_count_ns(f->ctx, HMMDEV_STAT_NS_IRQ_TO_REPLAY,
				READ_ONCE(hd->faultq->irq_ns));
		hmmdev_wr(hd, hmmdev_qreg(q->hwq, HMMDEV_QREG_FAULT), action);
	}
	spin_unlock_irq(&hd->lock);
}

/*
 * Forward progress, the safety net under mirror_grant() (hmmdev_mirror.c).
 * A command that faults again on the same page with the same access made no
 * progress in that round if nothing invalidated its context's mappings
 * since the fault before (ctx->mirror_gen): the driver mapped the page and
 * the device still cannot use it.  Rounds lost to invalidations (concurrent
 * migrations, fork(), munmap()) do not count: they must not cancel
 * legitimate commands.  Past max_fault_rounds the command is cancelled with
 * -ELOOP, as UVM cancels a fault it cannot service, instead of a livelock.
 */
static bool hmmdev_fault_stuck(struct hmmdev_queue *q, const struct hmmdev_hw_fault_record *r)
{
	struct hmmdev_fault_progress *p = &q->progress;
	unsigned long gen = READ_ONCE(q->ctx->mirror_gen);
	u64 seq = q->slot_seq[r->cmd_index], va = ALIGN_DOWN(r->va, PAGE_SIZE);

	if (p->seq == seq && p->va == va && p->access == r->access) {
		if (p->gen == gen)
			p->rounds++;
	} else {
		*p = (struct hmmdev_fault_progress) { .seq = seq, .va = va, .access = r->access };
	}
	p->gen = gen;
	return p->rounds >= READ_ONCE(max_fault_rounds);
}

/*
 * What the CPU side says about a page now: one more lookup, nothing mapped.
 * For the log line of a stuck command only.
 */
static unsigned long hmmdev_fault_probe(struct hmmdev_ctx *ctx, u64 va, u8 access, int *err)
{
	unsigned long pfn = 0;
	struct hmmdev_mirror mr = {
		.range = {
			.notifier = &ctx->notifier,
			.start = va,
			.end = va + PAGE_SIZE,
			.hmm_pfns = &pfn,
			.default_flags = HMM_PFN_REQ_FAULT |
				(access != HMMDEV_ACCESS_READ ? HMM_PFN_REQ_WRITE : 0),
			.dev_private_owner = ctx->hd,
		},
		.ctx = ctx,
	};

	*err = -EFAULT;
	if (!mmget_not_zero(ctx->mm))
		return 0;
	*err = hmmdev_mirror_loop(&mr);
	mmput(ctx->mm);
	return pfn;
}

/* Cancel a command that makes no progress (hmmdev_fault_stuck()). */
static void hmmdev_fault_cancel_stuck(struct hmmdev *hd, struct hmmdev_queue *q,
				      const struct hmmdev_hw_fault_record *r)
{
	struct hmmdev_fault f = {
		.ctx = q->ctx, .q = q, .va = r->va, .access = r->access,
		.cmd_index = r->cmd_index, .err = -ELOOP,
	};
	u64 va = ALIGN_DOWN(r->va, PAGE_SIZE), raw[HMMDEV_PT_LEVELS];
	unsigned long pfn;
	int err;

	/* what the device saw, what the driver's tables hold, what the CPU has */
	hmmdev_pt_entries(&q->ctx->pt, va, raw);
	pfn = hmmdev_fault_probe(q->ctx, va, r->access, &err);
	dev_warn_ratelimited(&hd->pdev->dev,
			     "asid %u queue %u: command cancelled after %u fault rounds without progress at 0x%llx (access %u, reason %u, level %u; entries L4..L1 %llx %llx %llx %llx; CPU: err %d pfn 0x%lx order %u%s; last window 0x%llx-0x%llx ret %d, %lu needed pages not mapped, error %d)\n",
			     r->asid, q->hwq, q->progress.rounds, r->va, r->access, r->reason,
			     r->level, raw[3], raw[2], raw[1], raw[0], err, pfn,
			     hmm_pfn_to_map_order(pfn),
			     (pfn & HMM_PFN_VALID) &&
			     hmmdev_page_is_devmem(hd, hmm_pfn_to_page(pfn)) ? " devmem" : "",
			     q->progress.last_start, q->progress.last_end, q->progress.last_ret,
			     q->progress.last_miss, q->progress.last_miss_err);
	hmmdev_count(q->ctx, HMMDEV_STAT_STUCK_CANCELS, 1);
	q->progress = (struct hmmdev_fault_progress) { };
	hmmdev_fault_resolve(hd, &f);
}

static void hmmdev_fault_batch(struct hmmdev *hd, const struct hmmdev_hw_fault_record *recs,
			       unsigned int nrec)
{
	struct hmmdev_fault *f = hd->faultq->faults;
	unsigned int n = 0, i, j, k;

	for (i = 0; i < nrec; i++) {
		const struct hmmdev_hw_fault_record *r = &recs[i];
		struct hmmdev_queue *q;
		u64 os, oe, until;

		if (r->queue >= hd->num_queues || r->cmd_index >= HMMDEV_QUEUE_MAX_ENTRIES)
			continue;
		spin_lock_irq(&hd->lock);
		q = hd->hwq[r->queue];
		if (q && (q->ctx->asid != r->asid || r->cmd_index >= q->entries))
			q = NULL;
		if (q)
			hmmdev_ctx_get(q->ctx);
		spin_unlock_irq(&hd->lock);
		if (!q)
			continue;	/* the queue was stopped: stale record */
		hmmdev_count(q->ctx, HMMDEV_STAT_FAULTS, 1);
		if (hmmdev_fault_stuck(q, r)) {
			hmmdev_fault_cancel_stuck(hd, q, r);
			hmmdev_ctx_put(q->ctx);
			continue;
		}
		f[n] = (struct hmmdev_fault) {
			.ctx = q->ctx, .q = q, .va = r->va, .access = r->access,
			.cmd_index = r->cmd_index,
		};
		f[n].req_start = ALIGN_DOWN(r->va, PAGE_SIZE);
		until = hmmdev_queue_fault_scope(q);
		if (until > r->va) {
			/* the rest of the caller's request, in one round */
			f[n].win_start = f[n].req_start;
			f[n].win_end = min_t(u64, PAGE_ALIGN(until), HMMDEV_VA_LIMIT);
			f[n].req_end = f[n].win_end;
		} else {
			f[n].win_start = ALIGN_DOWN(r->va, HMMDEV_FAULT_WINDOW);
			f[n].win_end = min_t(u64, f[n].win_start + HMMDEV_FAULT_WINDOW,
					     HMMDEV_VA_LIMIT);
			hmmdev_fault_operand(&q->slot_cmd[r->cmd_index], r->va, &os, &oe);
			f[n].req_end = max_t(u64, PAGE_ALIGN(oe), f[n].req_start + PAGE_SIZE);
			f[n].req_end = min_t(u64, f[n].win_end, f[n].req_end);
		}
		n++;
	}
	sort(f, n, sizeof(f[0]), hmmdev_fault_cmp, NULL);

	for (i = 0; i < n; i = j) {
		u64 start = f[i].win_start, end = f[i].win_end;
		int ret;

		for (j = i + 1; j < n && f[j].ctx == f[i].ctx && f[j].win_start <= end &&
		     max(end, f[j].win_end) - start <= HMMDEV_FAULT_MAX_PAGES * PAGE_SIZE; j++)
			end = max(end, f[j].win_end);
		ret = hmmdev_fault_group(hd, &f[i], j - i, start, end);
		/*
		 * A window that is the rest of the caller's request fails as a
		 * whole, as test_hmm's does; otherwise one bad page must not fail
		 * its neighbours' commands.
		 */
		if (ret && ret != -ENODEV && !hmmdev_queue_fault_scope(f[i].q)) {
			/* one bad page fails the window: find whose it is */
			for (k = i; k < j; k++) {
				struct hmmdev_fault one = f[k];

				one.req_end = one.req_start + PAGE_SIZE;
				f[k].err = hmmdev_fault_group(hd, &one, 1, one.req_start,
							      one.req_end);
			}
		} else {
			for (k = i; k < j; k++)
				f[k].err = ret;
		}
		for (k = i; k < j; k++)
			hmmdev_fault_resolve(hd, &f[k]);
	}
	/*
	 * Refill the table caches now that the device is replaying: the next
	 * fault in a new 2 MiB block then finds its tables ready instead of
	 * allocating (and zeroing) them on the critical path.  Best effort:
	 * hmmdev_mirror_fault() reserves again anyway.
	 */
	for (i = 0; i < n; i++) {
		u64 blk = ALIGN_DOWN(f[i].va, HMMDEV_FAULT_WINDOW);

		if (i && f[i].ctx == f[i - 1].ctx &&
		    blk == ALIGN_DOWN(f[i - 1].va, HMMDEV_FAULT_WINDOW))
			continue;
		if (!READ_ONCE(f[i].ctx->detached) && blk < HMMDEV_VA_LIMIT)
			hmmdev_pt_reserve(&f[i].ctx->pt, blk,
					  min_t(u64, blk + HMMDEV_FAULT_WINDOW, HMMDEV_VA_LIMIT));
	}
	for (i = 0; i < n; i++)
		hmmdev_ctx_put(f[i].ctx);
}

static void hmmdev_fault_work(struct work_struct *work)
{
	struct hmmdev_faultq *fq = container_of(work, struct hmmdev_faultq, work);
	static const u32 mask = HMMDEV_FQ_ENTRIES - 1;
	struct hmmdev *hd = fq->hd;
	unsigned int n, i;
	u32 tail;

	if (READ_ONCE(fq->irq_ns) != fq->irq_seen) {	/* not a flush */
		fq->irq_seen = READ_ONCE(fq->irq_ns);
		atomic64_add(ktime_get_ns() - fq->irq_seen,
			     &hd->stats.v[HMMDEV_STAT_NS_IRQ_TO_WORK]);
	}
	for (;;) {
		tail = hmmdev_rd(hd, HMMDEV_REG_FQ_TAIL);
		if (tail == fq->fq_head) {
			if (hmmdev_rd(hd, HMMDEV_REG_FQ_STATUS) & HMMDEV_FQ_STATUS_OVERFLOW)
				hmmdev_wr(hd, HMMDEV_REG_FQ_STATUS, HMMDEV_FQ_STATUS_OVERFLOW);
			break;
		}
		if (tail > mask)
			break;
		n = min_t(u32, (tail - fq->fq_head) & mask, HMMDEV_FAULT_BATCH);
		dma_rmb();
		for (i = 0; i < n; i++)
			fq->recs[i] = fq->fq[(fq->fq_head + i) & mask];
		hmmdev_fault_batch(hd, fq->recs, n);
		atomic64_inc(&hd->stats.v[HMMDEV_STAT_FAULT_BATCHES]);
		fq->fq_head = (fq->fq_head + n) & mask;
		/* this re-arms the interrupt */
		hmmdev_wr(hd, HMMDEV_REG_FQ_HEAD, fq->fq_head);
	}
}

/* Fault-ring interrupt: hand off to the workqueue. */
static irqreturn_t hmmdev_fault_irq(int irq, void *data)
{
	struct hmmdev_faultq *fq = data;

	/* the ring is disarmed until FQ_HEAD is written: one stamp per round */
	WRITE_ONCE(fq->irq_ns, ktime_get_ns());
	atomic64_inc(&fq->hd->irq_count);
	queue_work(fq->wq, &fq->work);
	return IRQ_HANDLED;
}

static void hmmdev_faultq_free(struct hmmdev *hd)
{
	struct hmmdev_faultq *fq = hd->faultq;

	if (fq->wq)
		destroy_workqueue(fq->wq);
	if (fq->fq)
		dma_free_coherent(&hd->pdev->dev, HMMDEV_FQ_ENTRIES * HMMDEV_FAULT_RECORD_SIZE,
				  fq->fq, fq->fq_dma);
	kvfree(fq->req);
	kvfree(fq->pfns);
	kvfree(fq->dma);
	kfree(fq->recs);
	kfree(fq->faults);
	kfree(fq);
	hd->faultq = NULL;
}

/**
 * hmmdev_fault_init() - set up and enable the fault ring
 * @hd: the device, just reset
 *
 * Return: 0 or a negative errno.
 */
int hmmdev_fault_init(struct hmmdev *hd)
{
	struct device *dev = &hd->pdev->dev;
	struct hmmdev_faultq *fq;
	int ret = -ENOMEM;

	fq = kzalloc_obj(*fq, GFP_KERNEL);
	if (!fq)
		return -ENOMEM;
	hd->faultq = fq;
	fq->hd = hd;
	fq->req = kvcalloc(HMMDEV_FAULT_MAX_PAGES, sizeof(*fq->req), GFP_KERNEL);
	fq->pfns = kvcalloc(HMMDEV_FAULT_MAX_PAGES, sizeof(*fq->pfns), GFP_KERNEL);
	fq->dma = kvcalloc(HMMDEV_FAULT_MAX_PAGES, sizeof(*fq->dma), GFP_KERNEL);
	fq->recs = kcalloc(HMMDEV_FAULT_BATCH, sizeof(*fq->recs), GFP_KERNEL);
	fq->faults = kcalloc(HMMDEV_FAULT_BATCH, sizeof(struct hmmdev_fault), GFP_KERNEL);
	fq->fq = dma_alloc_coherent(dev, HMMDEV_FQ_ENTRIES * HMMDEV_FAULT_RECORD_SIZE,
				    &fq->fq_dma, GFP_KERNEL);
	if (!fq->req || !fq->pfns || !fq->dma || !fq->fq || !fq->recs || !fq->faults)
		goto err_free;
	/*
	 * A per-CPU high-priority workqueue: the work runs on the CPU that
	 * took the interrupt, from the nice -20 pool, without the wake-up of
	 * an unbound worker elsewhere that an ordered workqueue costs.  The
	 * work is the only item ever queued here, and a work item never runs
	 * concurrently with itself on one workqueue, so fault handling stays
	 * serialized as with an ordered workqueue.
	 */
	fq->wq = alloc_workqueue("hmmdev-fault-%s", WQ_PERCPU | WQ_HIGHPRI | WQ_MEM_RECLAIM, 1,
				 pci_name(hd->pdev));
	if (!fq->wq)
		goto err_free;
	INIT_WORK(&fq->work, hmmdev_fault_work);
	ret = request_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_FAULT),
			  hmmdev_fault_irq, 0, "hmmdev-fault", fq);
	if (ret)
		goto err_free;

	fq->fq_head = 0;
	hmmdev_wr(hd, HMMDEV_REG_FQ_BASE_HI, upper_32_bits(fq->fq_dma));
	hmmdev_wr(hd, HMMDEV_REG_FQ_BASE_LO, lower_32_bits(fq->fq_dma));
	hmmdev_wr(hd, HMMDEV_REG_FQ_SIZE, HMMDEV_FQ_ENTRIES);
	hmmdev_wr(hd, HMMDEV_REG_FQ_VECTOR, HMMDEV_MSIX_VEC_FAULT);
	hmmdev_wr(hd, HMMDEV_REG_FQ_CTRL, HMMDEV_FQ_CTRL_ENABLE);
	if (!(hmmdev_rd(hd, HMMDEV_REG_FQ_STATUS) & HMMDEV_FQ_STATUS_ENABLED)) {
		dev_err(dev, "fault ring refused its setup (ERROR 0x%x)\n",
			hmmdev_rd(hd, HMMDEV_REG_ERROR));
		ret = -EIO;
		goto err_irq;
	}
	return 0;

err_irq:
	free_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_FAULT), fq);
err_free:
	hmmdev_faultq_free(hd);
	return ret;
}

/**
 * hmmdev_fault_drain() - resolve or drop every fault record in the ring now
 * @hd: the device
 *
 * After a context's queues are stopped, the records of its queues are
 * dropped before their hardware queue or ASID can get a new owner.  A no-op
 * once the device is being removed (fault handling stops then).
 */
void hmmdev_fault_drain(struct hmmdev *hd)
{
	mutex_lock(&hd->ctx_mutex);
	if (!hd->dead && hd->faultq) {
		queue_work(hd->faultq->wq, &hd->faultq->work);
		flush_work(&hd->faultq->work);
	}
	mutex_unlock(&hd->ctx_mutex);
}

/**
 * hmmdev_fault_fini() - disable the fault ring and stop fault handling
 * @hd: the device
 */
void hmmdev_fault_fini(struct hmmdev *hd)
{
	if (!hd->faultq)
		return;
	hmmdev_wr(hd, HMMDEV_REG_FQ_CTRL, 0);
	free_irq(pci_irq_vector(hd->pdev, HMMDEV_MSIX_VEC_FAULT), hd->faultq);
	cancel_work_sync(&hd->faultq->work);
	hmmdev_faultq_free(hd);
}
