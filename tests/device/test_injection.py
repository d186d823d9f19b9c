"""Fault-injection knobs (qom-set at run time): each has an observable, deterministic effect."""
import time

from tests.lib.qtest import OP, R


def test_inject_dma_fail(hw):
    # inject-dma-fail=1 fails the next DMA (the command fetch): queue ERROR, RING_DMA, counted.
    q = hw.dev.queue(hw.alloc)
    errors = hw.dev.stat("dma-errors")
    hw.dev.qom_set("inject-dma-fail", 1)
    q.submit(OP["NOP"])
    hw.dev.wait_for(lambda: hw.dev.qreg(0, "STATUS") & R["HMMDEV_QSTATUS_ERROR"])
    assert hw.dev.qreg(0, "ERROR") == R["HMMDEV_ERR_RING_DMA"]
    assert hw.dev.stat("dma-errors") == errors + 1
    assert hw.dev.qom_get("inject-dma-fail") == 0, "the knob counts down"
    q2 = hw.dev.queue(hw.alloc, qid=1)
    assert q2.run(OP["NOP"]).code == 0, "later DMAs succeed again"


def test_inject_dma_fail_reset_to_zero_cancels(hw):
    # Setting the knob back to 0 before any DMA cancels the injection.
    q = hw.dev.queue(hw.alloc)
    hw.dev.qom_set("inject-dma-fail", 5)
    hw.dev.qom_set("inject-dma-fail", 0)
    assert q.run(OP["NOP"]).code == 0


def test_inject_stall_ms(hw):
    # inject-stall-ms=400 delays the next command by about 400 ms, once.
    q = hw.dev.queue(hw.alloc)
    hw.dev.qom_set("inject-stall-ms", 400)
    t0 = time.monotonic()
    slot = q.submit(OP["NOP"])
    time.sleep(0.15)
    assert q.completion(slot) is None, "the engine must be stalled"
    q.wait(slot, timeout=5)
    assert time.monotonic() - t0 >= 0.35
    t1 = time.monotonic()
    q.run(OP["NOP"])
    assert time.monotonic() - t1 < 0.3, "the stall is one-shot"


def test_inject_drop_completion(hw):
    # inject-drop-completion=1: the first NOP's record is never written, HEAD still moves on.
    q = hw.dev.queue(hw.alloc)
    hw.dev.qom_set("inject-drop-completion", 1)
    s1 = q.submit(OP["NOP"], flags=R["HMMDEV_CMD_F_IRQ"])
    s2 = q.submit(OP["NOP"])
    q.wait(s2)
    assert q.completion(s1) is None
    assert hw.dev.qreg(0, "HEAD") == 2 and hw.dev.qreg(0, "COMPLETED") == 2
    assert not hw.msg(R["HMMDEV_MSIX_VEC_QUEUE0"]), "a dropped completion raises nothing"


def test_inject_fatal(hw):
    # inject-fatal: STATUS.FATAL, ERROR=FATAL, vector 0; the engine stops until reset.
    q = hw.dev.queue(hw.alloc)
    hw.dev.qom_set("inject-fatal", True)
    assert hw.dev.reg("STATUS") & R["HMMDEV_STATUS_FATAL"]
    assert hw.dev.reg("ERROR") == R["HMMDEV_ERR_FATAL"]
    assert hw.msg(R["HMMDEV_MSIX_VEC_ADMIN"])
    assert hw.dev.qom_get("inject-fatal") is True
    slot = q.submit(OP["NOP"])
    time.sleep(0.1)
    assert q.completion(slot) is None, "a fatal device executes nothing"
    hw.dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    assert not hw.dev.reg("STATUS") & R["HMMDEV_STATUS_FATAL"]
    q = hw.dev.queue(hw.alloc)
    assert q.run(OP["NOP"]).code == 0
