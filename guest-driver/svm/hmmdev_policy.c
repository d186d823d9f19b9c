// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: placement policy per VA range (HMMDEV_IOC_SET_POLICY).
 *
 * A context keeps a sorted list of disjoint ranges, each with a preferred
 * location and the migrate-on-device-fault switch.  The default (system
 * memory, no migration on fault) is not stored.  The fault worker asks for
 * the ranges that overlap a fault window with migrate-on-fault set and
 * migrates those pieces before it mirrors the window; policy_lock is never
 * held across the migration.
 */
#include <linux/list.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include "svm/hmmdev_svm.h"

/* One range with a non-default policy. */
struct hmmdev_prange {
	struct list_head node;	/* in hmmdev_ctx.policies, by address */
	u64 start, end;
	u32 pref;		/* enum hmmdev_mem */
	bool mof;		/* migrate on device fault */
};

/**
 * hmmdev_policy_init() - a new context has the default policy everywhere
 * @ctx: the context
 */
void hmmdev_policy_init(struct hmmdev_ctx *ctx)
{
	mutex_init(&ctx->policy_lock);
	INIT_LIST_HEAD(&ctx->policies);
	ctx->npolicies = 0;
}

/**
 * hmmdev_policy_fini() - free a context's policy ranges
 * @ctx: the context, no longer used by ioctls or the fault worker
 */
void hmmdev_policy_fini(struct hmmdev_ctx *ctx)
{
	struct hmmdev_prange *r, *tmp;

	list_for_each_entry_safe(r, tmp, &ctx->policies, node) {
		list_del(&r->node);
		kfree(r);
	}
	ctx->npolicies = 0;
}

/**
 * hmmdev_policy_set() - set the policy of [start, end)
 * @ctx: the context
 * @start: first VA, page aligned
 * @end: VA after the last, page aligned, above @start
 * @pref: enum hmmdev_mem, the preferred location
 * @mof: migrate to @pref on a device fault
 *
 * Ranges that overlap are cut back or split; system memory without
 * migrate-on-fault (the default) is not stored.
 *
 * Return: 0, -ENOMEM, or -ENOSPC when the context would hold more than
 * HMMDEV_POLICY_MAX_RANGES ranges.
 */
int hmmdev_policy_set(struct hmmdev_ctx *ctx, u64 start, u64 end, u32 pref, bool mof)
{
	bool store = pref != HMMDEV_MEM_SYSTEM || mof;
	struct hmmdev_prange *nr, *split, *r, *tmp;
	struct list_head *pos;
	int ret = 0;

	/* at most two new ranges: the new one and the tail of a split one */
	nr = kzalloc_obj(*nr, GFP_KERNEL);
	split = kzalloc_obj(*split, GFP_KERNEL);
	if (!nr || !split) {
		ret = -ENOMEM;
		goto out;
	}
	mutex_lock(&ctx->policy_lock);
	if (ctx->npolicies + 2 > HMMDEV_POLICY_MAX_RANGES) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	pos = &ctx->policies;
	list_for_each_entry_safe(r, tmp, &ctx->policies, node) {
		if (r->end <= start) {
			pos = &r->node;
			continue;
		}
		if (r->start >= end)
			break;
		if (r->start < start && r->end > end) {
			/* [r->start, start) stays, [end, r->end) is a new range */
			*split = *r;
			split->start = end;
			list_add(&split->node, &r->node);
			ctx->npolicies++;
			split = NULL;
			r->end = start;
			pos = &r->node;
			break;
		}
		if (r->start < start) {
			r->end = start;
			pos = &r->node;
			continue;
		}
		if (r->end > end) {
			r->start = end;
			break;
		}
		/* inside [start, end): replaced */
		list_del(&r->node);
		kfree(r);
		ctx->npolicies--;
	}
	if (store) {
		nr->start = start;
		nr->end = end;
		nr->pref = pref;
		nr->mof = mof;
		list_add(&nr->node, pos);
		ctx->npolicies++;
		nr = NULL;
	}
out_unlock:
	mutex_unlock(&ctx->policy_lock);
out:
	kfree(nr);
	kfree(split);
	return ret;
}

/*
 * The first piece of [*pos, end) at or after *pos covered by a
 * migrate-on-fault range: [*s, *e) and where it goes.
 */
static bool hmmdev_policy_next(struct hmmdev_ctx *ctx, u64 pos, u64 end, u64 *s,
			       u64 *e, bool *to_dev)
{
	struct hmmdev_prange *r;
	bool found = false;

	mutex_lock(&ctx->policy_lock);
	list_for_each_entry(r, &ctx->policies, node) {
		if (r->start >= end)
			break;
		if (r->end <= pos || !r->mof)
			continue;
		*s = max(r->start, pos);
		*e = min(r->end, end);
		*to_dev = r->pref == HMMDEV_MEM_DEVICE;
		found = true;
		break;
	}
	mutex_unlock(&ctx->policy_lock);
	return found;
}

/**
 * hmmdev_policy_fault() - apply migrate-on-fault before a fault is mirrored
 * @ctx: the faulting context (referenced)
 * @start: first VA the faulting command needs, page aligned
 * @end: VA after the last, page aligned
 *
 * Called by the fault worker with no driver lock held.  Each piece of the
 * range whose policy says migrate-on-fault is migrated to its preferred
 * location (best effort, counted like HMMDEV_IOC_MIGRATE).
 */
void hmmdev_policy_fault(struct hmmdev_ctx *ctx, u64 start, u64 end)
{
	u64 s, e;
	bool to_dev;

	if (list_empty_careful(&ctx->policies))
		return;
	while (start < end && hmmdev_policy_next(ctx, start, end, &s, &e, &to_dev)) {
		hmmdev_dmem_fault_migrate(ctx, s, e, to_dev);
		start = e;
	}
}

/**
 * hmmdev_policy_dump() - list a context's policy ranges (debugfs)
 * @ctx: the context
 * @m: the seq_file
 */
void hmmdev_policy_dump(struct hmmdev_ctx *ctx, struct seq_file *m)
{
	struct hmmdev_prange *r;

	mutex_lock(&ctx->policy_lock);
	list_for_each_entry(r, &ctx->policies, node)
		seq_printf(m, "0x%llx-0x%llx %s%s\n", r->start, r->end,
			   r->pref == HMMDEV_MEM_DEVICE ? "device" : "system",
			   r->mof ? " migrate-on-fault" : "");
	mutex_unlock(&ctx->policy_lock);
}
