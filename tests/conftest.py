"""pytest fixtures shared by the device-level (qtest) and VM suites.

The Makefile builds everything first and passes the artifacts' locations in
environment variables; `make test` is the way to run these suites.  The
helpers are in tests/lib (tests/README.md).
"""
import pytest

from tests.lib.artifacts import Artifacts
from tests.lib.reports import published


@pytest.fixture(scope="session")
def artifacts():
    return Artifacts(run_with="make test", stop=lambda msg: pytest.exit(msg, returncode=2))


@pytest.fixture
def make_vm(artifacts, request):
    """Factory: make_vm(**VmConfig overrides) -> a started Vm, stopped at teardown."""
    from images.vm import Vm
    started = []

    def factory(**kw):
        name = request.node.name.replace("/", "_")
        vm = Vm(artifacts.vm_config(artifacts.log_dir / name, **kw))
        vm.start()
        started.append(vm)
        return vm

    yield factory
    for vm in started:
        vm.stop()


def pytest_terminal_summary(terminalreporter):
    for name, text in published():
        terminalreporter.write_sep("-", name)
        terminalreporter.write_line(text)
