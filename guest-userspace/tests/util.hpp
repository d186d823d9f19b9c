// SPDX-License-Identifier: MIT
// Helpers shared by the guest-side GoogleTest files.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmmdev.hpp"

namespace testutil {

constexpr size_t kPage = 4096;

// An owned anonymous (or other) mapping, unmapped on destruction.
class Mapping {
public:
    Mapping() = default;
    Mapping(size_t len, int prot = PROT_READ | PROT_WRITE,
            int flags = MAP_PRIVATE | MAP_ANONYMOUS, int fd = -1, off_t off = 0)
        : len_(len)
    {
        p_ = ::mmap(nullptr, len, prot, flags, fd, off);
        if (p_ == MAP_FAILED)
            throw hmmdev::Error(errno, "mmap");
    }
    // A mapping of @len bytes whose start is aligned to @align.
    static Mapping aligned(size_t len, size_t align, int prot = PROT_READ | PROT_WRITE,
                           int extra_flags = 0)
    {
        Mapping big(len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
        uintptr_t a = (reinterpret_cast<uintptr_t>(big.p_) + align - 1) & ~(align - 1);
        Mapping m;
        m.p_ = ::mmap(reinterpret_cast<void *>(a), len, prot,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra_flags, -1, 0);
        if (m.p_ == MAP_FAILED)
            throw hmmdev::Error(errno, "mmap fixed");
        m.len_ = len;
        // release the slack around it, keep the aligned part
        uintptr_t b = reinterpret_cast<uintptr_t>(big.p_);
        if (a > b)
            ::munmap(big.p_, a - b);
        uintptr_t e = a + len, be = b + big.len_;
        if (be > e)
            ::munmap(reinterpret_cast<void *>(e), be - e);
        big.p_ = nullptr;
        return m;
    }
    Mapping(Mapping &&o) noexcept : p_(std::exchange(o.p_, nullptr)), len_(o.len_) {}
    Mapping &operator=(Mapping &&o) noexcept
    {
        reset();
        p_ = std::exchange(o.p_, nullptr);
        len_ = o.len_;
        return *this;
    }
    ~Mapping() { reset(); }
    void reset()
    {
        if (p_)
            ::munmap(p_, len_);
        p_ = nullptr;
    }
    template <typename T = uint8_t> T *get() const { return static_cast<T *>(p_); }
    size_t size() const { return len_; }
    void *release() { return std::exchange(p_, nullptr); }

private:
    void *p_ = nullptr;
    size_t len_ = 0;
};

inline std::string read_file(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline std::string debugfs_ctx(const hmmdev::Device &dev, const std::string &file)
{
    return read_file("/sys/kernel/debug/hmmdev/hmmdev0/ctx" +
                     std::to_string(dev.info().asid) + "/" + file);
}

// errno of a raw ioctl, 0 on success.
inline int raw_ioctl(int fd, unsigned long req, void *arg)
{
    return ::ioctl(fd, req, arg) < 0 ? errno : 0;
}

// Byte i of a FILL at dst with pattern p.
inline uint8_t fill_byte(uint64_t dst, uint64_t i, uint64_t p)
{
    return static_cast<uint8_t>(p >> (8 * ((dst + i) % 8)));
}

} // namespace testutil
