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
    return Info{raw.uapi_version, raw.hw_version, raw.msix_vectors, raw.irq_count};
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
