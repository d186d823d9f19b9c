// SPDX-License-Identifier: MIT
#include "hmmdev.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hmmdev {

Fd &Fd::operator=(Fd &&o) noexcept
{
    if (this != &o) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

Fd::~Fd()
{
    if (fd_ >= 0)
        ::close(fd_);
}

Device Device::open(unsigned index)
{
    return open_path("/dev/hmmdev" + std::to_string(index));
}

Device Device::open_path(const std::string &path)
{
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        throw Error(errno, "open " + path);
    return Device(Fd(fd), path);
}

void Device::ioctl(unsigned long req, void *arg, const char *name) const
{
    if (::ioctl(fd_.get(), req, arg) < 0)
        throw Error(errno, std::string(name) + " on " + path_);
}

Info Device::info() const
{
    hmmdev_info raw{};
    raw.size = sizeof(raw);
    ioctl(HMMDEV_IOC_GET_INFO, &raw, "HMMDEV_IOC_GET_INFO");
    return Info{raw.uapi_version, raw.hw_version, raw.msix_vectors, raw.irq_count,
                raw.asid, raw.num_queues, raw.num_asids, raw.devmem_size};
}

Stats Device::stats(Scope scope) const
{
    Stats s{};
    s.size = sizeof(s);
    s.scope = static_cast<uint32_t>(scope);
    ioctl(HMMDEV_IOC_STATS, &s, "HMMDEV_IOC_STATS");
    return s;
}

Migration Device::migrate(const void *addr, uint64_t len, Memory to) const
{
    hmmdev_migrate m{};
    m.size = sizeof(m);
    m.addr = reinterpret_cast<uint64_t>(addr);
    m.len = len;
    m.target = static_cast<uint32_t>(to);
    ioctl(HMMDEV_IOC_MIGRATE, &m, "HMMDEV_IOC_MIGRATE");
    return Migration{m.migrated, m.skipped};
}

void Device::set_policy(const void *addr, uint64_t len, Memory preferred,
                        bool migrate_on_fault) const
{
    hmmdev_policy p{};
    p.size = sizeof(p);
    p.addr = reinterpret_cast<uint64_t>(addr);
    p.len = len;
    p.preferred_location = static_cast<uint32_t>(preferred);
    p.migrate_on_fault = migrate_on_fault ? 1 : 0;
    ioctl(HMMDEV_IOC_SET_POLICY, &p, "HMMDEV_IOC_SET_POLICY");
}

Queue &Device::create_queue(uint32_t entries)
{
    hmmdev_queue_create qc{};
    qc.size = sizeof(qc);
    qc.entries = entries;
    ioctl(HMMDEV_IOC_QUEUE_CREATE, &qc, "HMMDEV_IOC_QUEUE_CREATE");
    queues_.push_back(std::unique_ptr<Queue>(
        new Queue(fd_.get(), qc.queue_id, entries ? entries : HMMDEV_QUEUE_DEFAULT_ENTRIES)));
    return *queues_.back();
}

Fence Queue::submit(const std::vector<Command> &cmds, bool nonblock)
{
    std::vector<hmmdev_cmd> raw;
    raw.reserve(cmds.size());
    for (const auto &c : cmds)
        raw.push_back(c.raw);
    hmmdev_submit sb{};
    sb.size = sizeof(sb);
    sb.queue_id = id_;
    sb.flags = nonblock ? HMMDEV_SUBMIT_F_NONBLOCK : 0;
    sb.count = static_cast<uint32_t>(raw.size());
    sb.cmds = reinterpret_cast<uintptr_t>(raw.data());
    sb.cmd_size = sizeof(hmmdev_cmd);
    if (::ioctl(fd_, HMMDEV_IOC_SUBMIT, &sb) < 0)
        throw Error(errno, "HMMDEV_IOC_SUBMIT");
    return Fence(this, sb.fence);
}

int Fence::try_wait(Completion &c, std::chrono::nanoseconds timeout) const
{
    hmmdev_wait w{};
    w.size = sizeof(w);
    w.queue_id = q_->id();
    w.fence = seq_;
    w.timeout_ns = timeout.count();
    if (::ioctl(q_->fd(), HMMDEV_IOC_WAIT, &w) < 0)
        throw Error(errno, "HMMDEV_IOC_WAIT");
    c = Completion{w.result, w.info};
    return w.error;
}

Completion Fence::wait(std::chrono::nanoseconds timeout) const
{
    Completion c{};
    int err = try_wait(c, timeout);
    if (err)
        throw Error(-err, "command " + std::to_string(seq_) + " on queue " +
                              std::to_string(q_->id()));
    return c;
}

static uint64_t va(const void *p)
{
    return reinterpret_cast<uintptr_t>(p);
}

Command Command::copy(void *dst, const void *src, uint64_t len)
{
    Command c;
    c.raw.op = HMMDEV_OP_COPY;
    c.raw.dst = va(dst);
    c.raw.src = va(src);
    c.raw.len = len;
    return c;
}

Command Command::fill(void *dst, uint64_t pattern, uint64_t len)
{
    Command c;
    c.raw.op = HMMDEV_OP_FILL;
    c.raw.dst = va(dst);
    c.raw.value = pattern;
    c.raw.len = len;
    return c;
}

Command Command::atomic_add(uint64_t *dst, uint64_t value)
{
    Command c;
    c.raw.op = HMMDEV_OP_ATOMIC;
    c.raw.subop = HMMDEV_ATOMIC_OP_ADD;
    c.raw.dst = va(dst);
    c.raw.value = value;
    return c;
}

Command Command::atomic_inc(uint64_t *dst)
{
    Command c;
    c.raw.op = HMMDEV_OP_ATOMIC;
    c.raw.subop = HMMDEV_ATOMIC_OP_INC;
    c.raw.dst = va(dst);
    return c;
}

Command Command::atomic_cmpxchg(uint64_t *dst, uint64_t expect, uint64_t value)
{
    Command c;
    c.raw.op = HMMDEV_OP_ATOMIC;
    c.raw.subop = HMMDEV_ATOMIC_OP_CMPXCHG;
    c.raw.dst = va(dst);
    c.raw.compare = expect;
    c.raw.value = value;
    return c;
}

Command Command::sum64(const uint64_t *src, uint64_t len)
{
    Command c;
    c.raw.op = HMMDEV_OP_KERNEL;
    c.raw.subop = HMMDEV_KERNEL_OP_SUM64;
    c.raw.src = va(src);
    c.raw.len = len;
    return c;
}

Command Command::axpy32(uint32_t *dst, uint32_t a, const uint32_t *x, const uint32_t *y,
                        uint64_t len)
{
    Command c;
    c.raw.op = HMMDEV_OP_KERNEL;
    c.raw.subop = HMMDEV_KERNEL_OP_AXPY32;
    c.raw.dst = va(dst);
    c.raw.src = va(x);
    c.raw.y = va(y);
    c.raw.value = a;
    c.raw.len = len;
    return c;
}

unsigned count_devices()
{
    unsigned n = 0;
    struct stat st;
    while (::stat(("/dev/hmmdev" + std::to_string(n)).c_str(), &st) == 0)
        n++;
    return n;
}

} // namespace hmmdev
