"""Fixtures for device-level tests: QEMU under qtest, no guest kernel."""
import os
import re

import pytest

from hmmdev_qtest import QtestHmmdev

HMMDEV_SLOT = 4

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
    reports, errors = [], []
    for m in machines:
        report, err = _stop_and_check(m, log_dir)
        reports += [report] if report else []
        errors += [err] if err else []
    if reports:
        pytest.fail("\n\n".join(reports), pytrace=False)
    if errors:
        raise errors[0]


@pytest.fixture
def qmachine(artifacts, request):
    """Factory: qmachine(extra device props) -> (QEMUQtestMachine, QtestHmmdev)."""
    from qemu.machine.qtest import QEMUQtestMachine
    machines = []
    for var, val in SANITIZER_ENV.items():
        os.environ.setdefault(var, val)
    log_dir = artifacts.log_dir / request.node.name

    def factory(props: str = "", extra_args=()):
        log_dir.mkdir(parents=True, exist_ok=True)
        m = QEMUQtestMachine(str(artifacts.qemu), base_temp_dir=str(log_dir), args=[
            *artifacts.firmware_args, "-M", "q35", "-nodefaults", "-m", "256M",
            "-d", "guest_errors", "-D", str(log_dir / "guest-errors.log"),
            "-device", f"hmmdev,id=hmmdev0,addr={HMMDEV_SLOT:02x}.0{props}",
            *extra_args])
        m.launch()
        machines.append(m)
        return m, QtestHmmdev(m, devfn=HMMDEV_SLOT << 3)

    yield factory
    stop_all(machines, log_dir)


@pytest.fixture
def dev(qmachine):
    """An enabled hmmdev with MSI-X on."""
    _, d = qmachine()
    d.enable()
    d.msix_enable()
    return d


class Hw:
    """An enabled hmmdev plus a guest-RAM allocator, MSI-X vectors pointed at RAM."""

    MSG_BASE = 0x0080_0000      # vector v writes its number to MSG_BASE + 4 * v

    def __init__(self, machine, dev):
        from hmmdev_qtest import GuestAlloc, R
        self.m, self.dev = machine, dev
        self.alloc = GuestAlloc(dev)
        dev.enable()
        dev.msix_enable()
        for v in range(R["HMMDEV_MSIX_VECTORS"]):
            dev.msix_program(v, self.MSG_BASE + 4 * v, 0x1000 + v)
        self.clear_msgs()

    def clear_msgs(self) -> None:
        from hmmdev_qtest import R
        self.dev.memwrite(self.MSG_BASE, bytes(4 * R["HMMDEV_MSIX_VECTORS"]))

    def msg(self, vector: int) -> bool:
        """True if the vector fired since the last clear_msgs()."""
        return self.dev.readl(self.MSG_BASE + 4 * vector) == 0x1000 + vector

    DEVMEM_BAR_ADDR = 0x40_0000_0000     # above RAM and the 32-bit hole

    def place_devmem_bar(self) -> int:
        """Map BAR 4 (device memory) at a fixed address for direct reads."""
        from hmmdev_qtest import R
        self.dev.set_bar(R["HMMDEV_BAR_DEVMEM"], self.DEVMEM_BAR_ADDR)
        return self.DEVMEM_BAR_ADDR

    def qemu_pid(self) -> int:
        return self.m.get_pid()


@pytest.fixture
def hw_factory(qmachine):
    def factory(props: str = "", extra_args=()):
        m, d = qmachine(props, extra_args)
        return Hw(m, d)
    return factory


@pytest.fixture
def hw(hw_factory):
    return hw_factory()
