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
#include "hmmdev_drv.h"

static struct dentry *hmmdev_debugfs_root;
void hmmdev_atstest_add(struct hmmdev *hd);

const char *const hmmdev_stat_names[HMMDEV_STAT_NR] = {
	[HMMDEV_STAT_FAULTS] = "faults",
	[HMMDEV_STAT_FAULT_BATCHES] = "fault_batches",
	[HMMDEV_STAT_FAULT_GROUPS] = "fault_groups",
	[HMMDEV_STAT_PAGES_FAULTED] = "pages_faulted",
	[HMMDEV_STAT_HUGE_MAPPINGS] = "huge_mappings",
	[HMMDEV_STAT_REPLAYS] = "replays",
	[HMMDEV_STAT_CANCELS] = "cancels",
	[HMMDEV_STAT_INVALIDATIONS] = "invalidations",
	[HMMDEV_STAT_PAGES_INVALIDATED] = "pages_invalidated",
	[HMMDEV_STAT_CMDS_SUBMITTED] = "cmds_submitted",
	[HMMDEV_STAT_CMDS_COMPLETED] = "cmds_completed",
	[HMMDEV_STAT_CMD_ERRORS] = "cmd_errors",
	[HMMDEV_STAT_MIGRATED_TO_DEV] = "migrated_to_dev",
	[HMMDEV_STAT_MIGRATED_TO_SYS] = "migrated_to_sys",
	[HMMDEV_STAT_EVICTIONS] = "evictions",
	[HMMDEV_STAT_MIGRATE_SKIPPED] = "migrate_skipped",
	[HMMDEV_STAT_NS_HMM_RANGE_FAULT] = "ns_hmm_range_fault",
	[HMMDEV_STAT_NS_DMA_MAP] = "ns_dma_map",
	[HMMDEV_STAT_NS_PTE_WRITE] = "ns_pte_write",
	[HMMDEV_STAT_NS_IRQ_TO_WORK] = "ns_irq_to_work",
	[HMMDEV_STAT_NS_IRQ_TO_REPLAY] = "ns_irq_to_replay",
	[HMMDEV_STAT_NS_MIGRATE_ALLOC] = "ns_migrate_alloc",
	[HMMDEV_STAT_NS_MIGRATE_SETUP] = "ns_migrate_setup",
	[HMMDEV_STAT_NS_MIGRATE_INVALIDATE] = "ns_migrate_invalidate",
	[HMMDEV_STAT_NS_MIGRATE_COPY] = "ns_migrate_copy",
	[HMMDEV_STAT_NS_MIGRATE_PAGES] = "ns_migrate_pages",
	[HMMDEV_STAT_NS_MIGRATE_FINALIZE] = "ns_migrate_finalize",
	[HMMDEV_STAT_NS_SG_COPY] = "ns_sg_copy",
	[HMMDEV_STAT_SG_COPIES] = "sg_copies",
	[HMMDEV_STAT_NS_MIRROR_FAULT] = "ns_mirror_fault",
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

void hmmdev_debugfs_ctx_remove(struct hmmdev_ctx *ctx)
{
	debugfs_remove_recursive(ctx->debugfs);
	ctx->debugfs = NULL;
}

void hmmdev_debugfs_add(struct hmmdev *hd)
{
	char name[16];

	snprintf(name, sizeof(name), "hmmdev%d", hd->minor);
	hd->debugfs = debugfs_create_dir(name, hmmdev_debugfs_root);
	debugfs_create_file("stats", 0444, hd->debugfs, hd, &hmmdev_dev_stats_fops);
	hmmdev_atstest_add(hd);		/* ats_selftest, hmmdev_atstest.c */
}

void hmmdev_debugfs_remove(struct hmmdev *hd)
{
	debugfs_remove_recursive(hd->debugfs);
	hd->debugfs = NULL;
}

void hmmdev_debugfs_init(void)
{
	hmmdev_debugfs_root = debugfs_create_dir(HMMDEV_DRV_NAME, NULL);
}

void hmmdev_debugfs_exit(void)
{
	debugfs_remove_recursive(hmmdev_debugfs_root);
}
