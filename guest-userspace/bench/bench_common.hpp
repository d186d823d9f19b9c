// SPDX-License-Identifier: MIT
// What the guest benchmarks share: the test_hmm uAPI and small timing helpers.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <sys/ioctl.h>
#include <vector>

// The test_hmm uAPI, as in the kernel's lib/test_hmm_uapi.h (Linux 6.12):
// struct hmm_dmirror_cmd and the ioctl numbers the benchmarks use.  Defined
// here rather than included because that header is not installed with the
// kernel headers and the kernel tree is not known when meson configures; the
// ioctl numbers encode the struct's size, so a mismatch fails with ENOTTY.
namespace dmirror {
struct cmd {
    uint64_t addr;    // in: user address the device reads/writes
    uint64_t ptr;     // in: user address the data is copied to/from
    uint64_t npages;  // in
    uint64_t cpages;  // out: pages copied
    uint64_t faults;  // out: device page faults seen
};
static_assert(sizeof(cmd) == 40);
constexpr unsigned long READ = _IOWR('H', 0x00, struct cmd);
constexpr unsigned long WRITE = _IOWR('H', 0x01, struct cmd);
constexpr unsigned long MIGRATE_TO_DEV = _IOWR('H', 0x02, struct cmd);
constexpr unsigned long MIGRATE_TO_SYS = _IOWR('H', 0x03, struct cmd);
} // namespace dmirror

namespace bench {

// Each program names itself for its error messages.
extern const char *const program;

[[noreturn]] inline void die(const std::string &what)
{
    fprintf(stderr, "%s: %s: %s\n", program, what.c_str(), strerror(errno));
    exit(1);
}

inline uint64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

inline double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace bench
