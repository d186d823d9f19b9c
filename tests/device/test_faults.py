"""Replayable faults: records, interrupts, REPLAY/CANCEL, coalescing, overflow, OOB invalidation."""
from tests.lib.hw import VA
from tests.lib.qtest import OP, R, PageTable, PTE_V, PTE_W, PTE_ATOMIC, PAGE

FAULT_VEC = R["HMMDEV_MSIX_VEC_FAULT"]


def test_miss_record_interrupt_replay(hw):
    # COPY faults on an unmapped source page; REPLAY after mapping it completes with the right data.
    fq = hw.dev.setup_fq(hw.alloc, 16, FAULT_VEC)
    pt = PageTable(hw.dev, hw.alloc)
    src, dst = hw.alloc.alloc(2 * PAGE), hw.alloc.alloc(2 * PAGE, zero=True)
    data = bytes((i * 13) & 0xFF for i in range(2 * PAGE))
    hw.dev.memwrite(src, data)
    pt.map(VA, src, 0)                                # page 0 read-only, page 1 missing
    pt.map_range(VA + 0x10000, dst, 2 * PAGE, PTE_W)
    hw.dev.set_ctx(5, pt.root)
    q = hw.dev.queue(hw.alloc, qid=2, asid=5)
    slot = q.submit(OP["COPY"], (VA + 0x10000, VA, 2 * PAGE))
    q.wait_stalled()
    fq.wait_records(1)
    hw.dev.wait_for(lambda: hw.msg(FAULT_VEC), what="fault interrupt")
    (rec,) = fq.drain()
    assert (rec.va, rec.asid, rec.queue) == (VA + PAGE, 5, 2)
    assert rec.access == R["HMMDEV_ACCESS_READ"] and rec.reason == R["HMMDEV_FAULT_NOT_PRESENT"]
    assert rec.level == 1 and rec.seq == 1 and rec.cmd_index == slot
    assert rec.flags & R["HMMDEV_FR_PHASE"]
    assert q.completion(slot) is None
    pt.map(VA + PAGE, src + PAGE, 0)
    q.replay()
    c = q.wait(slot)
    assert c.code == 0 and hw.dev.memread(dst, 2 * PAGE) == data
    assert hw.dev.stat("replays") == 1 and hw.dev.stat("faults") == 1


def test_write_protection_fault_then_cancel(hw):
    # A write to a read-only page faults with PROTECTION/WRITE; CANCEL completes with FAULT.
    fq = hw.dev.setup_fq(hw.alloc)
    pt = PageTable(hw.dev, hw.alloc)
    buf = hw.alloc.alloc(PAGE)
    pt.map(VA, buf, 0)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    slot = q.submit(OP["FILL"], (VA + 64, 0xFF, 8))
    fq.wait_records(1)
    (rec,) = fq.drain()
    assert rec.reason == R["HMMDEV_FAULT_PROTECTION"] and rec.access == R["HMMDEV_ACCESS_WRITE"]
    q.cancel()
    c = q.wait(slot)
    assert c.code == R["HMMDEV_ERR_FAULT"] and c.result == VA + 64
    assert c.reason == R["HMMDEV_FAULT_PROTECTION"] and c.access == R["HMMDEV_ACCESS_WRITE"]
    assert hw.dev.readq(buf + 64) == 0
    assert hw.dev.stat("cancels") == 1
    assert q.run(OP["NOP"]).code == 0, "the queue goes on after a cancel"


def test_atomic_needs_atomic_permission(hw):
    # ATOMIC on a writable page without ATOMIC faults (access ATOMIC); granting it and REPLAY works.
    fq = hw.dev.setup_fq(hw.alloc)
    pt = PageTable(hw.dev, hw.alloc)
    buf = hw.alloc.alloc(PAGE)
    pt.map(VA, buf, PTE_W)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    slot = q.submit(OP["ATOMIC"], (VA, 7), cdw1=R["HMMDEV_ATOMIC_ADD"])
    fq.wait_records(1)
    (rec,) = fq.drain()
    assert rec.access == R["HMMDEV_ACCESS_ATOMIC"] and rec.reason == R["HMMDEV_FAULT_PROTECTION"]
    pt.set_pte(VA, buf | PTE_V | PTE_W | PTE_ATOMIC)
    q.replay()
    assert q.wait(slot).code == 0 and hw.dev.readq(buf) == 7


def test_fault_without_fault_ring_is_not_replayable(hw):
    # With the fault ring disabled a fault completes the command with FAULT at once.
    pt = PageTable(hw.dev, hw.alloc)
    hw.dev.set_ctx(0, pt.root)
    q = hw.dev.queue(hw.alloc)
    c = q.run(OP["KERNEL"], (0, VA, 8), cdw1=0)
    assert c.code == R["HMMDEV_ERR_FAULT"] and c.reason == R["HMMDEV_FAULT_NOT_PRESENT"]


def stall_queues(hw, n, fq_size=64):
    """n queues on n contexts, each stalled on a missing page; returns (fq, queues, slots, pts)."""
    fq = hw.dev.setup_fq(hw.alloc, fq_size, FAULT_VEC)
    queues, slots, pts = [], [], []
    for i in range(n):
        pt = PageTable(hw.dev, hw.alloc)
        hw.dev.set_ctx(i, pt.root)
        q = hw.dev.queue(hw.alloc, qid=i, asid=i)
        queues.append(q)
        pts.append(pt)
    hw.clear_msgs()
    for q in queues:
        slots.append(q.submit(OP["KERNEL"], (0, VA + q.qid * PAGE, 8), cdw1=0))
    for q in queues:
        q.wait_stalled()
    return fq, queues, slots, pts


def test_eight_stalled_queues_coalesce_interrupts(hw):
    # 8 queues stall at once: 8 records, fewer than 8 fault interrupts.
    irqs = hw.dev.stat("fault-irqs")
    fq, queues, slots, pts = stall_queues(hw, 8)
    fq.wait_records(8)
    recs = fq.drain(ack=False)
    assert sorted(r.queue for r in recs) == list(range(8))
    assert sorted(r.seq for r in recs) == list(range(1, 9))
    assert all(r.va == VA + r.queue * PAGE and r.asid == r.queue for r in recs)
    raised = hw.dev.stat("fault-irqs") - irqs
    assert 1 <= raised < 8, f"{raised} interrupts for 8 faults"
    assert hw.msg(FAULT_VEC)


def test_resolving_one_queue_does_not_release_others(hw):
    # REPLAY on queue 3 and CANCEL on queue 5 leave the six other queues stalled.
    fq, queues, slots, pts = stall_queues(hw, 8)
    fq.wait_records(8)
    fq.drain()
    buf = hw.alloc.alloc(PAGE)
    hw.dev.writeq(buf, 0x33)
    pts[3].map(VA + 3 * PAGE, buf, 0)
    queues[3].replay()
    assert queues[3].wait(slots[3]).result == 0x33
    queues[5].cancel()
    assert queues[5].wait(slots[5]).code == R["HMMDEV_ERR_FAULT"]
    for i in (0, 1, 2, 4, 6, 7):
        assert hw.dev.qreg(i, "STATUS") & R["HMMDEV_QSTATUS_STALLED"], f"queue {i} released"
        assert queues[i].completion(slots[i]) is None
    # REPLAY on a queue that is no longer stalled is refused.
    hw.dev.clear_error()
    queues[3].replay()
    assert hw.dev.reg("ERROR") == R["HMMDEV_ERR_BAD_STATE"]


def test_oob_invalidation_completes_while_all_stalled(hw):
    # With 8 queues stalled, INV_CMD (ALL and RANGE) completes and a cached page is re-walked.
    fq, queues, slots, pts = stall_queues(hw, 8)
    # queue 8 on a 9th context warms a TLB entry first
    pt = PageTable(hw.dev, hw.alloc)
    a, b = hw.alloc.alloc(PAGE), hw.alloc.alloc(PAGE)
    hw.dev.writeq(a, 0xA)
    hw.dev.writeq(b, 0xB)
    pt.map(VA, a, 0)
    hw.dev.set_ctx(9, pt.root)
    q9 = hw.dev.queue(hw.alloc, qid=9, asid=9)
    assert q9.run(OP["KERNEL"], (0, VA, 8), cdw1=0).result == 0xA
    pt.set_pte(VA, b | PTE_V)
    seq = hw.dev.reg("INV_SEQ")
    hw.dev.set_reg("INV_ASID", 9)
    hw.dev.set_reg("INV_VA_HI", VA >> 32)
    hw.dev.set_reg("INV_VA_LO", VA & 0xFFFFFFFF)
    hw.dev.set_reg("INV_SIZE_LO", PAGE)
    hw.dev.set_reg("INV_CMD", R["HMMDEV_INV_RANGE"])
    hw.dev.set_reg("INV_CMD", R["HMMDEV_INV_ALL"])
    hw.dev.wait_for(lambda: hw.dev.reg("INV_SEQ") == seq + 2, timeout=1.0,
                    what="out-of-band invalidation")
    assert not hw.dev.reg("INV_STATUS") & R["HMMDEV_INV_STATUS_BUSY"]
    for i in range(8):
        assert hw.dev.qreg(i, "STATUS") & R["HMMDEV_QSTATUS_STALLED"]
    assert q9.run(OP["KERNEL"], (0, VA, 8), cdw1=0).result == 0xB


def test_overflow_and_recovery_with_4_entry_ring(hw):
    # A 4-entry ring holds 3 records: 8 faults overflow; draining delivers all 8, none lost.
    fq, queues, slots, pts = stall_queues(hw, 8, fq_size=4)
    fq.wait_records(3)
    hw.dev.wait_for(lambda: hw.dev.reg("FQ_STATUS") & R["HMMDEV_FQ_STATUS_OVERFLOW"],
                    what="overflow")
    assert hw.dev.reg("FQ_STATUS") & R["HMMDEV_FQ_STATUS_PENDING"]
    seen = []
    for _ in range(10):
        recs = fq.drain()
        seen += recs
        if len(seen) == 8:
            break
        fq.wait_records(min(3, 8 - len(seen)))
    assert sorted(r.seq for r in seen) == list(range(1, 9))
    assert sorted(r.queue for r in seen) == list(range(8))
    assert not hw.dev.reg("FQ_STATUS") & R["HMMDEV_FQ_STATUS_PENDING"]
    assert hw.dev.stat("fault-overflows") >= 1
    hw.dev.set_reg("FQ_STATUS", R["HMMDEV_FQ_STATUS_OVERFLOW"])          # RW1C
    assert not hw.dev.reg("FQ_STATUS") & R["HMMDEV_FQ_STATUS_OVERFLOW"]
    # Records 1-4 fill slots 0-3 (first pass, PHASE 1), records 5-8 the second pass.
    assert [r.flags & 1 for r in sorted(seen, key=lambda r: r.seq)] == [1] * 4 + [0] * 4
    # Recovery: every queue can be resolved and completes.
    for i, q in enumerate(queues):
        buf = hw.alloc.alloc(PAGE)
        hw.dev.writeq(buf, 100 + i)
        pts[i].map(VA + i * PAGE, buf, 0)
        q.replay()
    for i, q in enumerate(queues):
        assert q.wait(slots[i]).result == 100 + i


def test_head_write_with_unread_records_raises_again(hw):
    # Acknowledging only part of the ring re-raises the fault vector: no lost wake-up.
    fq, queues, slots, pts = stall_queues(hw, 3)
    fq.wait_records(3)
    irqs = hw.dev.stat("fault-irqs")
    hw.dev.set_reg("FQ_HEAD", 1)                  # one consumed, two still unread
    assert hw.dev.stat("fault-irqs") == irqs + 1
    hw.dev.set_reg("FQ_HEAD", 3)                  # all consumed: armed, no interrupt
    assert hw.dev.stat("fault-irqs") == irqs + 1
