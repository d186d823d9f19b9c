/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hmmdev: the LRU cache index of the TLB and the ATC (see hmmdev-lru.h).
 *
 * Copyright (c) 2026 The hmmdev authors
 */
#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "hmmdev-lru.h"

static uint32_t hmmdev_lru_bucket(const HmmdevLru *c, uint64_t key)
{
    /* Keys are page addresses: fold the page number into the low bits. */
    return ((key ^ (key >> 12)) * 0x9e3779b97f4a7c15ull) >> c->hash_shift;
}

static void hmmdev_lru_unlink(HmmdevLru *c, HmmdevLruSlot *e)
{
    if (e->prev >= 0) {
        c->slot[e->prev].next = e->next;
    } else {
        c->mru = e->next;
    }
    if (e->next >= 0) {
        c->slot[e->next].prev = e->prev;
    } else {
        c->lru = e->prev;
    }
}

static void hmmdev_lru_push_mru(HmmdevLru *c, int32_t i)
{
    HmmdevLruSlot *e = &c->slot[i];

    e->prev = -1;
    e->next = c->mru;
    if (c->mru >= 0) {
        c->slot[c->mru].prev = i;
    } else {
        c->lru = i;
    }
    c->mru = i;
}

void hmmdev_lru_init(HmmdevLru *c, uint32_t entries)
{
    /* Twice as many buckets as entries keeps the chains short. */
    uint64_t buckets = pow2ceil(2 * (uint64_t)entries);

    c->entries = entries;
    c->hash_shift = 64 - ctz64(buckets);
    c->hash = g_new(int32_t, buckets);
    c->slot = g_new0(HmmdevLruSlot, entries);
    hmmdev_lru_clear(c);
}

void hmmdev_lru_destroy(HmmdevLru *c)
{
    g_free(c->hash);
    c->hash = NULL;
    g_free(c->slot);
    c->slot = NULL;
}

/* Every slot invalid and free, handed out from 0 up. */
void hmmdev_lru_clear(HmmdevLru *c)
{
    uint64_t buckets = 1ull << (64 - c->hash_shift);
    uint32_t i;

    for (i = 0; i < buckets; i++) {
        c->hash[i] = -1;
    }
    for (i = 0; i < c->entries; i++) {
        c->slot[i] = (HmmdevLruSlot) {
            .hash_next = -1, .prev = -1,
            .next = i + 1 < c->entries ? i + 1 : -1,
        };
    }
    c->free = 0;
    c->mru = c->lru = -1;
}

/* The valid slot for @key, or -1.  Recency is left alone. */
int32_t hmmdev_lru_lookup(const HmmdevLru *c, uint64_t key)
{
    int32_t i;

    for (i = c->hash[hmmdev_lru_bucket(c, key)]; i >= 0;
         i = c->slot[i].hash_next) {
        if (c->slot[i].key == key) {
            return i;
        }
    }
    return -1;
}

/* A hit: valid slot @i becomes the most recently used. */
void hmmdev_lru_touch(HmmdevLru *c, int32_t i)
{
    if (c->mru != i) {
        hmmdev_lru_unlink(c, &c->slot[i]);
        hmmdev_lru_push_mru(c, i);
    }
}

/* Invalidate valid slot @i; it is the next one an insert takes. */
void hmmdev_lru_remove(HmmdevLru *c, int32_t i)
{
    HmmdevLruSlot *e = &c->slot[i];
    int32_t *link = &c->hash[hmmdev_lru_bucket(c, e->key)];

    while (*link != i) {
        g_assert(*link >= 0);
        link = &c->slot[*link].hash_next;
    }
    *link = e->hash_next;
    hmmdev_lru_unlink(c, e);
    e->valid = false;
    e->next = c->free;
    c->free = i;
}

/*
 * Make @key valid and most recently used, in the slot it had if it was
 * valid (a stale copy is replaced), else a free slot, else the least
 * recently used one: then *evicted is set, and the payload of the
 * returned slot is still the evicted entry's.
 */
int32_t hmmdev_lru_insert(HmmdevLru *c, uint64_t key, bool *evicted)
{
    int32_t i = hmmdev_lru_lookup(c, key);
    uint32_t b;

    *evicted = false;
    if (i >= 0) {
        hmmdev_lru_remove(c, i);
    } else if (c->free < 0) {
        *evicted = true;
        hmmdev_lru_remove(c, c->lru);
    }
    i = c->free;
    c->free = c->slot[i].next;
    c->slot[i].key = key;
    c->slot[i].valid = true;
    b = hmmdev_lru_bucket(c, key);
    c->slot[i].hash_next = c->hash[b];
    c->hash[b] = i;
    hmmdev_lru_push_mru(c, i);
    return i;
}

/* Remove every valid slot @match selects, in slot order; returns how many. */
uint32_t hmmdev_lru_flush(HmmdevLru *c, HmmdevLruMatch *match,
                          const void *opaque)
{
    uint32_t i, n = 0;

    for (i = 0; i < c->entries; i++) {
        if (c->slot[i].valid && match(i, opaque)) {
            hmmdev_lru_remove(c, i);
            n++;
        }
    }
    return n;
}
