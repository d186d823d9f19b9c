"""Each command through contexts and page tables built in guest RAM: memory results."""
import struct

from tests.lib.hw import VA, setup_ctx
from tests.lib.qtest import OP, R, PageTable, PTE_W, PTE_ATOMIC, PTE_DEVMEM, PAGE, sg_list


def test_nop_completes_and_advances_head(hw):
    # NOP completes with status DONE/NONE and HEAD/COMPLETED move by one each.
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["NOP"])
    assert c.code == R["HMMDEV_ERR_NONE"]
    assert hw.dev.qreg(0, "HEAD") == 1 and hw.dev.qreg(0, "COMPLETED") == 1
    assert hw.dev.qreg(0, "STATUS") & R["HMMDEV_QSTATUS_IDLE"]


def test_fence_writes_value_and_interrupts(hw):
    # FENCE writes its 64-bit value to a DMA address and raises the queue vector.
    fence = hw.alloc.alloc(8, zero=True)
    q = hw.dev.queue(hw.alloc, qid=3)
    c = q.run(OP["FENCE"], (fence, 0x1122334455667788), flags=R["HMMDEV_CMD_F_IRQ"])
    assert c.code == 0 and c.result == 0x1122334455667788
    assert hw.dev.readq(fence) == 0x1122334455667788
    hw.dev.wait_for(lambda: hw.msg(R["HMMDEV_MSIX_VEC_QUEUE0"] + 3), what="queue vector")


def test_copy_through_mmu(hw):
    # COPY of 3 pages + 100 bytes between two VA ranges lands byte-exact.
    pt, buf = setup_ctx(hw, npages=8)
    data = bytes((i * 7 + 3) & 0xFF for i in range(3 * PAGE + 100))
    hw.dev.memwrite(buf, data)
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["COPY"], (VA + 4 * PAGE, VA, len(data)))
    assert c.code == 0 and c.result == len(data)
    assert hw.dev.memread(buf + 4 * PAGE, len(data)) == data
    assert hw.dev.memread(buf + 4 * PAGE + len(data), 16) == bytes(16), "copy overran"
    assert hw.dev.stat("bytes-sys-to-sys") == len(data)


def test_fill_pattern_is_va_aligned(hw):
    # FILL at an odd VA: byte i holds pattern byte (va + i) % 8.
    pt, buf = setup_ctx(hw, npages=2)
    q = hw.dev.queue(hw.alloc)
    pattern = 0x8877665544332211
    c = q.run(OP["FILL"], (VA + 5, pattern, PAGE + 10))
    assert c.code == 0
    pb = struct.pack("<Q", pattern)
    expect = bytes(pb[(5 + i) % 8] for i in range(PAGE + 10))
    assert hw.dev.memread(buf + 5, PAGE + 10) == expect
    assert hw.dev.memread(buf, 5) == bytes(5)


def test_atomic_add_inc_cmpxchg(hw):
    # ATOMIC ops return the old value and update the word in memory.
    pt, buf = setup_ctx(hw, npages=1, flags=PTE_W | PTE_ATOMIC)
    hw.dev.writeq(buf + 8, 100)
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["ATOMIC"], (VA + 8, 5), cdw1=R["HMMDEV_ATOMIC_ADD"]).result == 100
    assert q.run(OP["ATOMIC"], (VA + 8,), cdw1=R["HMMDEV_ATOMIC_INC"]).result == 105
    c = q.run(OP["ATOMIC"], (VA + 8, 999, 7), cdw1=R["HMMDEV_ATOMIC_CMPXCHG"])
    assert c.result == 106 and hw.dev.readq(buf + 8) == 106, "cmpxchg with a wrong compare"
    c = q.run(OP["ATOMIC"], (VA + 8, 999, 106), cdw1=R["HMMDEV_ATOMIC_CMPXCHG"])
    assert c.result == 106 and hw.dev.readq(buf + 8) == 999


def test_atomic_on_device_memory(hw):
    # ATOMIC on a DEVMEM leaf updates device memory (read back through BAR 4).
    pt = PageTable(hw.dev, hw.alloc)
    pt.map(VA, 0x3000, PTE_W | PTE_ATOMIC | PTE_DEVMEM)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["ATOMIC"], (VA + 16, 41), cdw1=0).result == 0
    assert q.run(OP["ATOMIC"], (VA + 16,), cdw1=1).result == 41
    bar4 = hw.place_devmem_bar()
    assert hw.dev.readq(bar4 + 0x3000 + 16) == 42


def test_kernel_sum64(hw):
    # KERNEL SUM64 returns the wrapping sum of 64-bit words across pages.
    pt, buf = setup_ctx(hw, npages=3)
    words = [(i * 0x9E3779B97F4A7C15) & (2**64 - 1) for i in range(3 * PAGE // 8)]
    hw.dev.memwrite(buf, struct.pack(f"<{len(words)}Q", *words))
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["KERNEL"], (0, VA, 3 * PAGE), cdw1=R["HMMDEV_KERNEL_SUM64"])
    assert c.code == 0 and c.result == sum(words) & (2**64 - 1)


def test_kernel_axpy32(hw):
    # KERNEL AXPY32 computes dst[i] = a*x[i] + y[i] with 32-bit wrap.
    pt, buf = setup_ctx(hw, npages=6)
    n = 2 * PAGE // 4
    x = [(i * 2654435761) & 0xFFFFFFFF for i in range(n)]
    y = [(i * 40503 + 17) & 0xFFFFFFFF for i in range(n)]
    hw.dev.memwrite(buf, struct.pack(f"<{n}I", *x))
    hw.dev.memwrite(buf + 2 * PAGE, struct.pack(f"<{n}I", *y))
    q = hw.dev.queue(hw.alloc)
    a = 0x10001
    c = q.run(OP["KERNEL"], (VA + 4 * PAGE, VA, 2 * PAGE, VA + 2 * PAGE, a),
              cdw1=R["HMMDEV_KERNEL_AXPY32"])
    assert c.code == 0
    got = struct.unpack(f"<{n}I", hw.dev.memread(buf + 4 * PAGE, 2 * PAGE))
    assert list(got) == [(a * xi + yi) & 0xFFFFFFFF for xi, yi in zip(x, y)]


def test_sg_copy_sys_to_dev_and_back(hw):
    # SG_COPY moves 64 scattered pages to device memory and back, byte-exact.
    npages = 64
    src = hw.alloc.alloc(npages * PAGE)
    dst = hw.alloc.alloc(npages * PAGE, zero=True)
    data = bytes((i * 131 + 7) & 0xFF for i in range(npages * PAGE))
    hw.dev.memwrite(src, data)
    # to device memory, pages reversed
    to_dev = [(src + i * PAGE, (npages - 1 - i) * PAGE, PAGE, R["HMMDEV_SG_DST_DEVMEM"])
              for i in range(npages)]
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["SG_COPY"], (sg_list(hw.dev, hw.alloc, to_dev, align=32), npages))
    assert c.code == 0 and c.info == npages and c.result == npages * PAGE
    back = [((npages - 1 - i) * PAGE, dst + i * PAGE, PAGE, R["HMMDEV_SG_SRC_DEVMEM"])
            for i in range(npages)]
    c = q.run(OP["SG_COPY"], (sg_list(hw.dev, hw.alloc, back, align=32), npages))
    assert c.code == 0
    assert hw.dev.memread(dst, npages * PAGE) == data
    assert hw.dev.stat("bytes-sys-to-dev") == npages * PAGE
    assert hw.dev.stat("bytes-dev-to-sys") == npages * PAGE
    assert hw.dev.stat("cmd-sg-copy") == 2


def test_copy_between_system_and_device_memory(hw):
    # COPY where the destination VA maps device memory; read back over BAR 4.
    pt, buf = setup_ctx(hw, npages=2)
    pt.map(VA + 0x10_0000, 0x20_0000, PTE_W | PTE_DEVMEM)
    data = bytes(range(256)) * 16
    hw.dev.memwrite(buf, data)
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["COPY"], (VA + 0x10_0000, VA, PAGE)).code == 0
    bar4 = hw.place_devmem_bar()
    assert hw.dev.memread(bar4 + 0x20_0000, PAGE) == data
    assert hw.dev.stat("bytes-sys-to-dev") == PAGE


def test_tlb_inv_command_drops_entries(hw):
    # TLB_INV (ASID scope) as a command empties the context's TLB entries.
    pt, buf = setup_ctx(hw, npages=1)
    q = hw.dev.queue(hw.alloc)
    q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    misses = hw.dev.stat("tlb-misses")
    q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    assert hw.dev.stat("tlb-misses") == misses, "second access must hit"
    assert q.run(OP["TLB_INV"], (0, 0, 0), cdw1=R["HMMDEV_INV_ASID"]).code == 0
    q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    assert hw.dev.stat("tlb-misses") == misses + 1


def test_commands_counted_per_type(hw):
    # stat-cmd-* count each opcode executed.
    q = hw.dev.queue(hw.alloc)
    before = hw.dev.stats("cmd-nop", "cmd-fence")
    fence = hw.alloc.alloc(8)
    for _ in range(3):
        q.run(OP["NOP"])
    q.run(OP["FENCE"], (fence, 1))
    assert hw.dev.stat("cmd-nop") == before["cmd-nop"] + 3
    assert hw.dev.stat("cmd-fence") == before["cmd-fence"] + 1
