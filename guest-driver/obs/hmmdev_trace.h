/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmdev driver tracepoints: /sys/kernel/tracing/events/hmmdev/.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hmmdev

#if !defined(_HMMDEV_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HMMDEV_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(hmmdev_ctx,
	TP_PROTO(int minor, unsigned int asid, pid_t tgid, bool create),
	TP_ARGS(minor, asid, tgid, create),
	TP_STRUCT__entry(
		__field(int, minor)
		__field(unsigned int, asid)
		__field(pid_t, tgid)
		__field(bool, create)
	),
	TP_fast_assign(
		__entry->minor = minor;
		__entry->asid = asid;
		__entry->tgid = tgid;
		__entry->create = create;
	),
	TP_printk("hmmdev%d asid=%u tgid=%d %s", __entry->minor, __entry->asid,
		  __entry->tgid, __entry->create ? "create" : "destroy")
);

TRACE_EVENT(hmmdev_submit,
	TP_PROTO(unsigned int asid, unsigned int hwq, u64 fence, u8 opcode),
	TP_ARGS(asid, hwq, fence, opcode),
	TP_STRUCT__entry(
		__field(unsigned int, asid)
		__field(unsigned int, hwq)
		__field(u64, fence)
		__field(u8, opcode)
	),
	TP_fast_assign(
		__entry->asid = asid;
		__entry->hwq = hwq;
		__entry->fence = fence;
		__entry->opcode = opcode;
	),
	TP_printk("asid=%u hwq=%u fence=%llu opcode=%u", __entry->asid,
		  __entry->hwq, __entry->fence, __entry->opcode)
);

TRACE_EVENT(hmmdev_fault,
	TP_PROTO(unsigned int asid, unsigned int hwq, u64 va, u8 access, int err),
	TP_ARGS(asid, hwq, va, access, err),
	TP_STRUCT__entry(
		__field(unsigned int, asid)
		__field(unsigned int, hwq)
		__field(u64, va)
		__field(u8, access)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->asid = asid;
		__entry->hwq = hwq;
		__entry->va = va;
		__entry->access = access;
		__entry->err = err;
	),
	TP_printk("asid=%u hwq=%u va=0x%llx access=%u %s err=%d", __entry->asid,
		  __entry->hwq, __entry->va, __entry->access,
		  __entry->err ? "cancel" : "replay", __entry->err)
);

TRACE_EVENT(hmmdev_fault_group,
	TP_PROTO(unsigned int asid, u64 start, u64 end, unsigned int records, int err),
	TP_ARGS(asid, start, end, records, err),
	TP_STRUCT__entry(
		__field(unsigned int, asid)
		__field(u64, start)
		__field(u64, end)
		__field(unsigned int, records)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->asid = asid;
		__entry->start = start;
		__entry->end = end;
		__entry->records = records;
		__entry->err = err;
	),
	TP_printk("asid=%u [0x%llx, 0x%llx) records=%u err=%d", __entry->asid,
		  __entry->start, __entry->end, __entry->records, __entry->err)
);

TRACE_EVENT(hmmdev_invalidate,
	TP_PROTO(unsigned int asid, u64 start, u64 end, int event, unsigned long pages),
	TP_ARGS(asid, start, end, event, pages),
	TP_STRUCT__entry(
		__field(unsigned int, asid)
		__field(u64, start)
		__field(u64, end)
		__field(int, event)
		__field(unsigned long, pages)
	),
	TP_fast_assign(
		__entry->asid = asid;
		__entry->start = start;
		__entry->end = end;
		__entry->event = event;
		__entry->pages = pages;
	),
	TP_printk("asid=%u [0x%llx, 0x%llx) event=%d pages=%lu", __entry->asid,
		  __entry->start, __entry->end, __entry->event, __entry->pages)
);

TRACE_EVENT(hmmdev_migrate,
	TP_PROTO(unsigned int asid, u64 start, u64 end, bool to_dev, unsigned long pages),
	TP_ARGS(asid, start, end, to_dev, pages),
	TP_STRUCT__entry(
		__field(unsigned int, asid)
		__field(u64, start)
		__field(u64, end)
		__field(bool, to_dev)
		__field(unsigned long, pages)
	),
	TP_fast_assign(
		__entry->asid = asid;
		__entry->start = start;
		__entry->end = end;
		__entry->to_dev = to_dev;
		__entry->pages = pages;
	),
	TP_printk("asid=%u [0x%llx, 0x%llx) to %s pages=%lu", __entry->asid,
		  __entry->start, __entry->end, __entry->to_dev ? "device" : "system",
		  __entry->pages)
);

#endif /* _HMMDEV_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE hmmdev_trace
#include <trace/define_trace.h>
