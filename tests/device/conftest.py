"""Fixtures for device-level tests: QEMU under qtest, no guest kernel."""
import pytest

from hmmdev_qtest import QtestHmmdev

HMMDEV_SLOT = 4


@pytest.fixture
def qmachine(artifacts, request):
    """Factory: qmachine(extra device props) -> (QEMUQtestMachine, QtestHmmdev)."""
    from qemu.machine.qtest import QEMUQtestMachine
    machines = []

    def factory(props: str = "", extra_args=()):
        log_dir = artifacts.log_dir / request.node.name
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
    for m in machines:
        m.shutdown()


@pytest.fixture
def dev(qmachine):
    """An enabled hmmdev with MSI-X on."""
    _, d = qmachine()
    d.enable()
    d.msix_enable()
    return d
