// SPDX-License-Identifier: MIT
// hmmdev-storm: a random, reproducible storm of CPU and device accesses,
// migrations and address-space changes over shared regions, where every
// byte read is checked (docs/driver.md, "Forward progress"; tests/vm/test_storm.py).
//
//   hmmdev-storm [--seed N] [--seconds S] [--threads T] [--procs P]
//                [--device N] [--devices K] [--dmirror PATH[,PATH...]]
//                [--watchdog S] [--no-fork]
//
// Each process maps its regions (anonymous, THP, hugetlbfs if the kernel
// has huge pages, a shared mapping, and a page of counters per thread), then
// T threads run random operations for S seconds.  A block of pages belongs
// to one thread, which alone changes what it holds; any thread migrates any
// range.  The operations: CPU writes and reads; device COPY, FILL, ATOMIC
// and read-back through libhmmdev; READ, WRITE and EXCLUSIVE through the
// test_hmm personality (--dmirror); migration both ways; munmap +
// mmap(MAP_FIXED); mprotect read-only with a device write that must fail and
// change nothing; MADV_DONTNEED; fork(), whose child checks its snapshot by
// CPU and by device while the parent goes on writing.
//
// It fails (exit 1) on any data difference (region, address, expected,
// got) or unexpected errno, and (exit 2) when the watchdog sees no progress
// for --watchdog seconds: it then prints the kernel stacks of every task and
// the driver's debugfs state.  It prints one JSON line per process: the
// seed, operations per type, errors per errno, and the driver's counters.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "../lib/dmirror_uapi.hpp"
#include "hmmdev.hpp"
#include "model.hpp"

using namespace storm;
using hmmdev::Command;
using hmmdev::Memory;

namespace {

struct Options {
    uint64_t seed = 1;
    unsigned seconds = 30;
    unsigned threads = 4;
    unsigned procs = 1;
    unsigned device = 0;        // the first device
    unsigned devices = 1;       // ... and how many: thread t uses device + t % devices
    std::vector<std::string> dmirror;   // /dev/hmm_dmirrorN nodes (thread t: t % size), or none
    unsigned watchdog = 60;
    bool fork = true;
};

constexpr auto kCmdTimeout = std::chrono::seconds(60);

// What one process did.
struct Tally {
    std::mutex lock;            // protects the fields below
    std::map<std::string, uint64_t> ops;
    std::map<std::string, uint64_t> errors;     // "op:ERRNO"
    std::vector<std::string> failures;

    void op(const std::string &name)
    {
        std::lock_guard<std::mutex> g(lock);
        ops[name]++;
    }
    void error(const std::string &name, int err)
    {
        std::lock_guard<std::mutex> g(lock);
        errors[name + ":" + (err ? strerrorname_np(err) : "0")]++;
    }
    void fail(const std::string &what)
    {
        std::lock_guard<std::mutex> g(lock);
        if (failures.size() < 20)
            failures.push_back(what);
    }
};

class Storm {
public:
    Storm(const Options &o, unsigned proc) : opt_(o), proc_(proc) {}
    int run();

private:
    void map_regions();
    void worker(unsigned t);
    void watchdog();
    bool owned(unsigned t, size_t block) const { return block % opt_.threads == t; }

    // the operations (each returns after checking what it can)
    void op_cpu_write(unsigned t, Region &r, size_t b, std::mt19937_64 &rng);
    void op_cpu_check(Region &r, size_t b);
    void op_dev_write(unsigned t, hmmdev::Queue &q, Region &r, size_t b, bool fill,
                      std::vector<uint64_t> &scratch);
    void op_dev_read(hmmdev::Queue &q, Region &r, size_t b, std::vector<uint64_t> &scratch);
    void op_atomic(unsigned t, hmmdev::Queue &q, std::mt19937_64 &rng);
    void op_dmirror(int fd, Region &r, size_t b, bool write, std::vector<uint64_t> &scratch);
    void op_exclusive(int fd, Region &r, size_t b, std::vector<uint64_t> &scratch);
    void op_migrate(hmmdev::Device &dev, std::mt19937_64 &rng);
    void op_remap(Region &r, size_t b);
    void op_dontneed(Region &r, size_t b);
    void op_readonly(hmmdev::Queue &q, int dmfd, Region &r, size_t b,
                     std::vector<uint64_t> &scratch);
    void op_fork();

    void check_pages(const Region &r, size_t first, size_t n, const uint64_t *got,
                     const char *how);
    static int child_check(Storm *s, unsigned device);
    void done() { progress_++; }

    Options opt_;
    unsigned proc_;
    std::vector<Region> regions_;
    char *counters_ = nullptr;                  // a page per thread
    std::vector<std::vector<uint64_t>> counts_; // what each counter page must hold
    std::shared_mutex fork_lock_;   // writers shared; fork() exclusive: a whole snapshot
    std::atomic<uint64_t> progress_{0};
    std::atomic<bool> stop_{false};       // the workers finish their operation
    std::atomic<bool> finished_{false};   // ... and have: the watchdog ends
    Tally tally_;
};

void Storm::map_regions()
{
    struct Spec {
        const char *name;
        size_t len;
        int flags;
        bool thp, migratable;
    } specs[] = {
        {"anon", 4 << 20, MAP_PRIVATE | MAP_ANONYMOUS, false, true},
        {"thp", 4 << 20, MAP_PRIVATE | MAP_ANONYMOUS, true, true},
        {"hugetlb", 4 << 20, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, false, false},
        {"shared", 1 << 20, MAP_SHARED | MAP_ANONYMOUS, false, false},
    };
    uint64_t page = uint64_t(proc_) << 32;
    for (auto &sp : specs) {
        Region r;
        r.name = sp.name;
        r.len = sp.len;
        r.flags = sp.flags;
        r.migratable = sp.migratable;
        size_t align = 2 << 20;
        void *p = ::mmap(nullptr, sp.len + align, PROT_READ | PROT_WRITE, sp.flags, -1, 0);
        if (p == MAP_FAILED) {
            tally_.error(std::string("map_") + sp.name, errno);   // no huge pages: fine
            continue;
        }
        // keep a 2 MiB-aligned stretch (THP and hugetlb need the alignment)
        char *a = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(p) + align - 1) &
                                           ~(align - 1));
        if (a != p)
            ::munmap(p, a - static_cast<char *>(p));
        ::munmap(a + sp.len, static_cast<char *>(p) + sp.len + align - (a + sp.len));
        if (sp.thp)
            ::madvise(a, sp.len, MADV_HUGEPAGE);
        r.base = a;
        r.first_page = page;
        page += sp.len / kPage;
        r.pages.assign(sp.len / kPage, PageState{});
        r.unmapped.assign(r.blocks(), 0);
        r.readonly.assign(r.blocks(), 0);
        regions_.push_back(std::move(r));
    }
    counters_ = static_cast<char *>(::mmap(nullptr, opt_.threads * kPage, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (counters_ == MAP_FAILED)
        throw hmmdev::Error(errno, "mmap counters");
    std::memset(counters_, 0, opt_.threads * kPage);
    counts_.assign(opt_.threads, std::vector<uint64_t>(kWords, 0));
}

void Storm::check_pages(const Region &r, size_t first, size_t n, const uint64_t *got,
                        const char *how)
{
    for (size_t p = first; p < first + n; p++) {
        const uint64_t *w = got + (p - first) * kWords;
        long i = first_difference(w, r.first_page + p, r.pages[p]);
        if (i < 0)
            continue;
        char msg[256];
        std::snprintf(msg, sizeof(msg),
                      "DATA %s region %s address %p: expected 0x%016" PRIx64 " got 0x%016" PRIx64
                      " (gen %u kind %d)",
                      how, r.name.c_str(), static_cast<void *>(r.page_addr(p) + i * 8),
                      expected_word(r.first_page + p, r.pages[p], i), w[i], r.pages[p].gen,
                      int(r.pages[p].kind));
        tally_.fail(msg);
        return;
    }
}

void Storm::op_cpu_write(unsigned, Region &r, size_t b, std::mt19937_64 &rng)
{
    size_t first = b * kBlockPages + rng() % kBlockPages, n = 1 + rng() % 4;
    n = std::min(n, (b + 1) * kBlockPages - first);
    for (size_t p = first; p < first + n; p++) {
        PageState st{r.pages[p].gen + 1, Kind::Pattern};
        make_pattern(reinterpret_cast<uint64_t *>(r.page_addr(p)), r.first_page + p, st.gen);
        r.pages[p] = st;
    }
    tally_.op("cpu_write");
}

void Storm::op_cpu_check(Region &r, size_t b)
{
    check_pages(r, b * kBlockPages, kBlockPages,
                reinterpret_cast<const uint64_t *>(r.page_addr(b * kBlockPages)), "cpu read");
    tally_.op("cpu_read");
}

// A device COPY (from a scratch block) or FILL (one per page) over block @b.
void Storm::op_dev_write(unsigned, hmmdev::Queue &q, Region &r, size_t b, bool fill,
                         std::vector<uint64_t> &scratch)
{
    size_t first = b * kBlockPages;
    std::vector<PageState> next(kBlockPages);
    std::vector<Command> cmds;
    for (size_t k = 0; k < kBlockPages; k++) {
        next[k] = {r.pages[first + k].gen + 1, fill ? Kind::Fill : Kind::Pattern};
        if (fill)
            cmds.push_back(Command::fill(r.page_addr(first + k),
                                         page_value(r.first_page + first + k, next[k].gen),
                                         kPage));
        else
            make_pattern(scratch.data() + k * kWords, r.first_page + first + k, next[k].gen);
    }
    if (!fill)
        cmds.push_back(Command::copy(r.page_addr(first), scratch.data(), kBlock));
    hmmdev::Completion c{};
    int err = q.submit(cmds).try_wait(c, kCmdTimeout);
    const char *name = fill ? "dev_fill" : "dev_copy";
    tally_.op(name);
    if (err) {
        tally_.error(name, -err);
        tally_.fail(std::string(name) + " on a writable block failed: " + std::strerror(-err));
        return;
    }
    std::copy(next.begin(), next.end(), r.pages.begin() + first);
}

void Storm::op_dev_read(hmmdev::Queue &q, Region &r, size_t b, std::vector<uint64_t> &scratch)
{
    size_t first = b * kBlockPages;
    hmmdev::Completion c{};
    int err = q.submit(Command::copy(scratch.data(), r.page_addr(first), kBlock))
                  .try_wait(c, kCmdTimeout);
    tally_.op("dev_read");
    if (err) {
        tally_.error("dev_read", -err);
        tally_.fail(std::string("dev_read failed: ") + std::strerror(-err));
        return;
    }
    check_pages(r, first, kBlockPages, scratch.data(), "device read");
}

void Storm::op_atomic(unsigned t, hmmdev::Queue &q, std::mt19937_64 &rng)
{
    auto *w = reinterpret_cast<uint64_t *>(counters_ + t * kPage);
    size_t j = rng() % kWords;
    uint64_t v = 1 + rng() % 1000;
    hmmdev::Completion c{};
    int err = q.submit(Command::atomic_add(&w[j], v)).try_wait(c, kCmdTimeout);
    tally_.op("dev_atomic");
    if (err) {
        tally_.error("dev_atomic", -err);
        tally_.fail(std::string("dev_atomic failed: ") + std::strerror(-err));
        return;
    }
    counts_[t][j] += v;
    if (w[j] != counts_[t][j]) {
        char msg[160];
        std::snprintf(msg, sizeof(msg), "DATA atomic counter %p: expected %" PRIu64 " got %" PRIu64,
                      static_cast<void *>(&w[j]), counts_[t][j], w[j]);
        tally_.fail(msg);
    }
}

void Storm::op_dmirror(int fd, Region &r, size_t b, bool write, std::vector<uint64_t> &scratch)
{
    size_t first = b * kBlockPages;
    std::vector<PageState> next(kBlockPages);
    if (write)
        for (size_t k = 0; k < kBlockPages; k++) {
            next[k] = {r.pages[first + k].gen + 1, Kind::Pattern};
            make_pattern(scratch.data() + k * kWords, r.first_page + first + k, next[k].gen);
        }
    dmirror::cmd c{reinterpret_cast<uint64_t>(r.page_addr(first)),
                   reinterpret_cast<uint64_t>(scratch.data()), kBlockPages, 0, 0};
    const char *name = write ? "dmirror_write" : "dmirror_read";
    tally_.op(name);
    if (::ioctl(fd, write ? dmirror::WRITE : dmirror::READ, &c) != 0) {
        tally_.error(name, errno);
        tally_.fail(std::string(name) + " on a writable block failed: " + std::strerror(errno));
        return;
    }
    if (write)
        std::copy(next.begin(), next.end(), r.pages.begin() + first);
    else
        check_pages(r, first, kBlockPages, scratch.data(), "dmirror read");
}

// EXCLUSIVE returns the data read through the exclusive mappings; large
// folios give EBUSY (6.12) and some mappings EOPNOTSUPP (7.x): refusals.
void Storm::op_exclusive(int fd, Region &r, size_t b, std::vector<uint64_t> &scratch)
{
    size_t first = b * kBlockPages;
    dmirror::cmd c{reinterpret_cast<uint64_t>(r.page_addr(first)),
                   reinterpret_cast<uint64_t>(scratch.data()), kBlockPages, 0, 0};
    tally_.op("exclusive");
    if (::ioctl(fd, dmirror::EXCLUSIVE, &c) != 0) {
        int e = errno;
        tally_.error("exclusive", e);
        if (e != EBUSY && e != EOPNOTSUPP)
            tally_.fail(std::string("exclusive failed: ") + std::strerror(e));
        return;
    }
    check_pages(r, first, kBlockPages, scratch.data(), "exclusive read");
    op_cpu_check(r, b);     // the CPU takes the pages back
}

void Storm::op_migrate(hmmdev::Device &dev, std::mt19937_64 &rng)
{
    Region &r = regions_[rng() % regions_.size()];
    size_t first = rng() % (r.len / kPage), n = 1 + rng() % 128;
    n = std::min(n, r.len / kPage - first);
    bool to_dev = rng() & 1;
    const char *name = to_dev ? "migrate_to_dev" : "migrate_to_sys";
    tally_.op(name);
    try {
        auto m = dev.migrate(r.page_addr(first), n * kPage, to_dev ? Memory::Device : Memory::System);
        if (!r.migratable && to_dev && m.migrated)
            tally_.fail("migration moved pages of " + r.name + ", which must be skipped");
    } catch (const hmmdev::Error &e) {
        // an unmapped block in the range (EFAULT), a VMA kind migrate_vma refuses
        tally_.error(name, e.code().value());
    }
}

void Storm::op_remap(Region &r, size_t b)
{
    char *a = r.page_addr(b * kBlockPages);
    tally_.op("remap");
    if (::munmap(a, kBlock) != 0) {
        tally_.fail(std::string("munmap: ") + std::strerror(errno));
        return;
    }
    r.unmapped[b] = 1;
    void *p = ::mmap(a, kBlock, PROT_READ | PROT_WRITE, r.flags | MAP_FIXED, -1, 0);
    if (p != a) {
        tally_.fail(std::string("mmap MAP_FIXED: ") + std::strerror(errno));
        return;
    }
    std::fill_n(r.pages.begin() + b * kBlockPages, kBlockPages, PageState{});
    r.unmapped[b] = 0;
    r.readonly[b] = 0;
}

void Storm::op_dontneed(Region &r, size_t b)
{
    tally_.op("dontneed");
    if (::madvise(r.page_addr(b * kBlockPages), kBlock, MADV_DONTNEED) != 0) {
        tally_.error("dontneed", errno);
        return;
    }
    if (!(r.flags & MAP_SHARED))    // shared memory keeps its contents
        std::fill_n(r.pages.begin() + b * kBlockPages, kBlockPages, PageState{});
}

// Read-only: a device write (and a test_hmm WRITE) must fail and change nothing.
void Storm::op_readonly(hmmdev::Queue &q, int dmfd, Region &r, size_t b,
                        std::vector<uint64_t> &scratch)
{
    char *a = r.page_addr(b * kBlockPages);
    tally_.op("mprotect_ro");
    if (::mprotect(a, kBlock, PROT_READ) != 0) {
        tally_.fail(std::string("mprotect: ") + std::strerror(errno));
        return;
    }
    hmmdev::Completion c{};
    int err = q.submit(Command::fill(a, 0xdeadbeefdeadbeefull, kBlock)).try_wait(c, kCmdTimeout);
    tally_.error("ro_dev_write", -err);
    if (err != -EPERM && err != -EFAULT)
        tally_.fail(std::string("device write to read-only memory: ") +
                    (err ? std::strerror(-err) : "succeeded"));
    if (dmfd >= 0) {
        dmirror::cmd dc{reinterpret_cast<uint64_t>(a), reinterpret_cast<uint64_t>(scratch.data()),
                        kBlockPages, 0, 0};
        int rc = ::ioctl(dmfd, dmirror::WRITE, &dc);
        tally_.error("ro_dmirror_write", rc ? errno : 0);
        if (rc == 0)
            tally_.fail("test_hmm WRITE to read-only memory succeeded");
    }
    op_cpu_check(r, b);
    ::mprotect(a, kBlock, PROT_READ | PROT_WRITE);
}

// The child of fork(): its snapshot, by CPU and by device, must be what the
// model said at the fork (the model is in the snapshot too).
int Storm::child_check(Storm *s, unsigned device)
{
    std::vector<uint64_t> buf(kBlock / 8);
    try {
        auto dev = hmmdev::Device::open(device);
        auto &q = dev.create_queue();
        for (auto &r : s->regions_) {
            if (r.flags & MAP_SHARED)
                continue;   // shared with the parent, who goes on writing: no snapshot
            for (size_t b = 0; b < r.blocks(); b++) {
                if (r.unmapped[b])
                    continue;
                char *a = r.page_addr(b * kBlockPages);
                for (size_t k = 0; k < kBlockPages; k++)
                    if (first_difference(reinterpret_cast<uint64_t *>(a + k * kPage),
                                         r.first_page + b * kBlockPages + k,
                                         r.pages[b * kBlockPages + k]) >= 0) {
                        std::fprintf(stderr, "child: DATA cpu %s block %zu\n", r.name.c_str(), b);
                        return 1;
                    }
                if (b % 8)
                    continue;   // the device reads every 8th block
                q.run(Command::copy(buf.data(), a, kBlock));
                for (size_t k = 0; k < kBlockPages; k++)
                    if (first_difference(buf.data() + k * kWords,
                                         r.first_page + b * kBlockPages + k,
                                         r.pages[b * kBlockPages + k]) >= 0) {
                        std::fprintf(stderr, "child: DATA device %s block %zu\n", r.name.c_str(),
                                     b);
                        return 1;
                    }
            }
        }
        for (unsigned t = 0; t < s->opt_.threads; t++)
            if (std::memcmp(s->counters_ + t * kPage, s->counts_[t].data(), kPage)) {
                std::fprintf(stderr, "child: DATA counters of thread %u\n", t);
                return 1;
            }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        return 1;
    }
    return 0;
}

void Storm::op_fork()
{
    pid_t pid;
    {
        std::unique_lock<std::shared_mutex> g(fork_lock_);  // no write in flight
        pid = ::fork();
        if (pid == 0)
            ::_exit(child_check(this, opt_.device));
    }
    tally_.op("fork");
    if (pid < 0) {
        tally_.error("fork", errno);
        return;
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        tally_.fail("a forked child's copy-on-write snapshot differs (see its stderr)");
}

void Storm::worker(unsigned t)
{
    std::mt19937_64 rng(opt_.seed * 1000003 + proc_ * 1009 + t);
    // with several devices, pages move between their memories: another
    // device's private page is migrated back by hmm_range_fault() first
    auto dev = hmmdev::Device::open(opt_.device + t % opt_.devices);
    auto &q = dev.create_queue();
    // two test_hmm files per process: a device has 15 queues for everyone
    int dmfd = opt_.dmirror.empty() || t >= 2 ? -1
             : ::open(opt_.dmirror[t % opt_.dmirror.size()].c_str(), O_RDWR);
    std::vector<uint64_t> scratch(kBlock / 8);
    while (!stop_) {
        unsigned what = rng() % 100;
        if (what < 12) {
            op_migrate(dev, rng);
            done();
            continue;
        }
        if (what < 14 && opt_.fork && t == 0) {
            op_fork();
            done();
            continue;
        }
        if (what < 20) {
            std::shared_lock<std::shared_mutex> g(fork_lock_);
            op_atomic(t, q, rng);
            done();
            continue;
        }
        Region &r = regions_[rng() % regions_.size()];
        size_t b = rng() % r.blocks();
        while (!owned(t, b))
            b = (b + 1) % r.blocks();
        bool huge = r.name == "hugetlb";    // a 64 KiB block is part of one 2 MiB page
        std::shared_lock<std::shared_mutex> g(fork_lock_);
        if (what < 34)
            op_cpu_write(t, r, b, rng);
        else if (what < 44)
            op_cpu_check(r, b);
        else if (what < 52)
            op_dev_write(t, q, r, b, false, scratch);
        else if (what < 60)
            op_dev_write(t, q, r, b, true, scratch);
        else if (what < 70)
            op_dev_read(q, r, b, scratch);
        else if (what < 78 && dmfd >= 0)
            op_dmirror(dmfd, r, b, rng() & 1, scratch);
        else if (what < 81 && dmfd >= 0 && r.name == "anon")
            op_exclusive(dmfd, r, b, scratch);
        else if (what < 86 && !huge)
            op_remap(r, b);
        else if (what < 91 && !huge)
            op_dontneed(r, b);
        else if (what < 96 && !huge)
            op_readonly(q, dmfd, r, b, scratch);
        else
            op_cpu_check(r, b);
        done();
    }
    if (dmfd >= 0)
        ::close(dmfd);
}

// Print the kernel stacks of every task of this process and the driver's
// state, then end the run: a hang is a failure.
void Storm::watchdog()
{
    uint64_t last = progress_;
    unsigned still = 0;
    while (!finished_) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        uint64_t now = progress_;
        still = now == last ? still + 1 : 0;
        last = now;
        if (still < opt_.watchdog)
            continue;
        std::fprintf(stderr, "storm: WATCHDOG: no progress for %u s (seed %" PRIu64 ")\n",
                     still, opt_.seed);
        if (DIR *d = ::opendir("/proc/self/task")) {
            while (dirent *e = ::readdir(d)) {
                if (e->d_name[0] == '.')
                    continue;
                std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stack");
                std::stringstream ss;
                ss << f.rdbuf();
                std::fprintf(stderr, "--- task %s\n%s", e->d_name, ss.str().c_str());
            }
            ::closedir(d);
        }
        std::string dbg = "/sys/kernel/debug/hmmdev/hmmdev" + std::to_string(opt_.device) + "/stats";   // the first device's
        std::ifstream f(dbg);
        std::stringstream ss;
        ss << f.rdbuf();
        std::fprintf(stderr, "--- %s\n%s", dbg.c_str(), ss.str().c_str());
        std::fflush(stderr);
        ::_exit(2);
    }
}

int Storm::run()
{
    map_regions();
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < opt_.threads; t++)
        ts.emplace_back([this, t] {
            try {
                worker(t);
            } catch (const std::exception &e) {
                tally_.fail(std::string("worker: ") + e.what());
            }
        });
    std::thread dog([this] { watchdog(); });
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(opt_.seconds);
    while (std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::lock_guard<std::mutex> g(tally_.lock);
        if (!tally_.failures.empty())
            break;
    }
    stop_ = true;
    for (auto &t : ts)
        t.join();       // the watchdog still watches: a worker stuck in the kernel
    finished_ = true;
    dog.join();
    // a last look at every page and counter
    for (auto &r : regions_)
        for (size_t b = 0; b < r.blocks(); b++)
            if (!r.unmapped[b])
                op_cpu_check(r, b);
    for (unsigned t = 0; t < opt_.threads; t++)
        if (std::memcmp(counters_ + t * kPage, counts_[t].data(), kPage))
            tally_.fail("DATA atomic counters of thread " + std::to_string(t));

    // the devices' counters, summed
    hmmdev::Stats st{};
    for (unsigned d = 0; d < opt_.devices; d++) {
        auto one = hmmdev::Device::open(opt_.device + d).stats(hmmdev::Scope::Device);
        for (const auto &f : hmmdev::kStatFields)
            st.*f.field += one.*f.field;
    }
    std::printf("{\"proc\": %u, \"seed\": %" PRIu64 ", \"seconds\": %u, \"ops\": {", proc_,
                opt_.seed, opt_.seconds);
    const char *sep = "";
    for (auto &[k, v] : tally_.ops) {
        std::printf("%s\"%s\": %" PRIu64, sep, k.c_str(), v);
        sep = ", ";
    }
    std::printf("}, \"errors\": {");
    sep = "";
    for (auto &[k, v] : tally_.errors) {
        std::printf("%s\"%s\": %" PRIu64, sep, k.c_str(), v);
        sep = ", ";
    }
    std::printf("}, \"driver\": {");
    sep = "";
    for (const auto &f : hmmdev::kStatFields) {
        std::printf("%s\"%s\": %" PRIu64, sep, f.name, static_cast<uint64_t>(st.*f.field));
        sep = ", ";
    }
    std::printf("}, \"failures\": [");
    sep = "";
    for (auto &f : tally_.failures) {
        std::printf("%s\"%s\"", sep, f.c_str());
        sep = ", ";
    }
    std::printf("]}\n");
    std::fflush(stdout);
    return tally_.failures.empty() ? 0 : 1;
}

int usage()
{
    std::fprintf(stderr, "usage: hmmdev-storm [--seed N] [--seconds S] [--threads T] [--procs P]\n"
                         "                    [--device N] [--devices K] [--dmirror PATH[,PATH...]]\n"
                         "                    [--watchdog S] [--no-fork]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    o.seed = std::random_device{}();
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto num = [&](auto &v) {
            if (i + 1 >= argc)
                return false;
            v = std::strtoull(argv[++i], nullptr, 0);
            return true;
        };
        bool ok = true;
        if (a == "--seed")
            ok = num(o.seed);
        else if (a == "--seconds")
            ok = num(o.seconds);
        else if (a == "--threads")
            ok = num(o.threads) && o.threads > 0;
        else if (a == "--procs")
            ok = num(o.procs) && o.procs > 0;
        else if (a == "--device")
            ok = num(o.device);
        else if (a == "--devices")
            ok = num(o.devices) && o.devices > 0;
        else if (a == "--watchdog")
            ok = num(o.watchdog);
        else if (a == "--dmirror" && i + 1 < argc) {
            std::string list = argv[++i];
            for (size_t s = 0, e; s <= list.size(); s = e + 1) {
                e = std::min(list.find(',', s), list.size());
                if (e > s)
                    o.dmirror.push_back(list.substr(s, e - s));
            }
        }
        else if (a == "--no-fork")
            o.fork = false;
        else
            ok = false;
        if (!ok)
            return usage();
    }
    std::fprintf(stderr, "hmmdev-storm: seed %" PRIu64 " (replay with --seed)\n", o.seed);
    std::vector<pid_t> kids;
    for (unsigned p = 1; p < o.procs; p++) {
        pid_t pid = ::fork();
        if (pid == 0) {
            Storm s(o, p);
            std::_Exit(s.run());
        }
        kids.push_back(pid);
    }
    int rc = 0;
    try {
        Storm s(o, 0);
        rc = s.run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "hmmdev-storm: %s\n", e.what());
        rc = 1;
    }
    for (pid_t k : kids) {
        int st = 0;
        ::waitpid(k, &st, 0);
        int krc = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
        rc = std::max(rc, krc);
    }
    return rc;
}
