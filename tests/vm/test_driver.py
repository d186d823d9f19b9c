"""VM tests of the HMM driver: contexts, queues, device faults, invalidation.

The guest-side GoogleTest suite (hmmdev-tests) checks data byte for byte and
the driver's own counters; these tests add what only the host can see: the
device model's statistics (qom-get stat-*), which must agree with what the
driver says it did, and the events a process cannot cause itself (unbind,
rmmod, IOMMU modes).
"""
import re

import pytest

from tests.lib.guest import DEBUGFS, DEV, driver_stats, qstat, run_suite


def test_device_counters_match_the_driver(make_vm):
    """The device really resolved faults through the driver: its REPLAY and
    CANCEL counts equal the driver's, and it walked page tables and
    invalidated its TLB."""
    vm = make_vm()
    before = {k: qstat(vm, k) for k in ("replays", "cancels", "fault-records",
                                        "tlb-invalidations", "cmd-copy", "cmd-atomic")}
    n = run_suite(vm, "QueueTest.*:MirrorTest.*")
    assert n >= 20
    d = driver_stats(vm)
    assert qstat(vm, "replays") - before["replays"] == d["replays"]
    assert qstat(vm, "cancels") - before["cancels"] == d["cancels"]
    assert d["replays"] > 20 and d["cancels"] >= 8
    # every record the driver handled came from the device; records of
    # queues killed by process exit may be dropped, never invented
    assert 0 < d["faults"] <= qstat(vm, "fault-records") - before["fault-records"]
    assert qstat(vm, "tlb-invalidations") > before["tlb-invalidations"]
    assert d["invalidations"] > 0 and d["pages_invalidated"] > 0
    assert d["huge_mappings"] >= 3
    assert qstat(vm, "cmd-copy") > before["cmd-copy"]
    assert qstat(vm, "cmd-atomic") - before["cmd-atomic"] >= 4000
    assert d["cmds_submitted"] == d["cmds_completed"]


@pytest.mark.parametrize("iommu", ["none", "strict", "pt"])
def test_mirror_suite_in_iommu_mode(make_vm, iommu):
    """DMA addresses in device PTEs are IOVAs (or physical): every mode works."""
    vm = make_vm(iommu=iommu)
    run_suite(vm, "QueueTest.*:MirrorTest.*")
    assert qstat(vm, "dma-errors") == 0


def test_cli_stats_and_debugfs_pagetable(make_vm):
    vm = make_vm()
    out = vm.check("hmmdev stats")
    assert re.search(r"^context: faults 0 ", out, re.M), out
    assert re.search(r"^device: faults \d+ ", out, re.M), out
    # a context's page table is visible while it lives, gone afterwards
    vm.check("(hmmdev hold 3 > /tmp/hold.out &) ; sleep 1.5; "
             f"ls {DEBUGFS} > /tmp/dirs; cat {DEBUGFS}/ctx*/pagetable > /tmp/pt")
    pt = vm.check("cat /tmp/pt")
    assert re.search(r"^[0-9a-f]{12} 4K wxads dma 0x[0-9a-f]+$", pt, re.M), pt
    assert "ctx" in vm.check("cat /tmp/dirs")
    vm.check("sleep 3")
    assert "after: ok" in vm.check("cat /tmp/hold.out")
    assert "ctx" not in vm.check(f"ls {DEBUGFS}")


def test_rmmod_with_open_context_is_refused(make_vm):
    vm = make_vm()
    vm.check("(hmmdev hold 4 > /tmp/hold.out &) ; sleep 1.5")
    rc, out = vm.run("rmmod hmmdev 2>&1")
    assert rc != 0, out
    assert "Resource temporarily unavailable" in out or "busy" in out.lower(), out
    vm.check("sleep 4")
    assert "after: ok" in vm.check("cat /tmp/hold.out")
    vm.check("rmmod hmmdev")


def test_unbind_with_open_context(make_vm):
    """sysfs unbind while a process holds a context: its commands fail with
    ENODEV, nothing crashes (oops=panic), and a rebind works."""
    vm = make_vm()
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    vm.check("(hmmdev hold 3 > /tmp/hold.out &) ; sleep 1.5")
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/unbind")
    assert vm.run("test -e /dev/hmmdev0")[0] != 0
    vm.check("sleep 3")
    assert "after: No such device" in vm.check("cat /tmp/hold.out")
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/bind")
    run_suite(vm, "QueueTest.CopyAnonymous:MirrorTest.UnmappedIsEfault")


def test_wait_timeout_and_signal_while_device_stalls(make_vm):
    """The engine stalls 4 s (inject-stall-ms): a timed wait returns ETIME, a
    signal interrupts an unbounded one with EINTR, and the command completes."""
    vm = make_vm()
    vm.qmp("qom-set", path=DEV, property="inject-stall-ms", value=4000)
    rc, out = vm.run("HMMDEV_STALLED=1 hmmdev-tests --gtest_color=no "
                     "--gtest_filter=Robustness.WaitTimesOutAndIsInterruptible 2>&1", timeout=120)
    assert rc == 0, out
    assert "[  PASSED  ] 1 test" in out and "SKIPPED" not in out, out
