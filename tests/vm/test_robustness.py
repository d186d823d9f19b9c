"""VM tests of the driver's robustness and observability: per-device
counters in sysfs, and PCIe hot-unplug (QMP device_del) with open contexts.
"""
import os
import re
import time
from pathlib import Path

import pytest

from tests.lib.counters import driver_counters
from tests.lib.guest import DEBUGFS, DEV, driver_stats, no_kernel_trouble, qstat, run_suite

SYSFS = "/sys/class/hmmdev/hmmdev0"




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
    assert sorted(sysfs) == sorted(driver_counters())    # the one list, hmmdev_stats.def
    assert sysfs == dbg
    assert sysfs["faults"] > 0 and sysfs["migrated_to_dev"] >= 1024
    assert sysfs["replays"] == qstat(vm, "replays")
    assert vm.run(f"echo 1 > {SYSFS}/stats/faults")[0] != 0    # read-only


# How QMP device_del reaches the guest.  q35 root ports use ACPI PCI hotplug
# by default (the guest's acpiphp ejects the device); with the ICH9 ACPI
# bridge hotplug off they expose native PCIe hotplug instead (pciehp: the
# attention button, 5 s to cancel, then slot power off).  QEMU completes the
# unplug (DEVICE_DELETED) only after the guest removed the device.
HOTPLUG = {
    "acpiphp": ("CONFIG_HOTPLUG_PCI_ACPI", ()),
    "pciehp": ("CONFIG_HOTPLUG_PCI_PCIE",
               ("-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off")),
}


def guest_kernel_has(symbol):
    cfg = Path(os.environ.get("HMMDEV_KERNEL_BUILD", "")) / ".config"
    try:
        return f"{symbol}=y" in cfg.read_text().splitlines()
    except OSError:
        return False


def diagnose(vm):
    """Blocked tasks and the kernel log, for a failure message: through the
    agent if the guest still answers, else the console tail."""
    try:
        vm.run("echo 20 > /proc/sys/kernel/hung_task_timeout_secs; "
               "echo w > /proc/sysrq-trigger", timeout=20)
        return "--- guest dmesg (sysrq w: blocked tasks) ---\n" + vm.run("dmesg", timeout=20)[1][-12000:]
    except Exception as e:  # pylint: disable=broad-except
        return f"--- the agent does not answer ({e}) ---\n{vm.console_tail(80)}"


def wait_output(vm, path, marker, timeout):
    deadline = time.monotonic() + timeout
    while True:
        out = vm.check(f"cat {path}", timeout=30)
        if marker in out:
            return out
        if time.monotonic() > deadline:
            pytest.fail(f"{path}: no {marker!r} after {timeout} s: {out!r}\n{diagnose(vm)}")
        vm.check("sleep 0.5", timeout=30)


# Removal tests poison freed slab objects (and check redzones), so a use of
# the device structure after its files were closed oopses right there
# instead of passing silently (oops=panic: the test fails with the trace).
POISON = "slub_debug=FZPU"


def hold_contexts_then(vm, remove):
    """Two processes hold contexts (one with 8 MiB in device memory) while
    remove() takes the device away.  They are stopped (SIGSTOP) across the
    removal, so it happens with their files open, the pages in device memory
    and nothing running; once continued, the first one's next command fails
    with ENODEV, the second one finds its data intact from the CPU (the pages
    were migrated back during removal: the device memory is gone now), both
    exit (their files close after the device is gone), and the kernel logs
    no BUG, WARNING or hung task."""
    # each process is stopped as soon as it holds its context (its sleep is
    # 10 s, so the stop comes long before its next command)
    vm.check("echo 20 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null; "
             "hmmdev hold 10 > /tmp/hold.out 2>&1 & h=$!; "
             "hmmdev migrate-hold 10 > /tmp/mhold.out 2>&1 & m=$!; "
             "echo $h > /tmp/hold.pid; echo $m > /tmp/mhold.pid; "
             "for i in $(seq 600); do grep -q holding /tmp/hold.out && break; sleep 0.05; done; "
             "kill -STOP $h; "
             "for i in $(seq 1200); do grep -q migrated /tmp/mhold.out && break; sleep 0.05; done; "
             "kill -STOP $m", timeout=120)
    assert "holding asid" in vm.check("cat /tmp/hold.out", timeout=30)
    assert re.search(r"migrated [1-9]\d*", vm.check("cat /tmp/mhold.out", timeout=30))
    to_dev = int(vm.check(f"cat {SYSFS}/stats/migrated_to_dev", timeout=30))
    assert to_dev >= 2048
    t0 = time.monotonic()
    remove()
    print(f"removal took {time.monotonic() - t0:.1f} s")
    print(vm.run("dmesg | grep -E 'pciehp|acpiphp|hmmdev|pcieport'", timeout=30)[1])
    vm.check("true", timeout=30)    # the guest is alive
    assert vm.run("test -e /dev/hmmdev0", timeout=30)[0] != 0
    assert vm.run(f"test -e {DEBUGFS}", timeout=30)[0] != 0
    vm.check("kill -CONT $(cat /tmp/hold.pid) $(cat /tmp/mhold.pid)", timeout=30)
    assert "after: No such device" in wait_output(vm, "/tmp/hold.out", "after:", 60)
    assert "data: ok" in wait_output(vm, "/tmp/mhold.out", "data:", 60)
    vm.check("for p in $(cat /tmp/hold.pid) $(cat /tmp/mhold.pid); do "
             "while test -e /proc/$p; do sleep 0.1; done; done", timeout=60)
    assert "cannot be migrated back" not in vm.check("dmesg", timeout=30)
    no_kernel_trouble(vm)


def test_pci_remove_with_open_contexts_then_rescan(make_vm):
    """The PCI core removes the function (sysfs remove, the path pciehp takes
    on hot-unplug) with open contexts; a rescan brings the device back."""
    vm = make_vm(append=POISON)
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    hold_contexts_then(vm, lambda: vm.check(f"echo 1 > /sys/bus/pci/devices/{bdf}/remove",
                                            timeout=120))
    vm.check("echo 1 > /sys/bus/pci/rescan")
    vm.check("for i in $(seq 50); do test -e /dev/hmmdev0 && break; sleep 0.1; done")
    run_suite(vm, "QueueTest.CopyAnonymous:MigrateTest.ToDeviceAndBack")


@pytest.mark.parametrize("hotplug", sorted(HOTPLUG))
def test_qmp_device_del_with_open_contexts(make_vm, hotplug):
    """QMP device_del (hot-unplug from the root port) with open contexts,
    through ACPI hotplug and native PCIe hotplug: DEVICE_DELETED arrives,
    ENODEV afterwards, data kept; then device_add brings a working device
    back."""
    symbol, qemu_args = HOTPLUG[hotplug]
    assert guest_kernel_has(symbol), \
        f"the guest kernel lacks {symbol}=y (images/kernel.config asks for it: stale kernel build?)"
    vm = make_vm(extra_args=qemu_args, append=POISON)
    # the hotplug driver registered the root port's slot
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)", timeout=30).strip()
    rc, out = vm.run(f"grep -l '^{bdf[:-2]}$' /sys/bus/pci/slots/*/address", timeout=30)
    assert rc == 0, f"no hotplug slot for {bdf}\n" + \
        vm.run("dmesg | grep -i -E 'hotplug|pciehp|acpiphp|_OSC'", timeout=30)[1]

    def unplug():
        vm.qmp("device_del", id="hmmdev0")
        try:
            # a float: QEMU's legacy QMP wrapper waits forever on an int
            vm.machine.event_wait("DEVICE_DELETED", timeout=90.0,
                                  match={"data": {"device": "hmmdev0"}})
        except Exception as e:  # asyncio/builtin TimeoutError, by Python version
            pytest.fail(f"no DEVICE_DELETED within 90 s ({e!r})\n{diagnose(vm)}")

    hold_contexts_then(vm, unplug)
    assert vm.run(f"test -e /sys/bus/pci/devices/{bdf}", timeout=30)[0] != 0, \
        "the function is still there"
    vm.check("rmmod hmmdev", timeout=60)    # no reference left behind
    vm.check("insmod /lib/modules/hmmdev.ko", timeout=60)
    vm.qmp("device_add", driver="hmmdev", id="hmmdev0", bus="rp0")
    vm.check("for i in $(seq 300); do test -e /dev/hmmdev0 && break; sleep 0.1; done; "
             "test -e /dev/hmmdev0", timeout=60)
    run_suite(vm, "QueueTest.CopyAnonymous:MigrateTest.ToDeviceAndBack")
    no_kernel_trouble(vm)


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


def test_device_memory_lost_to_a_fatal_error_means_sigbus(make_vm):
    """A fatal device error loses device memory (the device must be reset).
    The process whose 8 MiB lived there gets SIGBUS, as memory_failure()
    does for poisoned RAM; nothing waits on the dead copy engine: unbind
    completes at once (pages come back zeroed, without the device), and a
    rebound device works."""
    vm = make_vm()
    vm.check("(hmmdev migrate-hold 60 > /tmp/mh.out 2>&1; echo status=$? >> /tmp/mh.out) &")
    wait_output(vm, "/tmp/mh.out", "migrated 2048", 60)
    vm.qmp("qom-set", path=DEV, property="inject-fatal", value=True)
    out = wait_output(vm, "/tmp/mh.out", "status=", 30)
    assert "status=135" in out, out          # 128 + SIGBUS
    assert "data:" not in out, out           # it never read zeros
    dmesg = vm.check("dmesg")
    assert re.search(r"device memory lost: 2048 pages of 1 processes; sending SIGBUS", dmesg), \
        dmesg[-2000:]
    # a later migration request is refused, not attempted
    rc, out = vm.run("hmmdev migrate-hold 0 2>&1")
    assert rc != 0 and "Input/output error" in out, out
    bdf = vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()
    t0 = time.monotonic()
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/unbind", timeout=60)
    assert time.monotonic() - t0 < 10
    assert "cannot be migrated back" not in vm.check("dmesg")
    vm.check(f"echo {bdf} > /sys/bus/pci/drivers/hmmdev/bind")
    run_suite(vm, "MigrateTest.ToDeviceAndBack")
    no_kernel_trouble(vm)


def test_all_device_memory_pinned(make_vm):
    """Every page of a small coherent device's memory pinned (vmsplice holds
    them): a migration to the device moves nothing and says so, quickly and
    without error; after the pins go it evicts and moves everything
    (guest-userspace/tests/migrate_test.cpp, MigrateTest.AllDeviceMemoryPinned)."""
    vm = make_vm(device_props=",devmem-size=4M", append="hmmdev.noload=1")
    vm.check("insmod /lib/modules/hmmdev.ko coherent=1")
    assert "hmmdev-coherent" in vm.check("cat /proc/iomem")
    assert run_suite(vm, "MigrateTest.AllDeviceMemoryPinned") == 1
    no_kernel_trouble(vm)
