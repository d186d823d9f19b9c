// SPDX-License-Identifier: MIT
// Guest-side tests of queues and commands on ordinary anonymous memory.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "util.hpp"

using namespace testutil;
using hmmdev::Command;

namespace {

class QueueTest : public ::testing::Test {
protected:
    hmmdev::Device dev = hmmdev::Device::open(0);
    hmmdev::Queue &q = dev.create_queue();
};

// COPY of 1 MiB between anonymous buffers, byte for byte.
TEST_F(QueueTest, CopyAnonymous)
{
    const size_t len = 1 << 20;
    Mapping src(len), dst(len);
    for (size_t i = 0; i < len; i++)
        src.get()[i] = static_cast<uint8_t>(i * 7 + 3);
    memset(dst.get(), 0xee, len);
    EXPECT_EQ(q.run(Command::copy(dst.get(), src.get(), len)), len);
    EXPECT_EQ(memcmp(dst.get(), src.get(), len), 0);
    auto st = dev.stats();
    // one fault per 2 MiB block an operand touches (at most two each), or
    // fewer when the buffers share a block: a fault maps the block's
    // present pages too
    EXPECT_GE(st.faults, 1u);
    EXPECT_LE(st.faults, 4u);
    EXPECT_GE(st.pages_faulted, 2 * len / 4096);
    EXPECT_EQ(st.cancels, 0u);
    EXPECT_EQ(st.cmds_completed, 1u);
}

// A fresh buffer inside one 2 MiB block faults exactly once per operand.
TEST_F(QueueTest, FaultCountIsOnePerOperand)
{
    auto src = Mapping::aligned(2 << 20, 2 << 20);
    auto dst = Mapping::aligned(2 << 20, 2 << 20);
    const size_t len = 64 << 10;
    EXPECT_EQ(q.run(Command::copy(dst.get(), src.get(), len)), len);
    auto st = dev.stats();
    EXPECT_EQ(st.faults, 2u);
    EXPECT_EQ(st.replays, 2u);
    EXPECT_EQ(st.fault_groups, 2u);
    // again: everything is mapped, no fault
    EXPECT_EQ(q.run(Command::copy(dst.get(), src.get(), len)), len);
    EXPECT_EQ(dev.stats().faults, 2u);
}

// FILL with an unaligned start and length writes the documented byte pattern.
TEST_F(QueueTest, FillPattern)
{
    const size_t len = 3 * 4096;
    Mapping m(len);
    memset(m.get(), 0x5a, len);
    const uint64_t pat = 0x0123456789abcdefull;
    uint8_t *d = m.get() + 5;
    const size_t n = len - 13;
    EXPECT_EQ(q.run(Command::fill(d, pat, n)), n);
    uint64_t base = reinterpret_cast<uintptr_t>(d);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(d[i], fill_byte(base, i, pat)) << "byte " << i;
    for (size_t i = 0; i < 5; i++)
        EXPECT_EQ(m.get()[i], 0x5a);
    for (size_t i = 5 + n; i < len; i++)
        EXPECT_EQ(m.get()[i], 0x5a);
}

// SUM64 and AXPY32 compute what the CPU computes.
TEST_F(QueueTest, ComputeKernels)
{
    const size_t n = 10000;
    std::vector<uint64_t> v(n);
    std::iota(v.begin(), v.end(), 1ull << 40);
    uint64_t want = std::accumulate(v.begin(), v.end(), uint64_t{0});
    EXPECT_EQ(q.run(Command::sum64(v.data(), n * 8)), want);

    std::vector<uint32_t> x(n), y(n), out(n, 0);
    for (size_t i = 0; i < n; i++) {
        x[i] = static_cast<uint32_t>(i * 3);
        y[i] = static_cast<uint32_t>(0xffffff00u + i);
    }
    q.run(Command::axpy32(out.data(), 7, x.data(), y.data(), n * 4));
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(out[i], 7 * x[i] + y[i]) << i;
}

// ATOMIC ADD, INC and CMPXCHG return the old value and update the word.
TEST_F(QueueTest, AtomicOps)
{
    Mapping m(4096);
    auto *w = m.get<uint64_t>();
    *w = 40;
    EXPECT_EQ(q.run(Command::atomic_add(w, 2)), 40u);
    EXPECT_EQ(q.run(Command::atomic_inc(w)), 42u);
    EXPECT_EQ(q.run(Command::atomic_cmpxchg(w, 1, 100)), 43u);
    EXPECT_EQ(*w, 43u);
    EXPECT_EQ(q.run(Command::atomic_cmpxchg(w, 43, 100)), 43u);
    EXPECT_EQ(*w, 100u);
}

// Many more commands than ring entries: submission waits for room, and the
// result of a command overwritten since is ENODATA.
TEST_F(QueueTest, RingWrapsAndOldResultsExpire)
{
    auto &small = dev.create_queue(4);
    Mapping m(4096);
    auto *w = m.get<uint64_t>();
    *w = 0;
    std::vector<hmmdev::Fence> f;
    for (int i = 0; i < 100; i++)
        f.push_back(small.submit(Command::atomic_inc(w)));
    EXPECT_EQ(f.back().wait().result, 99u);
    EXPECT_EQ(*w, 100u);
    EXPECT_EQ(f[98].wait().result, 98u);
    hmmdev::Completion c;
    EXPECT_EQ(f[0].try_wait(c), -ENODATA);
    // a batch submission: fence of the last
    std::vector<Command> batch(3, Command::atomic_inc(w));
    auto last = small.submit(batch);
    EXPECT_EQ(last.seq(), 103u);
    EXPECT_EQ(last.wait().result, 102u);
}

// Commands are checked at submission: every malformed one is EINVAL.
TEST_F(QueueTest, MalformedCommandsAreEinval)
{
    Mapping m(8192);
    uint8_t *p = m.get();
    std::vector<Command> bad;
    auto c = Command::copy(p, p + 4096, 4096);
    c.raw.op = 0x07;            // SG_COPY is not for userspace
    bad.push_back(c);
    c = Command::copy(p, p + 4096, 4096);
    c.raw.op = 99;
    bad.push_back(c);
    c = Command::copy(p, p + 4096, 4096);
    c.raw.flags = 1;
    bad.push_back(c);
    c = Command::copy(p, p + 4096, 4096);
    c.raw.pad0 = 1;
    bad.push_back(c);
    bad.push_back(Command::copy(p, p + 4096, 0));                 // empty
    bad.push_back(Command::copy(p, p + 100, 4096));               // overlap
    c = Command::copy(p, p + 4096, 4096);
    c.raw.dst = (1ull << 48) - 4096;                              // ends past 2^48? no: exactly at
    c.raw.len = 8192;
    bad.push_back(c);
    c = Command::fill(p, 1, 16);
    c.raw.dst = 1ull << 48;                                       // at 2^48
    bad.push_back(c);
    c = Command::fill(p, 1, 16);
    c.raw.dst = ~0ull - 7;                                        // wraps
    bad.push_back(c);
    bad.push_back(Command::atomic_add(reinterpret_cast<uint64_t *>(p + 4), 1));  // misaligned
    c = Command::atomic_add(reinterpret_cast<uint64_t *>(p), 1);
    c.raw.subop = 9;
    bad.push_back(c);
    c = Command::atomic_inc(reinterpret_cast<uint64_t *>(p));
    c.raw.len = 8;
    bad.push_back(c);
    bad.push_back(Command::sum64(reinterpret_cast<uint64_t *>(p), 12));          // not 8n
    c = Command::sum64(reinterpret_cast<uint64_t *>(p), 16);
    c.raw.subop = 7;
    bad.push_back(c);
    c = Command::fill(p, 1, 16);
    c.raw.src = 8;                                                // unused field set
    bad.push_back(c);
    for (size_t i = 0; i < bad.size(); i++) {
        try {
            q.submit(bad[i]);
            ADD_FAILURE() << "malformed command " << i << " was accepted";
        } catch (const hmmdev::Error &e) {
            EXPECT_EQ(e.err(), EINVAL) << "command " << i;
        }
    }
    EXPECT_EQ(dev.stats().cmds_submitted, 0u);
}

// The submit/wait/queue ioctls check their arguments.
TEST_F(QueueTest, BadIoctlArguments)
{
    Mapping m(4096);
    hmmdev_cmd cmd = Command::fill(m.get(), 0, 8).raw;
    auto submit = [&](auto tweak) {
        hmmdev_submit sb{};
        sb.size = sizeof(sb);
        sb.queue_id = q.id();
        sb.count = 1;
        sb.cmds = reinterpret_cast<uintptr_t>(&cmd);
        sb.cmd_size = sizeof(cmd);
        tweak(sb);
        return raw_ioctl(dev.fd(), HMMDEV_IOC_SUBMIT, &sb);
    };
    EXPECT_EQ(submit([](hmmdev_submit &) {}), 0);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.queue_id = 15; }), ENOENT);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.queue_id = 1000; }), ENOENT);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.flags = 2; }), EINVAL);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.pad0 = 1; }), EINVAL);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.fence = 1; }), EINVAL);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.count = 0; }), EINVAL);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.count = 256; }), EINVAL);  // > entries - 1
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.cmd_size = 32; }), EINVAL);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.cmds = 16; }), EFAULT);
    EXPECT_EQ(submit([](hmmdev_submit &s) { s.size = 8; }), EINVAL);

    struct {
        hmmdev_submit sb;
        uint64_t tail;
    } big{};
    big.sb.size = sizeof(big);
    big.sb.queue_id = q.id();
    big.sb.count = 1;
    big.sb.cmds = reinterpret_cast<uintptr_t>(&cmd);
    big.sb.cmd_size = sizeof(cmd);
    big.tail = 1;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_SUBMIT, &big), E2BIG);
    big.tail = 0;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_SUBMIT, &big), 0);
    EXPECT_EQ(big.sb.size, sizeof(hmmdev_submit));

    auto wait = [&](auto tweak) {
        hmmdev_wait w{};
        w.size = sizeof(w);
        w.queue_id = q.id();
        w.fence = 1;
        w.timeout_ns = 1000000000;
        tweak(w);
        return raw_ioctl(dev.fd(), HMMDEV_IOC_WAIT, &w);
    };
    EXPECT_EQ(wait([](hmmdev_wait &) {}), 0);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.fence = 0; }), EINVAL);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.fence = 1000; }), EINVAL);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.flags = 1; }), EINVAL);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.error = 1; }), EINVAL);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.result = 1; }), EINVAL);
    EXPECT_EQ(wait([](hmmdev_wait &w) { w.queue_id = 9; }), ENOENT);

    hmmdev_queue_create qc{};
    qc.size = sizeof(qc);
    qc.entries = 3;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_QUEUE_CREATE, &qc), EINVAL);
    qc.entries = 8192;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_QUEUE_CREATE, &qc), EINVAL);
    qc.entries = 0;
    qc.flags = 1;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_QUEUE_CREATE, &qc), EINVAL);

    hmmdev_stats st{};
    st.size = sizeof(st);
    st.scope = 2;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_STATS, &st), EINVAL);
    st.scope = 0;
    st.faults = 1;
    EXPECT_EQ(raw_ioctl(dev.fd(), HMMDEV_IOC_STATS, &st), EINVAL);
}

// Waiting with a zero timeout polls; a completed command reports at once.
TEST_F(QueueTest, WaitPollsWithZeroTimeout)
{
    Mapping m(4096);
    auto f = q.submit(Command::fill(m.get(), 1, 4096));
    f.wait(std::chrono::seconds(5));
    hmmdev::Completion c;
    EXPECT_EQ(f.try_wait(c, std::chrono::nanoseconds(0)), 0);
    EXPECT_EQ(c.result, 4096u);
}

// The hardware queues are shared by all contexts: 16 minus the one the
// driver keeps for migration copies (info().num_queues), then EBUSY.
TEST(Queues, HardwareQueuesRunOut)
{
    auto dev = hmmdev::Device::open(0);
    unsigned n = 0;
    try {
        for (;;) {
            dev.create_queue(2);
            n++;
        }
    } catch (const hmmdev::Error &e) {
        EXPECT_EQ(e.err(), EBUSY);
    }
    EXPECT_EQ(n, dev.info().num_queues);
}

// Every open is a context with its own ASID; after the last one, EBUSY.
TEST(Contexts, AsidsRunOut)
{
    std::vector<hmmdev::Device> ctx;
    int err = 0;
    for (;;) {
        try {
            ctx.push_back(hmmdev::Device::open(0));
        } catch (const hmmdev::Error &e) {
            err = e.err();
            break;
        }
        if (ctx.size() > 1000)
            break;
    }
    EXPECT_EQ(err, EBUSY);
    ASSERT_FALSE(ctx.empty());
    EXPECT_EQ(ctx.size(), ctx[0].info().num_asids);
    // closing one frees its ASID
    ctx.pop_back();
    EXPECT_NO_THROW(ctx.push_back(hmmdev::Device::open(0)));
}

// A context belongs to the mm that opened it: a forked child gets EBADF.
TEST(Contexts, FdFromAnotherMmIsEbadf)
{
    auto dev = hmmdev::Device::open(0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        hmmdev_info info{};
        info.size = sizeof(info);
        _exit(raw_ioctl(dev.fd(), HMMDEV_IOC_GET_INFO, &info));
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), EBADF);
    EXPECT_NO_THROW(dev.info());
}

} // namespace

namespace {

void on_alarm(int) {}

// Run by tests/vm/test_driver.py after it set inject-stall-ms on the device:
// a wait times out (ETIME), a signal interrupts a wait (EINTR), and the
// command still completes afterwards.
TEST(Robustness, WaitTimesOutAndIsInterruptible)
{
    if (!getenv("HMMDEV_STALLED"))
        GTEST_SKIP() << "needs the host to set inject-stall-ms";
    auto dev = hmmdev::Device::open(0);
    auto &q = dev.create_queue();
    Mapping m(4096);
    memset(m.get(), 0, 4096);
    auto f = q.submit(Command::fill(m.get(), 0x0909090909090909ull, 4096));
    hmmdev::Completion c;
    try {
        f.try_wait(c, std::chrono::milliseconds(100));
        ADD_FAILURE() << "the stalled command completed";
    } catch (const hmmdev::Error &e) {
        EXPECT_EQ(e.err(), ETIME);
    }
    struct sigaction sa {};
    sa.sa_handler = on_alarm;     // no SA_RESTART
    ASSERT_EQ(sigaction(SIGALRM, &sa, nullptr), 0);
    alarm(1);
    try {
        f.try_wait(c);
        ADD_FAILURE() << "the stalled command completed";
    } catch (const hmmdev::Error &e) {
        EXPECT_EQ(e.err(), EINTR);
    }
    EXPECT_EQ(f.wait(std::chrono::seconds(30)).result, 4096u);
    EXPECT_EQ(m.get()[4095], 0x09);
}

} // namespace
