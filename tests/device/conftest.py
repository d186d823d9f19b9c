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
