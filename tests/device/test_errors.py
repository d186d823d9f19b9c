"""Bad programming never hurts QEMU: each case gets its error code; reset returns to a clean state."""
import pytest

from tests.lib.hw import Hw, VA, setup_ctx
from tests.lib.qtest import OP, R, PageTable, PTE_W, PAGE, SG_ENTRY, cmd_bytes


def err(hw):
    code = hw.dev.reg("ERROR")
    hw.dev.clear_error()
    return code


def test_bad_vectors_refused_everywhere(hw):
    # Vector numbers >= MSIX_VECTORS are refused for queues and the fault ring.
    n = R["HMMDEV_MSIX_VECTORS"]
    hw.dev.set_qreg(0, "VECTOR", n)
    assert err(hw) == R["HMMDEV_ERR_BAD_VECTOR"] and hw.dev.qreg(0, "VECTOR") == 0
    hw.dev.set_reg("FQ_VECTOR", 0xFFFFFFFF)
    assert err(hw) == R["HMMDEV_ERR_BAD_VECTOR"] and hw.dev.reg("FQ_VECTOR") == 0
    hw.dev.set_reg("IRQ_TEST", n)
    assert err(hw) == R["HMMDEV_ERR_BAD_VECTOR"]


@pytest.mark.parametrize("base,size,asid", [
    (0x100_0010, 64, 0),        # misaligned ring
    (0x100_0000, 48, 0),        # not a power of two
    (0x100_0000, 8192, 0),      # too large
    (0x100_0000, 64, 64),       # ASID out of range
])
def test_queue_enable_validates(hw, base, size, asid):
    # Queue enable with a bad base/size/ASID is refused with BAD_VALUE.
    for reg, val in (("BASE_LO", base), ("SIZE", size), ("ASID", asid)):
        hw.dev.set_qreg(1, reg, val)
    hw.dev.set_qreg(1, "CTRL", 1)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"]
    assert not hw.dev.qreg(1, "STATUS") & R["HMMDEV_QSTATUS_ENABLED"]


def test_locked_config_and_doorbell_past_ring(hw):
    # Config writes while enabled are BAD_STATE; TAIL >= SIZE is BAD_DOORBELL and ignored.
    q = hw.dev.queue(hw.alloc, size=8)
    hw.dev.set_qreg(0, "SIZE", 16)
    assert err(hw) == R["HMMDEV_ERR_BAD_STATE"] and hw.dev.qreg(0, "SIZE") == 8
    hw.dev.set_qreg(0, "TAIL", 8)
    assert err(hw) == R["HMMDEV_ERR_BAD_DOORBELL"] and hw.dev.qreg(0, "TAIL") == 0
    hw.dev.set_qreg(1, "TAIL", 1)                         # disabled queue
    assert err(hw) == R["HMMDEV_ERR_BAD_STATE"]
    assert q.run(OP["NOP"]).code == 0


def test_unknown_and_malformed_commands(hw):
    # Unknown opcodes/sub-ops, reserved bits, zero and misaligned lengths, VAs past 2^48.
    pt, buf = setup_ctx(hw, npages=1, flags=PTE_W | R["HMMDEV_PTE_ATOMIC"])
    q = hw.dev.queue(hw.alloc)
    cases = [
        (cmd_bytes(0x7F), "BAD_OPCODE"),
        (cmd_bytes(OP["KERNEL"], (0, VA, 8), cdw1=9), "BAD_OPCODE"),
        (cmd_bytes(OP["ATOMIC"], (VA,), cdw1=9), "BAD_OPCODE"),
        (cmd_bytes(OP["NOP"], rsvd0=1), "BAD_CMD"),
        (cmd_bytes(OP["NOP"], flags=0x80), "BAD_CMD"),
        (cmd_bytes(OP["NOP"], (1,)), "BAD_CMD"),
        (cmd_bytes(OP["COPY"], (VA, VA + 8, 0)), "BAD_CMD"),
        (cmd_bytes(OP["COPY"], (VA, VA + 8, 16)), "BAD_CMD"),          # overlap
        (cmd_bytes(OP["ATOMIC"], (VA + 4, 1)), "BAD_CMD"),             # misaligned
        (cmd_bytes(OP["KERNEL"], (0, VA + 4, 8)), "BAD_CMD"),
        (cmd_bytes(OP["FILL"], ((1 << 48) - 8, 0, 16)), "BAD_ADDR"),
        (cmd_bytes(OP["COPY"], (1 << 60, VA, 8)), "BAD_ADDR"),
        (cmd_bytes(OP["FENCE"], (buf + 3, 1)), "BAD_CMD"),
        (cmd_bytes(OP["SG_COPY"], (buf, 0)), "BAD_CMD"),
        (cmd_bytes(OP["SG_COPY"], (buf, 65537)), "BAD_CMD"),
        (cmd_bytes(OP["TLB_INV"], (0, 0, 0), cdw1=7), "BAD_OPCODE"),
        (cmd_bytes(OP["TLB_INV"], (0, 64, 0), cdw1=2), "BAD_CMD"),
    ]
    before = hw.dev.stat("cmd-errors")
    for data, code in cases:
        c = q.wait(q.submit_raw(data))
        assert c.code == R[f"HMMDEV_ERR_{code}"], (data[:8].hex(), c)
    assert hw.dev.stat("cmd-errors") - before == len(cases)
    assert hw.dev.qreg(0, "ERROR") == R["HMMDEV_ERR_BAD_CMD"]      # the last one
    assert q.run(OP["NOP"]).code == 0


def test_sg_copy_bad_entries(hw):
    # SG entries out of device memory, malformed, or with unreadable lists fail cleanly.
    q = hw.dev.queue(hw.alloc)
    src = hw.alloc.alloc(PAGE)
    lst = hw.alloc.alloc(64, align=32)
    size = 256 << 20
    def run(entries):
        hw.dev.memwrite(lst, b"".join(SG_ENTRY.pack(*e) for e in entries))
        return q.run(OP["SG_COPY"], (lst, len(entries)))
    c = run([(src, 0, PAGE, 2, 0), (src, size - 8, 16, 2, 0)])
    assert c.code == R["HMMDEV_ERR_DEVMEM_RANGE"] and c.info == 1 and c.result == PAGE
    assert run([(src, 0, PAGE, 8, 0)]).code == R["HMMDEV_ERR_BAD_CMD"]
    assert run([(src, 0, 0, 2, 0)]).code == R["HMMDEV_ERR_BAD_CMD"]
    assert run([(2**64 - PAGE, 0, PAGE, 1, 0)]).code == R["HMMDEV_ERR_DEVMEM_RANGE"]
    assert run([(0xFEB0_0000, 0, PAGE, 2, 0)]).code == R["HMMDEV_ERR_DMA"]
    assert q.run(OP["SG_COPY"], (0xFEB0_0000, 1)).code == R["HMMDEV_ERR_RING_DMA"]


def test_dma_to_mmio_is_refused(hw):
    # A PTE or fence pointing at the device's own registers fails; registers are untouched.
    q = hw.dev.queue(hw.alloc)
    hw.dev.set_reg("SCRATCH", 0x1234)
    target = hw.dev.BAR0_ADDR + R["HMMDEV_REG_SCRATCH"]
    assert q.run(OP["FENCE"], (target, 0xDEAD)).code == R["HMMDEV_ERR_RING_DMA"]
    pt = PageTable(hw.dev, hw.alloc)
    pt.map(VA, hw.dev.BAR0_ADDR, PTE_W)
    hw.dev.set_ctx(0, pt.root)
    assert q.run(OP["FILL"], (VA + R["HMMDEV_REG_CONTROL"], 1, 4)).code == R["HMMDEV_ERR_DMA"]
    assert hw.dev.reg("SCRATCH") == 0x1234


def ring_fetch_fails(hw, qid, base):
    """Enable queue qid on a ring at base and ring it: the fetch fails with RING_DMA."""
    for reg, val in (("BASE_LO", base), ("SIZE", 8), ("CTRL", 1), ("TAIL", 1)):
        hw.dev.set_qreg(qid, reg, val)
    hw.dev.wait_for(lambda: hw.dev.qreg(qid, "STATUS") & R["HMMDEV_QSTATUS_ERROR"])
    assert hw.dev.qreg(qid, "ERROR") == R["HMMDEV_ERR_RING_DMA"]


def test_ring_dma_failure_stops_only_that_queue(hw):
    # A ring in unbacked address space: queue ERROR + RING_DMA; other queues work; re-enable recovers.
    ring_fetch_fails(hw, 4, 0xFEB0_0000)
    assert err(hw) == R["HMMDEV_ERR_RING_DMA"]
    q = hw.dev.queue(hw.alloc, qid=0)
    assert q.run(OP["NOP"]).code == 0
    hw.dev.set_qreg(4, "CTRL", 0)
    ring = hw.alloc.alloc(8 * 64, zero=True)
    hw.dev.set_qreg(4, "BASE_LO", ring)
    hw.dev.set_qreg(4, "CTRL", 1)
    assert hw.dev.qreg(4, "STATUS") & R["HMMDEV_QSTATUS_ENABLED"]
    assert not hw.dev.qreg(4, "STATUS") & R["HMMDEV_QSTATUS_ERROR"]


def test_bus_master_off_fails_dma(qmachine):
    # Without bus mastering, the command fetch fails: RING_DMA, no crash.
    m, d = qmachine()
    hw = Hw(m, d)
    d.cfg_writew(0x04, d.cfg_readw(0x04) & ~0x4)        # clear Bus Master Enable
    ring_fetch_fails(hw, 0, 0x100_0000)


def test_misaligned_registers(hw):
    # Misaligned context root, fault ring base/size, invalidation range and a bad scope.
    hw.dev.set_ctx(0, 0x100_0800)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"]
    assert not hw.dev.readl(hw.dev.BAR0_ADDR + R["HMMDEV_REG_CTX_BASE"]) & 1
    hw.dev.set_reg("FQ_BASE_LO", 0x100_0010)
    hw.dev.set_reg("FQ_SIZE", 4)
    hw.dev.set_reg("FQ_CTRL", 1)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"] and not hw.dev.reg("FQ_CTRL")
    hw.dev.set_reg("FQ_BASE_LO", 0x100_0000)
    hw.dev.set_reg("FQ_SIZE", 3)
    hw.dev.set_reg("FQ_CTRL", 1)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"] and not hw.dev.reg("FQ_CTRL")
    hw.dev.set_reg("FQ_HEAD", 0)
    assert err(hw) == R["HMMDEV_ERR_BAD_STATE"]
    hw.dev.set_reg("INV_CMD", 9)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"]
    seq = hw.dev.reg("INV_SEQ")
    hw.dev.set_reg("INV_VA_LO", 0x1234)
    hw.dev.set_reg("INV_SIZE_LO", 0x10)
    hw.dev.set_reg("INV_CMD", R["HMMDEV_INV_RANGE"])
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"]
    assert hw.dev.reg("INV_SEQ") == seq + 1, "a misaligned range is still invalidated"
    hw.dev.set_qreg(0, "FAULT", 1)
    assert err(hw) == R["HMMDEV_ERR_BAD_STATE"]
    hw.dev.set_qreg(0, "FAULT", 3)
    assert err(hw) == R["HMMDEV_ERR_BAD_VALUE"]


def test_reset_returns_everything_to_clean_state(hw):
    # CONTROL.RESET with a stalled queue and a warm TLB: every register reads its reset value.
    fq = hw.dev.setup_fq(hw.alloc, 8)
    pt, buf = setup_ctx(hw, npages=1)
    q = hw.dev.queue(hw.alloc)
    q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    q1 = hw.dev.queue(hw.alloc, qid=1)
    slot = q1.submit(OP["KERNEL"], (0, VA + PAGE, 8), cdw1=0)
    q1.wait_stalled()
    hw.dev.set_reg("INV_CMD", 1)
    hw.dev.set_reg("SCRATCH", 7)
    hw.dev.set_reg("IRQ_TEST", 99)
    hw.dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    for name in ("SCRATCH", "ERROR", "ERROR_COUNT", "FQ_CTRL", "FQ_HEAD", "FQ_TAIL", "FQ_STATUS",
                 "INV_SEQ", "INV_STATUS", "FQ_BASE_LO"):
        assert hw.dev.reg(name) == 0, name
    assert hw.dev.reg("STATUS") == R["HMMDEV_STATUS_READY"]
    for i in range(R["HMMDEV_NUM_QUEUES"]):
        assert hw.dev.qreg(i, "STATUS") == R["HMMDEV_QSTATUS_IDLE"]
        assert hw.dev.qreg(i, "HEAD") == 0 and hw.dev.qreg(i, "BASE_LO") == 0
    assert hw.dev.readl(hw.dev.BAR0_ADDR + R["HMMDEV_REG_CTX_BASE"]) == 0
    assert q1.completion(slot) is None, "no completion may appear after reset"
    # The device works again after reprogramming, and the TLB is cold.
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    misses = hw.dev.stat("tlb-misses")
    q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    assert hw.dev.stat("tlb-misses") == misses + 1
    assert q1.completion(slot) is None


def test_queue_disable_abandons_stalled_command(hw):
    # Disabling a stalled queue forgets the stall; the command never completes.
    fq = hw.dev.setup_fq(hw.alloc)
    pt = PageTable(hw.dev, hw.alloc)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    slot = q.submit(OP["KERNEL"], (0, VA, 8), cdw1=0)
    q.wait_stalled()
    hw.dev.set_qreg(0, "CTRL", 0)
    assert hw.dev.qreg(0, "STATUS") & (R["HMMDEV_QSTATUS_STALLED"] | R["HMMDEV_QSTATUS_ENABLED"]) == 0
    assert q.completion(slot) is None
