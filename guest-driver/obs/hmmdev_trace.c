// SPDX-License-Identifier: GPL-2.0
/*
 * hmmdev driver: tracepoint definitions.
 */
#define CREATE_TRACE_POINTS
#include "hmmdev_trace.h"
