/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: device state shared by the files of the model.
 *
 * Threads and locks (docs/hmmdev-spec.rst, "Locking"):
 *
 * - MMIO handlers, the interrupt bottom half, QOM property accessors and
 *   reset run in the main loop or a vCPU thread with the BQL held.
 * - One worker thread executes commands, walks page tables and writes fault
 *   records.  It never takes the BQL, neither explicitly nor implicitly: all
 *   its DMA carries MemTxAttrs.memory, so an access that would reach MMIO
 *   (and take the BQL in prepare_mmio_access()) fails instead.  Interrupts
 *   are handed to a bottom half.
 * - s->lock protects every field shared between the two sides.  It is
 *   innermost: BQL -> s->lock, and nobody does DMA or waits for the BQL
 *   while holding it.  Because the worker never needs the BQL, code under
 *   the BQL may wait for the worker to leave a busy section (reset, queue
 *   disable, unrealize) without deadlocking.
 * - ATS (hmmdev-ats.c) is the one exception to "never waits for the BQL":
 *   on an ATC miss the worker hands the translation request to a bottom
 *   half (it needs the BQL) and waits for it.  Every code path that waits
 *   for the worker under the BQL therefore serves that request itself
 *   (hmmdev_ats_serve()) while it waits.  The ATC lock is innermost:
 *   BQL -> s->lock -> s->ats.lock; the IOTLB notifier (BQL) waits only for
 *   ATC-translated DMA in progress, which never waits for anything.
 */
#ifndef HW_HMMDEV_H
#define HW_HMMDEV_H

#include "qemu/thread.h"
#include "qapi/qapi-types-common.h"
#include "hw/pci/pci_device.h"
#include "system/dma.h"
#include "hmmdev-regs.h"

#define TYPE_HMMDEV "hmmdev"
OBJECT_DECLARE_SIMPLE_TYPE(HmmdevState, HMMDEV)

/* Where a translated address points. */
typedef enum HmmdevLoc {
    HMMDEV_LOC_SYS,             /* system DMA address, via the PCI address space */
    HMMDEV_LOC_DEVMEM,          /* offset into device memory */
} HmmdevLoc;

/* Result of a VA translation, valid for [va, va + len). */
typedef struct HmmdevXlate {
    HmmdevLoc loc;
    uint64_t addr;              /* target of va */
    uint64_t len;               /* bytes from va to the end of the page */
} HmmdevXlate;

/* Why a translation did not produce an address. */
typedef struct HmmdevXlateFault {
    uint32_t error;             /* HMMDEV_ERR_FAULT, or a hard error code */
    uint8_t reason;             /* HMMDEV_FAULT_* for HMMDEV_ERR_FAULT */
    uint8_t level;
} HmmdevXlateFault;

typedef struct HmmdevTlbEntry {
    bool valid;
    bool dirty;                 /* the PTE in memory has D set */
    uint8_t shift;              /* 12 or 21 */
    uint16_t asid;
    uint64_t va;                /* aligned to 1 << shift */
    uint64_t pte;
    /* Indexes into s->tlb, -1 for none (hmmdev-mmu.c, "TLB"). */
    int32_t hash_next;          /* next valid entry in the same hash bucket */
    int32_t lru_prev, lru_next; /* valid: recency list; invalid: free list */
} HmmdevTlbEntry;

/* One ATC entry: a 4 KiB page of IOVA space and its translation. */
typedef struct HmmdevAtcEntry {
    bool valid;
    bool write;                 /* the translation allows writes */
    bool prefetched;            /* fetched ahead by a request, not yet used */
    uint64_t iova;              /* 4 KiB aligned */
    uint64_t addr;              /* translated address of the page */
    AddressSpace *as;           /* ... in this address space */
    /* Indexes into entries, -1 for none (as for the TLB). */
    int32_t hash_next;
    int32_t lru_prev, lru_next;
} HmmdevAtcEntry;

/* Most pages one translation round trip asks for (hmmdev-ats.c). */
#define HMMDEV_ATS_BATCH_MAX    256

/* PCIe ATS and the Address Translation Cache (hmmdev-ats.c). */
typedef struct HmmdevAts {
    /* Properties. */
    OnOffAuto mode;             /* ats=on|off|auto */
    uint32_t entries;           /* atc-entries */

    /* BQL only. */
    bool cap;                   /* the ATS capability is exposed */
    bool registered;            /* the IOTLB notifier is registered */
    IOMMUNotifier notifier;
    QEMUBH *bh;                 /* serves translation requests */

    QemuMutex lock;             /* innermost; protects everything below */
    QemuCond cond;              /* request done, in-flight accesses drained */
    bool enabled;               /* ATS Enable set and the notifier registered */
    HmmdevAtcEntry *atc;
    int32_t *hash;
    uint32_t hash_mask;
    int32_t mru, lru, free;
    /* Accesses in flight with a translation, by epoch parity (see .c). */
    uint32_t epoch;
    uint32_t inflight[2];
    /*
     * The worker's one outstanding translation request: req_pages pages,
     * in the order the device will access them (each a page address, bit 0
     * set for a write).  One bottom-half round trip serves all of them.
     */
    bool req_pending;           /* posted, not yet taken by a server */
    bool req_done;
    bool req_ahead;             /* a batch ahead of the accesses (see .c) */
    uint32_t req_pages;
    uint64_t req_page[HMMDEV_ATS_BATCH_MAX];
    int req_result;             /* HMMDEV_ATS_* */
    /* A page refused by the last request, for the one lookup that needs it. */
    bool neg_valid;
    bool neg_write;
    uint64_t neg_iova;
} HmmdevAts;

typedef struct HmmdevCtx {
    uint64_t root;              /* page-table root, 4 KiB aligned */
    uint32_t root_hi_pending;   /* ROOT_HI written, waiting for ROOT_LO */
    bool enabled;
} HmmdevCtx;

typedef enum HmmdevQueueState {
    HMMDEV_Q_IDLE,              /* nothing fetched */
    HMMDEV_Q_RUNNING,           /* a command is fetched and makes progress */
    HMMDEV_Q_STALLED,           /* the command waits for REPLAY or CANCEL */
} HmmdevQueueState;

typedef struct HmmdevQueue {
    /* Programming, under s->lock. */
    uint64_t base;
    uint32_t base_hi;           /* BASE_HI as last written */
    uint32_t size;
    uint32_t asid;
    uint32_t vector;
    bool enabled;
    bool broken;                /* stopped on a ring error until re-enabled */
    bool abort;                 /* disable in progress: drop the command */
    uint32_t tail;
    uint32_t head;
    uint32_t completed;
    uint32_t error;

    /* Execution state: worker-owned while s->busy_queue points here. */
    HmmdevQueueState state;
    struct HmmdevCmd cmd;
    uint64_t progress;          /* bytes or SG entries done, for REPLAY */
    uint64_t sg_offset;         /* bytes done inside the current SG entry */
    uint64_t acc;               /* kernel accumulator */

    /* Fault state, under s->lock. */
    struct HmmdevFaultRecord fault;
    bool fault_unposted;        /* record still to be written to the ring */
    uint32_t fault_action;      /* HMMDEV_QFAULT_* written while stalled */
} HmmdevQueue;

typedef struct HmmdevFaultQueue {
    uint64_t base;
    uint32_t base_hi;
    uint32_t size;
    uint32_t vector;
    bool enabled;
    bool armed;                 /* the next record may raise the vector */
    bool overflow;
    bool error;
    bool phase;
    uint32_t head;
    uint32_t tail;
    uint64_t seq;
} HmmdevFaultQueue;

typedef struct HmmdevStats {
    uint64_t faults;            /* translation faults that stalled a queue */
    uint64_t fault_records;     /* records written to the ring */
    uint64_t fault_irqs;
    uint64_t fault_overflows;
    uint64_t replays;
    uint64_t cancels;
    uint64_t tlb_hits;
    uint64_t tlb_misses;
    uint64_t tlb_walks;
    uint64_t tlb_invalidations;
    uint64_t cmds[HMMDEV_CMD_NR_OPCODES];
    uint64_t cmd_errors;
    uint64_t bytes_sys_to_sys;
    uint64_t bytes_sys_to_dev;
    uint64_t bytes_dev_to_sys;
    uint64_t bytes_dev_to_dev;
    uint64_t bytes_filled;
    uint64_t dma_errors;
    uint64_t completion_irqs;
    uint64_t atc_hits;
    uint64_t atc_misses;
    uint64_t atc_requests;              /* translation requests (round trips) */
    uint64_t atc_invalidations;         /* IOTLB notifier calls */
    uint64_t atc_invalidated_entries;   /* entries they dropped */
    uint64_t atc_evictions;
    uint64_t atc_translation_failures;
} HmmdevStats;

/* One emulated hmmdev PCIe function. */
struct HmmdevState {
    PCIDevice parent_obj;

    MemoryRegion mmio;          /* BAR0 registers */

    /* Properties. */
    uint64_t devmem_size;
    HostMemoryBackend *hostmem;
    bool devmem_bar;
    uint32_t tlb_entries;

    /* Device memory. */
    MemoryRegion devmem_ram;    /* internal RAM when no memdev is given */
    MemoryRegion devmem_bar_mr; /* BAR 4 container, a power of two */
    MemoryRegion *devmem;
    uint8_t *devmem_ptr;

    /* BQL only. */
    uint32_t scratch;
    uint32_t error;             /* HMMDEV_ERR_*, RW1C */
    uint32_t error_count;
    uint64_t irq_test_count;
    QEMUBH *irq_bh;

    /* Shared with the worker, under lock. */
    QemuMutex lock;
    QemuCond work_cond;         /* worker waits for work */
    QemuCond idle_cond;         /* waiters for the worker to leave a busy section */
    QemuThread worker;
    bool worker_exit;
    int stop_req;               /* > 0: worker must not start new work */
    bool busy;                  /* worker is in a section that does DMA */
    HmmdevQueue *busy_queue;
    bool fatal;
    uint32_t irq_pending;       /* vectors for the bottom half */
    uint32_t rr_next;           /* round-robin start */

    HmmdevQueue queues[HMMDEV_NUM_QUEUES];
    HmmdevFaultQueue fq;
    HmmdevCtx ctx[HMMDEV_NUM_ASIDS];

    HmmdevAts ats;

    HmmdevTlbEntry *tlb;
    int32_t *tlb_hash;          /* bucket heads */
    uint32_t tlb_hash_mask;
    int32_t tlb_mru, tlb_lru;   /* ends of the recency list of valid entries */
    int32_t tlb_free;           /* first invalid entry */
    bool in_chunk;              /* worker holds translations in use */
    uint64_t inv_req;           /* invalidations requested */
    uint64_t inv_done;          /* ... and completed */
    uint32_t inv_asid;
    uint64_t inv_va;
    uint64_t inv_size;

    /* Fault injection (QOM, runtime), atomics. */
    uint32_t inject_dma_fail;
    uint32_t inject_stall_ms;
    uint32_t inject_drop_completion;

    /* Worker-owned buffers of the engine. */
    uint8_t *bounce;
    uint8_t *bounce2;
    uint8_t *fill_buf;

    HmmdevStats stats;          /* updated with qatomic_add */
};

#define HMMDEV_STAT_ADD(s, field, n) qatomic_add(&(s)->stats.field, (n))
#define HMMDEV_STAT_INC(s, field)    HMMDEV_STAT_ADD(s, field, 1)

/*
 * Report guest misprogramming: a trace event, a LOG_GUEST_ERROR line and the
 * error register, so all three stay in step.  The register is BQL state:
 * the worker reports through hmmdev_worker_error() instead.
 */
#define HMMDEV_GUEST_ERR(s, code, trace, fmt, ...)                      \
    do {                                                                \
        (trace_##trace)(__VA_ARGS__);                                   \
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: " #trace " in %s: "     \
                      fmt "\n", __func__, ## __VA_ARGS__);              \
        hmmdev_set_error((s), (code));                                  \
    } while (0)

/* hmmdev-pci.c */
void hmmdev_set_error(HmmdevState *s, uint32_t code);
void hmmdev_raise_irq(HmmdevState *s, uint32_t vector);
bool hmmdev_vector_valid(uint32_t vector);

/* hmmdev-devmem.c */
bool hmmdev_devmem_realize(HmmdevState *s, Error **errp);
void hmmdev_devmem_reset(HmmdevState *s);
bool hmmdev_devmem_range_ok(HmmdevState *s, uint64_t off, uint64_t len);
void hmmdev_devmem_unrealize(HmmdevState *s);
void hmmdev_devmem_rw(HmmdevState *s, uint64_t off, void *buf, uint64_t len,
                      bool is_write);
uint8_t *hmmdev_devmem_ptr(HmmdevState *s, uint64_t off);

/* hmmdev-mmu.c */
void hmmdev_mmu_realize(HmmdevState *s);
void hmmdev_mmu_unrealize(HmmdevState *s);
void hmmdev_mmu_reset(HmmdevState *s);
bool hmmdev_dma_rw(HmmdevState *s, dma_addr_t addr, void *buf, dma_addr_t len,
                   DMADirection dir);
bool hmmdev_dma_copy(HmmdevState *s, dma_addr_t dst, dma_addr_t src,
                     dma_addr_t len, void *bounce, dma_addr_t bounce_size);
uint64_t hmmdev_host_atomic64(uint64_t *w, uint32_t op, uint64_t operand,
                              uint64_t compare);
bool hmmdev_dma_atomic64(HmmdevState *s, dma_addr_t addr, uint32_t op,
                         uint64_t operand, uint64_t compare, uint64_t *old);
bool hmmdev_mmu_translate(HmmdevState *s, uint32_t asid, uint64_t va,
                          uint8_t access, HmmdevXlate *x, HmmdevXlateFault *f);
void hmmdev_mmu_chunk_begin(HmmdevState *s);
void hmmdev_mmu_chunk_end(HmmdevState *s);
void hmmdev_tlb_invalidate_locked(HmmdevState *s, uint32_t scope,
                                  uint32_t asid, uint64_t va, uint64_t size);
bool hmmdev_mmu_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_mmu_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);

/* hmmdev-fault.c */
void hmmdev_fq_reset(HmmdevState *s);
bool hmmdev_fq_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_fq_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);
bool hmmdev_fq_stall(HmmdevState *s, HmmdevQueue *q);
bool hmmdev_fq_has_work_locked(HmmdevState *s);
void hmmdev_fq_work(HmmdevState *s);

/* hmmdev-ats.c */
bool hmmdev_ats_realize(HmmdevState *s, Error **errp);
void hmmdev_ats_unrealize(HmmdevState *s);
void hmmdev_ats_reset(HmmdevState *s);
void hmmdev_ats_pci_reset(HmmdevState *s);
void hmmdev_ats_config_write(HmmdevState *s, uint32_t addr, int len);
bool hmmdev_ats_active(HmmdevState *s);
MemTxResult hmmdev_ats_rw(HmmdevState *s, dma_addr_t addr, void *buf,
                          dma_addr_t len, DMADirection dir, MemTxAttrs attrs);
bool hmmdev_ats_atomic64(HmmdevState *s, dma_addr_t addr, uint32_t op,
                         uint64_t operand, uint64_t compare, uint64_t *old,
                         MemTxAttrs attrs, bool *ok);
bool hmmdev_ats_serve_pending(HmmdevState *s);
void hmmdev_ats_serve(HmmdevState *s);

/*
 * Translating ahead (SG_COPY): the engine lists the system pages it will
 * access next, in order, and has them translated in one round trip.
 */
typedef struct HmmdevAtsBatch {
    uint32_t n, max;
    uint64_t page[HMMDEV_ATS_BATCH_MAX];    /* page address | write */
} HmmdevAtsBatch;

uint32_t hmmdev_ats_batch_budget(HmmdevState *s);
uint32_t hmmdev_ats_batch_pages(uint64_t addr, uint64_t len);
void hmmdev_ats_batch_add(HmmdevAtsBatch *b, uint64_t addr, uint64_t len,
                          bool write);
void hmmdev_ats_fetch_ahead(HmmdevState *s, HmmdevAtsBatch *b);
void hmmdev_ats_forget_ahead(HmmdevState *s);
bool hmmdev_ats_cached(HmmdevState *s, uint64_t addr, bool write);
uint32_t hmmdev_mmu_peek(HmmdevState *s, uint32_t asid, uint64_t va,
                         uint8_t access, uint64_t *out, uint32_t max);

/* hmmdev-queue.c */
void hmmdev_queue_realize(HmmdevState *s);
void hmmdev_queue_unrealize(HmmdevState *s);
void hmmdev_queue_reset(HmmdevState *s);
bool hmmdev_queue_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_queue_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);
void hmmdev_kick_locked(HmmdevState *s);
void hmmdev_quiesce_begin(HmmdevState *s);
void hmmdev_quiesce_end(HmmdevState *s);
void hmmdev_irq_pending_locked(HmmdevState *s, uint32_t vector);
bool hmmdev_stop_requested(HmmdevState *s, HmmdevQueue *q);
uint32_t hmmdev_queue_index(HmmdevState *s, HmmdevQueue *q);

/* hmmdev-engine.c */
typedef enum HmmdevExec {
    HMMDEV_EXEC_DONE,           /* completed; status set in cmd */
    HMMDEV_EXEC_FAULT,          /* stalled on a translation fault */
    HMMDEV_EXEC_ABORT,          /* stop requested: drop without write-back */
} HmmdevExec;

void hmmdev_engine_realize(HmmdevState *s);
void hmmdev_engine_unrealize(HmmdevState *s);
HmmdevExec hmmdev_engine_exec(HmmdevState *s, HmmdevQueue *q);

#endif /* HW_HMMDEV_H */
