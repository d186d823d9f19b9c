// SPDX-License-Identifier: MIT
// Guest-side tests of device-private memory: migration both ways by the copy
// engine, CPU-fault migration back, ordering of the device TLB invalidation
// against the copy, atomics racing with migration, memory that cannot
// migrate, bad arguments, process exit during migration, and (in a VM with
// small device memory) oversubscription with LRU eviction and all device
// memory pinned.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.hpp"

using namespace testutil;
using hmmdev::Command;
using hmmdev::Memory;
using hmmdev::Scope;

namespace {

constexpr size_t k1M = 1 << 20;

class MigrateTest : public ::testing::Test {
protected:
    hmmdev::Device dev = hmmdev::Device::open(0);
    hmmdev::Queue &q = dev.create_queue();

    void SetUp() override
    {
        if (dev.info().devmem_size == 0)
            FAIL() << "the device has no device memory";
    }
    int count_devmem_ptes()
    {
        std::string dump = debugfs_ctx(dev, "pagetable");
        int n = 0;
        for (size_t p = 0; (p = dump.find(" dev 0x", p)) != std::string::npos; p++)
            n++;
        return n;
    }
    static void pattern(uint64_t *w, size_t words, uint64_t seed)
    {
        for (size_t i = 0; i < words; i++)
            w[i] = (i * 0x9e3779b97f4a7c15ull) ^ seed;
    }
    static uint64_t sum(const uint64_t *w, size_t words)
    {
        uint64_t s = 0;
        for (size_t i = 0; i < words; i++)
            s += w[i];
        return s;
    }
};

// To device and back: the data survives both copies, the device computes on
// device memory through DEVMEM PTEs, and the counters say what moved.
TEST_F(MigrateTest, ToDeviceAndBack)
{
    const size_t len = 4 * k1M, words = len / 8, pages = len / kPage;
    Mapping m(len);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 1);
    const uint64_t expect = sum(w, words);
    auto s0 = dev.stats(), d0 = dev.stats(Scope::Device);

    auto r = dev.migrate(w, len, Memory::Device);
    EXPECT_EQ(r.migrated, pages);
    EXPECT_EQ(r.skipped, 0u);
    EXPECT_EQ(q.run(Command::sum64(w, len)), expect);
    EXPECT_EQ(count_devmem_ptes(), static_cast<int>(pages));
    // the device writes device memory
    q.run(Command::fill(w, 0x5a5a5a5a5a5a5a5aull, len / 2));
    auto s1 = dev.stats();
    EXPECT_EQ(s1.migrated_to_dev - s0.migrated_to_dev, pages);

    // a second prefetch finds everything in place
    r = dev.migrate(w, len, Memory::Device);
    EXPECT_EQ(r.migrated, 0u);

    r = dev.migrate(w, len, Memory::System);
    EXPECT_EQ(r.migrated, pages);
    EXPECT_EQ(r.skipped, 0u);
    EXPECT_EQ(count_devmem_ptes(), 0);
    auto s2 = dev.stats(), d2 = dev.stats(Scope::Device);
    EXPECT_EQ(s2.migrated_to_sys - s1.migrated_to_sys, pages);
    EXPECT_GE(d2.migrated_to_dev - d0.migrated_to_dev, pages);
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 1);
    for (size_t i = 0; i < words / 2; i++)
        ASSERT_EQ(w[i], 0x5a5a5a5a5a5a5a5aull) << i;
    for (size_t i = words / 2; i < words; i++)
        ASSERT_EQ(w[i], ref[i]) << i;
}

// Never-touched anonymous pages migrate as zero pages.
TEST_F(MigrateTest, UntouchedPagesArriveZeroed)
{
    const size_t len = k1M;
    Mapping m(len);
    auto r = dev.migrate(m.get(), len, Memory::Device);
    EXPECT_EQ(r.migrated, len / kPage);
    EXPECT_EQ(q.run(Command::sum64(m.get<uint64_t>(), len)), 0u);
    q.run(Command::fill(m.get(), 7, len));
    for (size_t i = 0; i < len / 8; i++)
        ASSERT_EQ(m.get<uint64_t>()[i], 7u) << i;
}

// A CPU access to a page in device memory migrates it back (migrate_to_ram).
TEST_F(MigrateTest, CpuFaultMigratesBack)
{
    const size_t len = k1M, words = len / 8, pages = len / kPage;
    Mapping m(len);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 2);
    ASSERT_EQ(dev.migrate(w, len, Memory::Device).migrated, pages);
    q.run(Command::fill(w + 100 * kPage / 8, 0x77, kPage));
    auto d0 = dev.stats(Scope::Device);

    // CPU reads and writes: correct data, pages come back
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 2);
    EXPECT_EQ(w[5 * kPage / 8 + 3], ref[5 * kPage / 8 + 3]);
    EXPECT_EQ(w[100 * kPage / 8], 0x77u);
    w[200 * kPage / 8] = 42;
    auto d1 = dev.stats(Scope::Device);
    EXPECT_GE(d1.migrated_to_sys - d0.migrated_to_sys, 3u);
    EXPECT_LT(d1.migrated_to_sys - d0.migrated_to_sys, pages);

    // the device sees the CPU's write, then everything comes back
    EXPECT_EQ(q.run(Command::sum64(w + 200 * kPage / 8, 8)), 42u);
    auto r = dev.migrate(w, len, Memory::System);
    EXPECT_EQ(r.migrated + (d1.migrated_to_sys - d0.migrated_to_sys), pages);
    for (size_t i = 0; i < words; i++) {
        uint64_t want = i == 200 * kPage / 8 ? 42 : ref[i];
        if (i >= 100 * kPage / 8 && i < 101 * kPage / 8)
            want = 0x77;
        ASSERT_EQ(w[i], want) << i;
    }
}

// The migration clears and invalidates the device's translations of the
// source pages before the copy engine reads them: a device write after the
// migration lands in device memory (a stale PTE would send it to the freed
// system page), and the trace shows the invalidation before the migration.
TEST_F(MigrateTest, InvalidateBeforeCopy)
{
    const size_t len = 256 * kPage;
    Mapping m(len);
    q.run(Command::fill(m.get(), 0x1111111111111111ull, len));   // system pages mapped by DMA
    std::string tr = "/sys/kernel/tracing";
    if (access((tr + "/trace").c_str(), W_OK) != 0)
        tr = "/sys/kernel/debug/tracing";
    auto echo = [&](const std::string &f, const std::string &v) {
        int fd = ::open((tr + "/" + f).c_str(), O_WRONLY | O_TRUNC);
        ASSERT_GE(fd, 0) << f;
        ASSERT_EQ(::write(fd, v.data(), v.size()), static_cast<ssize_t>(v.size()));
        ::close(fd);
    };
    echo("events/hmmdev/hmmdev_invalidate/enable", "1");
    echo("events/hmmdev/hmmdev_migrate/enable", "1");
    echo("trace", "");
    auto inv0 = dev.stats().invalidations;
    ASSERT_EQ(dev.migrate(m.get(), len, Memory::Device).migrated, len / kPage);
    std::string t = read_file(tr + "/trace");
    echo("events/hmmdev/hmmdev_invalidate/enable", "0");
    echo("events/hmmdev/hmmdev_migrate/enable", "0");
    EXPECT_GT(dev.stats().invalidations, inv0);

    char range[80];
    snprintf(range, sizeof(range), "asid=%u [0x%lx, 0x%lx)", dev.info().asid,
             reinterpret_cast<unsigned long>(m.get()),
             reinterpret_cast<unsigned long>(m.get()) + len);
    size_t inv = t.find(std::string("hmmdev_invalidate: ") + range + " event=6 pages=256");
    size_t mig = t.find(std::string("hmmdev_migrate: ") + range + " to device pages=256");
    ASSERT_NE(inv, std::string::npos) << t;
    ASSERT_NE(mig, std::string::npos) << t;
    EXPECT_LT(inv, mig);

    q.run(Command::fill(m.get(), 0x2222222222222222ull, len));
    ASSERT_EQ(dev.migrate(m.get(), len, Memory::System).migrated, len / kPage);
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(m.get()[i], 0x22) << i;
}

// One queue adds atomically while another thread migrates the same buffer
// back and forth: no add is lost.
TEST_F(MigrateTest, AtomicsWhileMigrating)
{
    const size_t pages = 16, len = pages * kPage;
    Mapping m(len);
    auto *w = m.get<uint64_t>();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> moved{0};
    std::thread mig([&] {
        while (!stop) {
            moved += dev.migrate(w, len, Memory::Device).migrated;
            moved += dev.migrate(w, len, Memory::System).migrated;
        }
    });
    const int rounds = 40, batch = 200;
    for (int r = 0; r < rounds; r++) {
        std::vector<Command> cmds;
        for (int i = 0; i < batch; i++)
            cmds.push_back(Command::atomic_add(w + (i % pages) * kPage / 8, 1 + (i & 1)));
        q.submit(cmds).wait(std::chrono::seconds(60));
    }
    stop = true;
    mig.join();
    EXPECT_GT(moved.load(), 2 * pages);
    uint64_t total = 0;
    for (size_t p = 0; p < pages; p++)
        total += w[p * kPage / 8];
    EXPECT_EQ(total, static_cast<uint64_t>(rounds) * (batch / 2) * 3);
}

// File-backed and shmem memory cannot migrate: it stays in system memory,
// mirrored, and the counters say so.
TEST_F(MigrateTest, FileAndShmemStayInSystem)
{
    const size_t len = 64 * kPage;
    int mfd = memfd_create("hmmdev-shmem", 0);
    ASSERT_GE(mfd, 0);
    ASSERT_EQ(ftruncate(mfd, len), 0);
    Mapping shm(len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd);
    memset(shm.get(), 0x33, len);
    char path[] = "/var/tmp/hmmdev-migrate-XXXXXX";
    int ffd = mkstemp(path);
    if (ffd < 0) {
        strcpy(path, "/tmp/hmmdev-migrate-XXXXXX");
        ffd = mkstemp(path);
    }
    ASSERT_GE(ffd, 0);
    unlink(path);
    ASSERT_EQ(ftruncate(ffd, len), 0);
    Mapping file(len, PROT_READ | PROT_WRITE, MAP_SHARED, ffd);
    memset(file.get(), 0x44, len);
    auto s0 = dev.stats();

    auto r = dev.migrate(shm.get(), len, Memory::Device);
    EXPECT_EQ(r.migrated, 0u);
    EXPECT_EQ(r.skipped, len / kPage);
    r = dev.migrate(file.get(), len, Memory::Device);
    EXPECT_EQ(r.migrated, 0u);
    EXPECT_EQ(r.skipped, len / kPage);
    auto s1 = dev.stats();
    EXPECT_EQ(s1.migrate_skipped - s0.migrate_skipped, 2 * len / kPage);
    EXPECT_EQ(s1.migrated_to_dev, s0.migrated_to_dev);
    // still mirrored: the device works on it in place
    q.run(Command::copy(file.get(), shm.get(), len));
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(file.get()[i], 0x33) << i;
    EXPECT_EQ(count_devmem_ptes(), 0);
    close(mfd);
    close(ffd);
}

TEST_F(MigrateTest, BadArguments)
{
    Mapping m(4 * kPage);
    auto call = [&](auto edit) {
        hmmdev_migrate a{};
        a.size = sizeof(a);
        a.addr = reinterpret_cast<uint64_t>(m.get());
        a.len = 4 * kPage;
        a.target = HMMDEV_MEM_DEVICE;
        edit(a);
        return raw_ioctl(dev.fd(), HMMDEV_IOC_MIGRATE, &a);
    };
    EXPECT_EQ(call([](hmmdev_migrate &) {}), 0);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.addr += 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.len = 100; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.len = 0; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.target = 2; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.flags = 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.pad0 = 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.migrated = 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.size = 8; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.addr = 1ull << 48; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.addr = 0x1000; }), EFAULT);
    EXPECT_EQ(call([](hmmdev_migrate &a) { a.target = HMMDEV_MEM_SYSTEM; }), 0);
}

// A process killed while it migrates: no hang, its device pages are freed,
// and the device keeps working.
TEST_F(MigrateTest, ExitDuringMigration)
{
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto d = hmmdev::Device::open(0);
            const size_t len = 16 * k1M;
            Mapping c(len);
            memset(c.get(), 0x5c, len);
            for (;;) {
                d.migrate(c.get(), len, Memory::Device);
                d.migrate(c.get(), len, Memory::System);
            }
        }
        usleep(300000 + round * 200000);
        kill(pid, SIGKILL);
        int st;
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(st));
    }
    const size_t len = 4 * k1M;
    Mapping m(len);
    memset(m.get(), 0x3c, len);
    EXPECT_EQ(dev.migrate(m.get(), len, Memory::Device).migrated, len / kPage);
    EXPECT_EQ(q.run(Command::sum64(m.get<uint64_t>(), len)),
              0x3c3c3c3c3c3c3c3cull * (len / 8));
}

// Closing the file brings the context's device pages back: the data stays.
TEST_F(MigrateTest, CloseMigratesBack)
{
    const size_t len = k1M;
    Mapping m(len);
    memset(m.get(), 0x6b, len);
    {
        auto d = hmmdev::Device::open(0);
        ASSERT_EQ(d.migrate(m.get(), len, Memory::Device).migrated, len / kPage);
        auto before = dev.stats(Scope::Device).migrated_to_sys;
        d = hmmdev::Device::open(0);    // the first context is released here
        EXPECT_EQ(dev.stats(Scope::Device).migrated_to_sys - before, len / kPage);
    }
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(m.get()[i], 0x6b) << i;
}

// Oversubscription (run in a VM with small device memory): a working set of
// 150 % of device memory streams through it; a hot set the device keeps
// using is never evicted; every byte survives.
TEST_F(MigrateTest, OversubscriptionKeepsHotSet)
{
    const size_t devmem = dev.info().devmem_size;
    if (devmem > 128 * k1M)
        GTEST_SKIP() << "needs a device with <= 128 MiB (devmem-size)";
    const size_t len = devmem / 2 * 3, words = len / 8;
    const size_t hot = 2 * k1M, chunk = 4 * k1M;
    Mapping m(len);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 3);
    const uint64_t expect = sum(w, words);
    const uint64_t hot_sum = sum(w, hot / 8);
    auto d0 = dev.stats(Scope::Device);
    auto c0 = dev.stats(Scope::Context);

    ASSERT_EQ(dev.migrate(w, hot, Memory::Device).migrated, hot / kPage);
    EXPECT_EQ(q.run(Command::sum64(w, hot)), hot_sum);
    uint64_t moved = hot / kPage;
    for (size_t off = hot; off < len; off += chunk) {
        size_t n = std::min(chunk, len - off);
        moved += dev.migrate(reinterpret_cast<uint8_t *>(w) + off, n, Memory::Device).migrated;
        ASSERT_EQ(q.run(Command::sum64(w, hot)), hot_sum) << off;
    }
    auto d1 = dev.stats(Scope::Device);
    auto c1 = dev.stats(Scope::Context);
    EXPECT_EQ(moved, len / kPage);
    EXPECT_GE(d1.evictions - d0.evictions, (len - devmem) / kPage);
    // every page evicted was this context's, and is counted against it
    EXPECT_EQ(c1.evictions - c0.evictions, d1.evictions - d0.evictions);
    // the device reads everything, wherever it is
    EXPECT_EQ(q.run(Command::sum64(w, len)), expect);
    // the hot set was never evicted: all of it is still in device memory
    EXPECT_EQ(dev.migrate(w, hot, Memory::System).migrated, hot / kPage);
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 3);
    for (size_t i = 0; i < words; i++)
        ASSERT_EQ(w[i], ref[i]) << i;
}

// One request larger than device memory: it evicts its own earlier pages
// and still moves every page; device memory being exhausted is not an error.
TEST_F(MigrateTest, SingleRequestLargerThanDeviceMemory)
{
    const size_t devmem = dev.info().devmem_size;
    if (devmem > 128 * k1M)
        GTEST_SKIP() << "needs a device with <= 128 MiB (devmem-size)";
    const size_t len = devmem / 2 * 3, words = len / 8;
    Mapping m(len);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 4);
    auto d0 = dev.stats(Scope::Device);
    auto r = dev.migrate(w, len, Memory::Device);
    EXPECT_EQ(r.migrated + r.skipped, len / kPage);
    EXPECT_GE(r.migrated, devmem / kPage);
    EXPECT_GT(dev.stats(Scope::Device).evictions, d0.evictions);
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 4);
    for (size_t i = 0; i < words; i++)
        ASSERT_EQ(w[i], ref[i]) << i;
}

// Placement policy "device, migrate on fault": the device's first touch
// migrates the pages its command needs to device memory before they are
// mirrored, so they get DEVMEM PTEs; the data survives both ways.
TEST_F(MigrateTest, PolicyMigrateOnFault)
{
    const size_t len = k1M, words = len / 8, pages = len / kPage;
    Mapping m = Mapping::aligned(len, 2 * k1M);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 5);
    const uint64_t expect = sum(w, words);
    auto s0 = dev.stats();

    dev.set_policy(w, len, Memory::Device, true);
    EXPECT_EQ(dev.stats().migrated_to_dev, s0.migrated_to_dev);  // sets, never moves
    EXPECT_EQ(q.run(Command::sum64(w, len)), expect);
    auto s1 = dev.stats();
    EXPECT_EQ(s1.migrated_to_dev - s0.migrated_to_dev, pages);
    EXPECT_EQ(s1.migrate_skipped, s0.migrate_skipped);
    EXPECT_GE(s1.faults - s0.faults, 1u);
    EXPECT_EQ(count_devmem_ptes(), static_cast<int>(pages));
    EXPECT_NE(debugfs_ctx(dev, "policy").find(" device migrate-on-fault"), std::string::npos);
    // already in device memory: a prefetch finds nothing to move
    EXPECT_EQ(dev.migrate(w, len, Memory::Device).migrated, 0u);
    // the device writes device memory; the CPU reads it back (migrate_to_ram)
    q.run(Command::fill(w, 0x1234, len / 2));
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 5);
    for (size_t i = 0; i < words; i++)
        ASSERT_EQ(w[i], i < words / 2 ? 0x1234u : ref[i]) << i;
}

// Never-touched pages under the policy land directly in device memory.
TEST_F(MigrateTest, PolicyFirstTouchOnDevice)
{
    const size_t len = 256 * kPage;
    Mapping m = Mapping::aligned(len, 2 * k1M);
    auto s0 = dev.stats();
    dev.set_policy(m.get(), len, Memory::Device, true);
    q.run(Command::fill(m.get(), 9, len));
    EXPECT_EQ(dev.stats().migrated_to_dev - s0.migrated_to_dev, len / kPage);
    EXPECT_EQ(count_devmem_ptes(), static_cast<int>(len / kPage));
    for (size_t i = 0; i < len / 8; i++)
        ASSERT_EQ(m.get<uint64_t>()[i], 9u) << i;
}

// Without migrate-on-fault (or after the policy is reset) faults mirror in
// place; only the part of a range that has the policy migrates.
TEST_F(MigrateTest, PolicyOffDoesNotMigrate)
{
    const size_t len = 512 * kPage, pages = len / kPage;
    Mapping m = Mapping::aligned(len, 2 * k1M);
    auto *w = m.get<uint64_t>();
    pattern(w, len / 8, 6);
    const uint64_t expect = sum(w, len / 8);
    auto s0 = dev.stats();
    dev.set_policy(w, len, Memory::Device, false);
    EXPECT_EQ(q.run(Command::sum64(w, len)), expect);
    EXPECT_EQ(dev.stats().migrated_to_dev, s0.migrated_to_dev);
    EXPECT_EQ(count_devmem_ptes(), 0);

    // policy on the second half only, then back to the default on a part of it
    Mapping m2 = Mapping::aligned(len, 2 * k1M);
    auto *w2 = m2.get<uint64_t>();
    pattern(w2, len / 8, 7);
    const uint64_t expect2 = sum(w2, len / 8);
    dev.set_policy(w2 + len / 16, len / 2, Memory::Device, true);
    dev.set_policy(w2 + len / 16, 16 * kPage, Memory::System, false);
    std::string pol = debugfs_ctx(dev, "policy");
    EXPECT_EQ(std::count(pol.begin(), pol.end(), '\n'), 2) << pol;  // m's and m2's
    auto s1 = dev.stats();
    EXPECT_EQ(q.run(Command::sum64(w2, len)), expect2);
    EXPECT_EQ(dev.stats().migrated_to_dev - s1.migrated_to_dev, pages / 2 - 16);
    EXPECT_EQ(count_devmem_ptes(), static_cast<int>(pages / 2 - 16));
}

// File-backed and shmem memory under the policy stays mirrored in system
// memory, and the fault path counts it as skipped.
TEST_F(MigrateTest, PolicyFileStaysInSystem)
{
    const size_t len = 32 * kPage;
    char path[] = "/var/tmp/hmmdev-policy-XXXXXX";
    int ffd = mkstemp(path);
    if (ffd < 0) {
        strcpy(path, "/tmp/hmmdev-policy-XXXXXX");
        ffd = mkstemp(path);
    }
    ASSERT_GE(ffd, 0);
    unlink(path);
    ASSERT_EQ(ftruncate(ffd, len), 0);
    Mapping file(len, PROT_READ | PROT_WRITE, MAP_SHARED, ffd);
    memset(file.get(), 0x21, len);
    auto s0 = dev.stats();
    dev.set_policy(file.get(), len, Memory::Device, true);
    q.run(Command::fill(file.get(), 0x5555555555555555ull, len));
    auto s1 = dev.stats();
    EXPECT_EQ(s1.migrated_to_dev, s0.migrated_to_dev);
    EXPECT_GE(s1.migrate_skipped - s0.migrate_skipped, len / kPage);
    EXPECT_EQ(count_devmem_ptes(), 0);
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(file.get()[i], 0x55) << i;
    close(ffd);
}

TEST_F(MigrateTest, PolicyBadArguments)
{
    Mapping m(4 * kPage);
    auto call = [&](auto edit) {
        hmmdev_policy a{};
        a.size = sizeof(a);
        a.addr = reinterpret_cast<uint64_t>(m.get());
        a.len = 4 * kPage;
        a.preferred_location = HMMDEV_MEM_DEVICE;
        a.migrate_on_fault = 1;
        edit(a);
        return raw_ioctl(dev.fd(), HMMDEV_IOC_SET_POLICY, &a);
    };
    EXPECT_EQ(call([](hmmdev_policy &) {}), 0);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.addr += 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.len = 100; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.len = 0; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.preferred_location = 2; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.migrate_on_fault = 2; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.flags = 1; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.size = 8; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.size = 4097; }), EINVAL);
    // the VA limit: ending at 2^48 is fine, beyond it or starting there is not
    EXPECT_EQ(call([](hmmdev_policy &a) { a.addr = (1ull << 48) - 4 * kPage; }), 0);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.addr = 1ull << 48; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.addr = (1ull << 48) - kPage; }), EINVAL);
    EXPECT_EQ(call([](hmmdev_policy &a) { a.addr = ~0ull << 12; }), EINVAL);
    // a larger struct with a non-zero tail
    struct {
        hmmdev_policy p;
        uint64_t tail;
    } big{};
    big.p.size = sizeof(big);
    big.p.addr = reinterpret_cast<uint64_t>(m.get());
    big.p.len = kPage;
    big.tail = 1;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_SET_POLICY, &big), E2BIG);
    big.tail = 0;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_SET_POLICY, &big), 0);
    EXPECT_EQ(big.p.size, sizeof(hmmdev_policy));
    // the migrate ioctl at the same limit
    hmmdev_migrate mg{};
    mg.size = sizeof(mg);
    mg.addr = (1ull << 48) - kPage;
    mg.len = 2 * kPage;
    mg.target = HMMDEV_MEM_DEVICE;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_MIGRATE, &mg), EINVAL);
    mg.len = kPage;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_MIGRATE, &mg), EFAULT);  // nothing mapped there
}

// Migrate-on-fault over more than device memory: the fault worker evicts
// (LRU) to make room; every page is right afterwards.
TEST_F(MigrateTest, PolicyBeyondDeviceMemory)
{
    const size_t devmem = dev.info().devmem_size;
    if (devmem > 128 * k1M)
        GTEST_SKIP() << "needs a device with <= 128 MiB (devmem-size)";
    const size_t len = devmem / 2 * 3, words = len / 8;
    Mapping m = Mapping::aligned(len, 2 * k1M);
    auto *w = m.get<uint64_t>();
    pattern(w, words, 8);
    auto d0 = dev.stats(Scope::Device);
    auto s0 = dev.stats();
    dev.set_policy(w, len, Memory::Device, true);
    const size_t chunk = 2 * k1M;
    for (size_t off = 0; off < len; off += chunk)
        ASSERT_EQ(q.run(Command::sum64(w + off / 8, chunk)), sum(w + off / 8, chunk / 8)) << off;
    auto s1 = dev.stats();
    EXPECT_GE(s1.migrated_to_dev - s0.migrated_to_dev, devmem / kPage);
    EXPECT_GT(dev.stats(Scope::Device).evictions, d0.evictions);
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 8);
    for (size_t i = 0; i < words; i++)
        ASSERT_EQ(w[i], ref[i]) << i;
}

} // namespace

// All device memory pinned (run in a VM with one small device in coherent
// mode, tests/vm/test_robustness.py): the CPU maps coherent device memory
// directly, so vmsplice() can hold short-term pins on every device page.
// Nothing can be evicted then: a migration to the device moves nothing,
// reports every page skipped, and returns at once; once the pins go, the
// same request evicts and moves everything.
TEST_F(MigrateTest, AllDeviceMemoryPinned)
{
    const size_t devmem = dev.info().devmem_size;
    std::string iomem = read_file("/proc/iomem");
    if (devmem > 8 * k1M || iomem.find("hmmdev-coherent") == std::string::npos)
        GTEST_SKIP() << "needs a coherent device (coherent=) with <= 8 MiB (devmem-size)";
    const size_t words = devmem / 8;
    Mapping held(devmem), other(k1M);
    pattern(held.get<uint64_t>(), words, 7);
    pattern(other.get<uint64_t>(), k1M / 8, 8);
    ASSERT_EQ(dev.migrate(held.get(), devmem, Memory::Device).migrated, devmem / kPage);

    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(fcntl(p[1], F_SETPIPE_SZ, int(devmem)), int(devmem)) << strerror(errno);
    iovec iov{held.get(), devmem};
    ASSERT_EQ(vmsplice(p[1], &iov, 1, 0), ssize_t(devmem)) << strerror(errno);

    auto r = dev.migrate(other.get(), k1M, Memory::Device);
    EXPECT_EQ(r.migrated, 0u);
    EXPECT_EQ(r.skipped, k1M / kPage);
    // the pinned pages are intact and still in device memory
    EXPECT_EQ(q.run(Command::sum64(held.get<uint64_t>(), devmem)), sum(held.get<uint64_t>(), words));

    close(p[0]);
    close(p[1]);
    r = dev.migrate(other.get(), k1M, Memory::Device);
    EXPECT_EQ(r.migrated, k1M / kPage);
    std::vector<uint64_t> ref(words);
    pattern(ref.data(), words, 7);
    EXPECT_EQ(memcmp(held.get(), ref.data(), devmem), 0);
}
