"""VM tests of the driver's robustness and observability: per-device
counters in sysfs, and PCIe hot-unplug (QMP device_del) with open contexts.
"""
import os
import re
import time
from pathlib import Path

import pytest

from test_driver import DEBUGFS, DEV, driver_stats, qstat, run_suite

SYSFS = "/sys/class/hmmdev/hmmdev0"


def no_kernel_trouble(vm):
    out = vm.run("dmesg | grep -E 'BUG|WARNING|hung_task|Call Trace|Oops'")[1]
    assert out.strip() == "", out


def test_sysfs_stats_are_the_device_counters(make_vm):
    """stats/<name> in sysfs: one file per counter, equal to debugfs's device
    counters, and REPLAYs agree with the device's own count."""
    vm = make_vm()
    run_suite(vm, "QueueTest.CopyAnonymous:MigrateTest.ToDeviceAndBack")
    sysfs = {}
    out = vm.check(f"cd {SYSFS}/stats && for f in *; do echo $f $(cat $f); done")
    for line in out.strip().splitlines():
        k, v = line.split()
        sysfs[k] = int(v)
    dbg = driver_stats(vm)
    assert set(sysfs) == set(dbg)
    assert sysfs == dbg
    assert sysfs["faults"] > 0 and sysfs["migrated_to_dev"] >= 1024
    assert sysfs["replays"] == qstat(vm, "replays")
    assert vm.run(f"echo 1 > {SYSFS}/stats/faults")[0] != 0    # read-only


def guest_has_pciehp():
    """PCIe native hotplug (pciehp) is needed for QMP device_del to complete."""
    cfg = Path(os.environ.get("HMMDEV_KERNEL_BUILD", "")) / ".config"
    try:
        return "CONFIG_HOTPLUG_PCI_PCIE=y" in cfg.read_text()
    except OSError:
        return False


def hold_contexts_then(vm, remove):
    """Two processes hold contexts (one with 8 MiB in device memory) while
    remove() takes the device away; afterwards the first one's command fails
    with ENODEV, the second keeps its data (migrated back first), and the
    kernel logs no BUG, WARNING or hung task."""
    vm.check("(hmmdev hold 8 > /tmp/hold.out 2>&1 &) ; "
             "(hmmdev migrate-hold 8 > /tmp/mhold.out 2>&1 &) ; sleep 2")
    assert "holding asid" in vm.check("cat /tmp/hold.out")
    assert re.search(r"migrated [1-9]\d*", vm.check("cat /tmp/mhold.out"))
    remove()
    assert vm.run("test -e /dev/hmmdev0")[0] != 0
    assert vm.run(f"test -e {DEBUGFS}")[0] != 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "after:" in vm.check("cat /tmp/hold.out") and "data:" in vm.check("cat /tmp/mhold.out"):
            break
        vm.check("sleep 1")
    assert "after: No such device" in vm.check("cat /tmp/hold.out")
    assert "data: ok" in vm.check("cat /tmp/mhold.out")
    no_kernel_trouble(vm)


def test_pci_remove_with_open_contexts_then_rescan(make_vm):
    """The PCI core removes the function (sysfs remove, the path pciehp takes
    on hot-unplug) with open contexts; a rescan brings the device back."""
    vm = make_vm()
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    hold_contexts_then(vm, lambda: vm.check(f"echo 1 > /sys/bus/pci/devices/{bdf}/remove",
                                            timeout=120))
    vm.check("echo 1 > /sys/bus/pci/rescan")
    vm.check("for i in $(seq 50); do test -e /dev/hmmdev0 && break; sleep 0.1; done")
    run_suite(vm, "QueueTest.CopyAnonymous:MigrateTest.ToDeviceAndBack")


@pytest.mark.skipif(not guest_has_pciehp(),
                    reason="guest kernel lacks CONFIG_HOTPLUG_PCI_PCIE (pciehp): "
                           "QMP device_del cannot complete")
def test_qmp_device_del_with_open_contexts(make_vm):
    """QMP device_del (PCIe hot-unplug through the root port) with open
    contexts: DEVICE_DELETED arrives, ENODEV afterwards, data kept."""
    vm = make_vm()

    def unplug():
        vm.qmp("device_del", id="hmmdev0")
        ev = vm.machine.event_wait("DEVICE_DELETED", timeout=60,
                                   match={"data": {"device": "hmmdev0"}})
        assert ev is not None, "no DEVICE_DELETED event"

    hold_contexts_then(vm, unplug)
    vm.check("rmmod hmmdev")


def test_fatal_device_error_fails_work_with_eio(make_vm):
    """inject-fatal while a command is in flight (the engine stalls first):
    the vector-0 handler sees STATUS.FATAL, the waiter gets EIO (no hang),
    new queues get EIO, nothing oopses; unbind/bind resets the device and it
    works again."""
    vm = make_vm()
    vm.check("(hmmdev hold 3 > /tmp/hold.out 2>&1 &) ; sleep 1.5")
    assert "holding asid" in vm.check("cat /tmp/hold.out")
    # hold's second command (at 3 s) waits in the stalled engine
    vm.qmp("qom-set", path=DEV, property="inject-stall-ms", value=20000)
    vm.check("sleep 3")
    assert "after:" not in vm.check("cat /tmp/hold.out")
    vm.qmp("qom-set", path=DEV, property="inject-fatal", value=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "after:" not in vm.check("cat /tmp/hold.out"):
        vm.check("sleep 0.2")
    assert "after: Input/output error" in vm.check("cat /tmp/hold.out")
    rc, out = vm.run("hmmdev hold 1 2>&1")
    assert rc != 0 and "Input/output error" in out, out
    assert "fatal device error" in vm.check("dmesg")
    no_kernel_trouble(vm)
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/unbind", timeout=120)
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/bind")
    run_suite(vm, "QueueTest.CopyAnonymous:MigrateTest.ToDeviceAndBack")
    no_kernel_trouble(vm)
