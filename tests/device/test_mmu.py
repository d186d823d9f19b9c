"""Device MMU: TLB caching and invalidation, counters, 2 MiB leaves, A/D bits, walk errors."""
from tests.lib.hw import VA, setup_ctx
from tests.lib.qtest import OP, R, PageTable, PTE_V, PTE_W, PTE_A, PTE_D, PTE_DEVMEM, PAGE, HUGE


def sum8(q, va):
    """Read the u64 at va through the device (SUM64 over 8 bytes)."""
    c = q.run(OP["KERNEL"], (0, va, 8), cdw1=R["HMMDEV_KERNEL_SUM64"])
    assert c.code == 0, c
    return c.result


def test_tlb_caches_until_invalidated(hw):
    # A PTE rewritten in memory is not seen until INV_CMD; then the new page is used.
    pt, buf = setup_ctx(hw, npages=1)
    other = hw.alloc.alloc(PAGE)
    hw.dev.writeq(buf, 0xAAAA)
    hw.dev.writeq(other, 0xBBBB)
    q = hw.dev.queue(hw.alloc)
    assert sum8(q, VA) == 0xAAAA
    pt.set_pte(VA, other | PTE_V | PTE_W)                 # no invalidation
    assert sum8(q, VA) == 0xAAAA, "the device must still use the cached translation"
    hw.dev.set_reg("INV_ASID", 0)
    hw.dev.set_reg("INV_VA_HI", VA >> 32)
    hw.dev.set_reg("INV_VA_LO", VA & 0xFFFFFFFF)
    hw.dev.set_reg("INV_SIZE_HI", 0)
    hw.dev.set_reg("INV_SIZE_LO", PAGE)
    seq = hw.dev.reg("INV_SEQ")
    hw.dev.set_reg("INV_CMD", R["HMMDEV_INV_RANGE"])
    hw.dev.wait_for(lambda: not hw.dev.reg("INV_STATUS") & R["HMMDEV_INV_STATUS_BUSY"])
    assert hw.dev.reg("INV_SEQ") == seq + 1
    assert sum8(q, VA) == 0xBBBB


def test_range_invalidation_spares_other_pages(hw):
    # A range invalidation of page 1 leaves pages 0 and 2 cached (counted hits).
    pt, buf = setup_ctx(hw, npages=3)
    q = hw.dev.queue(hw.alloc)
    for i in range(3):
        sum8(q, VA + i * PAGE)
    before = hw.dev.stats("tlb-hits", "tlb-misses")
    hw.dev.set_reg("INV_VA_HI", (VA + PAGE) >> 32)
    hw.dev.set_reg("INV_VA_LO", (VA + PAGE) & 0xFFFFFFFF)
    hw.dev.set_reg("INV_SIZE_LO", PAGE)
    hw.dev.set_reg("INV_CMD", R["HMMDEV_INV_RANGE"])
    for i in range(3):
        sum8(q, VA + i * PAGE)
    after = hw.dev.stats("tlb-hits", "tlb-misses")
    assert after["tlb-hits"] - before["tlb-hits"] == 2
    assert after["tlb-misses"] - before["tlb-misses"] == 1


def test_hit_miss_counters_match_lru_model(hw_factory):
    # With a 4-entry TLB, an access sequence gives exactly the hits/misses of an LRU model.
    hw = hw_factory(",tlb-entries=4")
    assert hw.dev.reg("TLB_ENTRIES") == 4
    pt, buf = setup_ctx(hw, npages=6)
    q = hw.dev.queue(hw.alloc)
    seq = [0, 1, 2, 3, 0, 4, 1, 5, 0, 0, 2, 3, 4]
    lru, hits, misses = [], 0, 0
    for p in seq:
        if p in lru:
            hits += 1
            lru.remove(p)
        else:
            misses += 1
            if len(lru) == 4:
                lru.pop(0)
        lru.append(p)
    before = hw.dev.stats("tlb-hits", "tlb-misses", "tlb-walks")
    for p in seq:
        sum8(q, VA + p * PAGE)
    after = hw.dev.stats("tlb-hits", "tlb-misses", "tlb-walks")
    assert after["tlb-hits"] - before["tlb-hits"] == hits
    assert after["tlb-misses"] - before["tlb-misses"] == misses
    assert after["tlb-walks"] - before["tlb-walks"] == misses


def test_copy_translation_count(hw):
    # A COPY of n aligned pages makes n source and n destination translations.
    pt, buf = setup_ctx(hw, npages=8)
    q = hw.dev.queue(hw.alloc)
    before = hw.dev.stats("tlb-hits", "tlb-misses")
    q.run(OP["COPY"], (VA + 4 * PAGE, VA, 4 * PAGE))
    mid = hw.dev.stats("tlb-hits", "tlb-misses")
    assert mid["tlb-misses"] - before["tlb-misses"] == 8 and mid["tlb-hits"] == before["tlb-hits"]
    q.run(OP["COPY"], (VA + 4 * PAGE, VA, 4 * PAGE))
    after = hw.dev.stats("tlb-hits", "tlb-misses")
    assert after["tlb-hits"] - mid["tlb-hits"] == 8 and after["tlb-misses"] == mid["tlb-misses"]


def test_accessed_and_dirty_bits(hw):
    # Reads set A only; a write sets D even when the page is already cached by a read.
    pt, buf = setup_ctx(hw, npages=2)
    q = hw.dev.queue(hw.alloc)
    sum8(q, VA)
    assert pt.pte(VA) & PTE_A and not pt.pte(VA) & PTE_D
    assert not pt.pte(VA + PAGE) & PTE_A
    walks = hw.dev.stat("tlb-walks")
    q.run(OP["FILL"], (VA, 0x55, 8))                      # write through a read-cached entry
    assert pt.pte(VA) & PTE_D, "D must be set in memory"
    assert hw.dev.stat("tlb-walks") == walks + 1


def test_2mib_leaf_next_to_4k_leaves(hw):
    # A 2 MiB leaf and 4 KiB leaves in neighbouring level-2 slots both resolve correctly.
    pt = PageTable(hw.dev, hw.alloc)
    huge = hw.alloc.alloc(HUGE, align=HUGE, zero=False)
    small = hw.alloc.alloc(2 * PAGE)
    base = VA                                   # VA is 2 MiB aligned
    pt.map(base, huge, PTE_W, huge=True)        # [base, base + 2M)
    pt.map(base + HUGE, small, PTE_W)           # next 2 MiB region: 4 KiB pages
    pt.map(base + HUGE + PAGE, small + PAGE, PTE_W)
    hw.dev.set_ctx(0, pt.root)
    for off, val in ((0, 1), (PAGE * 300 + 8, 2), (HUGE - 8, 3)):
        hw.dev.writeq(huge + off, val)
    hw.dev.writeq(small + 16, 4)
    hw.dev.writeq(small + PAGE + 24, 5)
    q = hw.dev.queue(hw.alloc)
    assert sum8(q, base) == 1
    assert sum8(q, base + PAGE * 300 + 8) == 2
    assert sum8(q, base + HUGE - 8) == 3
    assert sum8(q, base + HUGE + 16) == 4
    assert sum8(q, base + HUGE + PAGE + 24) == 5
    # One TLB entry covers the whole 2 MiB page: 3 accesses, 1 miss.
    # A copy across the 2M/4K boundary is exact.
    data = bytes(range(256)) * 32
    hw.dev.memwrite(huge + HUGE - 4096, data[:4096])
    hw.dev.memwrite(small, data[4096:])
    dst = hw.alloc.alloc(2 * PAGE)
    pt.map(base + 2 * HUGE, dst, PTE_W)
    pt.map(base + 2 * HUGE + PAGE, dst + PAGE, PTE_W)
    assert q.run(OP["COPY"], (base + 2 * HUGE, base + HUGE - PAGE, 2 * PAGE)).code == 0
    assert hw.dev.memread(dst, 2 * PAGE) == data


def test_2mib_leaf_is_one_tlb_entry(hw):
    # Three accesses inside one 2 MiB leaf: one miss, two hits.
    pt = PageTable(hw.dev, hw.alloc)
    huge = hw.alloc.alloc(HUGE, align=HUGE)
    pt.map(VA, huge, PTE_W, huge=True)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    before = hw.dev.stats("tlb-hits", "tlb-misses")
    for off in (0, 0x10_0000, HUGE - 8):
        sum8(q, VA + off)
    after = hw.dev.stats("tlb-hits", "tlb-misses")
    assert (after["tlb-misses"] - before["tlb-misses"], after["tlb-hits"] - before["tlb-hits"]) == (1, 2)


def test_page_table_cycle_and_reserved_bits_are_errors(hw):
    # A table pointing back at the root, reserved PTE bits, a misaligned 2 MiB leaf: PT_BAD.
    pt = PageTable(hw.dev, hw.alloc)
    hw.dev.writeq(pt.root + 8 * PageTable.index(VA, 4), pt.root | PTE_V)   # cycle
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    assert c.code == R["HMMDEV_ERR_PT_BAD"]
    pt2 = PageTable(hw.dev, hw.alloc)
    buf = hw.alloc.alloc(PAGE)
    ea = pt2.map(VA, buf, PTE_W)
    hw.dev.writeq(ea, buf | PTE_V | (1 << 9))                              # reserved bit
    hw.dev.set_ctx(1, pt2.root)
    q1 = hw.dev.queue(hw.alloc, qid=1, asid=1)
    assert q1.run(OP["KERNEL"], (0, VA, 8), cdw1=0).code == R["HMMDEV_ERR_PT_BAD"]
    pt3 = PageTable(hw.dev, hw.alloc)
    pt3.map(VA, buf, PTE_W, huge=True)                                     # 4K-aligned only
    hw.dev.set_ctx(2, pt3.root)
    q2 = hw.dev.queue(hw.alloc, qid=2, asid=2)
    assert q2.run(OP["KERNEL"], (0, VA, 8), cdw1=0).code == R["HMMDEV_ERR_PT_BAD"]
    assert hw.dev.reg("ID") == R["HMMDEV_ID_MAGIC"]


def test_walk_dma_failure_and_devmem_range(hw):
    # A root outside RAM gives PT_DMA; a DEVMEM leaf beyond device memory gives DEVMEM_RANGE.
    hw.dev.set_ctx(0, 0xFEB0_0000)                 # no RAM there (MMIO hole)
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["KERNEL"], (0, VA, 8), cdw1=0).code == R["HMMDEV_ERR_PT_DMA"]
    pt = PageTable(hw.dev, hw.alloc)
    pt.map(VA, 256 << 20, PTE_W | PTE_DEVMEM)      # == devmem size: out of range
    hw.dev.set_ctx(1, pt.root)
    q1 = hw.dev.queue(hw.alloc, qid=1, asid=1)
    assert q1.run(OP["KERNEL"], (0, VA, 8), cdw1=0).code == R["HMMDEV_ERR_DEVMEM_RANGE"]


def test_disabled_context(hw):
    # A queue bound to a disabled context completes VA commands with CTX.
    pt, buf = setup_ctx(hw, npages=1)
    hw.dev.set_ctx(0, pt.root, enable=False)
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["KERNEL"], (0, VA, 8), cdw1=0).code == R["HMMDEV_ERR_CTX"]
