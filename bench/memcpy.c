/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host baseline for bench/copy_engine.py: single-threaded memcpy and memset
 * of SIZE bytes between pre-faulted buffers, REPS times, median in MB/s.
 * Buffers are mmap'd and MADV_HUGEPAGE'd like QEMU's guest RAM.
 *
 * Usage: memcpy SIZE REPS   ->   {"memcpy_mbps": ..., "memset_mbps": ...}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void *buf(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    madvise(p, size, MADV_HUGEPAGE);
    memset(p, 0x5a, size);              /* fault everything in */
    return p;
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoull(argv[1], NULL, 0) : 64ull << 20;
    int reps = argc > 2 ? atoi(argv[2]) : 11, i;
    char *src = buf(size), *dst = buf(size);
    double *cp = calloc(reps, sizeof(double)), *st = calloc(reps, sizeof(double));

    for (i = 0; i < reps; i++) {
        double t = now();

        memcpy(dst, src, size);
        __asm__ volatile("" : : "r"(dst) : "memory");
        cp[i] = now() - t;
        t = now();
        memset(dst, i, size);
        __asm__ volatile("" : : "r"(dst) : "memory");
        st[i] = now() - t;
    }
    qsort(cp, reps, sizeof(double), cmp);
    qsort(st, reps, sizeof(double), cmp);
    printf("{\"size\": %zu, \"reps\": %d, \"memcpy_mbps\": %.1f, \"memset_mbps\": %.1f}\n",
           size, reps, size / cp[reps / 2] / 1e6, size / st[reps / 2] / 1e6);
    return 0;
}
