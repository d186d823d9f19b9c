// SPDX-License-Identifier: MIT
// libhmmdev: a C++20 RAII wrapper of the hmmdev uAPI (<linux/hmmdev.h>).
//
// Every failing call throws hmmdev::Error, which carries the errno of the
// system call and names the operation, so a test can assert on the exact
// errno and a person reading a log sees what failed.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

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

    uint32_t hw_major() const { return hw_version >> 16; }
    uint32_t hw_minor() const { return hw_version & 0xffff; }
};

// An open /dev/hmmdevN.
class Device {
public:
    // Opens /dev/hmmdev<index>.
    static Device open(unsigned index);
    // Opens a device node by path.
    static Device open_path(const std::string &path);

    Info info() const;
    const std::string &path() const noexcept { return path_; }
    int fd() const noexcept { return fd_.get(); }

    // Issues a raw ioctl; throws Error with the ioctl's name on failure.
    void ioctl(unsigned long req, void *arg, const char *name) const;

private:
    Device(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    Fd fd_;
    std::string path_;
};

// Number of /dev/hmmdevN nodes present, counting up from 0.
unsigned count_devices();

} // namespace hmmdev
