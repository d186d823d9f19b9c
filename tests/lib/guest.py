"""Reading a booted VM (images/vm.py Vm) from the host: the device model's
counters over QMP, the driver's counters in debugfs, the guest GoogleTest
suite."""
from __future__ import annotations

import re

# What a kernel says when something is wrong: WARN/BUG/Oops, lockdep, KASAN,
# UBSAN, hung tasks, RCU stalls.
TROUBLE = re.compile(r"BUG|WARNING|hung_task|blocked for more than|Call Trace|Oops|"
                     r"possible circular locking|KASAN|UBSAN|rcu_sched self-detected|"
                     r"rcu: INFO")

DEV = "/machine/peripheral/hmmdev0"
DEBUGFS = "/sys/kernel/debug/hmmdev/hmmdev0"


def qstat(vm, name, dev: int = 0):
    """The device model's counter stat-<name> of hmmdev<dev> (QMP qom-get)."""
    return vm.qmp("qom-get", path=f"/machine/peripheral/hmmdev{dev}", property=f"stat-{name}")


def qstats(vm, names, dev: int = 0) -> dict:
    """qstat() of each name, by name."""
    return {k: qstat(vm, k, dev) for k in names}


def driver_stats(vm, device: int = 0):
    """The driver's counters of hmmdevN (debugfs stats) by name."""
    out = vm.check(f"cat {DEBUGFS.replace('hmmdev0', f'hmmdev{device}')}/stats")
    return {k: int(v) for k, v in (line.split() for line in out.strip().splitlines())}


def run_suite(vm, gtest_filter, timeout=600):
    """Run hmmdev-tests with a GoogleTest filter; it must pass.  Returns the count passed."""
    rc, out = vm.run(f"hmmdev-tests --gtest_color=no --gtest_filter='{gtest_filter}' 2>&1",
                     timeout=timeout)
    assert rc == 0, out[-6000:]
    m = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert m, out[-3000:]
    return int(m.group(1))


def no_kernel_trouble(vm):
    """Neither dmesg nor the console log has a line of TROUBLE."""
    out = vm.run("dmesg", timeout=60)[1]
    bad = [l for l in out.splitlines() if TROUBLE.search(l)]
    bad += [l for l in vm.console_log.read_text(errors="replace").splitlines()
            if TROUBLE.search(l)]
    assert not bad, "\n".join(bad[:60])
