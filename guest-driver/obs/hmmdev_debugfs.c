// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: debugfs.
 *
 * /sys/kernel/debug/hmmdev/hmmdevN/stats            device counters
 * /sys/kernel/debug/hmmdev/hmmdevN/ctx<ASID>/stats  context counters
 * /sys/kernel/debug/hmmdev/hmmdevN/ctx<ASID>/pid    the opener's tgid
 * /sys/kernel/debug/hmmdev/hmmdevN/ctx<ASID>/policy  placement policy ranges
 * /sys/kernel/debug/hmmdev/hmmdevN/ctx<ASID>/pagetable
 *	every valid device PTE (format: hmmdev_pt_dump())
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "obs/hmmdev_obs.h"

static struct dentry *hmmdev_debugfs_root;

const char *const hmmdev_stat_names[HMMDEV_STAT_NR] = {
#define HMMDEV_STAT(ENUM, name)		\
	[HMMDEV_STAT_##ENUM] = #name,
#include <uapi/linux/hmmdev_stats.def>
#undef HMMDEV_STAT
};

/**
 * hmmdev_stats_show() - print counters as "name value" lines
 * @m: the output
 * @c: the counters
 */
void hmmdev_stats_show(struct seq_file *m, struct hmmdev_counters *c)
{
	unsigned int i;

	for (i = 0; i < HMMDEV_STAT_NR; i++)
		seq_printf(m, "%s %lld\n", hmmdev_stat_names[i], atomic64_read(&c->v[i]));
}

static int hmmdev_dev_stats_show(struct seq_file *m, void *unused)
{
	struct hmmdev *hd = m->private;

	hmmdev_stats_show(m, &hd->stats);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmdev_dev_stats);

static int hmmdev_ctx_stats_show(struct seq_file *m, void *unused)
{
	struct hmmdev_ctx *ctx = m->private;

	hmmdev_stats_show(m, &ctx->stats);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmdev_ctx_stats);

static int hmmdev_ctx_pagetable_show(struct seq_file *m, void *unused)
{
	struct hmmdev_ctx *ctx = m->private;

	mutex_lock(&ctx->lock);
	hmmdev_pt_dump(&ctx->pt, m);
	mutex_unlock(&ctx->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmdev_ctx_pagetable);

static int hmmdev_ctx_policy_show(struct seq_file *m, void *unused)
{
	hmmdev_policy_dump(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmdev_ctx_policy);

/**
 * hmmdev_debugfs_ctx_add() - a context's directory: stats, pagetable, policy, pid
 * @ctx: the new context
 */
void hmmdev_debugfs_ctx_add(struct hmmdev_ctx *ctx)
{
	char name[16];

	if (!ctx->hd->debugfs)
		return;
	snprintf(name, sizeof(name), "ctx%u", ctx->asid);
	ctx->debugfs = debugfs_create_dir(name, ctx->hd->debugfs);
	debugfs_create_file("stats", 0444, ctx->debugfs, ctx, &hmmdev_ctx_stats_fops);
	debugfs_create_file("pagetable", 0444, ctx->debugfs, ctx,
			    &hmmdev_ctx_pagetable_fops);
	debugfs_create_file("policy", 0444, ctx->debugfs, ctx, &hmmdev_ctx_policy_fops);
	debugfs_create_u32("pid", 0444, ctx->debugfs, (u32 *)&ctx->tgid);
}

/**
 * hmmdev_debugfs_ctx_remove() - remove a context's directory
 * @ctx: the context; its directory may be gone already (device removal)
 */
void hmmdev_debugfs_ctx_remove(struct hmmdev_ctx *ctx)
{
	mutex_lock(&ctx->hd->ctx_mutex);
	debugfs_remove_recursive(ctx->debugfs);
	ctx->debugfs = NULL;
	mutex_unlock(&ctx->hd->ctx_mutex);
}

/**
 * hmmdev_debugfs_ctx_remove_all() - remove every context's directory
 * @hd: the device, being removed (its contexts stay until their files close)
 */
void hmmdev_debugfs_ctx_remove_all(struct hmmdev *hd)
{
	struct hmmdev_ctx *ctx;

	mutex_lock(&hd->ctx_mutex);
	list_for_each_entry(ctx, &hd->contexts, node) {
		debugfs_remove_recursive(ctx->debugfs);
		ctx->debugfs = NULL;
	}
	mutex_unlock(&hd->ctx_mutex);
}

/**
 * hmmdev_debugfs_add() - the device's directory: stats and ats_selftest
 * @hd: the device, probed
 */
void hmmdev_debugfs_add(struct hmmdev *hd)
{
	char name[16];

	snprintf(name, sizeof(name), "hmmdev%d", hd->minor);
	hd->debugfs = debugfs_create_dir(name, hmmdev_debugfs_root);
	debugfs_create_file("stats", 0444, hd->debugfs, hd, &hmmdev_dev_stats_fops);
	hmmdev_atstest_add(hd);		/* ats_selftest, hmmdev_atstest.c */
}

/**
 * hmmdev_debugfs_remove() - remove the device's directory
 * @hd: the device, being removed
 */
void hmmdev_debugfs_remove(struct hmmdev *hd)
{
	debugfs_remove_recursive(hd->debugfs);
	hd->debugfs = NULL;
}

/**
 * hmmdev_debugfs_init() - create /sys/kernel/debug/hmmdev (module load)
 */
void hmmdev_debugfs_init(void)
{
	hmmdev_debugfs_root = debugfs_create_dir(HMMDEV_DRV_NAME, NULL);
}

/**
 * hmmdev_debugfs_exit() - remove /sys/kernel/debug/hmmdev (module unload)
 */
void hmmdev_debugfs_exit(void)
{
	debugfs_remove_recursive(hmmdev_debugfs_root);
}
