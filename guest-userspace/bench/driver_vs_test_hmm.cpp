// SPDX-License-Identifier: MIT
// hmmdev-bench: the same HMM work done by our driver (/dev/hmmdev0: the
// device faults, the copy engine migrates) and by the kernel's test_hmm
// (/dev/hmm_dmirror0: the guest CPU does it in software), in one process,
// interleaved so that noise hits both alike.  One phase per run; the result
// is one JSON object on stdout (bench/driver_vs_test_hmm.py drives it and
// writes the report).
//
//   hmmdev-bench latency [iters]        1-page device-fault round trip
//   hmmdev-bench batch [reps]           fault throughput, 1..256 pages a command
//   hmmdev-bench migrate [MiB] [reps]   migration to device and back
//   hmmdev-bench read [MiB] [reps]      device read of freshly allocated memory
//
// Ours: a SUM64 command reads the pages (one fault: the driver faults the
// whole operand, up to its 2 MiB block), timed from submit to the fence.
// test_hmm: HMM_DMIRROR_READ of the same number of pages (hmm_range_fault,
// then a CPU copy to the caller).  Pages are written by the CPU first, each
// iteration gets pages no device has mirrored yet, each in its own 2 MiB
// block (neighbours are PROT_NONE), so every iteration faults.
//
// The driver's statistics (HMMDEV_IOC_STATS, device scope: the stage
// times) are read before and after each phase and printed as deltas.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "bench_common.hpp"
#include "hmmdev.hpp"

const char *const bench::program = "hmmdev-bench";

namespace {

using bench::die;
using bench::median;
using bench::now_ns;

constexpr size_t PAGE = 4096;
constexpr size_t BLOCK = 2 << 20;

double pct(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5))];
}

// A PROT_NONE reservation of @n 2 MiB blocks; slot(i) gets fresh pages.
class Slots {
public:
    explicit Slots(size_t n) : n_(n)
    {
        size_t len = (n + 1) * BLOCK;
        raw_ = static_cast<char *>(mmap(nullptr, len, PROT_NONE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        if (raw_ == MAP_FAILED)
            die("mmap reserve");
        len_ = len;
        base_ = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(raw_) + BLOCK - 1) &
                                         ~(BLOCK - 1));
    }
    ~Slots() { munmap(raw_, len_); }
    // @pages fresh pages at the start of block i, written by the CPU.
    uint64_t *fresh(size_t i, size_t pages)
    {
        char *p = base_ + i * BLOCK;
        if (mmap(p, pages * PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
            die("mmap fixed");
        madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
        for (size_t k = 0; k < pages; k++)
            reinterpret_cast<uint64_t *>(p + k * PAGE)[0] = i * 1000 + k + 1;
        return reinterpret_cast<uint64_t *>(p);
    }
    size_t size() const { return n_; }

private:
    size_t n_, len_;
    char *raw_, *base_;
};

struct Bench {
    hmmdev::Device dev = hmmdev::Device::open(0);
    hmmdev::Queue &q = dev.create_queue(16);
    int dm;
    std::vector<char> bounce;

    Bench()
    {
        dm = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
        if (dm < 0)
            die("open /dev/hmm_dmirror0 (insmod test_hmm.ko)");
    }

    // Ours: SUM64 over @pages pages at @p; returns ns from submit to fence.
    uint64_t ours_read(const uint64_t *p, size_t bytes, uint64_t *sum = nullptr)
    {
        uint64_t t0 = now_ns();
        hmmdev::Completion c = q.submit(hmmdev::Command::sum64(p, bytes)).wait();
        uint64_t t = now_ns() - t0;
        if (sum)
            *sum = c.result;
        return t;
    }

    // test_hmm: HMM_DMIRROR_READ of the pages into bounce.
    uint64_t dmirror_read(const void *p, size_t bytes)
    {
        if (bounce.size() < bytes)
            bounce.resize(bytes);
        dmirror::cmd c{};
        c.addr = reinterpret_cast<uintptr_t>(p);
        c.ptr = reinterpret_cast<uintptr_t>(bounce.data());
        c.npages = bytes / PAGE;
        uint64_t t0 = now_ns();
        if (ioctl(dm, dmirror::READ, &c) < 0)
            die("HMM_DMIRROR_READ");
        uint64_t t = now_ns() - t0;
        if (c.cpages != bytes / PAGE)
            die("HMM_DMIRROR_READ: short read");
        return t;
    }

    // MIGRATE_TO_DEV copies the migrated pages back to ptr for verification
    // (part of what it costs); ptr must not be the migrated buffer.
    uint64_t dmirror_migrate(const void *p, void *mirror, size_t bytes, bool to_dev)
    {
        dmirror::cmd c{};
        c.addr = reinterpret_cast<uintptr_t>(p);
        c.ptr = reinterpret_cast<uintptr_t>(mirror);
        c.npages = bytes / PAGE;
        uint64_t t0 = now_ns();
        if (ioctl(dm, to_dev ? dmirror::MIGRATE_TO_DEV : dmirror::MIGRATE_TO_SYS, &c) < 0)
            die(to_dev ? "HMM_DMIRROR_MIGRATE_TO_DEV" : "HMM_DMIRROR_MIGRATE_TO_SYS");
        uint64_t t = now_ns() - t0;
        if (c.cpages != bytes / PAGE)
            fprintf(stderr, "hmmdev-bench: test_hmm migrated %llu of %zu pages\n",
                    (unsigned long long)c.cpages, bytes / PAGE);
        return t;
    }

    hmmdev::Stats stats() const { return dev.stats(hmmdev::Scope::Device); }
};

// Stats delta as a JSON object: every counter by name.
void print_stats(const char *key, const hmmdev::Stats &a, const hmmdev::Stats &b)
{
    printf("\"%s\": {", key);
    bool first = true;
    for (const auto &f : hmmdev::kStatFields) {
        printf("%s\"%s\": %" PRIu64, first ? "" : ", ", f.name,
               static_cast<uint64_t>(b.*f.field - a.*f.field));
        first = false;
    }
    printf("}");
}

void print_samples(const char *key, const std::vector<double> &us)
{
    double sum = 0;
    for (double x : us)
        sum += x;
    printf("\"%s\": {\"n\": %zu, \"median_us\": %.3f, \"mean_us\": %.3f, \"p10_us\": %.3f, "
           "\"p90_us\": %.3f, \"min_us\": %.3f}",
           key, us.size(), median(us), sum / us.size(), pct(us, 0.1), pct(us, 0.9),
           *std::min_element(us.begin(), us.end()));
}

// 1-page fault round trip; plus the same on a page already mirrored (no
// fault): the command / ioctl round trip alone.
void phase_latency(Bench &b, size_t iters)
{
    Slots s(iters + 1);
    std::vector<double> ours, ref, ours_warm, ref_warm;
    uint64_t *warm = s.fresh(iters, 1);
    b.ours_read(warm, PAGE);
    b.dmirror_read(warm, PAGE);
    for (size_t i = 0; i < 8; i++) {   // settle both paths
        b.ours_read(warm, PAGE);
        b.dmirror_read(warm, PAGE);
    }
    hmmdev::Stats st0 = b.stats();
    for (size_t i = 0; i < iters; i++) {
        uint64_t *p = s.fresh(i, 1);
        if (i % 2) {
            ref.push_back(b.dmirror_read(p, PAGE) / 1e3);
            ours.push_back(b.ours_read(p, PAGE) / 1e3);
        } else {
            ours.push_back(b.ours_read(p, PAGE) / 1e3);
            ref.push_back(b.dmirror_read(p, PAGE) / 1e3);
        }
    }
    hmmdev::Stats st1 = b.stats();
    for (size_t i = 0; i < iters; i++) {
        ours_warm.push_back(b.ours_read(warm, PAGE) / 1e3);
        ref_warm.push_back(b.dmirror_read(warm, PAGE) / 1e3);
    }
    hmmdev::Stats st2 = b.stats();
    printf("{\"phase\": \"latency\", \"iters\": %zu, ", iters);
    print_samples("ours", ours);
    printf(", ");
    print_samples("test_hmm", ref);
    printf(", ");
    print_samples("ours_no_fault", ours_warm);
    printf(", ");
    print_samples("test_hmm_no_fault", ref_warm);
    printf(", ");
    print_stats("stats", st0, st1);
    printf(", ");
    print_stats("stats_no_fault", st1, st2);
    printf("}\n");
}

// N pages faulted by one command / one HMM_DMIRROR_READ.
void phase_batch(Bench &b, size_t reps)
{
    printf("{\"phase\": \"batch\", \"reps\": %zu, \"sizes\": [", reps);
    bool first = true;
    for (size_t pages = 1; pages <= 256; pages *= 2) {
        Slots s(2 * reps);
        std::vector<double> ours, ref;
        hmmdev::Stats st0 = b.stats();
        for (size_t i = 0; i < reps; i++) {
            uint64_t *p = s.fresh(2 * i, pages), *r = s.fresh(2 * i + 1, pages);
            ours.push_back(b.ours_read(p, pages * PAGE) / 1e3);
            ref.push_back(b.dmirror_read(r, pages * PAGE) / 1e3);
        }
        hmmdev::Stats st1 = b.stats();
        printf("%s{\"pages\": %zu, ", first ? "" : ", ", pages);
        print_samples("ours", ours);
        printf(", ");
        print_samples("test_hmm", ref);
        printf(", ");
        print_stats("stats", st0, st1);
        printf("}");
        first = false;
        fflush(stdout);
    }
    printf("]}\n");
}

uint64_t *map_filled(size_t bytes, uint64_t seed)
{
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    madvise(p, bytes, MADV_NOHUGEPAGE);
    auto *w = static_cast<uint64_t *>(p);
    for (size_t i = 0; i < bytes / 8; i++)
        w[i] = seed * 0x9e3779b97f4a7c15ull + i;
    return w;
}

uint64_t cpu_sum(const uint64_t *w, size_t bytes)
{
    uint64_t s = 0;
    for (size_t i = 0; i < bytes / 8; i++)
        s += w[i];
    return s;
}

// Migration to device memory and back; the data is checked after each round.
void phase_migrate(Bench &b, size_t mib, size_t reps)
{
    size_t bytes = mib << 20;
    uint64_t *a = map_filled(bytes, 1), *r = map_filled(bytes, 2);
    uint64_t *mirror = map_filled(bytes, 0);
    uint64_t sa = cpu_sum(a, bytes), sr = cpu_sum(r, bytes);
    std::vector<double> to_dev, to_sys, ref_to_dev, ref_to_sys;
    hmmdev::Stats st_dev{}, st_sys{}, z{};
    z.size = 0;

    auto acc = [](hmmdev::Stats &acc, const hmmdev::Stats &x, const hmmdev::Stats &y) {
        auto *pa = &acc.faults;
        const auto *px = &x.faults, *py = &y.faults;
        for (size_t i = 0; i < (sizeof(acc) - offsetof(hmmdev_stats, faults)) / 8; i++)
            pa[i] += py[i] - px[i];
    };
    for (size_t i = 0; i <= reps; i++) {   // round 0 warms up (test_hmm allocates its memory)
        hmmdev::Stats s0 = b.stats();
        uint64_t t0 = now_ns();
        hmmdev::Migration m = b.dev.migrate(a, bytes, hmmdev::Memory::Device);
        uint64_t t1 = now_ns();
        hmmdev::Stats s1 = b.stats();
        hmmdev::Migration m2 = b.dev.migrate(a, bytes, hmmdev::Memory::System);
        uint64_t t2 = now_ns();
        hmmdev::Stats s2 = b.stats();
        if (m.migrated != bytes / PAGE || m2.migrated != bytes / PAGE)
            fprintf(stderr, "hmmdev-bench: migrated %llu/%llu of %zu pages\n",
                    (unsigned long long)m.migrated, (unsigned long long)m2.migrated,
                    bytes / PAGE);
        uint64_t rt0 = b.dmirror_migrate(r, mirror, bytes, true);
        uint64_t rt1 = b.dmirror_migrate(r, mirror, bytes, false);
        if (cpu_sum(a, bytes) != sa || cpu_sum(r, bytes) != sr ||
            cpu_sum(mirror, bytes) != sr) {
            fprintf(stderr, "hmmdev-bench: data changed by a migration round trip\n");
            exit(1);
        }
        if (!i)
            continue;
        acc(st_dev, s0, s1);
        acc(st_sys, s1, s2);
        to_dev.push_back((t1 - t0) / 1e3);
        to_sys.push_back((t2 - t1) / 1e3);
        ref_to_dev.push_back(rt0 / 1e3);
        ref_to_sys.push_back(rt1 / 1e3);
    }
    printf("{\"phase\": \"migrate\", \"bytes\": %zu, \"reps\": %zu, ", bytes, reps);
    print_samples("ours_to_dev", to_dev);
    printf(", ");
    print_samples("ours_to_sys", to_sys);
    printf(", ");
    print_samples("test_hmm_to_dev", ref_to_dev);
    printf(", ");
    print_samples("test_hmm_to_sys", ref_to_sys);
    printf(", ");
    print_stats("stats_to_dev", z, st_dev);
    printf(", ");
    print_stats("stats_to_sys", z, st_sys);
    printf("}\n");
    munmap(a, bytes);
    munmap(r, bytes);
    munmap(mirror, bytes);
}

// Device read of freshly allocated (CPU-written, never mirrored) memory.
void phase_read(Bench &b, size_t mib, size_t reps)
{
    size_t bytes = mib << 20;
    std::vector<double> ours, ref;
    hmmdev::Stats z{}, st{};
    for (size_t i = 0; i < reps; i++) {
        uint64_t *a = map_filled(bytes, 3 + i), *r = map_filled(bytes, 100 + i);
        uint64_t want = cpu_sum(a, bytes), got = 0;
        hmmdev::Stats s0 = b.stats();
        uint64_t t = b.ours_read(a, bytes, &got);
        hmmdev::Stats s1 = b.stats();
        if (got != want) {
            fprintf(stderr, "hmmdev-bench: SUM64 %" PRIx64 " != CPU %" PRIx64 "\n", got, want);
            exit(1);
        }
        uint64_t rt = b.dmirror_read(r, bytes);
        if (memcmp(b.bounce.data(), r, bytes)) {
            fprintf(stderr, "hmmdev-bench: HMM_DMIRROR_READ data differs\n");
            exit(1);
        }
        auto *pa = &st.faults;
        const auto *px = &s0.faults, *py = &s1.faults;
        for (size_t k = 0; k < (sizeof(st) - offsetof(hmmdev_stats, faults)) / 8; k++)
            pa[k] += py[k] - px[k];
        ours.push_back(t / 1e3);
        ref.push_back(rt / 1e3);
        munmap(a, bytes);
        munmap(r, bytes);
    }
    printf("{\"phase\": \"read\", \"bytes\": %zu, \"reps\": %zu, ", bytes, reps);
    print_samples("ours", ours);
    printf(", ");
    print_samples("test_hmm", ref);
    printf(", ");
    print_stats("stats", z, st);
    printf("}\n");
}

size_t arg(int argc, char **argv, int i, size_t def)
{
    return argc > i ? strtoul(argv[i], nullptr, 0) : def;
}

} // namespace

int main(int argc, char **argv)
{
    std::string phase = argc > 1 ? argv[1] : "";
    try {
        Bench b;
        if (phase == "latency")
            phase_latency(b, arg(argc, argv, 2, 200));
        else if (phase == "batch")
            phase_batch(b, arg(argc, argv, 2, 20));
        else if (phase == "migrate")
            phase_migrate(b, arg(argc, argv, 2, 64), arg(argc, argv, 3, 3));
        else if (phase == "read")
            phase_read(b, arg(argc, argv, 2, 64), arg(argc, argv, 3, 3));
        else {
            fprintf(stderr, "usage: hmmdev-bench latency|batch|migrate|read [args]\n");
            return 2;
        }
    } catch (const std::exception &e) {
        fprintf(stderr, "hmmdev-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
