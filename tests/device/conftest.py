"""Fixtures for device-level tests: QEMU under qtest, no guest kernel."""
import pytest

from tests.lib.hw import Hw
from tests.lib.machines import HMMDEV_DEVFN, QtestMachines
from tests.lib.qtest import QtestHmmdev


@pytest.fixture
def qmachine(artifacts, request):
    """Factory: qmachine(extra device props) -> (QEMUQtestMachine, QtestHmmdev)."""
    machines = QtestMachines(artifacts, artifacts.log_dir / request.node.name)

    def factory(props: str = "", extra_args=()):
        m = machines.launch(props, after=extra_args)
        return m, QtestHmmdev(m, devfn=HMMDEV_DEVFN)

    yield factory
    machines.stop_all()


@pytest.fixture
def dev(qmachine):
    """An enabled hmmdev with MSI-X on."""
    _, d = qmachine()
    d.enable()
    d.msix_enable()
    return d


@pytest.fixture
def hw_factory(qmachine):
    def factory(props: str = "", extra_args=()):
        m, d = qmachine(props, extra_args)
        return Hw(m, d)
    return factory


@pytest.fixture
def hw(hw_factory):
    return hw_factory()
