/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: device state shared by the files of the model.
 *
 * Layers (docs/hmmdev-spec.rst, "Locking (implementation)"), by the path a
 * memory access takes; a file calls only files below it:
 *
 *   hmmdev-pci.c       QOM, BARs, MMIO dispatch, config space, reset
 *   hmmdev-worker.c    the worker thread, interrupts, hmmdev_kick()
 *   hmmdev-queue.c     submission queues     } side by side: none calls
 *   hmmdev-fault.c     the fault ring        } another, the worker
 *   hmmdev-engine.c    command execution     } drives them
 *   hmmdev-walk.c      page-table walker, translating ahead
 *   hmmdev-tlb.c       device TLB, CTX and INV registers, invalidation
 *   hmmdev-dma.c       every access to system memory, and atomics
 *   hmmdev-ats.c       PCIe ATS: the ATC and translation requests
 *
 * beside them two leaves that call nothing: hmmdev-devmem.c (device memory,
 * used by pci, engine and walk) and hmmdev-lru.c (the LRU index of the TLB
 * and the ATC).  What goes up is a signal, never a call: every one goes
 * through hmmdev_kick() (below).
 *
 * Threads and locks:
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
#include "hmmdev-lru.h"

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

/* A TLB entry, or what a walk found (s->tlb[], slots of s->tlb_index). */
typedef struct HmmdevTlbEntry {
    bool dirty;                 /* the PTE in memory has D set */
    uint8_t shift;              /* 12 or 21 */
    uint16_t asid;
    uint64_t va;                /* aligned to 1 << shift */
    uint64_t pte;
} HmmdevTlbEntry;

/* One ATC entry: a 4 KiB page of IOVA space and its translation. */
typedef struct HmmdevAtcEntry {
    bool read;                  /* the translation allows reads ... */
    bool write;                 /* ... and writes (a DMA_FROM_DEVICE mapping
                                 * is write-only: PCIe ATS R=0 W=1) */
    bool prefetched;            /* fetched ahead by a request, not yet used */
    uint64_t iova;              /* 4 KiB aligned */
    uint64_t addr;              /* translated address of the page */
    AddressSpace *as;           /* ... in this address space */
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
    HmmdevLru index;            /* over atc[], keyed by IOVA page */
    HmmdevAtcEntry *atc;
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
#define HMMDEV_STAT(field, name) uint64_t field;
#define HMMDEV_STAT_CMD(opcode, name)
#include "hmmdev-stats.def"
#undef HMMDEV_STAT
#undef HMMDEV_STAT_CMD
    uint64_t cmds[HMMDEV_CMD_NR_OPCODES];   /* HMMDEV_STAT_CMD */
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

    HmmdevLru tlb_index;        /* over tlb[] (hmmdev-tlb.c) */
    HmmdevTlbEntry *tlb;
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
 * error register, so all three stay in step.  The register is set with
 * atomics, so the worker reports the same way.
 */
#define HMMDEV_GUEST_ERR(s, code, trace, fmt, ...)                      \
    do {                                                                \
        (trace_##trace)(__VA_ARGS__);                                   \
        qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: " #trace " in %s: "     \
                      fmt "\n", __func__, ## __VA_ARGS__);              \
        hmmdev_set_error((s), (code));                                  \
    } while (0)

static inline void hmmdev_set_error(HmmdevState *s, uint32_t code)
{
    /* Atomics: the worker reports errors without the BQL. */
    qatomic_set(&s->error, code);
    qatomic_inc(&s->error_count);
}

static inline bool hmmdev_vector_valid(uint32_t vector)
{
    return vector < HMMDEV_MSIX_VECTORS;
}

static inline uint32_t hmmdev_queue_index(HmmdevState *s, HmmdevQueue *q)
{
    return q - s->queues;
}

/* True when the command in flight on @q must be abandoned. */
static inline bool hmmdev_stop_requested(HmmdevState *s, HmmdevQueue *q)
{
    return qatomic_read(&s->stop_req) || qatomic_read(&q->abort);
}

/*
 * Upward signals.  A layer never calls the layers above it; when they must
 * learn of something, it calls hmmdev_kick() (hmmdev-worker.c), without
 * s->lock, after changing under s->lock what the woken side re-checks.
 */
typedef enum HmmdevKick {
    /*
     * The worker may have work: a doorbell, a REPLAY or CANCEL, room in
     * the fault ring, fault records cancelled, an injection knob.
     */
    HMMDEV_KICK_WORK,
    /*
     * Raise @vector: a completion, a fault record, a queue error, an
     * unread fault record on FQ_HEAD.  At once under the BQL, else (the
     * worker) from the interrupt bottom half.
     */
    HMMDEV_KICK_IRQ,
    /*
     * The worker posted an ATS translation request: whoever waits for the
     * worker under the BQL must serve it (hmmdev_queue_wait_idle_locked()).
     */
    HMMDEV_KICK_SERVE,
} HmmdevKick;

/* hmmdev-worker.c */
void hmmdev_kick(HmmdevState *s, HmmdevKick what, uint32_t vector);
void hmmdev_raise_irq(HmmdevState *s, uint32_t vector);
void hmmdev_quiesce_begin(HmmdevState *s);
void hmmdev_quiesce_end(HmmdevState *s);
void hmmdev_worker_realize(HmmdevState *s);
void hmmdev_worker_unrealize(HmmdevState *s);

/* hmmdev-queue.c */
void hmmdev_queue_reset(HmmdevState *s);
bool hmmdev_queue_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_queue_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);
void hmmdev_queue_wait_idle_locked(HmmdevState *s, HmmdevQueue *q);
HmmdevQueue *hmmdev_queue_pick_locked(HmmdevState *s);
bool hmmdev_queue_start(HmmdevState *s, HmmdevQueue *q);
void hmmdev_queue_complete(HmmdevState *s, HmmdevQueue *q);
void hmmdev_queue_complete_fault(HmmdevState *s, HmmdevQueue *q);

/* hmmdev-fault.c */
void hmmdev_fq_reset(HmmdevState *s);
bool hmmdev_fq_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_fq_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);
bool hmmdev_fq_stall(HmmdevState *s, HmmdevQueue *q);
bool hmmdev_fq_has_work_locked(HmmdevState *s);
void hmmdev_fq_work(HmmdevState *s);

/* hmmdev-engine.c */
typedef enum HmmdevExec {
    HMMDEV_EXEC_DONE,           /* completed; status set in cmd */
    HMMDEV_EXEC_FAULT,          /* stalled on a translation fault */
    HMMDEV_EXEC_ABORT,          /* stop requested: drop without write-back */
} HmmdevExec;

void hmmdev_engine_realize(HmmdevState *s);
void hmmdev_engine_unrealize(HmmdevState *s);
HmmdevExec hmmdev_engine_exec(HmmdevState *s, HmmdevQueue *q);

/* hmmdev-walk.c */
bool hmmdev_walk_translate(HmmdevState *s, uint32_t asid, uint64_t va,
                           uint8_t access, HmmdevXlate *x, HmmdevXlateFault *f);
void hmmdev_walk_ahead(HmmdevState *s, uint32_t asid,
                       uint64_t src, const HmmdevXlate *xs,
                       uint64_t dst, const HmmdevXlate *xd, uint64_t len);

/* hmmdev-tlb.c */
typedef enum HmmdevTlbLookup {
    HMMDEV_TLB_HIT,             /* the translation is filled in */
    HMMDEV_TLB_MISS,            /* walk, then hmmdev_tlb_fill() */
    HMMDEV_TLB_NO_CTX,          /* context out of range or disabled */
} HmmdevTlbLookup;

void hmmdev_tlb_realize(HmmdevState *s);
void hmmdev_tlb_unrealize(HmmdevState *s);
void hmmdev_tlb_reset(HmmdevState *s);
bool hmmdev_tlb_mmio_read(HmmdevState *s, hwaddr addr, uint64_t *val);
bool hmmdev_tlb_mmio_write(HmmdevState *s, hwaddr addr, uint32_t val);
HmmdevTlbLookup hmmdev_tlb_lookup(HmmdevState *s, uint32_t asid, uint64_t va,
                                  uint8_t access, HmmdevXlate *x,
                                  uint64_t *root, uint64_t *seq);
void hmmdev_tlb_fill(HmmdevState *s, const HmmdevTlbEntry *n, uint64_t seq);
void hmmdev_tlb_xlate(const HmmdevTlbEntry *e, uint64_t va, HmmdevXlate *x);
bool hmmdev_tlb_ctx_root(HmmdevState *s, uint32_t asid, uint64_t *root);
void hmmdev_tlb_chunk_begin(HmmdevState *s);
void hmmdev_tlb_chunk_end(HmmdevState *s);
void hmmdev_tlb_invalidate(HmmdevState *s, uint32_t scope, uint32_t asid,
                           uint64_t va, uint64_t size);

/* hmmdev-dma.c */
bool hmmdev_dma_rw(HmmdevState *s, dma_addr_t addr, void *buf, dma_addr_t len,
                   DMADirection dir);
bool hmmdev_dma_peek(HmmdevState *s, dma_addr_t addr, void *buf,
                     dma_addr_t len);
bool hmmdev_dma_copy(HmmdevState *s, dma_addr_t dst, dma_addr_t src,
                     dma_addr_t len, void *bounce, dma_addr_t bounce_size);
uint64_t hmmdev_host_atomic64(uint64_t *w, uint32_t op, uint64_t operand,
                              uint64_t compare);
bool hmmdev_dma_atomic64(HmmdevState *s, dma_addr_t addr, uint32_t op,
                         uint64_t operand, uint64_t compare, uint64_t *old);

/* hmmdev-ats.c */
enum {
    HMMDEV_ATS_OK,              /* translated */
    HMMDEV_ATS_BYPASS,          /* ATS not in use: let the IOMMU translate */
    HMMDEV_ATS_FAIL,            /* the IOMMU refused the translation */
    HMMDEV_ATS_ERROR,           /* no answer (bus master off, retries) */
};

/* A translation in use by one page access. */
typedef struct HmmdevAtsRef {
    AddressSpace *as;
    hwaddr addr;
    uint64_t len;               /* bytes to the end of the page */
    uint32_t parity;
} HmmdevAtsRef;

bool hmmdev_ats_realize(HmmdevState *s, Error **errp);
void hmmdev_ats_unrealize(HmmdevState *s);
void hmmdev_ats_reset(HmmdevState *s);
void hmmdev_ats_pci_reset(HmmdevState *s);
void hmmdev_ats_config_write(HmmdevState *s, uint32_t addr, int len);
bool hmmdev_ats_active(HmmdevState *s);
int hmmdev_ats_get(HmmdevState *s, uint64_t iova, uint64_t len, bool write,
                   HmmdevAtsRef *r);
void hmmdev_ats_put(HmmdevState *s, HmmdevAtsRef *r);
bool hmmdev_ats_serve_pending(HmmdevState *s);
void hmmdev_ats_serve(HmmdevState *s);

/*
 * Translating ahead: the engine or the walker lists the system pages it
 * will access next, in order, and has them translated in one round trip.
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

/* hmmdev-devmem.c */
bool hmmdev_devmem_realize(HmmdevState *s, Error **errp);
void hmmdev_devmem_reset(HmmdevState *s);
bool hmmdev_devmem_range_ok(HmmdevState *s, uint64_t off, uint64_t len);
void hmmdev_devmem_unrealize(HmmdevState *s);
void hmmdev_devmem_rw(HmmdevState *s, uint64_t off, void *buf, uint64_t len,
                      bool is_write);
uint8_t *hmmdev_devmem_ptr(HmmdevState *s, uint64_t off);

#endif /* HW_HMMDEV_H */
