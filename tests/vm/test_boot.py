"""VM end-to-end: the guest boots, the driver binds, interrupts arrive, tools work."""
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.lib.qtest import R

ROOT = Path(__file__).resolve().parents[2]
SYSFS = "/sys/class/hmmdev/hmmdev0"
VERSION = f"{R['HMMDEV_VERSION_MAJOR']}.{R['HMMDEV_VERSION_MINOR']}"
UAPI_VERSION = int(re.search(r"#define HMMDEV_UAPI_VERSION\s+(\d+)",
                             (ROOT / "guest-driver/include/uapi/linux/hmmdev.h").read_text())[1])


def test_driver_binds_and_counts_interrupts(make_vm):
    vm = make_vm()
    assert vm.check(f"cat {SYSFS}/version").strip() == VERSION
    assert vm.run("test -c /dev/hmmdev0")[0] == 0
    # probe rang the test doorbell once and saw the MSI-X message
    assert int(vm.check(f"cat {SYSFS}/irq_test_count")) == 1
    vm.check(f"echo 1 > {SYSFS}/irq_test")
    assert int(vm.check(f"cat {SYSFS}/irq_test_count")) == 2
    # the interrupt really is MSI-X, and it is counted by the kernel too
    irqs = vm.check("grep hmmdev-test /proc/interrupts")
    assert "PCI-MSIX" in irqs or "MSI" in irqs
    assert sum(int(x) for x in irqs.split()[1:3]) == 2
    assert f"hmmdev0: hw version {VERSION}" in vm.check("dmesg")


def test_guest_userspace_suite(make_vm):
    vm = make_vm()
    rc, out = vm.run("hmmdev-tests --gtest_color=no")
    assert rc == 0, out
    m = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert m and int(m.group(1)) >= 8, out


def test_cli_lists_every_device(make_vm):
    vm = make_vm(devices=2)
    out = vm.check("hmmdev list")
    assert re.search(rf"^hmmdev0: hw {re.escape(VERSION)}, uapi {UAPI_VERSION}, {R['HMMDEV_MSIX_VECTORS']} "
                     r"MSI-X vectors, \d+ interrupts$", out, re.M), out
    assert re.search(rf"^hmmdev1: hw {re.escape(VERSION)}", out, re.M), out
    rc, out = vm.run("hmmdev -d 7 info")
    assert rc == 1 and "/dev/hmmdev7" in out and "No such file" in out


def test_module_reloads_from_host_share(make_vm, artifacts):
    # The 9p share lets a rebuilt module be tried without a new image:
    # /host/build/driver-<kernel>-<flavour>/hmmdev.ko (README).
    vm = make_vm()
    vm.check("rmmod hmmdev")
    assert vm.run("test -e /dev/hmmdev0")[0] != 0
    vm.check(f"insmod /host/{artifacts.driver_build.relative_to(ROOT)}/hmmdev.ko")
    assert vm.check(f"cat {SYSFS}/version").strip() == VERSION


def test_launcher_returns_command_status(artifacts):
    # What `make run CMD=...` does: print the output, exit with the status.
    cmd = [sys.executable, str(ROOT / "images/vm.py"), "--qemu", str(artifacts.qemu),
           "--qemu-python", str(artifacts.qemu_python), "--kernel", str(artifacts.kernel),
           "--initrd", str(artifacts.initrd),
           "--cmd", f"cat {SYSFS}/version; exit 3"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == VERSION


def test_launcher_reports_a_guest_that_never_boots(artifacts, tmp_path):
    # A kernel that cannot find init: the launcher times out and shows the console.
    bad = tmp_path / "no-init.cpio"
    bad.write_bytes(bytes(4096))
    cmd = [sys.executable, str(ROOT / "images/vm.py"), "--qemu", str(artifacts.qemu),
           "--qemu-python", str(artifacts.qemu_python), "--kernel", str(artifacts.kernel),
           "--initrd", str(bad), "--cmd", "true"]
    env = dict(os.environ, HMMDEV_BOOT_TIMEOUT="30")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 124
    assert "did not boot" in p.stderr or "QEMU exited" in p.stderr
    assert "last console lines" in p.stderr
