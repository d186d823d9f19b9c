/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver, obs layer: debugfs, sysfs and the ATS self-test.  The
 * tracepoints (hmmdev_trace.h) are defined here and emitted by every layer:
 * a tracepoint is a static hook, not a call into this layer.  Below it: svm,
 * dmem and the core.
 */
#ifndef HMMDEV_OBS_H
#define HMMDEV_OBS_H

#include "svm/hmmdev_svm.h"

struct seq_file;

/* hmmdev_debugfs.c */
void hmmdev_debugfs_init(void);
void hmmdev_debugfs_exit(void);
void hmmdev_debugfs_add(struct hmmdev *hd);
void hmmdev_debugfs_remove(struct hmmdev *hd);
void hmmdev_debugfs_ctx_add(struct hmmdev_ctx *ctx);
void hmmdev_debugfs_ctx_remove(struct hmmdev_ctx *ctx);
void hmmdev_debugfs_ctx_remove_all(struct hmmdev *hd);
void hmmdev_stats_show(struct seq_file *m, struct hmmdev_counters *c);
extern const char *const hmmdev_stat_names[HMMDEV_STAT_NR];

/* hmmdev_sysfs.c */
extern const struct attribute_group *hmmdev_dev_groups[];
void hmmdev_sysfs_init(void);

/* hmmdev_atstest.c */
void hmmdev_atstest_add(struct hmmdev *hd);

#endif /* HMMDEV_OBS_H */
