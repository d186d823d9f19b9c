"""pytest fixtures shared by the device-level (qtest) and VM suites.

The Makefile builds everything first and passes the artifacts' locations in
environment variables; `make test` is the way to run these suites.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "images"))
sys.path.insert(0, str(ROOT / "tests"))


class Artifacts:
    """Where the built QEMU, kernel and initramfs are."""

    def __init__(self):
        self.qemu_build = self._need("HMMDEV_QEMU_BUILD")
        self.qemu = self.qemu_build / "qemu-system-x86_64"
        self.qemu_python = self.qemu_build.parent / "src" / "python"
        # Firmware stripped from the +ds source comes from Debian's packages.
        self.firmware_args = ["-L", "/usr/share/seabios", "-L", "/usr/share/qemu"]
        self.log_dir = Path(os.environ.get("HMMDEV_TEST_LOGS", ROOT / "build/test-logs"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if str(self.qemu_python) not in sys.path:
            sys.path.insert(0, str(self.qemu_python))

    @staticmethod
    def _need(var: str) -> Path:
        v = os.environ.get(var)
        if not v:
            pytest.exit(f"{var} is not set: run the suites with `make test`", returncode=2)
        return Path(v)

    @property
    def kernel_build(self) -> Path:
        return self._need("HMMDEV_KERNEL_BUILD")

    @property
    def kernel(self) -> Path:
        return self.kernel_build / "arch/x86/boot/bzImage"

    @property
    def initrd(self) -> Path:
        return self._need("HMMDEV_INITRD")


@pytest.fixture(scope="session")
def artifacts():
    return Artifacts()


@pytest.fixture
def make_vm(artifacts, request):
    """Factory: make_vm(**VmConfig overrides) -> a started Vm, stopped at teardown."""
    from vm import Vm, VmConfig
    started = []

    def factory(**kw):
        name = request.node.name.replace("/", "_")
        cfg = VmConfig(qemu=str(artifacts.qemu), qemu_python=str(artifacts.qemu_python),
                       kernel=str(artifacts.kernel), initrd=str(artifacts.initrd),
                       share=str(ROOT), log_dir=str(artifacts.log_dir / name), **kw)
        vm = Vm(cfg)
        vm.start()
        started.append(vm)
        return vm

    yield factory
    for vm in started:
        vm.stop()


def pytest_terminal_summary(terminalreporter):
    from reports import published
    for name, text in published():
        terminalreporter.write_sep("-", name)
        terminalreporter.write_line(text)
