// SPDX-License-Identifier: MIT
// hmmdev: command-line tool for hmmdev devices.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "hmmdev.hpp"

namespace {

int usage(FILE *out)
{
    std::fprintf(out,
        "usage: hmmdev [-d N] COMMAND\n"
        "  -d N       use /dev/hmmdevN (default 0)\n"
        "commands:\n"
        "  list       list the hmmdev devices\n"
        "  info       show the device's identity and interrupt count\n"
        "  stats      show this context's and the device's counters\n"
        "  hold SECS  open a context, run a FILL, sleep SECS seconds, then try\n"
        "             again and print 'after: ok' or the error (hot-unplug tests)\n"
        "  migrate-hold SECS  migrate 8 MiB to device memory, sleep SECS seconds,\n"
        "             then check the data from the CPU: 'data: ok' (removal tests)\n");
    return out == stderr ? 2 : 0;
}

void print_info(unsigned index, const hmmdev::Info &i)
{
    std::printf("hmmdev%u: hw %u.%u, uapi %u, %u MSI-X vectors, %llu interrupts\n",
                index, i.hw_major(), i.hw_minor(), i.uapi_version, i.msix_vectors,
                static_cast<unsigned long long>(i.irq_count));
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    unsigned index = 0;
    size_t pos = 0;

    if (pos < args.size() && (args[pos] == "-h" || args[pos] == "--help"))
        return usage(stdout);
    if (pos < args.size() && args[pos] == "-d") {
        if (pos + 1 >= args.size())
            return usage(stderr);
        char *end;
        index = std::strtoul(args[pos + 1].c_str(), &end, 0);
        if (*end)
            return usage(stderr);
        pos += 2;
    }
    if (pos >= args.size())
        return usage(stderr);

    const std::string &cmd = args[pos];
    try {
        if (cmd == "list") {
            unsigned n = hmmdev::count_devices();
            for (unsigned i = 0; i < n; i++)
                print_info(i, hmmdev::Device::open(i).info());
            if (n == 0)
                std::printf("no hmmdev devices\n");
            return 0;
        }
        if (cmd == "info") {
            print_info(index, hmmdev::Device::open(index).info());
            return 0;
        }
        if (cmd == "stats") {
            auto dev = hmmdev::Device::open(index);
            for (auto scope : {hmmdev::Scope::Context, hmmdev::Scope::Device}) {
                auto s = dev.stats(scope);
                std::printf("%s:", scope == hmmdev::Scope::Context ? "context" : "device");
                for (const auto &f : hmmdev::kStatFields)
                    std::printf(" %s %llu", f.name, (unsigned long long)(s.*f.field));
                std::printf("\n");
            }
            return 0;
        }
        if (cmd == "hold" && pos + 1 < args.size()) {
            unsigned secs = std::strtoul(args[pos + 1].c_str(), nullptr, 0);
            auto dev = hmmdev::Device::open(index);
            auto &q = dev.create_queue();
            std::vector<uint64_t> buf(512);
            q.run(hmmdev::Command::fill(buf.data(), 0x0101010101010101ull, 4096));
            std::printf("holding asid %u\n", dev.info().asid);
            std::fflush(stdout);
            sleep(secs);
            try {
                q.run(hmmdev::Command::fill(buf.data(), 2, 4096));
                std::printf("after: ok\n");
            } catch (const hmmdev::Error &e) {
                std::printf("after: %s\n", std::strerror(e.err()));
            }
            return 0;
        }
        if (cmd == "migrate-hold" && pos + 1 < args.size()) {
            unsigned secs = std::strtoul(args[pos + 1].c_str(), nullptr, 0);
            auto dev = hmmdev::Device::open(index);
            std::vector<uint64_t> buf((8 << 20) / 8 + 512);
            auto *p = reinterpret_cast<uint64_t *>(
                (reinterpret_cast<uintptr_t>(buf.data()) + 4095) & ~uintptr_t(4095));
            const size_t words = (8 << 20) / 8;
            for (size_t i = 0; i < words; i++)
                p[i] = i * 0x9e3779b97f4a7c15ull;
            auto r = dev.migrate(p, 8 << 20, hmmdev::Memory::Device);
            std::printf("migrated %llu\n", static_cast<unsigned long long>(r.migrated));
            std::fflush(stdout);
            sleep(secs);
            for (size_t i = 0; i < words; i++) {
                if (p[i] != i * 0x9e3779b97f4a7c15ull) {
                    std::printf("data: bad at word %zu\n", i);
                    return 1;
                }
            }
            std::printf("data: ok\n");
            return 0;
        }
    } catch (const hmmdev::Error &e) {
        std::fprintf(stderr, "hmmdev: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "hmmdev: unknown command '%s'\n", cmd.c_str());
    return usage(stderr);
}
