// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: a context with its mirror (the svm layer's part of a
 * context's life).
 *
 * The core makes the context (ASID, page tables, notifier, ROOT); this
 * layer gives the notifier its callbacks (hmmdev_mirror_ops) and the
 * context its placement policy, and at the end drains the context's faults
 * and sends its device pages home before the core tears it down.  Both
 * front-ends open and close contexts here.
 */
#include "svm/hmmdev_svm.h"

/**
 * hmmdev_svm_open() - a context for current->mm, mirrored on the device
 * @hd: the device
 *
 * Context: process; current->mm is the address space mirrored.
 *
 * Return: the context, or an ERR_PTR() of hmmdev_ctx_create().
 */
struct hmmdev_ctx *hmmdev_svm_open(struct hmmdev *hd)
{
	struct hmmdev_ctx *ctx = hmmdev_ctx_create(hd, &hmmdev_mirror_ops);

	if (!IS_ERR(ctx))
		hmmdev_policy_init(ctx);	/* before any queue can fault */
	return ctx;
}

/**
 * hmmdev_svm_close() - tear down a context when its file is released
 * @ctx: the context
 *
 * Queues stop first (a command in flight is abandoned), then fault handling
 * is drained so no fault of this context is being resolved, the pages it
 * migrated in go back to system memory, and the core destroys it.
 */
void hmmdev_svm_close(struct hmmdev_ctx *ctx)
{
	hmmdev_ctx_stop(ctx);
	hmmdev_fault_drain(ctx->hd);
	hmmdev_dmem_ctx_gone(ctx);	/* no-op when the mm is gone */
	hmmdev_policy_fini(ctx);
	hmmdev_ctx_destroy(ctx);
}
