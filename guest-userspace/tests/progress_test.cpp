// SPDX-License-Identifier: MIT
// Forward progress of the device fault path (docs/driver.md, "Forward
// progress"): a device access that the first hmm_range_fault() cannot grant
// is resolved before the REPLAY, never replayed forever.  The case: pages in
// device-private memory that fork() made read-only in both processes; a
// device write to them (a COPY, FILL or ATOMIC of the parent, or a WRITE
// through the test_hmm personality) must complete, and the child must keep
// its copy-on-write snapshot.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <random>
#include <thread>
#include <vector>
#include <cstring>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmirror_uapi.hpp"
#include "util.hpp"

using hmmdev::Command, hmmdev::Memory, hmmdev::Scope;
using namespace testutil;

namespace {

constexpr size_t kLen = 16 * kPage;
constexpr size_t kWords = kLen / 8;
constexpr auto kDeadline = std::chrono::seconds(30);   // TCG; the livelock never ends

void pattern(uint64_t *w, size_t words, uint64_t seed)
{
    for (size_t i = 0; i < words; i++)
        w[i] = (i * 0x9e3779b97f4a7c15ull) ^ seed;
}

bool has_pattern(const uint64_t *w, size_t words, uint64_t seed)
{
    for (size_t i = 0; i < words; i++)
        if (w[i] != ((i * 0x9e3779b97f4a7c15ull) ^ seed))
            return false;
    return true;
}

// A child that keeps the fork()ed snapshot of @p and checks it by CPU once
// the parent has written (a byte on the pipe); it exits 0 when intact.
class SnapshotChild {
public:
    SnapshotChild(const uint64_t *p, size_t words, uint64_t seed)
    {
        if (::pipe(fd_) != 0)
            throw hmmdev::Error(errno, "pipe");
        pid_ = ::fork();
        if (pid_ < 0)
            throw hmmdev::Error(errno, "fork");
        if (pid_ == 0) {
            char c;
            ::close(fd_[1]);
            if (::read(fd_[0], &c, 1) != 1)
                ::_exit(3);
            ::_exit(has_pattern(p, words, seed) ? 0 : 1);
        }
        ::close(fd_[0]);
    }
    // Let the child check; its exit status (0: snapshot intact).
    int check()
    {
        int st = 0;
        (void)!::write(fd_[1], "x", 1);
        ::close(fd_[1]);
        ::waitpid(pid_, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

private:
    int fd_[2] = {-1, -1};
    pid_t pid_ = -1;
};

class ProgressTest : public ::testing::Test {
protected:
    hmmdev::Device dev = hmmdev::Device::open(0);
    hmmdev::Queue &q = dev.create_queue();
    Mapping buf{kLen};
    uint64_t *w = buf.get<uint64_t>();

    void SetUp() override
    {
        if (dev.info().devmem_size == 0)
            GTEST_SKIP() << "no device memory";
        pattern(w, kWords, 1);
        auto m = dev.migrate(w, kLen, Memory::Device);
        ASSERT_EQ(m.migrated, kLen / kPage) << "the pages must start in device memory";
    }
    // Run @c with a deadline: it must complete, with no error.
    void must_complete(const Command &c)
    {
        hmmdev::Completion done{};
        int err = q.submit(c).try_wait(done, kDeadline);
        ASSERT_EQ(err, 0) << "the device write failed: " << std::strerror(-err)
                          << " (faults " << dev.stats(Scope::Context).faults << ", replays "
                          << dev.stats(Scope::Context).replays << ")";
    }
};

// A device FILL over device-private pages shared read-only with a child.
TEST_F(ProgressTest, FillAfterForkOfDevicePages)
{
    SnapshotChild child(w, kWords, 1);
    must_complete(Command::fill(w, 0x5a5a5a5a5a5a5a5aull, kLen));
    for (size_t i = 0; i < kWords; i++)
        ASSERT_EQ(w[i], 0x5a5a5a5a5a5a5a5aull) << "word " << i;
    EXPECT_EQ(child.check(), 0) << "the child's copy-on-write snapshot changed";
}

// A device COPY into them, from a buffer of the parent's.
TEST_F(ProgressTest, CopyAfterForkOfDevicePages)
{
    Mapping src(kLen);
    pattern(src.get<uint64_t>(), kWords, 2);
    SnapshotChild child(w, kWords, 1);
    must_complete(Command::copy(w, src.get(), kLen));
    EXPECT_TRUE(has_pattern(w, kWords, 2));
    EXPECT_EQ(child.check(), 0);
}

// A device ATOMIC on one of them (an atomic needs write access too).
TEST_F(ProgressTest, AtomicAfterForkOfDevicePages)
{
    // not read from w[]: a CPU access would migrate the page back first
    uint64_t before = (3 * 0x9e3779b97f4a7c15ull) ^ 1;
    SnapshotChild child(w, kWords, 1);
    must_complete(Command::atomic_add(&w[3], 5));
    EXPECT_EQ(w[3], before + 5);
    EXPECT_EQ(child.check(), 0);
}

// The safety net: with the fix-up switched off (fault_grant=N, for tests),
// the same write makes no progress; it is cancelled with ELOOP after
// max_fault_rounds rounds instead of faulting forever, and changes nothing.
TEST_F(ProgressTest, StuckCommandIsCancelledWithEloop)
{
    std::ifstream grant("/sys/module/hmmdev/parameters/fault_grant");
    std::string on;
    if (!(grant >> on) || on != "N")
        GTEST_SKIP() << "run with /sys/module/hmmdev/parameters/fault_grant = N";
    auto s0 = dev.stats(Scope::Context);
    SnapshotChild child(w, kWords, 1);
    hmmdev::Completion done{};
    int err = q.submit(Command::fill(w, 0x5a5a5a5a5a5a5a5aull, kLen)).try_wait(done, kDeadline);
    EXPECT_EQ(err, -ELOOP) << std::strerror(-err);
    auto s1 = dev.stats(Scope::Context);
    EXPECT_EQ(s1.stuck_cancels - s0.stuck_cancels, 1u);
    EXPECT_EQ(s1.grant_faults, s0.grant_faults);
    EXPECT_TRUE(has_pattern(w, kWords, 1)) << "a cancelled command wrote";
    EXPECT_EQ(child.check(), 0);
}

// The test_hmm personality (hmmdev.ko dmirror=1): MIGRATE_TO_DEV, fork(),
// then HMM_DMIRROR_WRITE, the case the kernel's test_hmm answers with -EFAULT.
TEST(ProgressDmirrorTest, WriteAfterForkOfDevicePages)
{
    int fd = ::open("/dev/hmm_dmirror0", O_RDWR);
    if (fd < 0)
        GTEST_SKIP() << "no /dev/hmm_dmirror0 (hmmdev.ko dmirror=1)";
    Mapping m(kLen), in(kLen);
    uint64_t *p = m.get<uint64_t>();
    pattern(p, kWords, 1);
    dmirror::cmd c{reinterpret_cast<uint64_t>(p), reinterpret_cast<uint64_t>(p), kLen / kPage, 0, 0};
    ASSERT_EQ(::ioctl(fd, dmirror::MIGRATE_TO_DEV, &c), 0) << std::strerror(errno);
    SnapshotChild child(p, kWords, 1);
    pattern(in.get<uint64_t>(), kWords, 3);
    c = {reinterpret_cast<uint64_t>(p), reinterpret_cast<uint64_t>(in.get()), kLen / kPage, 0, 0};
    ::alarm(60);    // before the fix the WRITE never returns: end the test instead
    ASSERT_EQ(::ioctl(fd, dmirror::WRITE, &c), 0) << std::strerror(errno);
    ::alarm(0);
    EXPECT_EQ(c.cpages, kLen / kPage);
    EXPECT_TRUE(has_pattern(p, kWords, 3));
    EXPECT_EQ(child.check(), 0);
    ::close(fd);
}

// The mix that livelocked (issue 11): in one region, two threads WRITE and
// READ their own blocks through the personality and check every byte, one
// migrates random ranges to the device and back, one forks now and then, and
// its child checks that its snapshot is whole (every page as one WRITE left
// it).  Every ioctl must finish or fail cleanly, within the watchdog.
TEST(ProgressDmirrorTest, ForkAndMigrateMix)
{
    constexpr size_t kBlockPages = 16, kBlocks = 32, kBlock = kBlockPages * kPage;
    constexpr auto kRun = std::chrono::seconds(8);
    int fd = ::open("/dev/hmm_dmirror0", O_RDWR);
    if (fd < 0)
        GTEST_SKIP() << "no /dev/hmm_dmirror0 (hmmdev.ko dmirror=1)";
    Mapping region(kBlocks * kBlock);
    char *base = region.get<char>();
    // word = page number << 32 | generation: a page is whole when all its words agree
    auto fill_block = [&](uint64_t *buf, size_t block, uint32_t gen) {
        for (size_t pg = 0; pg < kBlockPages; pg++)
            for (size_t i = 0; i < kPage / 8; i++)
                buf[pg * kPage / 8 + i] = uint64_t(block * kBlockPages + pg) << 32 | gen;
    };
    auto page_whole = [](const uint64_t *pg, uint64_t number) {
        for (size_t i = 0; i < kPage / 8; i++)
            if (pg[i] != pg[0] || (pg[i] >> 32) != number)
                return false;
        return true;
    };
    for (size_t b = 0; b < kBlocks; b++)
        fill_block(reinterpret_cast<uint64_t *>(base + b * kBlock), b, 0);

    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::atomic<uint64_t> writes{0}, migrations{0}, forks{0};
    std::vector<std::string> errors(4);
    ::alarm(120);   // a hang ends the test, whatever is stuck
    auto writer = [&](int t) {
        std::mt19937_64 rng(t);
        std::vector<uint64_t> out(kBlock / 8), back(kBlock / 8);
        std::vector<uint32_t> gen(kBlocks, 0);
        for (uint32_t g = 1; !stop; g++) {
            size_t b = t * kBlocks / 2 + rng() % (kBlocks / 2);
            fill_block(out.data(), b, g);
            dmirror::cmd c{reinterpret_cast<uint64_t>(base + b * kBlock),
                           reinterpret_cast<uint64_t>(out.data()), kBlockPages, 0, 0};
            if (::ioctl(fd, dmirror::WRITE, &c) != 0) {
                errors[t] = std::string("WRITE: ") + std::strerror(errno);
                bad++;
                return;
            }
            c.ptr = reinterpret_cast<uint64_t>(back.data());
            if (::ioctl(fd, dmirror::READ, &c) != 0 || back != out) {
                errors[t] = "READ after WRITE differs or failed";
                bad++;
                return;
            }
            writes++;
        }
    };
    auto migrator = [&] {
        std::mt19937_64 rng(7);
        while (!stop) {
            size_t first = rng() % (kBlocks * kBlockPages), n = 1 + rng() % 64;
            n = std::min(n, kBlocks * kBlockPages - first);
            dmirror::cmd c{reinterpret_cast<uint64_t>(base + first * kPage), 0, n, 0, 0};
            std::vector<uint64_t> scratch(n * kPage / 8);
            c.ptr = reinterpret_cast<uint64_t>(scratch.data());
            // busy or partially moved ranges fail cleanly (EBUSY, ENOENT): fine
            (void)::ioctl(fd, rng() & 1 ? dmirror::MIGRATE_TO_DEV : dmirror::MIGRATE_TO_SYS, &c);
            migrations++;
        }
    };
    auto forker = [&] {
        while (!stop) {
            pid_t pid = ::fork();
            if (pid == 0) {
                for (size_t pg = 0; pg < kBlocks * kBlockPages; pg++)
                    if (!page_whole(reinterpret_cast<uint64_t *>(base + pg * kPage), pg))
                        ::_exit(1);
                ::_exit(0);
            }
            int st = 0;
            ::waitpid(pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                errors[3] = "a child's snapshot is not whole";
                bad++;
            }
            forks++;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    };
    std::vector<std::thread> ts;
    ts.emplace_back(writer, 0);
    ts.emplace_back(writer, 1);
    ts.emplace_back(migrator);
    ts.emplace_back(forker);
    auto end = std::chrono::steady_clock::now() + kRun;
    while (std::chrono::steady_clock::now() < end && !bad)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
    for (auto &t : ts)
        t.join();
    ::alarm(0);
    ::close(fd);
    for (auto &e : errors)
        EXPECT_EQ(e, "");
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(writes.load(), 10u);
    EXPECT_GT(migrations.load(), 10u);
    EXPECT_GT(forks.load(), 3u);
    std::printf("mix: %llu writes, %llu migrations, %llu forks\n",
                (unsigned long long)writes.load(), (unsigned long long)migrations.load(),
                (unsigned long long)forks.load());
}

} // namespace
