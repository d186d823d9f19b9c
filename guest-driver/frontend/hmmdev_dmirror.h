/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver: the test_hmm personality's private header, shared by its
 * node and READ/WRITE code (hmmdev_dmirror.c) and its page-table commands
 * (hmmdev_dmirror_snap.c: SNAPSHOT, MIGRATE_*, EXCLUSIVE).
 */
#ifndef HMMDEV_DMIRROR_H
#define HMMDEV_DMIRROR_H

#include "test_hmm_uapi.h"
#include "frontend/hmmdev_frontend.h"

#define DMIRROR_BOUNCE_PAGES	1024			/* a 4 MiB window */
#define DMIRROR_BOUNCE_SIZE	((u64)DMIRROR_BOUNCE_PAGES << PAGE_SHIFT)
/*
 * Above the default user address space (with 5-level paging a process gets
 * addresses there only by asking for them with an mmap() hint): the ioctls
 * refuse ranges that reach it.
 */
#define DMIRROR_BOUNCE_VA	BIT_ULL(47)
#define DMIRROR_SNAP_PAGES	64			/* as test_hmm */

/* One open dmirror file: a context on the chosen device, and its bounce. */
struct dmirror {
	struct hmmdev_ctx *ctx;
	unsigned int node;

	struct mutex lock;		/* serializes commands; protects the fields below */
	struct hmmdev_queue *q;		/* created on first use */
	struct page **bounce_pages;	/* DMIRROR_BOUNCE_PAGES, mapped on the device */
	void *bounce;			/* ... and in the kernel (vmap) */

	struct mutex snap_lock;		/* snapshot notifiers' lock */
};

int hmmdev_dmirror_ready(struct dmirror *dmi);
int hmmdev_dmirror_do_read(struct dmirror *dmi, u64 addr, u64 size, u64 ptr, u64 *cpages);
int hmmdev_dmirror_snapshot(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd);
int hmmdev_dmirror_migrate(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd, bool to_dev);
int hmmdev_dmirror_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd);
int hmmdev_dmirror_check_exclusive(struct dmirror *dmi, struct hmm_dmirror_cmd *cmd);

#endif /* HMMDEV_DMIRROR_H */
