/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: a fully associative, least-recently-used cache index, shared by
 * the device TLB (hmmdev-tlb.c) and the ATC (hmmdev-ats.c).
 *
 * The index hands out slot numbers 0..entries-1; the user keeps its
 * payload in its own array under the same numbers.  A slot is found by a
 * 64-bit key through hash chains, so a lookup or an insert costs the same
 * whatever the size.  Valid slots sit on a recency list (most recent
 * first), invalid ones on a free list that is used before anything is
 * evicted.  No locking: the user's lock covers the index and the payload.
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#ifndef HW_HMMDEV_LRU_H
#define HW_HMMDEV_LRU_H

typedef struct HmmdevLruSlot {
    uint64_t key;
    bool valid;
    int32_t hash_next;          /* next valid slot in the same bucket */
    int32_t prev, next;         /* valid: recency list; invalid: free list */
} HmmdevLruSlot;

typedef struct HmmdevLru {
    uint32_t entries;
    uint32_t hash_shift;        /* 64 - log2(number of buckets) */
    int32_t *hash;              /* bucket heads, -1 for none */
    HmmdevLruSlot *slot;
    int32_t mru, lru;           /* ends of the recency list */
    int32_t free;               /* first invalid slot */
} HmmdevLru;

/* For hmmdev_lru_flush(): should valid slot @i go? */
typedef bool HmmdevLruMatch(int32_t i, const void *opaque);

void hmmdev_lru_init(HmmdevLru *c, uint32_t entries);
void hmmdev_lru_destroy(HmmdevLru *c);
void hmmdev_lru_clear(HmmdevLru *c);
int32_t hmmdev_lru_lookup(const HmmdevLru *c, uint64_t key);
void hmmdev_lru_touch(HmmdevLru *c, int32_t i);
int32_t hmmdev_lru_insert(HmmdevLru *c, uint64_t key, bool *evicted);
void hmmdev_lru_remove(HmmdevLru *c, int32_t i);
uint32_t hmmdev_lru_flush(HmmdevLru *c, HmmdevLruMatch *match,
                          const void *opaque);

#endif /* HW_HMMDEV_LRU_H */
