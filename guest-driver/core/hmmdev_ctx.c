// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: contexts and ASIDs.
 *
 * A context is one open of /dev/hmmdevN: the opener's mm, an ASID, device
 * page tables and an mmu_interval_notifier over the whole address space.
 * Creation order: ASID, tables, notifier, then the device's ROOT register;
 * destruction runs it backwards after the context's queues are stopped.
 *
 * The core knows nothing of what the notifier does (its ops come from the
 * svm layer, hmmdev_svm_open()), nor of faults and device memory: the svm
 * layer stops a context (hmmdev_ctx_stop()), drains its faults and returns
 * its device pages, then destroys it (hmmdev_ctx_destroy()).
 */
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "core/hmmdev_core.h"
#include "obs/hmmdev_trace.h"

static void hmmdev_ctx_set_root(struct hmmdev_ctx *ctx, bool enable)
{
	struct hmmdev *hd = ctx->hd;
	u32 reg = HMMDEV_REG_CTX_BASE + ctx->asid * HMMDEV_CTX_STRIDE;
	u64 root = enable ? ctx->pt.root->dma : 0;

	hmmdev_wr(hd, reg + HMMDEV_CTXREG_ROOT_HI, upper_32_bits(root));
	/* the ROOT_LO write commits and invalidates the ASID's TLB entries */
	hmmdev_wr(hd, reg + HMMDEV_CTXREG_ROOT_LO,
		  (lower_32_bits(root) & HMMDEV_CTX_ROOT_MASK) |
		  (enable ? HMMDEV_CTX_ENABLE : 0));
}

/**
 * hmmdev_ctx_create() - create a context for current->mm
 * @hd: the device
 * @ops: the notifier's callbacks (the svm layer's mirror)
 *
 * Return: the context, or ERR_PTR(): -EBUSY when every ASID is taken,
 * -ENODEV when the device is going away, -ENOMEM.
 */
struct hmmdev_ctx *hmmdev_ctx_create(struct hmmdev *hd,
				     const struct mmu_interval_notifier_ops *ops)
{
	struct hmmdev_ctx *ctx;
	unsigned int asid;
	int ret;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	ctx = kzalloc_obj(*ctx, GFP_KERNEL);
	if (!ctx)
		return ERR_PTR(-ENOMEM);
	kref_init(&ctx->ref);
	ctx->hd = hd;
	ctx->tgid = current->tgid;
	mutex_init(&ctx->lock);
	mutex_init(&ctx->queues_lock);
	INIT_LIST_HEAD(&ctx->node);

	mutex_lock(&hd->ctx_mutex);
	if (hd->dead) {
		ret = -ENODEV;
		goto err_unlock;
	}
	asid = find_first_zero_bit(hd->asid_map, hd->num_asids);
	if (asid >= hd->num_asids) {
		ret = -EBUSY;
		goto err_unlock;
	}
	set_bit(asid, hd->asid_map);
	ctx->asid = asid;
	mutex_unlock(&hd->ctx_mutex);

	ret = hmmdev_pt_init(&ctx->pt, hd);
	if (ret)
		goto err_asid;
	ret = mmu_interval_notifier_insert(&ctx->notifier, current->mm, 0,
					   ULONG_MAX & PAGE_MASK, ops);
	if (ret)
		goto err_pt;
	ctx->mm = ctx->notifier.mm;

	mutex_lock(&hd->ctx_mutex);
	if (hd->dead) {
		mutex_unlock(&hd->ctx_mutex);
		ret = -ENODEV;
		goto err_notifier;
	}
	hmmdev_ctx_set_root(ctx, true);
	list_add_tail(&ctx->node, &hd->contexts);
	kref_get(&hd->ref);
	mutex_unlock(&hd->ctx_mutex);
	trace_hmmdev_ctx(hd->minor, ctx->asid, current->tgid, true);
	return ctx;

err_notifier:
	mmu_interval_notifier_remove(&ctx->notifier);
err_pt:
	hmmdev_pt_fini(&ctx->pt);
err_asid:
	mutex_lock(&hd->ctx_mutex);
	clear_bit(ctx->asid, hd->asid_map);
err_unlock:
	mutex_unlock(&hd->ctx_mutex);
	kfree(ctx);
	return ERR_PTR(ret);
}

static void hmmdev_ctx_free(struct kref *ref)
{
	struct hmmdev_ctx *ctx = container_of(ref, struct hmmdev_ctx, ref);
	struct hmmdev *hd = ctx->hd;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ctx->queues); i++)
		if (ctx->queues[i])
			hmmdev_queue_free(ctx->queues[i]);
	hmmdev_pt_fini(&ctx->pt);
	kfree(ctx);
	hmmdev_put(hd);
}

/**
 * hmmdev_ctx_put() - drop a reference to a context
 * @ctx: the context
 */
void hmmdev_ctx_put(struct hmmdev_ctx *ctx)
{
	kref_put(&ctx->ref, hmmdev_ctx_free);
}

/* Stop every queue of @ctx: the device no longer executes its commands. */
static void hmmdev_ctx_kill_queues(struct hmmdev_ctx *ctx)
{
	unsigned int i;

	mutex_lock(&ctx->queues_lock);
	for (i = 0; i < ARRAY_SIZE(ctx->queues); i++)
		if (ctx->queues[i])
			hmmdev_queue_kill(ctx->queues[i]);
	mutex_unlock(&ctx->queues_lock);
}

/**
 * hmmdev_ctx_stop() - stop a context's queues when its file is released
 * @ctx: the context
 *
 * A command in flight is abandoned.  The caller then drains fault handling
 * and returns the context's device pages before hmmdev_ctx_destroy().
 */
void hmmdev_ctx_stop(struct hmmdev_ctx *ctx)
{
	trace_hmmdev_ctx(ctx->hd->minor, ctx->asid, current->tgid, false);
	hmmdev_ctx_kill_queues(ctx);
}

/**
 * hmmdev_ctx_destroy() - tear down a stopped context
 * @ctx: the context, after hmmdev_ctx_stop()
 *
 * The notifier goes, the ASID is disabled (which drops its TLB entries) and
 * freed, and the final reference unmaps and frees the page tables.
 */
void hmmdev_ctx_destroy(struct hmmdev_ctx *ctx)
{
	struct hmmdev *hd = ctx->hd;

	mmu_interval_notifier_remove(&ctx->notifier);
	mutex_lock(&hd->ctx_mutex);
	if (!list_empty(&ctx->node)) {
		list_del_init(&ctx->node);
		hmmdev_ctx_set_root(ctx, false);
	}
	clear_bit(ctx->asid, hd->asid_map);
	mutex_unlock(&hd->ctx_mutex);
	hmmdev_ctx_put(ctx);
}

/**
 * hmmdev_ctx_kill_all() - stop every context's queues
 * @hd: the device
 * @failed: a fatal device error: commands in flight and later submissions
 *	fail with -EIO, as do new queues (hd->failed); otherwise the device is
 *	being removed (hd->dead: no new contexts or queues, -ENODEV)
 *
 * The contexts stay open until their files close.
 */
void hmmdev_ctx_kill_all(struct hmmdev *hd, bool failed)
{
	struct hmmdev_ctx *ctx;

	mutex_lock(&hd->ctx_mutex);
	if (failed && hd->dead)
		goto out;		/* the removal stopped them already */
	if (failed)
		WRITE_ONCE(hd->failed, true);
	else
		hd->dead = true;
	list_for_each_entry(ctx, &hd->contexts, node)
		hmmdev_ctx_kill_queues(ctx);
out:
	mutex_unlock(&hd->ctx_mutex);
}

/**
 * hmmdev_ctx_detach_all() - cut every context off the device (removal)
 * @hd: the device
 *
 * Called after hmmdev_ctx_kill_all(hd, false) and after fault handling
 * stopped.  Open files stay valid: their ioctls fail with -ENODEV and their
 * release frees them later.  Their device mappings are invalidated and
 * DMA-unmapped now, while the device is still bound; notifier callbacks
 * after this find nothing mapped.
 */
void hmmdev_ctx_detach_all(struct hmmdev *hd)
{
	struct hmmdev_ctx *ctx;
	unsigned long flags;
	unsigned int i;

	mutex_lock(&hd->ctx_mutex);
	list_for_each_entry(ctx, &hd->contexts, node) {
		mutex_lock(&ctx->lock);
		hmmdev_pt_invalidate(ctx, 0, HMMDEV_VA_LIMIT);
		ctx->detached = true;
		mutex_unlock(&ctx->lock);
		hmmdev_ctx_set_root(ctx, false);
		/*
		 * DMA memory goes back while the PCI device still exists: after a
		 * hot-unplug or PCI remove it is gone when the file is closed.
		 */
		mutex_lock(&ctx->lock);
		hmmdev_pt_fini(&ctx->pt);
		mutex_unlock(&ctx->lock);
		mutex_lock(&ctx->queues_lock);
		for (i = 0; i < ARRAY_SIZE(ctx->queues); i++)
			if (ctx->queues[i])
				hmmdev_queue_release_ring(ctx->queues[i]);
		mutex_unlock(&ctx->queues_lock);
	}
	while (!list_empty(&hd->contexts))
		list_del_init(hd->contexts.next);
	mutex_unlock(&hd->ctx_mutex);

	spin_lock_irqsave(&hd->inv_lock, flags);
	hd->gone = true;
	spin_unlock_irqrestore(&hd->inv_lock, flags);
}
