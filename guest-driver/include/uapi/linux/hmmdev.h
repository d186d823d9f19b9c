/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmmdev user API: ioctls on /dev/hmmdevN.
 *
 * Contexts: every open() of /dev/hmmdevN creates a device context bound to
 * the opening process's address space (its mm): an ASID on the device, device
 * page tables that mirror the process's page tables on demand (HMM), and the
 * queues created on that file.  Commands name ordinary user virtual
 * addresses of that process.  The file may not be used from another mm
 * (after fork, or passed over a socket): every ioctl then fails with -EBADF.
 * Closing the last reference to the file tears the context down.
 *
 * Versioning: HMMDEV_UAPI_VERSION grows when ioctls or fields are added.
 * Every ioctl argument begins with a __u32 size that userspace sets to
 * sizeof() of the struct it was compiled against; the driver accepts smaller
 * (older) structs and larger (newer) ones whose extra tail is zero, as
 * copy_struct_from_user() does, and fails a larger one with a non-zero tail
 * with -E2BIG.  A size below the first version of the struct, or above
 * 4096, is -EINVAL.  Output fields must be zero on input (-EINVAL), flags
 * the driver does not know are -EINVAL, and every padding field must be zero
 * (-EINVAL).  On success the driver writes back at most @size bytes and sets
 * @size to the number of bytes it filled.
 *
 * ioctl numbers: the driver dispatches on the ioctl type and number only
 * (the size encoded in the number is not checked: @size versions the struct).
 */
#ifndef _UAPI_LINUX_HMMDEV_H
#define _UAPI_LINUX_HMMDEV_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define HMMDEV_UAPI_VERSION     5

#define HMMDEV_IOC_MAGIC        'h'

/* The device works on 48-bit virtual addresses: a VA range must end at or below this. */
#define HMMDEV_VA_LIMIT         _BITULL(48)

/**
 * struct hmmdev_info - HMMDEV_IOC_GET_INFO: identify the device
 * @size: in: sizeof(struct hmmdev_info) as userspace knows it
 * @uapi_version: out: HMMDEV_UAPI_VERSION of the driver
 * @hw_version: out: the device's VERSION register (major << 16 | minor)
 * @msix_vectors: out: MSI-X vectors the device has
 * @irq_count: out: interrupts the driver has taken from this device
 * @asid: out (v2): the ASID of this file's context
 * @num_queues: out (v2): hardware queues of the device
 * @num_asids: out (v2): contexts the device can hold at once
 * @devmem_size: out (v2): device memory, bytes
 */
struct hmmdev_info {
	__u32 size;
	__u32 uapi_version;
	__u32 hw_version;
	__u32 msix_vectors;
	__u64 irq_count;
	/* v2 */
	__u32 asid;
	__u32 num_queues;
	__u32 num_asids;
	__u32 pad0;
	__u64 devmem_size;
};

#define HMMDEV_INFO_SIZE_V1     24

/**
 * struct hmmdev_queue_create - HMMDEV_IOC_QUEUE_CREATE: get a command queue
 * @size: in: sizeof(struct hmmdev_queue_create)
 * @flags: in: must be 0
 * @entries: in: ring entries, a power of two 2..4096, or 0 for the default
 *	(256); one entry is always kept free, so entries - 1 commands can be in
 *	flight and their results are kept for hmmdev_wait
 * @queue_id: out: the queue's handle in this context
 *
 * Each queue is one hardware queue of the device, bound to the context's
 * ASID; the device has 16 shared by every context.  Errors: -EBUSY when all
 * hardware queues are in use, -EINVAL for a bad @entries.  Queues live until
 * the file is closed.
 */
struct hmmdev_queue_create {
	__u32 size;
	__u32 flags;
	__u32 entries;
	__u32 queue_id;
};

#define HMMDEV_QUEUE_DEFAULT_ENTRIES    256
#define HMMDEV_QUEUE_MAX_ENTRIES        4096

/* struct hmmdev_cmd.op: the operations userspace may submit. */
enum hmmdev_op {
	HMMDEV_OP_COPY = 2,	/* copy len bytes from VA src to VA dst */
	HMMDEV_OP_FILL = 3,	/* fill len bytes at dst with the 64-bit pattern */
	HMMDEV_OP_ATOMIC = 4,	/* subop hmmdev_atomic_op on the u64 at dst */
	HMMDEV_OP_KERNEL = 5,	/* subop hmmdev_kernel */
};

/* HMMDEV_OP_ATOMIC sub-operations; result = old value. */
enum hmmdev_atomic_op {
	HMMDEV_ATOMIC_OP_ADD = 0,	/* *dst += value */
	HMMDEV_ATOMIC_OP_INC = 1,	/* *dst += 1 */
	HMMDEV_ATOMIC_OP_CMPXCHG = 2,	/* if (*dst == compare) *dst = value */
};

/* HMMDEV_OP_KERNEL compute kernels. */
enum hmmdev_kernel {
	HMMDEV_KERNEL_OP_SUM64 = 0,	/* result = sum of len/8 u64 at src */
	HMMDEV_KERNEL_OP_AXPY32 = 1,	/* u32 dst[i] = a * src[i] + y[i], len bytes */
};

/**
 * struct hmmdev_cmd - one command (64 bytes, fixed layout)
 * @op: HMMDEV_OP_*
 * @subop: the sub-operation of ATOMIC and KERNEL, else 0
 * @flags: must be 0
 * @pad0: must be 0
 * @dst: destination VA (COPY, FILL, ATOMIC target, AXPY32 output)
 * @src: source VA (COPY, SUM64 and AXPY32 input x)
 * @len: bytes (COPY, FILL, KERNEL); ignored (must be 0) for ATOMIC
 * @value: FILL pattern (byte i is byte (dst + i) % 8 of the little-endian
 *	pattern); ATOMIC ADD addend or CMPXCHG new value; AXPY32 scalar a (low
 *	32 bits)
 * @compare: ATOMIC CMPXCHG expected value
 * @y: AXPY32 input y VA
 * @rsvd: must be 0
 *
 * Alignment rules: ATOMIC needs an 8-byte aligned @dst; SUM64 a multiple of
 * 8 for @src and @len; AXPY32 multiples of 4 for the addresses and @len.
 * Every range must be non-empty, must not wrap and must end at or below
 * HMMDEV_VA_LIMIT; COPY ranges must not overlap.  Violations are -EINVAL at
 * submission.  Whether the memory is accessible is only known when the device
 * touches it: that is reported by hmmdev_wait.
 */
struct hmmdev_cmd {
	__u32 op;
	__u32 subop;
	__u32 flags;
	__u32 pad0;
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 value;
	__u64 compare;
	__u64 y;
};

/**
 * struct hmmdev_submit - HMMDEV_IOC_SUBMIT: queue commands
 * @size: in: sizeof(struct hmmdev_submit)
 * @queue_id: in: from HMMDEV_IOC_QUEUE_CREATE
 * @flags: in: HMMDEV_SUBMIT_F_*
 * @count: in: number of commands, 1..entries-1 of the queue
 * @cmds: in: user pointer to @count struct hmmdev_cmd
 * @cmd_size: in: sizeof(struct hmmdev_cmd) (64)
 * @pad0: must be 0
 * @fence: out: the fence of the last command: commands of a queue are
 *	numbered from 1 in submission order and complete in order
 *
 * The commands are checked first; if one is invalid nothing is queued and
 * the ioctl fails with -EINVAL.  When the ring does not have room for all of
 * them the call waits (interruptibly, -EINTR) until it has, or fails with
 * -EAGAIN with HMMDEV_SUBMIT_F_NONBLOCK.  -ENOENT: no such queue; -EIO: the
 * device failed and was reset (see docs/driver.md).
 */
struct hmmdev_submit {
	__u32 size;
	__u32 queue_id;
	__u32 flags;
	__u32 count;
	__u64 cmds;
	__u32 cmd_size;
	__u32 pad0;
	__u64 fence;
};

#define HMMDEV_SUBMIT_F_NONBLOCK        _BITUL(0)

/**
 * struct hmmdev_wait - HMMDEV_IOC_WAIT: wait for a command to complete
 * @size: in: sizeof(struct hmmdev_wait)
 * @queue_id: in: the queue
 * @fence: in: a fence returned by HMMDEV_IOC_SUBMIT for this queue
 * @timeout_ns: in: relative timeout; 0 polls, a negative value waits forever
 * @flags: in: must be 0
 * @error: out: 0 when the command succeeded, else a negative errno:
 *	-EFAULT the device touched an address with no access (unmapped,
 *	PROT_NONE), -EPERM it wrote to read-only memory, -EIO a device error
 *	(bad DMA, timeout: the device was reset), -ENODATA the command completed
 *	but its result was overwritten (more than entries - 1 commands were
 *	submitted after it)
 * @result: out: the command's result (ATOMIC old value, SUM64 sum, bytes
 *	done for COPY/FILL)
 * @info: out: the device's raw completion status (for debugging)
 * @pad0: must be 0
 *
 * The ioctl itself fails with -ETIME when the timeout expires first, -EINTR
 * when a signal arrives (the wait is not restarted), -ENOENT for an unknown
 * queue, -EINVAL for a fence that was never returned.
 */
struct hmmdev_wait {
	__u32 size;
	__u32 queue_id;
	__u64 fence;
	__s64 timeout_ns;
	__u32 flags;
	__s32 error;
	__u64 result;
	__u32 info;
	__u32 pad0;
};

/* struct hmmdev_stats.scope */
enum hmmdev_stats_scope {
	HMMDEV_STATS_CONTEXT = 0,	/* this file's context */
	HMMDEV_STATS_DEVICE = 1,	/* the device: every context since probe */
};

/**
 * struct hmmdev_stats - HMMDEV_IOC_STATS: read counters
 * @size: in: sizeof(struct hmmdev_stats)
 * @scope: in: enum hmmdev_stats_scope
 * @faults: fault records handled
 * @fault_batches: fault-ring drains (one per interrupt round)
 * @fault_groups: hmm_range_fault calls (records grouped by context and range)
 * @pages_faulted: device PTEs written by fault handling (a 2 MiB PTE is 512)
 * @huge_mappings: 2 MiB device PTEs written
 * @replays: stalled queues resumed
 * @cancels: stalled commands cancelled (unresolvable faults)
 * @invalidations: device TLB invalidations issued
 * @pages_invalidated: device PTEs cleared by MMU-notifier callbacks
 * @cmds_submitted: commands queued
 * @cmds_completed: commands retired
 * @cmd_errors: commands that completed with an error
 * @migrated_to_dev: pages migrated to device memory
 * @migrated_to_sys: pages migrated to system memory (context scope: by
 *	HMMDEV_IOC_MIGRATE and migrate-on-fault only; device scope: also CPU
 *	faults, evictions and teardown)
 * @evictions: device pages evicted to system memory to make room (device
 *	scope only)
 * @migrate_skipped: pages a migration request could not move
 *	(hmmdev_migrate.skipped summed)
 *
 * v4, stage times: cumulative nanoseconds spent in each stage, so a
 * benchmark reads them before and after a run and divides by the counts
 * above (docs/driver.md, "Performance counters"):
 * @ns_hmm_range_fault: hmm_range_fault() calls of device faults (with the
 *	mmap_lock taken around them)
 * @ns_dma_map: DMA-mapping the pages a device fault found
 * @ns_pte_write: writing device PTEs (page-table lock held, with the TLB
 *	invalidation a permission upgrade needs)
 * @ns_irq_to_work: fault interrupt -> fault worker running (one per
 *	@fault_batches round of the worker; device scope only)
 * @ns_irq_to_replay: fault interrupt -> REPLAY/CANCEL written, summed over
 *	the fault records (divide by @replays + @cancels)
 * @ns_migrate_alloc: allocating device pages for a migration to the device
 *	(with the evictions that makes)
 * @ns_migrate_setup: migrate_vma_setup()
 * @ns_migrate_invalidate: clearing the device PTEs of pages migrating to
 *	the device and invalidating the TLB
 * @ns_migrate_copy: the copy step of a migration: allocating and
 *	DMA-mapping system pages, the SG_COPY, unmapping
 * @ns_migrate_pages: migrate_vma_pages()
 * @ns_migrate_finalize: migrate_vma_finalize()
 * @ns_sg_copy: SG_COPY doorbell -> DONE, every copy the driver makes
 *	(migrations, CPU faults, eviction, teardown; device scope only)
 * @sg_copies: SG_COPY commands (device scope only)
 * @ns_mirror_fault: the whole mirroring of a fault group: the three
 *	stages above, plus reserving page tables, mmget/mmput and retries
 * The @ns_migrate_* fields cover HMMDEV_IOC_MIGRATE (and migrate-on-fault),
 * not CPU-fault migration, eviction or teardown.
 *
 * v5, forward progress (docs/driver.md, "Forward progress"):
 * @grant_faults: pages a device fault needed written that hmm_range_fault()
 *	returned read-only (our own device-private pages after fork()), faulted
 *	again so the device can write them
 * @stuck_cancels: commands cancelled with ELOOP after max_fault_rounds
 *	rounds without progress on one page
 *
 * All counters are out (must be 0 on input) and monotonic.
 */
struct hmmdev_stats {
	__u32 size;
	__u32 scope;
	__u64 faults;
	__u64 fault_batches;
	__u64 fault_groups;
	__u64 pages_faulted;
	__u64 huge_mappings;
	__u64 replays;
	__u64 cancels;
	__u64 invalidations;
	__u64 pages_invalidated;
	__u64 cmds_submitted;
	__u64 cmds_completed;
	__u64 cmd_errors;
	__u64 migrated_to_dev;
	__u64 migrated_to_sys;
	__u64 evictions;
	__u64 migrate_skipped;
	/* v4 */
	__u64 ns_hmm_range_fault;
	__u64 ns_dma_map;
	__u64 ns_pte_write;
	__u64 ns_irq_to_work;
	__u64 ns_irq_to_replay;
	__u64 ns_migrate_alloc;
	__u64 ns_migrate_setup;
	__u64 ns_migrate_invalidate;
	__u64 ns_migrate_copy;
	__u64 ns_migrate_pages;
	__u64 ns_migrate_finalize;
	__u64 ns_sg_copy;
	__u64 sg_copies;
	__u64 ns_mirror_fault;
	/* v5 */
	__u64 grant_faults;
	__u64 stuck_cancels;
};

/* struct hmmdev_migrate.target */
enum hmmdev_mem {
	HMMDEV_MEM_SYSTEM = 0,	/* system memory (the device mirrors it) */
	HMMDEV_MEM_DEVICE = 1,	/* the device's own memory */
};

/**
 * struct hmmdev_migrate - HMMDEV_IOC_MIGRATE (v3): prefetch/migrate a range
 * @size: in: sizeof(struct hmmdev_migrate)
 * @flags: in: must be 0
 * @addr: in: first VA, page aligned
 * @len: in: bytes, a non-zero multiple of the page size; the range must end
 *	at or below HMMDEV_VA_LIMIT
 * @target: in: enum hmmdev_mem
 * @pad0: must be 0
 * @migrated: out: pages moved to @target
 * @skipped: out: pages that stay where they are although they are not in
 *	@target: file-backed, shmem, hugetlb, DAX and special mappings (those
 *	stay mirrored in system memory), busy or pinned pages, and pages for
 *	which no device memory could be made free
 *
 * Best effort: the call succeeds when some or no page moved; pages already
 * in @target count in neither field.  The device copy engine moves the
 * data.  When device memory is full, the least recently used device pages
 * (the device's accessed bits) are evicted to system memory first.  A CPU
 * access to a page in device memory migrates it back transparently.
 * Errors: -EINVAL (alignment, range, flags, target), -EFAULT (a part of the
 * range is not mapped; pages before it may have moved), -EOPNOTSUPP (the
 * device has no device memory), -EINTR (fatal signal), -ENODEV.
 */
struct hmmdev_migrate {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 len;
	__u32 target;
	__u32 pad0;
	__u64 migrated;
	__u64 skipped;
};

/**
 * struct hmmdev_policy - HMMDEV_IOC_SET_POLICY (v4): placement of a range
 * @size: in: sizeof(struct hmmdev_policy)
 * @flags: in: must be 0
 * @addr: in: first VA, page aligned
 * @len: in: bytes, a non-zero multiple of the page size; the range must end
 *	at or below HMMDEV_VA_LIMIT
 * @preferred_location: in: enum hmmdev_mem
 * @migrate_on_fault: in: 1: a device fault in the range first migrates the
 *	faulting pages to @preferred_location (best effort), then mirrors them;
 *	0: device faults mirror pages where they are
 *
 * The policy belongs to the context and to the VA range, not to the
 * mapping: it outlives munmap() and applies to whatever is mapped there
 * later.  A new policy replaces the old one on its range (ranges are split
 * as needed); system memory without migrate-on-fault is the default and
 * setting it removes the range's policy.  A context holds at most
 * HMMDEV_POLICY_MAX_RANGES ranges (-ENOSPC beyond).  Migrate-on-fault to
 * the device moves the pages the faulting command needs (its operand, up to
 * the 2 MiB block of the fault) and counts them in migrated_to_dev /
 * migrate_skipped; memory that cannot migrate (file-backed, shmem,
 * hugetlb, DAX) stays mirrored in system memory.  Pages never touched
 * before land directly in device memory.  The policy never moves pages by
 * itself: HMMDEV_IOC_MIGRATE prefetches.
 * Errors: -EINVAL (alignment, range, flags, values), -ENOSPC, -ENOMEM.
 */
struct hmmdev_policy {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 len;
	__u32 preferred_location;
	__u32 migrate_on_fault;
};

#define HMMDEV_POLICY_MAX_RANGES        1024

#define HMMDEV_IOC_GET_INFO     _IOWR(HMMDEV_IOC_MAGIC, 0x00, struct hmmdev_info)
#define HMMDEV_IOC_QUEUE_CREATE _IOWR(HMMDEV_IOC_MAGIC, 0x01, struct hmmdev_queue_create)
#define HMMDEV_IOC_SUBMIT       _IOWR(HMMDEV_IOC_MAGIC, 0x02, struct hmmdev_submit)
#define HMMDEV_IOC_WAIT         _IOWR(HMMDEV_IOC_MAGIC, 0x03, struct hmmdev_wait)
#define HMMDEV_IOC_STATS        _IOWR(HMMDEV_IOC_MAGIC, 0x04, struct hmmdev_stats)
#define HMMDEV_IOC_MIGRATE      _IOWR(HMMDEV_IOC_MAGIC, 0x05, struct hmmdev_migrate)
#define HMMDEV_IOC_SET_POLICY   _IOWR(HMMDEV_IOC_MAGIC, 0x06, struct hmmdev_policy)

#endif /* _UAPI_LINUX_HMMDEV_H */
