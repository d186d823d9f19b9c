"""QEMU under qtest (no guest): launch with hmmdev at 00:04.0, stop, and fail
a test on a sanitizer report in QEMU's output."""
from __future__ import annotations

import os
import re
from pathlib import Path

from tests.lib.artifacts import FIRMWARE_ARGS, use_qemu_python

HMMDEV_SLOT = 4                 # hmmdev at 00:04.0
HMMDEV_DEVFN = HMMDEV_SLOT << 3

# Sanitizer settings for a QEMU built with QEMU_FLAVOUR=asan (ignored by a
# release build).  A report stops QEMU at once: UBSan's checks are
# recoverable by default and would only print.  Leak detection is off:
# QEMU does not free its machine, devices and QOM objects at exit, so
# LeakSanitizer reports allocations that are by design alive until exit and
# say nothing about memory safety.  Values already in the environment win.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0:print_summary=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:print_summary=1",
}

# First line of an AddressSanitizer/LeakSanitizer/UBSan report.
SANITIZER_REPORT = re.compile(
    r"^.*(runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
    r"WARNING: AddressSanitizer|SUMMARY: UndefinedBehaviorSanitizer).*$", re.M)


# qtest's own log of commands and replies shares QEMU's stderr.
QTEST_LOG_LINE = re.compile(r"^\[[IRS] [+\d]")


def qtest_machine(qemu_build: Path, temp_dir: Path, args):
    """A QEMUQtestMachine (not launched) of this build: firmware paths, then args."""
    use_qemu_python(qemu_build)
    from qemu.machine.qtest import QEMUQtestMachine
    return QEMUQtestMachine(str(qemu_build / "qemu-system-x86_64"), base_temp_dir=str(temp_dir),
                            args=[*FIRMWARE_ARGS, *args])


def sanitizer_report(output: str) -> str | None:
    """The sanitizer report in QEMU's output (from its first line on), or None."""
    m = SANITIZER_REPORT.search(output or "")
    if not m:
        return None
    return "\n".join(line for line in output[m.start():].splitlines()
                     if not QTEST_LOG_LINE.match(line))


def _stop_and_check(m, log_dir) -> tuple[str | None, Exception | None]:
    """Shut QEMU down, keep its output in log_dir/qemu-output.log.

    Returns (sanitizer report or None, shutdown error or None): a QEMU that a
    sanitizer stopped also fails to shut down, and the report says why.
    """
    err = None
    try:
        m.shutdown()
    except Exception as e:          # noqa: BLE001 - reported below
        err = e
    out = m.get_log() or ""
    if out:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "qemu-output.log").write_text(out)
    report = sanitizer_report(out)
    if report:
        report = f"sanitizer report in the output of QEMU:\n{report[:20000]}"
    return report, err


def stop_all(machines, log_dir) -> None:
    """Stop every machine; fail the test on a sanitizer report, then on a
    shutdown error."""
    import pytest                   # the benchmarks use this module without pytest
    reports, errors = [], []
    for m in machines:
        report, err = _stop_and_check(m, log_dir)
        reports += [report] if report else []
        errors += [err] if err else []
    if reports:
        pytest.fail("\n\n".join(reports), pytrace=False)
    if errors:
        raise errors[0]


class QtestMachines:
    """The qtest QEMUs of one test: q35, 256 MiB, hmmdev at 00:04.0, guest
    errors and QEMU's output kept in log_dir; stop_all() when the test ends."""

    def __init__(self, artifacts, log_dir: Path):
        self.artifacts, self.log_dir = artifacts, log_dir
        self.machines = []
        for var, val in SANITIZER_ENV.items():
            os.environ.setdefault(var, val)

    def launch(self, props: str = "", before=(), after=()):
        """Start one QEMU; before/after: arguments around hmmdev's -device
        (an IOMMU must come before the devices it serves)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        m = qtest_machine(self.artifacts.qemu_build, self.log_dir, [
            "-M", "q35", "-nodefaults", "-m", "256M",
            "-d", "guest_errors", "-D", str(self.log_dir / "guest-errors.log"),
            *before, "-device", f"hmmdev,id=hmmdev0,addr={HMMDEV_SLOT:02x}.0{props}", *after])
        m.launch()
        self.machines.append(m)
        return m

    def stop_all(self) -> None:
        stop_all(self.machines, self.log_dir)
