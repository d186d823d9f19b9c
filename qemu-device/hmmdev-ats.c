/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: PCIe ATS and the device's Address Translation Cache (ATC).
 *
 * With an IOMMU that supports device TLBs (intel-iommu device-iotlb=on) the
 * device exposes the ATS extended capability.  Once the guest sets ATS
 * Enable, every system-memory access of hmmdev-dma.c takes its translation
 * from the ATC (hmmdev_ats_get()): a hit hands out the translated address
 * and its target address space, which hmmdev-dma.c accesses directly; a
 * miss asks the IOMMU with pci_ats_request_translation() and caches the
 * 4 KiB page.  The IOMMU's device-IOTLB invalidations arrive through an
 * IOTLB notifier, which drops the entries and then waits until no DMA that
 * could still use them is in progress: QEMU sends the IOMMU no completion
 * message, so the notifier returning *is* the completion.  This is the
 * bottom layer: it calls nothing of the device above it but hmmdev_kick().
 *
 * Threads (docs/hmmdev-spec.rst, "ATS" and "Locking"):
 *
 * - Lookups and the DMA itself run on the worker thread without the BQL.
 *   A hit takes an in-flight reference (counted per epoch parity) for the
 *   duration of one page access, which never blocks on anything.
 * - Translation requests need the BQL (the IOMMU may raise a fault
 *   interrupt, and it must be ordered against its invalidations, which run
 *   under the BQL).  The worker posts its one request and waits; one
 *   request asks for several pages (the rest of the access, or the pages
 *   an SG_COPY will touch next: hmmdev_ats_fetch_ahead()), so that one
 *   main-loop round trip serves many misses.  The request is served by a
 *   bottom half or, when a thread under the BQL is waiting for the worker
 *   (reset, queue disable, unrealize; woken by HMMDEV_KICK_SERVE), by that
 *   thread (hmmdev_ats_serve()).  The worker never holds an in-flight
 *   reference while it waits for a translation, so the notifier's wait
 *   cannot depend on the BQL it holds.
 * - The notifier and the ATS Enable hook run under the BQL.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/range.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pci_bus.h"     /* PCI_NO_PASID */
#include "system/memory.h"
#include "hmmdev.h"
#include "trace.h"

#define HMMDEV_ATS_CAP_OFFSET   0x100   /* first extended capability */
#define ATC_PAGE_SHIFT          12
#define ATC_PAGE_SIZE           (1ull << ATC_PAGE_SHIFT)
#define ATC_PAGE_MASK           (~(ATC_PAGE_SIZE - 1))
/* Lookups that may be spoiled by invalidations before we give up. */
#define HMMDEV_ATS_RETRIES      16
/* Pages one Translation Request may cover (of the access in progress). */
#define HMMDEV_ATS_MAX_REQ      16
/* x86 interrupt address window (MSI writes), untranslatable. */
#define HMMDEV_ATS_MSI_BASE     0xfee00000ull
#define HMMDEV_ATS_MSI_SIZE     0x100000ull
/* Pages a batch must hold at least: a 64 KiB bounce chunk of each side. */
#define HMMDEV_ATS_BATCH_MIN    34

/* ---------------------------------------------------------------------- */
/* The cache: an LRU index (hmmdev-lru.c) over a->atc, keyed by IOVA page  */
/* ---------------------------------------------------------------------- */

static HmmdevAtcEntry *atc_find_locked(HmmdevAts *a, uint64_t page)
{
    int32_t i = hmmdev_lru_lookup(&a->index, page);

    return i >= 0 ? &a->atc[i] : NULL;
}

static void atc_drop_locked(HmmdevAts *a, HmmdevAtcEntry *e)
{
    hmmdev_lru_remove(&a->index, e - a->atc);
}

/* A copy of the page already cached (e.g. read-only before a write) goes. */
static void atc_insert_locked(HmmdevState *s, uint64_t page, hwaddr addr,
                              AddressSpace *as, IOMMUAccessFlags perm,
                              bool prefetched)
{
    HmmdevAts *a = &s->ats;
    bool evicted;
    int32_t i = hmmdev_lru_insert(&a->index, page, &evicted);

    if (evicted) {
        trace_hmmdev_atc_evict(a->atc[i].iova);
        HMMDEV_STAT_INC(s, atc_evictions);
    }
    a->atc[i] = (HmmdevAtcEntry) {
        .read = perm & IOMMU_RO, .write = perm & IOMMU_WO,
        .prefetched = prefetched,
        .iova = page, .addr = addr, .as = as,
    };
    trace_hmmdev_atc_insert(page, addr, write);
}

/*
 * Wait until no access that may use a translation cached before this call
 * is in progress.  Accesses count themselves in inflight[epoch & 1]; the
 * epoch moves on, so new accesses cannot starve the wait.  Callers are
 * serialized by the BQL.
 */
static void atc_drain_locked(HmmdevAts *a)
{
    uint32_t old = a->epoch & 1;

    a->neg_valid = false;
    a->epoch++;
    while (a->inflight[old]) {
        qemu_cond_wait(&a->cond, &a->lock);
    }
}

/* ---------------------------------------------------------------------- */
/* Translation requests                                                   */
/* ---------------------------------------------------------------------- */

bool hmmdev_ats_serve_pending(HmmdevState *s)
{
    return qatomic_read(&s->ats.req_pending);
}

/*
 * Serve the worker's outstanding translation request, if any; BQL held,
 * no device lock held.  The results are cached here, under the BQL, so an
 * invalidation (also under the BQL) is always ordered after or before
 * each of them.  The request lists up to HMMDEV_ATS_BATCH_MAX pages; all
 * are translated in this one call, which is what amortizes the round trip
 * to the main loop.
 */
void hmmdev_ats_serve(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;
    PCIDevice *pdev = PCI_DEVICE(s);
    IOMMUTLBEntry res = { .perm = IOMMU_NONE };
    uint64_t page[HMMDEV_ATS_BATCH_MAX];
    uint32_t err_count = 0, npages, i;
    uint64_t iova = 0;
    bool write = false, ahead;
    ssize_t n;
    int result = HMMDEV_ATS_OK;

    assert(bql_locked());
    qemu_mutex_lock(&a->lock);
    if (!a->req_pending) {
        qemu_mutex_unlock(&a->lock);
        return;
    }
    qatomic_set(&a->req_pending, false);
    npages = a->req_pages;
    ahead = a->req_ahead;
    memcpy(page, a->req_page, npages * sizeof(page[0]));
    qemu_mutex_unlock(&a->lock);
    HMMDEV_STAT_INC(s, atc_requests);
    trace_hmmdev_ats_request(page[0] & ATC_PAGE_MASK, npages, ahead);

    /*
     * One page at a time, stopping at the first refusal: the device
     * accesses these pages in this order, so the IOMMU records a fault
     * only for a page the device would really have reached.  (A request
     * for several pages at once would have the IOMMU translate, and fault,
     * every one of them.)
     */
    for (i = 0; i < npages && result == HMMDEV_ATS_OK; i++) {
        iova = page[i] & ATC_PAGE_MASK;
        write = page[i] & 1;
        if (iova >= HMMDEV_ATS_MSI_BASE &&
            iova < HMMDEV_ATS_MSI_BASE + HMMDEV_ATS_MSI_SIZE) {
            /*
             * The interrupt window is never translated: intel-iommu
             * asserts on a PASID-less ATS request there (QEMU 10.2).
             * Refused as the IOMMU would, but without its fault record.
             */
            res = (IOMMUTLBEntry) { .perm = IOMMU_NONE };
            n = 1;
        } else {
            n = pci_ats_request_translation(pdev, PCI_NO_PASID, false, false,
                                            iova, ATC_PAGE_SIZE, !write, &res,
                                            1, &err_count);
        }
        qemu_mutex_lock(&a->lock);
        if (!a->enabled) {
            result = HMMDEV_ATS_BYPASS;
        } else if (n != 1) {
            trace_hmmdev_err_ats_request(iova, write, n);
            result = HMMDEV_ATS_ERROR;
        } else if (!(res.perm & (write ? IOMMU_WO : IOMMU_RO))) {
            HMMDEV_STAT_INC(s, atc_translation_failures);
            trace_hmmdev_err_ats_translate(iova, write, res.perm);
            qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: ATS translation of IOVA "
                          "0x%"PRIx64" for %s refused (perm %d)\n", iova,
                          write ? "write" : "read", res.perm);
            result = HMMDEV_ATS_FAIL;
        } else {
            hwaddr addr = (res.translated_addr & ~res.addr_mask) |
                          (iova & res.addr_mask);

            trace_hmmdev_ats_translate(iova, write, addr, res.perm);
            atc_insert_locked(s, iova, addr & ATC_PAGE_MASK, res.target_as,
                              res.perm, ahead || i > 0);
        }
        qemu_mutex_unlock(&a->lock);
    }
    qemu_mutex_lock(&a->lock);
    if ((ahead || i > 1) && result != HMMDEV_ATS_OK) {
        /*
         * The pages before it are cached.  The access fails when it gets
         * to the refused page: keep the answer for that one lookup, so the
         * IOMMU does not record the same fault twice.
         */
        if (result == HMMDEV_ATS_FAIL) {
            a->neg_iova = iova;
            a->neg_write = write;
            a->neg_valid = true;
        }
        result = HMMDEV_ATS_OK;
    }
    a->req_result = result;
    a->req_done = true;
    qemu_cond_broadcast(&a->cond);
    qemu_mutex_unlock(&a->lock);
}

static void hmmdev_ats_bh(void *opaque)
{
    hmmdev_ats_serve(opaque);
}

/*
 * Worker: ask for the translations of the a->req_pages pages in
 * a->req_page[] and wait; a->lock held.
 */
static int atc_request_locked(HmmdevState *s, bool ahead)
{
    HmmdevAts *a = &s->ats;

    a->neg_valid = false;
    a->req_ahead = ahead;
    a->req_done = false;
    qatomic_set(&a->req_pending, true);
    qemu_mutex_unlock(&a->lock);

    qemu_bh_schedule(a->bh);
    /* Someone under the BQL may be waiting for the worker: let it serve. */
    hmmdev_kick(s, HMMDEV_KICK_SERVE, 0);

    qemu_mutex_lock(&a->lock);
    while (!a->req_done) {
        qemu_cond_wait(&a->cond, &a->lock);
    }
    return a->req_result;
}

/* ---------------------------------------------------------------------- */
/* Translations for accesses (hmmdev-dma.c)                               */
/* ---------------------------------------------------------------------- */

/*
 * Translate @iova for one page access (hmmdev-dma.c); on HMMDEV_ATS_OK
 * the caller accesses r->addr in r->as, then calls hmmdev_ats_put().  The
 * access goes on for @len bytes: a miss requests the translations of those
 * pages too (up to HMMDEV_ATS_MAX_REQ, and half the ATC).
 */
int hmmdev_ats_get(HmmdevState *s, uint64_t iova, uint64_t len, bool write,
                   HmmdevAtsRef *r)
{
    HmmdevAts *a = &s->ats;
    uint64_t page = iova & ATC_PAGE_MASK;
    bool missed = false;
    int i, res;

    qemu_mutex_lock(&a->lock);
    for (i = 0;; i++) {
        HmmdevAtcEntry *e;

        if (!a->enabled) {
            qemu_mutex_unlock(&a->lock);
            return HMMDEV_ATS_BYPASS;
        }
        if (a->neg_valid && a->neg_iova == page && a->neg_write == write) {
            /* Refused in the request this access made for an earlier page. */
            a->neg_valid = false;
            qemu_mutex_unlock(&a->lock);
            HMMDEV_STAT_INC(s, atc_misses);
            trace_hmmdev_atc_miss(iova, write);
            return HMMDEV_ATS_FAIL;
        }
        e = atc_find_locked(a, page);
        if (e && (write ? e->write : e->read)) {
            /* Fetched ahead by an earlier request of this access: a miss. */
            bool fetched = e->prefetched;

            e->prefetched = false;
            hmmdev_lru_touch(&a->index, e - a->atc);
            r->as = e->as;
            r->addr = e->addr + (iova - page);
            r->len = ATC_PAGE_SIZE - (iova - page);
            r->parity = a->epoch & 1;
            a->inflight[r->parity]++;
            qemu_mutex_unlock(&a->lock);
            if (missed) {
                /* counted below, when the request was made */
            } else if (fetched) {
                HMMDEV_STAT_INC(s, atc_misses);
                trace_hmmdev_atc_miss(iova, write);
            } else {
                HMMDEV_STAT_INC(s, atc_hits);
                trace_hmmdev_atc_hit(iova, r->addr);
            }
            return HMMDEV_ATS_OK;
        }
        if (i == HMMDEV_ATS_RETRIES) {
            qemu_mutex_unlock(&a->lock);
            trace_hmmdev_err_ats_request(page, write, -EAGAIN);
            return HMMDEV_ATS_ERROR;
        }
        if (!missed) {
            missed = true;
            HMMDEV_STAT_INC(s, atc_misses);
            trace_hmmdev_atc_miss(iova, write);
        }
        /* On success the entries are cached: look it up again. */
        a->req_pages = MIN(MIN((iova - page + len + ATC_PAGE_SIZE - 1)
                               >> ATC_PAGE_SHIFT, HMMDEV_ATS_MAX_REQ),
                           MAX(a->entries / 2, 1));
        for (int j = 0; j < a->req_pages; j++) {
            a->req_page[j] = (page + j * ATC_PAGE_SIZE) | write;
        }
        res = atc_request_locked(s, false);
        if (res != HMMDEV_ATS_OK) {
            qemu_mutex_unlock(&a->lock);
            return res;
        }
    }
}

void hmmdev_ats_put(HmmdevState *s, HmmdevAtsRef *r)
{
    HmmdevAts *a = &s->ats;

    qemu_mutex_lock(&a->lock);
    if (!--a->inflight[r->parity]) {
        qemu_cond_broadcast(&a->cond);
    }
    qemu_mutex_unlock(&a->lock);
}

/* ---------------------------------------------------------------------- */
/* Translating ahead                                                      */
/* ---------------------------------------------------------------------- */

/*
 * Pages one batch ahead may list: half the ATC, so a batch cannot evict
 * its own pages (nor much else), and at most HMMDEV_ATS_BATCH_MAX.  0 (no
 * batches) when ATS is off, or the ATC is too small to hold one 64 KiB
 * bounce chunk of each side of a copy.
 */
uint32_t hmmdev_ats_batch_budget(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;

    if (!hmmdev_ats_active(s) || a->entries < 2 * HMMDEV_ATS_BATCH_MIN) {
        return 0;
    }
    return MIN(a->entries / 2, HMMDEV_ATS_BATCH_MAX);
}

/* Pages [addr, addr + len) touches; len > 0. */
uint32_t hmmdev_ats_batch_pages(uint64_t addr, uint64_t len)
{
    return ((addr + len - 1) >> ATC_PAGE_SHIFT) - (addr >> ATC_PAGE_SHIFT) + 1;
}

/*
 * Append the pages of an access to @b, in order, as far as b->max allows
 * (the caller checks with hmmdev_ats_batch_pages() what it needs whole).
 */
void hmmdev_ats_batch_add(HmmdevAtsBatch *b, uint64_t addr, uint64_t len,
                          bool write)
{
    uint64_t page = addr & ATC_PAGE_MASK, end = addr + len;

    for (; page < end && b->n < b->max; page += ATC_PAGE_SIZE) {
        uint64_t p = page | write;

        if (b->n && b->page[b->n - 1] == p) {
            continue;
        }
        b->page[b->n++] = p;
    }
}

/*
 * Translate the pages of @b in one round trip, except those already cached
 * with the access they need.  The ATC then holds them, marked "fetched
 * ahead" (their first use counts as a miss).  Nothing fails here: at the
 * first page the IOMMU refuses the batch stops, and the access that gets
 * to that page fails on the kept answer (no second fault).  An
 * invalidation, ATS Disable or reset may drop any of it meanwhile: then
 * the access misses and asks again, as without a batch.
 */
void hmmdev_ats_fetch_ahead(HmmdevState *s, HmmdevAtsBatch *b)
{
    HmmdevAts *a = &s->ats;
    uint32_t i, n = 0;

    qemu_mutex_lock(&a->lock);
    if (!a->enabled) {
        qemu_mutex_unlock(&a->lock);
        return;
    }
    for (i = 0; i < b->n; i++) {
        uint64_t page = b->page[i] & ATC_PAGE_MASK;
        bool write = b->page[i] & 1;
        HmmdevAtcEntry *e = atc_find_locked(a, page);

        if (a->neg_valid && a->neg_iova == page && a->neg_write == write) {
            break;      /* refused already: the access fails there */
        }
        if (!e || !(write ? e->write : e->read)) {
            a->req_page[n++] = b->page[i];
        }
    }
    if (n) {
        a->req_pages = n;
        atc_request_locked(s, true);
    }
    qemu_mutex_unlock(&a->lock);
}

/*
 * No request needed for @addr: cached with that access, refused by the
 * last request (kept for the access), or ATS off.
 */
bool hmmdev_ats_cached(HmmdevState *s, uint64_t addr, bool write)
{
    HmmdevAts *a = &s->ats;
    HmmdevAtcEntry *e;
    bool hit;

    qemu_mutex_lock(&a->lock);
    e = atc_find_locked(a, addr & ATC_PAGE_MASK);
    hit = !a->enabled || (e && (write ? e->write : e->read)) ||
          (a->neg_valid && a->neg_iova == (addr & ATC_PAGE_MASK) &&
           a->neg_write == write);
    qemu_mutex_unlock(&a->lock);
    return hit;
}

/* The command is over: a refusal kept by its batch is no longer needed. */
void hmmdev_ats_forget_ahead(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;

    if (qatomic_read(&a->neg_valid)) {
        qemu_mutex_lock(&a->lock);
        a->neg_valid = false;
        qemu_mutex_unlock(&a->lock);
    }
}

bool hmmdev_ats_active(HmmdevState *s)
{
    return qatomic_read(&s->ats.enabled);
}

/* ---------------------------------------------------------------------- */
/* Invalidation                                                           */
/* ---------------------------------------------------------------------- */

typedef struct HmmdevAtcRange {
    const HmmdevAtcEntry *atc;
    uint64_t first, last;
} HmmdevAtcRange;

static bool atc_in_range(int32_t i, const void *opaque)
{
    const HmmdevAtcRange *r = opaque;

    return r->atc[i].iova >= r->first && r->atc[i].iova <= r->last;
}

/*
 * IOMMU device-IOTLB invalidation of [iova, iova + addr_mask]; BQL held.
 * The range may be far larger than what is cached.  Returning completes
 * the invalidation: nothing may use the dropped translations afterwards.
 */
static void hmmdev_ats_notify(IOMMUNotifier *n, IOMMUTLBEntry *ev)
{
    HmmdevState *s = n->opaque;
    HmmdevAts *a = &s->ats;
    uint64_t first = ev->iova & ~ev->addr_mask;
    uint64_t last = first + ev->addr_mask;
    uint32_t dropped = 0;

    qemu_mutex_lock(&a->lock);
    if (ev->addr_mask >> ATC_PAGE_SHIFT < a->entries) {
        uint64_t page;

        for (page = first & ATC_PAGE_MASK;; page += ATC_PAGE_SIZE) {
            HmmdevAtcEntry *e = atc_find_locked(a, page);

            if (e) {
                atc_drop_locked(a, e);
                dropped++;
            }
            if (page >= (last & ATC_PAGE_MASK)) {
                break;
            }
        }
    } else {
        HmmdevAtcRange r = {
            .atc = a->atc, .first = first & ATC_PAGE_MASK, .last = last,
        };

        dropped = hmmdev_lru_flush(&a->index, atc_in_range, &r);
    }
    HMMDEV_STAT_INC(s, atc_invalidations);
    HMMDEV_STAT_ADD(s, atc_invalidated_entries, dropped);
    atc_drain_locked(a);
    qemu_mutex_unlock(&a->lock);
    trace_hmmdev_ats_invalidate(first, ev->addr_mask + 1, dropped);
}

/* Follow ATS Enable in config space: (un)register the notifier; BQL held. */
static void hmmdev_ats_sync(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;
    PCIDevice *pdev = PCI_DEVICE(s);
    bool want = pcie_ats_enabled(pdev);

    if (want == a->registered) {
        return;
    }
    if (want) {
        if (pci_iommu_init_iotlb_notifier(pdev, &a->notifier,
                                          hmmdev_ats_notify, s) < 0 ||
            pci_iommu_register_iotlb_notifier(pdev, PCI_NO_PASID,
                                              &a->notifier) < 0) {
            /* Not reachable with the capability gated at realize. */
            trace_hmmdev_err_ats_enable();
            qemu_log_mask(LOG_GUEST_ERROR, "hmmdev: ATS enabled but the "
                          "IOMMU takes no invalidation notifier\n");
            return;
        }
        a->registered = true;
        qemu_mutex_lock(&a->lock);
        hmmdev_lru_clear(&a->index);
        qatomic_set(&a->enabled, true);
        qemu_mutex_unlock(&a->lock);
    } else {
        qemu_mutex_lock(&a->lock);
        qatomic_set(&a->enabled, false);
        hmmdev_lru_clear(&a->index);
        atc_drain_locked(a);
        qemu_mutex_unlock(&a->lock);
        pci_iommu_unregister_iotlb_notifier(pdev, PCI_NO_PASID, &a->notifier);
        a->registered = false;
    }
    trace_hmmdev_ats_enable(want);
}

void hmmdev_ats_config_write(HmmdevState *s, uint32_t addr, int len)
{
    if (s->ats.cap &&
        ranges_overlap(addr, len, HMMDEV_ATS_CAP_OFFSET + PCI_ATS_CTRL, 2)) {
        hmmdev_ats_sync(s);
    }
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

/* An x86 IOMMU translates for us and takes device-IOTLB notifiers. */
static bool hmmdev_iommu_has_devtlb(HmmdevState *s)
{
    Object *iommu = object_resolve_path_type("", "x86-iommu", NULL);

    return iommu &&
           pci_device_iommu_address_space(PCI_DEVICE(s)) !=
           &address_space_memory &&
           object_property_get_bool(iommu, "device-iotlb", NULL);
}

bool hmmdev_ats_realize(HmmdevState *s, Error **errp)
{
    HmmdevAts *a = &s->ats;
    bool devtlb;

    if (a->entries < 1 || a->entries > 65536) {
        error_setg(errp, "hmmdev: atc-entries must be 1..65536");
        return false;
    }
    devtlb = hmmdev_iommu_has_devtlb(s);
    switch (a->mode) {
    case ON_OFF_AUTO_ON:
        if (!devtlb) {
            error_setg(errp, "hmmdev: ats=on needs an IOMMU with device-IOTLB "
                       "support (-device intel-iommu,device-iotlb=on, "
                       "before the device)");
            return false;
        }
        a->cap = true;
        break;
    case ON_OFF_AUTO_AUTO:
        a->cap = devtlb;
        break;
    default:
        a->cap = false;
        break;
    }
    if (a->cap) {
        pcie_ats_init(PCI_DEVICE(s), HMMDEV_ATS_CAP_OFFSET, true);
    }

    qemu_mutex_init(&a->lock);
    qemu_cond_init(&a->cond);
    a->atc = g_new0(HmmdevAtcEntry, a->entries);
    hmmdev_lru_init(&a->index, a->entries);
    a->bh = qemu_bh_new_guarded(hmmdev_ats_bh, s,
                                &DEVICE(s)->mem_reentrancy_guard);
    return true;
}

/* The worker has exited. */
void hmmdev_ats_unrealize(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;

    if (a->registered) {
        pci_iommu_unregister_iotlb_notifier(PCI_DEVICE(s), PCI_NO_PASID,
                                            &a->notifier);
        a->registered = false;
    }
    qemu_bh_delete(a->bh);
    g_free(a->atc);
    a->atc = NULL;
    hmmdev_lru_destroy(&a->index);
    qemu_cond_destroy(&a->cond);
    qemu_mutex_destroy(&a->lock);
}

/* Device reset: the worker is quiesced.  The cache empties. */
void hmmdev_ats_reset(HmmdevState *s)
{
    HmmdevAts *a = &s->ats;

    qemu_mutex_lock(&a->lock);
    hmmdev_lru_clear(&a->index);
    qemu_mutex_unlock(&a->lock);
}

/* PCI reset: ATS Control returns to 0 (Enable clear). */
void hmmdev_ats_pci_reset(HmmdevState *s)
{
    if (s->ats.cap) {
        pci_set_word(PCI_DEVICE(s)->config + HMMDEV_ATS_CAP_OFFSET +
                     PCI_ATS_CTRL, 0);
        hmmdev_ats_sync(s);
    }
}
