"""Where the built QEMU, kernel and initramfs are.

The Makefile builds everything first and passes the locations in environment
variables (HMMDEV_QEMU_BUILD, HMMDEV_KERNEL_BUILD, HMMDEV_INITRD): `make test`
for the suites, `make bench` for the benchmarks.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Firmware stripped from the +ds source comes from Debian's packages.
FIRMWARE_ARGS = ["-L", "/usr/share/seabios", "-L", "/usr/share/qemu"]


def need(var: str, run_with: str = "make bench", stop=sys.exit) -> Path:
    """The path in environment variable var; stop(message) when it is unset."""
    v = os.environ.get(var)
    if not v:
        stop(f"{var} is not set: run this with `{run_with}`")
    return Path(v)


def use_qemu_python(qemu_build: Path) -> Path:
    """Put the QEMU build's python package (qemu.machine, qemu.qmp) on sys.path.

    Its directory is known only at run time, from HMMDEV_QEMU_BUILD: the one
    place the harness adds to sys.path.
    """
    path = qemu_build.parent / "src" / "python"
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


class Artifacts:
    """The build outputs the suites and benchmarks run.

    run_with and stop say what a missing variable does: the benchmarks exit
    (sys.exit), the suites stop pytest (conftest passes pytest.exit).
    """

    def __init__(self, run_with: str = "make bench", stop=sys.exit):
        self._run_with, self._stop = run_with, stop
        self.qemu_build = self.need("HMMDEV_QEMU_BUILD")
        self.qemu = self.qemu_build / "qemu-system-x86_64"
        self.qemu_python = use_qemu_python(self.qemu_build)
        self.firmware_args = FIRMWARE_ARGS

    def need(self, var: str) -> Path:
        return need(var, self._run_with, self._stop)

    @functools.cached_property
    def log_dir(self) -> Path:
        """build/test-logs (or HMMDEV_TEST_LOGS): each test writes below <log_dir>/<test>/."""
        d = Path(os.environ.get("HMMDEV_TEST_LOGS", ROOT / "build/test-logs"))
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def driver_build(self) -> Path:
        """The module's output directory for the kernel under test (build/driver-K-F)."""
        return self.need("HMMDEV_DRIVER_BUILD")

    @property
    def kernel_build(self) -> Path:
        return self.need("HMMDEV_KERNEL_BUILD")

    @property
    def kernel(self) -> Path:
        return self.kernel_build / "arch/x86/boot/bzImage"

    @property
    def initrd(self) -> Path:
        return self.need("HMMDEV_INITRD")

    def vm_config(self, log_dir: Path, **kw):
        """An images/vm.py VmConfig for these artifacts; kw overrides its defaults."""
        from images.vm import VmConfig
        return VmConfig(qemu=str(self.qemu), qemu_python=str(self.qemu_python),
                        kernel=str(self.kernel), initrd=str(self.initrd),
                        share=str(ROOT), log_dir=str(log_dir), **kw)
