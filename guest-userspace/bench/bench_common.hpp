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

#include "../lib/dmirror_uapi.hpp"

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
