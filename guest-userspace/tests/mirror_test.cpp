// SPDX-License-Identifier: MIT
// Guest-side tests of device faults and address-space mirroring (HMM):
// memory kinds, access errors, invalidation, fork/COW, isolation, atomics.
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "util.hpp"

using namespace testutil;
using hmmdev::Command;

namespace {

constexpr size_t k2M = 2 << 20;

class MirrorTest : public ::testing::Test {
protected:
    hmmdev::Device dev = hmmdev::Device::open(0);
    hmmdev::Queue &q = dev.create_queue();

    int command_errno(const Command &c)
    {
        hmmdev::Completion comp;
        return -q.submit(c).try_wait(comp, std::chrono::seconds(20));
    }
    // Number of device PTEs of a size in this context's page table dump.
    int count_ptes(const std::string &size)
    {
        std::string dump = debugfs_ctx(dev, "pagetable");
        int n = 0;
        for (size_t p = 0; (p = dump.find(" " + size + " ", p)) != std::string::npos; p++)
            n++;
        return n;
    }
};

// A device access to an unmapped address is cancelled: EFAULT.
TEST_F(MirrorTest, UnmappedIsEfault)
{
    Mapping dst(kPage);
    void *hole;
    {
        Mapping m(kPage);
        hole = m.get();
    }
    EXPECT_EQ(command_errno(Command::copy(dst.get(), hole, 64)), EFAULT);
    auto st = dev.stats();
    EXPECT_EQ(st.cancels, 1u);
    EXPECT_EQ(st.cmd_errors, 1u);
    // the queue goes on
    EXPECT_EQ(q.run(Command::fill(dst.get(), 1, 64)), 64u);
}

// PROT_NONE memory: EFAULT; read-only memory written: EPERM, data unchanged.
TEST_F(MirrorTest, ProtectionErrors)
{
    Mapping none(kPage, PROT_NONE), ro(kPage), dst(kPage);
    memset(ro.get(), 0x11, kPage);
    ASSERT_EQ(mprotect(ro.get(), kPage, PROT_READ), 0);
    EXPECT_EQ(command_errno(Command::copy(dst.get(), none.get(), 64)), EFAULT);
    EXPECT_EQ(command_errno(Command::fill(ro.get(), 0, 64)), EPERM);
    EXPECT_EQ(command_errno(Command::atomic_inc(ro.get<uint64_t>())), EPERM);
    EXPECT_EQ(ro.get()[0], 0x11);
    // reading it is fine
    EXPECT_EQ(q.run(Command::copy(dst.get(), ro.get(), kPage)), kPage);
    EXPECT_EQ(dst.get()[100], 0x11);
    EXPECT_EQ(dev.stats().cancels, 3u);
}

// A VA range ending beyond 2^48 is rejected before it reaches the device.
TEST_F(MirrorTest, VaAt2Pow48IsEinval)
{
    Mapping m(kPage);
    auto c = Command::fill(m.get(), 0, 8);
    c.raw.dst = (1ull << 48) - 8;   // the last valid word: accepted, not mapped
    EXPECT_EQ(command_errno(c), EFAULT);
    c.raw.dst = 1ull << 48;
    try {
        q.submit(c);
        ADD_FAILURE() << "VA 2^48 accepted";
    } catch (const hmmdev::Error &e) {
        EXPECT_EQ(e.err(), EINVAL);
    }
}

// MAP_SHARED file: the device reads and writes the page cache; writes reach
// the file (msync, read back with pread).
TEST_F(MirrorTest, FileBackedShared)
{
    char path[] = "/tmp/hmmdev-file-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    const size_t len = 16 * kPage;
    ASSERT_EQ(ftruncate(fd, len), 0);
    std::vector<uint8_t> buf(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = static_cast<uint8_t>(i ^ 0x5a);
    ASSERT_EQ(pwrite(fd, buf.data(), len, 0), (ssize_t)len);
    {
        Mapping f(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        Mapping copy(len);
        EXPECT_EQ(q.run(Command::copy(copy.get(), f.get(), len)), len);
        EXPECT_EQ(memcmp(copy.get(), buf.data(), len), 0);
        EXPECT_EQ(q.run(Command::fill(f.get() + kPage, 0x4242424242424242ull, kPage)), kPage);
        ASSERT_EQ(msync(f.get(), len, MS_SYNC), 0);
    }
    std::vector<uint8_t> back(len);
    ASSERT_EQ(pread(fd, back.data(), len, 0), (ssize_t)len);
    for (size_t i = kPage; i < 2 * kPage; i++)
        buf[i] = 0x42;
    EXPECT_EQ(memcmp(back.data(), buf.data(), len), 0);
    close(fd);
}

// Private file mapping written by the device: copy-on-write, file unchanged.
TEST_F(MirrorTest, FileBackedPrivateIsCow)
{
    char path[] = "/tmp/hmmdev-priv-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    std::vector<uint8_t> buf(kPage, 0x33);
    ASSERT_EQ(pwrite(fd, buf.data(), kPage, 0), (ssize_t)kPage);
    Mapping f(kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
    EXPECT_EQ(f.get()[0], 0x33);
    q.run(Command::fill(f.get(), 0x7777777777777777ull, kPage));
    EXPECT_EQ(f.get()[0], 0x77);
    uint8_t b = 0;
    ASSERT_EQ(pread(fd, &b, 1, 0), 1);
    EXPECT_EQ(b, 0x33);
    close(fd);
}

// THP: a PMD-mapped huge page gets one 2 MiB device PTE.
TEST_F(MirrorTest, ThpGets2MiBPtes)
{
    auto m = Mapping::aligned(2 * k2M, k2M);
    ASSERT_EQ(madvise(m.get(), m.size(), MADV_HUGEPAGE), 0);
    memset(m.get(), 0x21, m.size());     // the CPU faults in THPs
    Mapping dst(m.size());
    EXPECT_EQ(q.run(Command::copy(dst.get(), m.get(), m.size())), m.size());
    EXPECT_EQ(memcmp(dst.get(), m.get(), m.size()), 0);
    EXPECT_EQ(dev.stats().huge_mappings, 2u);
    EXPECT_EQ(count_ptes("2M"), 2) << debugfs_ctx(dev, "pagetable").substr(0, 2000);
    // and the device writes through them
    q.run(Command::fill(m.get() + 12345, 0x0101010101010101ull, 1000));
    EXPECT_EQ(m.get()[12345 + 999], 0x01);
}

// hugetlbfs: 2 MiB device PTEs too, data byte for byte.
TEST_F(MirrorTest, HugetlbGets2MiBPtes)
{
    void *p = mmap(nullptr, k2M, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    ASSERT_NE(p, MAP_FAILED) << "no hugetlb pages reserved";
    auto *b = static_cast<uint8_t *>(p);
    memset(b, 0x3c, k2M);
    const uint64_t pat = 0x1122334455667788ull;
    EXPECT_EQ(q.run(Command::fill(b + 8, pat, k2M - 16)), k2M - 16);
    for (size_t i = 0; i < k2M - 16; i += 511)
        ASSERT_EQ(b[8 + i], fill_byte(reinterpret_cast<uintptr_t>(b + 8), i, pat)) << i;
    EXPECT_EQ(b[0], 0x3c);
    EXPECT_EQ(count_ptes("2M"), 1);
    EXPECT_EQ(dev.stats().huge_mappings, 1u);
    munmap(p, k2M);
    EXPECT_EQ(count_ptes("2M"), 0);
}

// After munmap + a new mapping at the same VA, the device sees the new page.
TEST_F(MirrorTest, NoStaleAccessAfterMunmap)
{
    Mapping m(kPage), dst(kPage);
    memset(m.get(), 0xaa, kPage);
    q.run(Command::copy(dst.get(), m.get(), kPage));
    EXPECT_EQ(dst.get()[0], 0xaa);
    auto before = dev.stats();
    void *va = m.get();
    ASSERT_EQ(munmap(va, kPage), 0);
    m.release();
    EXPECT_GE(dev.stats().pages_invalidated, before.pages_invalidated + 1);
    EXPECT_GT(dev.stats().invalidations, before.invalidations);
    // the device cannot reach it any more
    EXPECT_EQ(command_errno(Command::copy(dst.get(), va, 64)), EFAULT);
    void *again = mmap(va, kPage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ASSERT_EQ(again, va);
    memset(again, 0xbb, kPage);
    q.run(Command::copy(dst.get(), again, kPage));
    EXPECT_EQ(dst.get()[0], 0xbb);
    munmap(again, kPage);
}

// mprotect(PROT_READ) removes device write access at once; PROT_NONE all access.
TEST_F(MirrorTest, NoStaleAccessAfterMprotect)
{
    Mapping m(kPage), dst(kPage);
    q.run(Command::fill(m.get(), 0x0505050505050505ull, kPage));
    ASSERT_EQ(mprotect(m.get(), kPage, PROT_READ), 0);
    EXPECT_EQ(command_errno(Command::fill(m.get(), 0, kPage)), EPERM);
    EXPECT_EQ(m.get()[77], 0x05);
    ASSERT_EQ(mprotect(m.get(), kPage, PROT_NONE), 0);
    EXPECT_EQ(command_errno(Command::copy(dst.get(), m.get(), 64)), EFAULT);
    ASSERT_EQ(mprotect(m.get(), kPage, PROT_READ | PROT_WRITE), 0);
    q.run(Command::fill(m.get(), 0x0606060606060606ull, kPage));
    EXPECT_EQ(m.get()[77], 0x06);
}

// The device keeps working while the process remaps memory under it.
TEST_F(MirrorTest, MremapMovesTheMirror)
{
    const size_t len = 8 * kPage;
    Mapping m(len), dst(len);
    memset(m.get(), 0x44, len);
    q.run(Command::copy(dst.get(), m.get(), len));
    void *old = m.get();
    void *nw = mremap(old, len, 2 * len, MREMAP_MAYMOVE);
    ASSERT_NE(nw, MAP_FAILED);
    m.release();
    auto *b = static_cast<uint8_t *>(nw);
    memset(dst.get(), 0, len);
    q.run(Command::copy(dst.get(), b, len));
    EXPECT_EQ(dst.get()[len - 1], 0x44);
    if (nw != old) {
        EXPECT_EQ(command_errno(Command::copy(dst.get(), old, 64)), EFAULT);
    }
    munmap(nw, 2 * len);
}

// fork: the child has its own context; copy-on-write stays correct for
// device writes on both sides.
TEST_F(MirrorTest, ForkCopyOnWrite)
{
    Mapping m(4 * kPage);
    q.run(Command::fill(m.get(), 0x1111111111111111ull, m.size()));
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int rc = 0;
        try {
            auto cdev = hmmdev::Device::open(0);
            auto &cq = cdev.create_queue();
            char go;
            if (read(pipefd[0], &go, 1) != 1)
                _exit(10);
            if (m.get()[0] != 0x11)       // sees the pre-fork data
                rc = 11;
            cq.run(Command::fill(m.get(), 0x2222222222222222ull, kPage));
            if (m.get()[0] != 0x22 || m.get()[kPage] != 0x11)
                rc = 12;
        } catch (const hmmdev::Error &e) {
            rc = 13;
        }
        _exit(rc);
    }
    // parent writes after the fork: its own copy
    q.run(Command::fill(m.get(), 0x3333333333333333ull, 2 * kPage));
    ASSERT_EQ(write(pipefd[1], "x", 1), 1);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(m.get()[0], 0x33);
    EXPECT_EQ(m.get()[2 * kPage], 0x11);
    // device reads agree with the CPU
    Mapping dst(m.size());
    q.run(Command::copy(dst.get(), m.get(), m.size()));
    EXPECT_EQ(memcmp(dst.get(), m.get(), m.size()), 0);
    close(pipefd[0]);
    close(pipefd[1]);
}

// Two processes with the same VAs and their own contexts do not see each
// other's memory.
TEST_F(MirrorTest, TwoProcessesAreIsolated)
{
    Mapping m(kPage);
    memset(m.get(), 0, kPage);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int rc = 0;
        try {
            auto cdev = hmmdev::Device::open(0);
            auto &cq = cdev.create_queue();
            for (int i = 0; i < 50; i++) {
                cq.run(Command::fill(m.get(), 0xc1c1c1c1c1c1c1c1ull, kPage));
                if (m.get()[i] != 0xc1)
                    rc = 20;
            }
        } catch (const hmmdev::Error &) {
            rc = 21;
        }
        _exit(rc);
    }
    for (int i = 0; i < 50; i++) {
        q.run(Command::fill(m.get(), 0x9a9a9a9a9a9a9a9aull, kPage));
        ASSERT_EQ(m.get()[i], 0x9a);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(m.get()[4095], 0x9a);
}

// Device atomics on system memory are atomic with respect to CPU atomics.
TEST_F(MirrorTest, AtomicsRaceWithCpu)
{
    Mapping m(kPage);
    auto *w = m.get<uint64_t>();
    *w = 0;
    const int cpu_adds = 200000, dev_batches = 40, per_batch = 100;
    std::atomic<bool> go{false};
    std::thread cpu([&] {
        while (!go.load())
            ;
        for (int i = 0; i < cpu_adds; i++)
            __atomic_fetch_add(w, 1, __ATOMIC_RELAXED);
    });
    go = true;
    std::vector<Command> batch(per_batch, Command::atomic_add(w, 1000));
    hmmdev::Fence f;
    for (int b = 0; b < dev_batches; b++)
        f = q.submit(batch);
    f.wait(std::chrono::seconds(60));
    cpu.join();
    EXPECT_EQ(*w, uint64_t(cpu_adds) + uint64_t(dev_batches) * per_batch * 1000);
}

// Process exit with commands in flight and mappings live: no leak, no hang,
// the device goes on serving others.
TEST_F(MirrorTest, ExitWithWorkInFlight)
{
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto cdev = hmmdev::Device::open(0);
            auto &cq = cdev.create_queue();
            Mapping a(4 << 20), b(4 << 20);
            for (int i = 0; i < 20; i++)
                cq.submit(Command::copy(b.get(), a.get(), a.size()));
            _exit(0);       // no wait, no close: the kernel tears it down
        }
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status));
    }
    Mapping m(kPage);
    EXPECT_EQ(q.run(Command::fill(m.get(), 7, kPage)), kPage);
    auto info = dev.info();
    EXPECT_LT(info.asid, info.num_asids);
}

} // namespace
