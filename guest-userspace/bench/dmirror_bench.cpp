// SPDX-License-Identifier: MIT
// hmm-dmirror-bench: time the test_hmm uAPI operations on one
// /dev/hmm_dmirrorN, whoever provides it (the kernel's test_hmm.ko, where the
// guest CPU does the work, or hmmdev.ko dmirror=1, where the emulated device
// does).  bench/dmirror_vs_test_hmm.py runs it against both in one VM and
// writes the ratio table.  One JSON object on stdout.
//
//   hmm-dmirror-bench NODE MIB REPS
//
// Per repetition, on a fresh anonymous buffer of MIB MiB written by the CPU:
//   read            HMM_DMIRROR_READ of the whole buffer (the device faults)
//   read_mirrored   the same READ again (already mirrored: no fault)
//   write           HMM_DMIRROR_WRITE of the whole buffer
//   migrate_to_dev  HMM_DMIRROR_MIGRATE_TO_DEV (includes the read-back of
//                   the migrated data that the uAPI returns in `ptr`)
//   migrate_to_sys  HMM_DMIRROR_MIGRATE_TO_SYS of what was migrated
//   cpu_fault_back  after another MIGRATE_TO_DEV: the CPU reads every page
//                   (device-private: a migrate_to_ram fault per page group;
//                   device-coherent: plain loads from device memory)
// Each figure is the median over REPS, in MB/s (1e6 bytes/s).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "bench_common.hpp"

const char *const bench::program = "hmm-dmirror-bench";

namespace {

using bench::die;
using bench::median;
using bench::now_ns;

constexpr size_t PAGE = 4096;

// One ioctl; the seconds it took.  EINTR is retried, as hmm-tests does.
double timed(int fd, unsigned long req, void *addr, void *ptr, size_t npages, uint64_t want)
{
    dmirror::cmd c{uint64_t(uintptr_t(addr)), uint64_t(uintptr_t(ptr)), npages, 0, 0};
    uint64_t t0 = now_ns();
    int r;
    while ((r = ioctl(fd, req, &c)) < 0 && errno == EINTR)
        ;
    uint64_t t1 = now_ns();
    if (r < 0)
        die("ioctl " + std::to_string(req & 0xff));
    if (c.cpages != want) {
        fprintf(stderr, "hmm-dmirror-bench: ioctl %lu moved %llu of %llu pages\n", req & 0xff,
                (unsigned long long)c.cpages, (unsigned long long)want);
        exit(1);
    }
    return (t1 - t0) / 1e9;
}

char *fresh(size_t size, int seed)
{
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    auto *w = static_cast<uint64_t *>(p);
    for (size_t i = 0; i < size / 8; i++)
        w[i] = i * 0x9e3779b97f4a7c15ull + seed;
    return static_cast<char *>(p);
}

void verify(const char *buf, size_t size, int seed, const char *what)
{
    auto *w = reinterpret_cast<const uint64_t *>(buf);
    for (size_t i = 0; i < size / 8; i += 509)
        if (w[i] != i * 0x9e3779b97f4a7c15ull + seed) {
            fprintf(stderr, "hmm-dmirror-bench: %s: wrong data at word %zu\n", what, i);
            exit(1);
        }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: hmm-dmirror-bench NODE MIB REPS\n");
        return 2;
    }
    std::string path = "/dev/hmm_dmirror" + std::string(argv[1]);
    size_t size = size_t(atoi(argv[2])) << 20, npages = size / PAGE;
    int reps = atoi(argv[3]);
    int fd = open(path.c_str(), O_RDWR);
    if (fd < 0)
        die(path);
    std::vector<char> mirror(size);
    std::map<std::string, std::vector<double>> secs;

    for (int r = 0; r < reps; r++) {
        char *buf = fresh(size, r);
        secs["read"].push_back(timed(fd, dmirror::READ, buf, mirror.data(), npages, npages));
        verify(mirror.data(), size, r, "read");
        secs["read_mirrored"].push_back(
            timed(fd, dmirror::READ, buf, mirror.data(), npages, npages));

        char *dst = static_cast<char *>(
            mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (dst == MAP_FAILED)
            die("mmap");
        secs["write"].push_back(timed(fd, dmirror::WRITE, dst, mirror.data(), npages, npages));
        verify(dst, size, r, "write");

        secs["migrate_to_dev"].push_back(
            timed(fd, dmirror::MIGRATE_TO_DEV, buf, mirror.data(), npages, npages));
        verify(mirror.data(), size, r, "migrate_to_dev");
        secs["migrate_to_sys"].push_back(
            timed(fd, dmirror::MIGRATE_TO_SYS, buf, mirror.data(), npages, npages));
        verify(buf, size, r, "migrate_to_sys");

        timed(fd, dmirror::MIGRATE_TO_DEV, dst, mirror.data(), npages, npages);
        uint64_t t0 = now_ns(), sum = 0;
        for (size_t off = 0; off < size; off += PAGE)
            sum += *reinterpret_cast<volatile uint64_t *>(dst + off);
        secs["cpu_fault_back"].push_back((now_ns() - t0) / 1e9);
        verify(dst, size, r, "cpu_fault_back");
        (void)sum;
        munmap(buf, size);
        munmap(dst, size);
    }
    printf("{\"node\": %s, \"mib\": %s, \"reps\": %d", argv[1], argv[2], reps);
    for (auto &[op, v] : secs)
        printf(", \"%s\": {\"mbps\": %.1f, \"ms\": %.3f}", op.c_str(), size / median(v) / 1e6,
               median(v) * 1e3);
    printf("}\n");
    return 0;
}
