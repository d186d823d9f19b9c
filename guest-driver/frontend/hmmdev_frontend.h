/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver, frontend layer: the native /dev/hmmdevN and the test_hmm
 * personality /dev/hmm_dmirror0..3.  Both open contexts through the svm
 * layer and use only the interfaces of the layers below.
 */
#ifndef HMMDEV_FRONTEND_H
#define HMMDEV_FRONTEND_H

#include "obs/hmmdev_obs.h"

/* hmmdev_chardev.c */
int hmmdev_chardev_init(void);
void hmmdev_chardev_exit(void);
int hmmdev_chardev_add(struct hmmdev *hd);
void hmmdev_chardev_remove(struct hmmdev *hd);

/* hmmdev_dmirror.c */
int hmmdev_dmirror_init(void);
void hmmdev_dmirror_exit(void);
void hmmdev_dmirror_attach(struct hmmdev *hd);
void hmmdev_dmirror_detach(struct hmmdev *hd);

#endif /* HMMDEV_FRONTEND_H */
