/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmmdev user API: ioctls on /dev/hmmdevN.
 *
 * Versioning: HMMDEV_UAPI_VERSION grows when ioctls are added.  Every ioctl
 * argument begins with a __u32 size that userspace sets to sizeof() of the
 * struct it was compiled against; the driver accepts smaller (older) structs
 * and larger (newer) ones whose extra tail is zero, as copy_struct_from_user()
 * does, and fails a larger one with a non-zero tail with -E2BIG.
 */
#ifndef _UAPI_LINUX_HMMDEV_H
#define _UAPI_LINUX_HMMDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define HMMDEV_UAPI_VERSION     1

#define HMMDEV_IOC_MAGIC        'h'

/**
 * struct hmmdev_info - HMMDEV_IOC_GET_INFO: identify the device
 * @size: in: sizeof(struct hmmdev_info) as userspace knows it
 * @uapi_version: out: HMMDEV_UAPI_VERSION of the driver
 * @hw_version: out: the device's VERSION register (major << 16 | minor)
 * @msix_vectors: out: MSI-X vectors the device has
 * @irq_count: out: interrupts the driver has taken from this device
 */
struct hmmdev_info {
	__u32 size;
	__u32 uapi_version;
	__u32 hw_version;
	__u32 msix_vectors;
	__u64 irq_count;
};

#define HMMDEV_IOC_GET_INFO     _IOWR(HMMDEV_IOC_MAGIC, 0x00, struct hmmdev_info)

#endif /* _UAPI_LINUX_HMMDEV_H */
