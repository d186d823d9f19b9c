// SPDX-License-Identifier: MIT
// libhmmdev: a C++20 RAII wrapper of the hmmdev uAPI (<linux/hmmdev.h>).
//
// Every failing call throws hmmdev::Error, which carries the errno of the
// system call and names the operation, so a test can assert on the exact
// errno and a person reading a log sees what failed.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <linux/hmmdev.h>

namespace hmmdev {

// A failed operation: std::system_error in the generic (errno) category.
class Error : public std::system_error {
public:
    Error(int err, const std::string &what)
        : std::system_error(err, std::generic_category(), what) {}
    int err() const noexcept { return code().value(); }
};

// An owned file descriptor: closed on destruction, movable, not copyable.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd &operator=(Fd &&o) noexcept;
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    ~Fd();
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// What HMMDEV_IOC_GET_INFO reports.
struct Info {
    uint32_t uapi_version;
    uint32_t hw_version;      // major << 16 | minor
    uint32_t msix_vectors;
    uint64_t irq_count;
    uint32_t asid;            // this context's
    uint32_t num_queues;
    uint32_t num_asids;
    uint64_t devmem_size;

    uint32_t hw_major() const { return hw_version >> 16; }
    uint32_t hw_minor() const { return hw_version & 0xffff; }
};

// Counters (HMMDEV_IOC_STATS); the same names as struct hmmdev_stats.
using Stats = hmmdev_stats;

// One counter of Stats: its name and its field.
struct StatField {
    const char *name;
    __u64 Stats::*field;
};

// Every counter, in the ABI's order: the one list, linux/hmmdev_stats.def.
inline constexpr StatField kStatFields[] = {
#define HMMDEV_STAT(ENUM, name) {#name, &Stats::name},
#include <linux/hmmdev_stats.def>
#undef HMMDEV_STAT
};

enum class Scope : uint32_t {
    Context = HMMDEV_STATS_CONTEXT,   // this open file's context
    Device = HMMDEV_STATS_DEVICE,     // everything on the device since probe
};

// What a completed command reports.
struct Completion {
    uint64_t result;   // ATOMIC old value, SUM64 sum, bytes done for COPY/FILL
    uint32_t info;     // the device's raw completion status
};

class Queue;

// Where HMMDEV_IOC_MIGRATE moves pages.
enum class Memory : uint32_t {
    System = HMMDEV_MEM_SYSTEM,
    Device = HMMDEV_MEM_DEVICE,
};

// What a migration did: pages moved, and pages that could not be moved
// (file-backed, shmem, hugetlb, busy, or no device memory could be freed).
struct Migration {
    uint64_t migrated;
    uint64_t skipped;
};

// A submitted command: wait() for its completion.  Cheap to copy; valid while
// its Queue (and the Device) exist.
class Fence {
public:
    Fence() = default;
    Fence(const Queue *q, uint64_t seq) : q_(q), seq_(seq) {}
    uint64_t seq() const noexcept { return seq_; }

    // Waits (forever by default).  Throws Error(ETIME) on timeout, Error(EINTR)
    // on a signal, and Error(errno of the command) when the command failed:
    // EFAULT (no access), EPERM (write to read-only memory), EIO (device error).
    Completion wait(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1)) const;
    // Like wait() but returns the command's -errno in err instead of throwing it.
    int try_wait(Completion &c, std::chrono::nanoseconds timeout =
                                    std::chrono::nanoseconds(-1)) const;

private:
    const Queue *q_ = nullptr;
    uint64_t seq_ = 0;
};

// One command, built with the helpers below.
struct Command {
    hmmdev_cmd raw{};

    static Command copy(void *dst, const void *src, uint64_t len);
    static Command fill(void *dst, uint64_t pattern, uint64_t len);
    static Command atomic_add(uint64_t *dst, uint64_t value);
    static Command atomic_inc(uint64_t *dst);
    static Command atomic_cmpxchg(uint64_t *dst, uint64_t expect, uint64_t value);
    static Command sum64(const uint64_t *src, uint64_t len);
    static Command axpy32(uint32_t *dst, uint32_t a, const uint32_t *x, const uint32_t *y,
                          uint64_t len);
};

class Device;

// A command queue of a context.  Owned by the Device that created it.
class Queue {
public:
    uint32_t id() const noexcept { return id_; }
    uint32_t entries() const noexcept { return entries_; }

    // Queues commands; returns the fence of the last one.
    Fence submit(const std::vector<Command> &cmds, bool nonblock = false);
    Fence submit(const Command &c) { return submit(std::vector<Command>{c}); }
    // Submit one command and wait for it: the result, or throws.
    uint64_t run(const Command &c) { return submit(c).wait().result; }

    int fd() const noexcept { return fd_; }

private:
    friend class Device;
    Queue(int fd, uint32_t id, uint32_t entries) : fd_(fd), id_(id), entries_(entries) {}
    int fd_;
    uint32_t id_;
    uint32_t entries_;
};

// An open /dev/hmmdevN: one device context bound to this process's address
// space, with its own ASID and device page tables.
class Device {
public:
    // Opens /dev/hmmdev<index>.
    static Device open(unsigned index);
    // Opens a device node by path.
    static Device open_path(const std::string &path);

    Info info() const;
    Stats stats(Scope scope = Scope::Context) const;
    // Creates a queue (entries 0: the driver's default).  The Queue lives as
    // long as this Device.
    Queue &create_queue(uint32_t entries = 0);
    // Migrates (prefetches) the pages of [addr, addr + len) to @to; best
    // effort (see struct hmmdev_migrate).  addr and len page aligned.
    Migration migrate(const void *addr, uint64_t len, Memory to) const;
    // Sets the placement policy of [addr, addr + len) (struct hmmdev_policy):
    // the preferred location and whether a device fault migrates the pages
    // there first.  System without migrate_on_fault is the default.
    void set_policy(const void *addr, uint64_t len, Memory preferred,
                    bool migrate_on_fault) const;

    const std::string &path() const noexcept { return path_; }
    int fd() const noexcept { return fd_.get(); }

    // Issues a raw ioctl; throws Error with the ioctl's name on failure.
    void ioctl(unsigned long req, void *arg, const char *name) const;

    Device(Device &&) = default;
    Device &operator=(Device &&) = default;

private:
    Device(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    Fd fd_;
    std::string path_;
    std::vector<std::unique_ptr<Queue>> queues_;
};

// The context is the open file: an alias that reads better in some code.
using Context = Device;

// Number of /dev/hmmdevN nodes present, counting up from 0.
unsigned count_devices();

} // namespace hmmdev
