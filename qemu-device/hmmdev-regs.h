/* SPDX-License-Identifier: GPL-2.0-or-later OR MIT */
/*
 * hmmdev register ABI: the one header shared by the QEMU device model
 * (qemu-device/) and the Linux driver (guest-driver/).  docs/hmmdev-spec.rst
 * is the prose version; keep the two in step.
 *
 * Only fixed-width types, plain enums and packed structs are used so the
 * header compiles in both worlds: QEMU provides <stdint.h>, the kernel gets
 * the same names from <linux/types.h>.  Every multi-byte field is little
 * endian.  The structure sizes are checked at build time in hmmdev-pci.c.
 *
 * tests/hmmdev_qtest.py parses this file: keep one definition per line, in
 * the forms `NAME = value,` (enums) or `#define NAME value` / `(1u << n)`.
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
#define HMMDEV_BAR_DEVMEM           4   /* device memory, 64-bit prefetchable */

#define HMMDEV_REGS_SIZE            0x1000

/* Value of HMMDEV_REG_ID: "HMMD" in little-endian byte order. */
#define HMMDEV_ID_MAGIC             0x444d4d48u

/* HMMDEV_REG_VERSION: major in bits 31:16, minor in bits 15:0. */
#define HMMDEV_VERSION_MAJOR        0
#define HMMDEV_VERSION_MINOR        2
#define HMMDEV_VERSION \
    ((uint32_t)HMMDEV_VERSION_MAJOR << 16 | HMMDEV_VERSION_MINOR)

/* Fixed dimensions of this implementation (also readable from registers). */
#define HMMDEV_NUM_QUEUES           16
#define HMMDEV_NUM_ASIDS            64
#define HMMDEV_MSIX_VECTORS         18

/* Default MSI-X vector assignment; queue and fault vectors are programmable. */
#define HMMDEV_MSIX_VEC_TEST        0   /* IRQ_TEST doorbell */
#define HMMDEV_MSIX_VEC_ADMIN       0   /* fatal device error */
#define HMMDEV_MSIX_VEC_FAULT       1   /* suggested fault-queue vector */
#define HMMDEV_MSIX_VEC_QUEUE0      2   /* suggested vector of queue 0; q -> 2 + q */

/*
 * BAR0 register offsets.  All registers are 32 bits wide and take 32-bit
 * accesses only; 64-bit values are split into _LO/_HI halves, HI first, and
 * take effect on a separate commit write (documented per register).
 */
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
    HMMDEV_REG_ERROR_COUNT  = 0x028, /* RO  guest errors since reset */
    HMMDEV_REG_NUM_QUEUES   = 0x030, /* RO  HMMDEV_NUM_QUEUES */
    HMMDEV_REG_NUM_ASIDS    = 0x034, /* RO  HMMDEV_NUM_ASIDS */
    HMMDEV_REG_DEVMEM_SIZE_LO = 0x038, /* RO device memory size, bytes */
    HMMDEV_REG_DEVMEM_SIZE_HI = 0x03c, /* RO */
    HMMDEV_REG_TLB_ENTRIES  = 0x040, /* RO  TLB capacity */
    HMMDEV_REG_FEATURES     = 0x044, /* RO  HMMDEV_FEATURE_* */

    /* Fault queue. */
    HMMDEV_REG_FQ_BASE_LO   = 0x100, /* RW  ring address, 32-byte aligned */
    HMMDEV_REG_FQ_BASE_HI   = 0x104, /* RW */
    HMMDEV_REG_FQ_SIZE      = 0x108, /* RW  entries, power of two, 2..65536 */
    HMMDEV_REG_FQ_VECTOR    = 0x10c, /* RW  MSI-X vector */
    HMMDEV_REG_FQ_CTRL      = 0x110, /* RW  HMMDEV_FQ_CTRL_* */
    HMMDEV_REG_FQ_HEAD      = 0x114, /* RW  next record software reads */
    HMMDEV_REG_FQ_TAIL      = 0x118, /* RO  next record the device writes */
    HMMDEV_REG_FQ_STATUS    = 0x11c, /* RO/RW1C HMMDEV_FQ_STATUS_* */

    /* Out-of-band TLB invalidation. */
    HMMDEV_REG_INV_ASID     = 0x140, /* RW */
    HMMDEV_REG_INV_VA_LO    = 0x144, /* RW  4 KiB aligned */
    HMMDEV_REG_INV_VA_HI    = 0x148, /* RW */
    HMMDEV_REG_INV_SIZE_LO  = 0x14c, /* RW  bytes, 4 KiB multiple */
    HMMDEV_REG_INV_SIZE_HI  = 0x150, /* RW */
    HMMDEV_REG_INV_CMD      = 0x154, /* WO  HMMDEV_INV_* scope: starts one */
    HMMDEV_REG_INV_SEQ      = 0x158, /* RO  invalidations completed */
    HMMDEV_REG_INV_STATUS   = 0x15c, /* RO  HMMDEV_INV_STATUS_* */

    /* Submission queues: HMMDEV_NUM_QUEUES blocks of HMMDEV_QUEUE_STRIDE. */
    HMMDEV_REG_QUEUE_BASE   = 0x400,

    /* Context roots: HMMDEV_NUM_ASIDS pairs of (ROOT_LO, ROOT_HI). */
    HMMDEV_REG_CTX_BASE     = 0x800,
};

#define HMMDEV_QUEUE_STRIDE         0x40
#define HMMDEV_CTX_STRIDE           0x8

/* Registers inside one queue block, at HMMDEV_REG_QUEUE_BASE + q * stride. */
enum HmmdevQueueReg {
    HMMDEV_QREG_BASE_LO     = 0x00, /* RW  ring address, 64-byte aligned */
    HMMDEV_QREG_BASE_HI     = 0x04, /* RW */
    HMMDEV_QREG_SIZE        = 0x08, /* RW  entries, power of two, 2..4096 */
    HMMDEV_QREG_ASID        = 0x0c, /* RW  context the queue's VAs use */
    HMMDEV_QREG_VECTOR      = 0x10, /* RW  MSI-X vector of completions */
    HMMDEV_QREG_CTRL        = 0x14, /* RW  HMMDEV_QCTRL_* */
    HMMDEV_QREG_STATUS      = 0x18, /* RO  HMMDEV_QSTATUS_* */
    HMMDEV_QREG_TAIL        = 0x1c, /* RW  doorbell: index after the last command */
    HMMDEV_QREG_HEAD        = 0x20, /* RO  index of the next command to complete */
    HMMDEV_QREG_FAULT       = 0x24, /* WO  HMMDEV_QFAULT_*: resolve a stall */
    HMMDEV_QREG_ERROR       = 0x28, /* RO  last HMMDEV_ERR_* of this queue */
    HMMDEV_QREG_COMPLETED   = 0x2c, /* RO  commands completed, wraps at 2^32 */
};

/* Context root, at HMMDEV_REG_CTX_BASE + asid * HMMDEV_CTX_STRIDE. */
enum HmmdevCtxReg {
    HMMDEV_CTXREG_ROOT_LO   = 0x0,  /* RW  root[31:12] | ENABLE; commits */
    HMMDEV_CTXREG_ROOT_HI   = 0x4,  /* RW  root[63:32], write first */
};

/* HMMDEV_REG_CONTROL bits. */
#define HMMDEV_CONTROL_RESET        (1u << 0)  /* self-clearing device reset */

/* HMMDEV_REG_STATUS bits. */
#define HMMDEV_STATUS_READY         (1u << 0)
#define HMMDEV_STATUS_ERROR         (1u << 1)  /* HMMDEV_REG_ERROR != 0 */
#define HMMDEV_STATUS_FATAL         (1u << 2)  /* device stopped; reset it */

/* HMMDEV_REG_FEATURES bits. */
#define HMMDEV_FEATURE_DEVMEM_BAR   (1u << 0)  /* BAR 4 maps device memory */

/* HMMDEV_REG_FQ_CTRL bits. */
#define HMMDEV_FQ_CTRL_ENABLE       (1u << 0)

/* HMMDEV_REG_FQ_STATUS bits. */
#define HMMDEV_FQ_STATUS_ENABLED    (1u << 0)  /* RO */
#define HMMDEV_FQ_STATUS_OVERFLOW   (1u << 1)  /* RW1C: a record waited for room */
#define HMMDEV_FQ_STATUS_PENDING    (1u << 2)  /* RO: records still waiting */
#define HMMDEV_FQ_STATUS_ERROR      (1u << 3)  /* RO: ring DMA failed, disabled */

/* HMMDEV_REG_INV_CMD scopes (also HMMDEV_CMD_TLB_INV cdw1). */
enum HmmdevInvScope {
    HMMDEV_INV_ALL          = 1,    /* every entry of every context */
    HMMDEV_INV_ASID         = 2,    /* every entry of one context */
    HMMDEV_INV_RANGE        = 3,    /* entries of one context overlapping VA..VA+SIZE */
};

/* HMMDEV_REG_INV_STATUS bits. */
#define HMMDEV_INV_STATUS_BUSY      (1u << 0)  /* an invalidation is not complete */

/* HMMDEV_QREG_CTRL bits. */
#define HMMDEV_QCTRL_ENABLE         (1u << 0)

/* HMMDEV_QREG_STATUS bits. */
#define HMMDEV_QSTATUS_ENABLED      (1u << 0)
#define HMMDEV_QSTATUS_STALLED      (1u << 1)  /* waiting for REPLAY or CANCEL */
#define HMMDEV_QSTATUS_ERROR        (1u << 2)  /* stopped on a ring error */
#define HMMDEV_QSTATUS_IDLE         (1u << 3)  /* HEAD == TAIL and not stalled */

/* HMMDEV_QREG_FAULT values. */
enum HmmdevQueueFaultAction {
    HMMDEV_QFAULT_REPLAY    = 1,    /* retry the faulting access */
    HMMDEV_QFAULT_CANCEL    = 2,    /* complete the command with HMMDEV_ERR_FAULT */
};

/* HMMDEV_CTXREG_ROOT_LO bits. */
#define HMMDEV_CTX_ENABLE           (1u << 0)
#define HMMDEV_CTX_ROOT_MASK        0xfffff000u

/*
 * Error codes: HMMDEV_REG_ERROR, HMMDEV_QREG_ERROR and bits 7:0 of a
 * completion's status share this one namespace.
 */
enum HmmdevError {
    HMMDEV_ERR_NONE          = 0x00,
    HMMDEV_ERR_BAD_REG       = 0x01, /* access to an undefined offset */
    HMMDEV_ERR_BAD_ACCESS    = 0x02, /* misaligned or wrong-size access */
    HMMDEV_ERR_BAD_VECTOR    = 0x03, /* MSI-X vector number out of range */
    HMMDEV_ERR_BAD_VALUE     = 0x04, /* register value invalid or misaligned */
    HMMDEV_ERR_BAD_STATE     = 0x05, /* write not allowed in this state */
    HMMDEV_ERR_BAD_DOORBELL  = 0x06, /* TAIL >= ring size */
    HMMDEV_ERR_RING_DMA      = 0x07, /* ring, fence or SG-list DMA failed */
    HMMDEV_ERR_BAD_OPCODE    = 0x08, /* unknown opcode or sub-operation */
    HMMDEV_ERR_BAD_CMD       = 0x09, /* reserved field set, bad length/alignment */
    HMMDEV_ERR_BAD_ADDR      = 0x0a, /* VA range beyond 2^48 */
    HMMDEV_ERR_DEVMEM_RANGE  = 0x0b, /* device-memory offset out of range */
    HMMDEV_ERR_DMA           = 0x0c, /* data DMA to system memory failed */
    HMMDEV_ERR_PT_DMA        = 0x0d, /* page-table read or A/D update failed */
    HMMDEV_ERR_PT_BAD        = 0x0e, /* malformed PTE or page-table cycle */
    HMMDEV_ERR_CTX           = 0x0f, /* queue's context is not enabled */
    HMMDEV_ERR_FAULT         = 0x10, /* translation fault, cancelled */
    HMMDEV_ERR_FATAL         = 0x11, /* fatal device error */
};

/* ---------------------------------------------------------------------- */
/* Page tables                                                            */
/* ---------------------------------------------------------------------- */

#define HMMDEV_VA_BITS              48
#define HMMDEV_PT_LEVELS            4      /* level 4 is the root, level 1 maps 4 KiB */
#define HMMDEV_PT_ENTRIES           512
#define HMMDEV_PAGE_SHIFT           12
#define HMMDEV_HUGE_SHIFT           21     /* a leaf at level 2 maps 2 MiB */

/* PTE bits. */
#define HMMDEV_PTE_VALID            (1ull << 0)
#define HMMDEV_PTE_WRITE            (1ull << 1)  /* leaf: writes allowed */
#define HMMDEV_PTE_ATOMIC           (1ull << 2)  /* leaf: ATOMIC allowed (needs WRITE) */
#define HMMDEV_PTE_LEAF             (1ull << 3)  /* level 2: 2 MiB leaf; level 1: ignored */
#define HMMDEV_PTE_DEVMEM           (1ull << 4)  /* leaf: address is a device-memory offset */
#define HMMDEV_PTE_ACCESSED         (1ull << 5)  /* leaf: set by the device */
#define HMMDEV_PTE_DIRTY            (1ull << 6)  /* leaf: set by the device */
#define HMMDEV_PTE_RSVD_MASK        0x8000000000000f80ull  /* must be zero */
#define HMMDEV_PTE_ADDR_MASK        0x000ffffffffff000ull  /* bits 51:12 */
#define HMMDEV_PTE_SW_MASK          0x7ff0000000000000ull  /* ignored by the device */

/* ---------------------------------------------------------------------- */
/* Commands                                                               */
/* ---------------------------------------------------------------------- */

enum HmmdevOpcode {
    HMMDEV_CMD_NOP          = 0x00,
    HMMDEV_CMD_FENCE        = 0x01, /* write arg1 to DMA address arg0 */
    HMMDEV_CMD_COPY         = 0x02, /* VA arg1 -> VA arg0, arg2 bytes */
    HMMDEV_CMD_FILL         = 0x03, /* VA arg0, arg2 bytes of 64-bit pattern arg1 */
    HMMDEV_CMD_ATOMIC       = 0x04, /* cdw1 op on the u64 at VA arg0 */
    HMMDEV_CMD_KERNEL       = 0x05, /* cdw1 selects the compute kernel */
    HMMDEV_CMD_TLB_INV      = 0x06, /* cdw1 scope, arg1 ASID, arg0 VA, arg2 bytes */
    HMMDEV_CMD_SG_COPY      = 0x07, /* arg1 entries of the list at DMA address arg0 */
    HMMDEV_CMD_NR_OPCODES   = 0x08,
};

/* HmmdevCmd.flags */
#define HMMDEV_CMD_F_IRQ            (1u << 0)  /* raise the queue vector on completion */

/* HMMDEV_CMD_ATOMIC operations (cdw1); all operate on 64-bit words. */
enum HmmdevAtomicOp {
    HMMDEV_ATOMIC_ADD       = 0,    /* *va += arg1 */
    HMMDEV_ATOMIC_INC       = 1,    /* *va += 1 */
    HMMDEV_ATOMIC_CMPXCHG   = 2,    /* if (*va == arg2) *va = arg1 */
};

/* HMMDEV_CMD_KERNEL kernels (cdw1). */
enum HmmdevKernel {
    HMMDEV_KERNEL_SUM64     = 0,    /* result = sum of u64 at arg1, arg2 bytes */
    HMMDEV_KERNEL_AXPY32    = 1,    /* u32 arg0[i] = arg4 * arg1[i] + arg3[i] */
};

/*
 * A submission-queue entry.  Bytes 0..47 are written by software; bytes
 * 48..63 are the completion record, written by the device when the command
 * completes: info and result first, then status with HMMDEV_CS_DONE.
 */
struct HmmdevCmd {
    uint8_t  opcode;        /* HMMDEV_CMD_* */
    uint8_t  flags;         /* HMMDEV_CMD_F_* */
    uint16_t rsvd0;         /* must be zero */
    uint32_t cdw1;          /* sub-operation */
    uint64_t arg[5];
    uint32_t status;        /* HMMDEV_CS_* | error code */
    uint32_t info;          /* command-specific detail */
    uint64_t result;        /* command-specific result */
} __attribute__((packed));

#define HMMDEV_CMD_SIZE             64
#define HMMDEV_CMD_STATUS_OFFSET    48
#define HMMDEV_CMD_INFO_OFFSET      52

/* HmmdevCmd.status */
#define HMMDEV_CS_DONE              (1u << 31)
#define HMMDEV_CS_CODE_MASK         0xffu       /* HMMDEV_ERR_* */
#define HMMDEV_CS_REASON_SHIFT      8           /* HMMDEV_FAULT_REASON_* on ERR_FAULT */
#define HMMDEV_CS_ACCESS_SHIFT      16          /* HMMDEV_ACCESS_* on ERR_FAULT */

/* One entry of an HMMDEV_CMD_SG_COPY list. */
struct HmmdevSgEntry {
    uint64_t src;           /* DMA address, or device-memory offset */
    uint64_t dst;           /* DMA address, or device-memory offset */
    uint32_t len;           /* bytes, 1..2^32-1 */
    uint32_t flags;         /* HMMDEV_SG_* */
    uint64_t rsvd;          /* must be zero */
} __attribute__((packed));

#define HMMDEV_SG_ENTRY_SIZE        32
#define HMMDEV_SG_MAX_ENTRIES       65536
#define HMMDEV_SG_SRC_DEVMEM        (1u << 0)
#define HMMDEV_SG_DST_DEVMEM        (1u << 1)

/* ---------------------------------------------------------------------- */
/* Fault records                                                          */
/* ---------------------------------------------------------------------- */

enum HmmdevAccess {
    HMMDEV_ACCESS_READ      = 1,
    HMMDEV_ACCESS_WRITE     = 2,
    HMMDEV_ACCESS_ATOMIC    = 3,
};

enum HmmdevFaultReason {
    HMMDEV_FAULT_NOT_PRESENT = 1,   /* a VALID bit was clear */
    HMMDEV_FAULT_PROTECTION  = 2,   /* the leaf lacks WRITE or ATOMIC */
};

struct HmmdevFaultRecord {
    uint64_t va;            /* faulting address, not rounded */
    uint16_t asid;
    uint8_t  queue;
    uint8_t  access;        /* HMMDEV_ACCESS_* */
    uint8_t  reason;        /* HMMDEV_FAULT_* */
    uint8_t  level;         /* page-table level where the walk stopped, 4..1 */
    uint8_t  flags;         /* HMMDEV_FR_* */
    uint8_t  rsvd0;
    uint64_t seq;           /* fault number since reset, from 1 */
    uint32_t cmd_index;     /* ring slot of the stalled command */
    uint32_t rsvd1;
} __attribute__((packed));

#define HMMDEV_FAULT_RECORD_SIZE    32
#define HMMDEV_FR_PHASE             (1u << 0)  /* 1 on the first pass of the ring */

#ifdef __KERNEL__
/* The same structures under kernel-style names, for the guest driver. */
#define hmmdev_hw_cmd               HmmdevCmd
#define hmmdev_hw_sg_entry          HmmdevSgEntry
#define hmmdev_hw_fault_record      HmmdevFaultRecord
#endif

#endif /* HMMDEV_REGS_H */
