// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <sys/ioctl.h>

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
constexpr unsigned long EXCLUSIVE = _IOWR('H', 0x05, struct cmd);
constexpr unsigned long CHECK_EXCLUSIVE = _IOWR('H', 0x06, struct cmd);
} // namespace dmirror
