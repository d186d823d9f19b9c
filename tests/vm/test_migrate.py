"""VM tests of device-private memory: migration, CPU-fault migration back,
eviction under oversubscription, and teardown with pages in device memory.

The guest-side GoogleTest suite (MigrateTest.*) checks data and the driver's
counters; these tests add the device's own statistics (the copy engine did
the copies: SG_COPY commands and bytes each way) and the events a process
cannot cause itself (a device with little memory, unbind, rmmod).
"""
import re

import pytest

from tests.lib.guest import driver_stats, qstat, run_suite

OVERSUB = ("MigrateTest.OversubscriptionKeepsHotSet:MigrateTest.SingleRequestLargerThanDeviceMemory:"
           "MigrateTest.PolicyBeyondDeviceMemory")


@pytest.mark.parametrize("iommu", ["none", "strict"])
def test_migrate_suite_uses_the_copy_engine(make_vm, iommu):
    """Every migration is done by SG_COPY: the device moved at least the
    bytes the driver says it migrated, each way (SG lists hold IOVAs)."""
    vm = make_vm(iommu=iommu)
    before = {k: qstat(vm, k) for k in ("cmd-sg-copy", "bytes-sys-to-dev", "bytes-dev-to-sys")}
    n = run_suite(vm, f"MigrateTest.*:-{OVERSUB}")
    assert n >= 9
    d = driver_stats(vm)
    assert d["migrated_to_dev"] > 0 and d["migrated_to_sys"] > 0
    assert qstat(vm, "cmd-sg-copy") > before["cmd-sg-copy"]
    assert qstat(vm, "bytes-sys-to-dev") - before["bytes-sys-to-dev"] >= d["migrated_to_dev"] * 4096
    assert qstat(vm, "bytes-dev-to-sys") - before["bytes-dev-to-sys"] >= d["migrated_to_sys"] * 4096
    assert d["migrate_skipped"] >= 128
    assert qstat(vm, "dma-errors") == 0


def test_oversubscription_with_small_device_memory(make_vm):
    """150 % of a 64 MiB device: LRU eviction keeps the hot set, data intact."""
    vm = make_vm(device_props=",devmem-size=64M")
    assert "64 MiB device memory" in vm.check("dmesg | grep 'device memory'")
    n = run_suite(vm, OVERSUB, timeout=900)
    assert n == 3
    d = driver_stats(vm)
    assert d["evictions"] >= 2 * (32 << 20) // 4096
    assert qstat(vm, "bytes-dev-to-sys") >= d["evictions"] * 4096


def test_unbind_and_rmmod_with_pages_in_device_memory(make_vm):
    """Device removal migrates every device page back first (memunmap_pages
    would stall otherwise): a process holding data in device memory keeps it
    across sysfs unbind, and rmmod after it completes."""
    vm = make_vm()
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    vm.check("(hmmdev migrate-hold 4 > /tmp/hold.out 2>&1 &) ; sleep 1.5")
    out = vm.check("cat /tmp/hold.out")
    assert re.search(r"migrated \d+", out), out
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/unbind", timeout=120)
    vm.check("sleep 4")
    out = vm.check("cat /tmp/hold.out")
    assert "data: ok" in out, out
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/bind")
    run_suite(vm, "MigrateTest.ToDeviceAndBack")
    # closing the file brought the pages back: nothing left to block rmmod
    assert "data: ok" in vm.check("hmmdev migrate-hold 0")
    vm.check("rmmod hmmdev", timeout=120)
