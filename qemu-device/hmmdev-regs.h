/* SPDX-License-Identifier: GPL-2.0-or-later OR MIT */
/*
 * hmmdev register ABI: the one header shared by the QEMU device model
 * (qemu-device/) and the Linux driver (guest-driver/).  docs/hmmdev-spec.rst
 * is the prose version; keep the two in step.
 *
 * Only fixed-width types and plain enums are used so the header compiles in
 * both worlds: QEMU provides <stdint.h>, the kernel gets the same names from
 * <linux/types.h>.
 */
#ifndef HMMDEV_REGS_H
#define HMMDEV_REGS_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

/* PCI identity: QEMU's experimental range (docs/specs/pci-ids.rst in QEMU). */
#define HMMDEV_PCI_VENDOR_ID        0x1af4
#define HMMDEV_PCI_DEVICE_ID        0x10f0
#define HMMDEV_PCI_REVISION         0x01

/* BAR numbers. */
#define HMMDEV_BAR_REGS             0   /* MMIO registers, 4 KiB */
#define HMMDEV_BAR_MSIX             2   /* MSI-X table and PBA (exclusive BAR) */

#define HMMDEV_REGS_SIZE            0x1000

/* Value of HMMDEV_REG_ID: "HMMD" in little-endian byte order. */
#define HMMDEV_ID_MAGIC             0x444d4d48u

/* HMMDEV_REG_VERSION: major in bits 31:16, minor in bits 15:0. */
#define HMMDEV_VERSION_MAJOR        0
#define HMMDEV_VERSION_MINOR        1
#define HMMDEV_VERSION \
    ((uint32_t)HMMDEV_VERSION_MAJOR << 16 | HMMDEV_VERSION_MINOR)

/* BAR0 register offsets.  All registers are 32 bits wide, little endian. */
enum HmmdevReg {
    HMMDEV_REG_ID           = 0x000, /* RO  HMMDEV_ID_MAGIC */
    HMMDEV_REG_VERSION      = 0x004, /* RO  HMMDEV_VERSION */
    HMMDEV_REG_MSIX_VECTORS = 0x008, /* RO  number of MSI-X vectors */
    HMMDEV_REG_SCRATCH      = 0x010, /* RW  no side effects; reset to 0 */
    HMMDEV_REG_CONTROL      = 0x014, /* RW  HMMDEV_CONTROL_* */
    HMMDEV_REG_STATUS       = 0x018, /* RO  HMMDEV_STATUS_* */
    HMMDEV_REG_ERROR        = 0x01c, /* RW1C last guest error, HMMDEV_ERR_* */
    HMMDEV_REG_IRQ_TEST     = 0x020, /* WO  raise the MSI-X vector written */
    HMMDEV_REG_IRQ_TEST_CNT = 0x024, /* RO  test interrupts raised */
};

/* HMMDEV_REG_CONTROL bits. */
#define HMMDEV_CONTROL_RESET        (1u << 0)  /* self-clearing device reset */

/* HMMDEV_REG_STATUS bits. */
#define HMMDEV_STATUS_READY         (1u << 0)
#define HMMDEV_STATUS_ERROR         (1u << 1)  /* HMMDEV_REG_ERROR != 0 */

/* Error codes reported in HMMDEV_REG_ERROR. */
enum HmmdevError {
    HMMDEV_ERR_NONE          = 0x00,
    HMMDEV_ERR_BAD_REG       = 0x01, /* access to an undefined offset */
    HMMDEV_ERR_BAD_ACCESS    = 0x02, /* misaligned or wrong-size access */
    HMMDEV_ERR_BAD_VECTOR    = 0x03, /* MSI-X vector number out of range */
};

/* MSI-X vector assignment. */
#define HMMDEV_MSIX_VEC_TEST        0   /* test doorbell only, for now */
#define HMMDEV_MSIX_VECTORS         4

#endif /* HMMDEV_REGS_H */
