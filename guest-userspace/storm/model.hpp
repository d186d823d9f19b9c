// SPDX-License-Identifier: MIT
// hmmdev-storm: what every page of a region must contain.
//
// A page's content is a function of (page number, generation, kind): the
// storm never has to remember bytes, only one small record per page.  Pages
// are grouped in blocks; a block belongs to one thread, which alone changes
// its contents (writes, FILL, COPY, unmap, DONTNEED, mprotect), so the record
// it keeps is exact.  Other threads only move pages (migration), which keeps
// the contents, or read them under the fork lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace storm {

constexpr size_t kPage = 4096;
constexpr size_t kWords = kPage / 8;
constexpr size_t kBlockPages = 16;
constexpr size_t kBlock = kBlockPages * kPage;

// How a page got its content.
enum class Kind : uint8_t {
    Zero,       // never written, unmapped and mapped again, or DONTNEED
    Pattern,    // word i = f(page, gen) ^ i * K: CPU writes, COPY, WRITE
    Fill,       // every word = f(page, gen): the device's FILL
};

struct PageState {
    uint32_t gen = 0;
    Kind kind = Kind::Zero;
};

inline uint64_t page_value(uint64_t page, uint32_t gen)
{
    return (page << 24 | gen) * 0x9e3779b97f4a7c15ull | 1;
}

inline uint64_t expected_word(uint64_t page, PageState st, size_t i)
{
    switch (st.kind) {
    case Kind::Zero:
        return 0;
    case Kind::Fill:
        return page_value(page, st.gen);
    case Kind::Pattern:
        break;
    }
    return page_value(page, st.gen) ^ (i * 0xff51afd7ed558ccdull);
}

// Write the pattern content of (page, gen) into a page-sized buffer.
inline void make_pattern(uint64_t *w, uint64_t page, uint32_t gen)
{
    for (size_t i = 0; i < kWords; i++)
        w[i] = expected_word(page, {gen, Kind::Pattern}, i);
}

// The first word of @w that differs from the page's expected content, or -1.
inline long first_difference(const uint64_t *w, uint64_t page, PageState st)
{
    for (size_t i = 0; i < kWords; i++)
        if (w[i] != expected_word(page, st, i))
            return long(i);
    return -1;
}

// One mapping the storm works on.
struct Region {
    std::string name;           // anon, thp, hugetlb, shared
    char *base = nullptr;
    size_t len = 0;
    int flags = 0;              // the mmap flags, to map a block again
    bool migratable = true;     // anonymous memory: migrate_vma moves it
    uint64_t first_page = 0;    // global page number of base (for contents)
    std::vector<PageState> pages;
    std::vector<uint8_t> unmapped;   // per block: unmapped right now
    std::vector<uint8_t> readonly;   // per block: mprotect(PROT_READ) right now

    size_t blocks() const { return len / kBlock; }
    char *page_addr(size_t p) const { return base + p * kPage; }
};

} // namespace storm
