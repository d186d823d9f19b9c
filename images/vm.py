#!/usr/bin/python3
"""Boot the hmmdev guest: our QEMU, our kernel, our initramfs, N hmmdev devices.

Usable as a library (the pytest suites) and as a command (make run):

    images/vm.py --qemu Q --kernel K --initrd I             interactive shell
    images/vm.py ... --cmd 'cat /sys/class/hmmdev/hmmdev0/version'

As a library:

    with Vm(VmConfig(qemu=..., kernel=..., initrd=...)) as vm:
        rc, out = vm.run("hmmdev info")

Commands run through an agent on a virtio-serial port (see images/init); the
serial console is captured to a log, whose tail is shown when the guest fails
to boot or a command times out.  QEMU is driven with QEMU's own python/qemu
package (QEMUMachine, QMP), found in the QEMU source tree.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

IOMMU_MODES = ("none", "lazy", "strict", "pt")
KERNELS = ("7.2", "6.12")          # the pinned guest kernels (scripts/common.sh)


class VmError(RuntimeError):
    """The guest did not boot, a command timed out, or QEMU died."""


@dataclasses.dataclass
class VmConfig:
    """Everything that shapes one VM."""
    qemu: str
    kernel: str
    initrd: str
    qemu_python: Optional[str] = None   # QEMU tree's python/ dir (QEMUMachine)
    share: Optional[str] = None         # host dir shared read-only at /host
    mem: str = "3G"
    cpus: int = 2
    devices: int = 1                    # hmmdev devices, each on its own root port
    device_props: str = ""              # extra ",key=val" for every hmmdev
    iommu: str = "lazy"                 # none | lazy | strict | pt
    append: str = ""                    # extra kernel command line
    load_driver: bool = True
    boot_timeout: float = float(os.environ.get("HMMDEV_BOOT_TIMEOUT", "120"))
    log_dir: Optional[str] = None
    firmware_dirs: tuple = ("/usr/share/seabios", "/usr/share/qemu")
    extra_args: tuple = ()

    def kernel_cmdline(self, shell: bool = False) -> str:
        parts = ["console=ttyS0", "panic=-1", "oops=panic", "quiet", "loglevel=4"]
        if self.iommu != "none":
            parts.append("intel_iommu=on")
            parts.append({"lazy": "iommu.strict=0", "strict": "iommu.strict=1",
                          "pt": "iommu=pt"}[self.iommu])
        if not self.load_driver:
            parts.append("hmmdev.noload=1")
        if shell:
            parts.append("hmmdev.shell=1")
        if self.append:
            parts.append(self.append)
        return " ".join(parts)

    def qemu_args(self, shell: bool = False) -> list[str]:
        """The QEMU command line, less the binary, console and monitor."""
        if self.iommu not in IOMMU_MODES:
            raise ValueError(f"iommu={self.iommu!r}: expected one of {IOMMU_MODES}")
        a = ["-M", "q35", "-accel", "tcg", "-cpu", "max", "-smp", str(self.cpus),
             "-m", self.mem, "-nodefaults", "-no-reboot"]
        for d in self.firmware_dirs:
            a += ["-L", d]
        if self.iommu != "none":
            a += ["-device", "intel-iommu,intremap=on,device-iotlb=on"]
        for i in range(self.devices):
            a += ["-device", f"pcie-root-port,id=rp{i},chassis={i + 1},slot={i + 1}",
                  "-device", f"hmmdev,id=hmmdev{i},bus=rp{i}{self.device_props}"]
        if self.share:
            a += ["-fsdev", f"local,id=host,path={self.share},security_model=none,readonly=on",
                  "-device", "virtio-9p-pci,fsdev=host,mount_tag=host"]
        a += ["-kernel", self.kernel, "-initrd", self.initrd,
              "-append", self.kernel_cmdline(shell)]
        a += list(self.extra_args)
        return a


class Vm:
    """A running guest with a command agent.  Use as a context manager."""

    def __init__(self, cfg: VmConfig):
        self.cfg = cfg
        if cfg.qemu_python and cfg.qemu_python not in sys.path:
            sys.path.insert(0, cfg.qemu_python)
        from qemu.machine import QEMUMachine  # pylint: disable=import-outside-toplevel
        self._tmp = tempfile.TemporaryDirectory(prefix="hmmdev-vm-")
        self.log_dir = Path(cfg.log_dir or self._tmp.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console_log = self.log_dir / "console.log"
        self._agent_path = os.path.join(self._tmp.name, "agent.sock")
        args = cfg.qemu_args() + [
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", f"socket,id=agent,path={self._agent_path},server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=org.hmmdev.agent,bus=vser.0",
        ]
        self.machine = QEMUMachine(cfg.qemu, args=args, base_temp_dir=self._tmp.name,
                                   console_log=str(self.console_log),
                                   log_dir=str(self.log_dir))
        self.machine.set_console()
        self._agent: Optional[socket.socket] = None
        self._buf = b""

    # -- life cycle -----------------------------------------------------------
    def __enter__(self) -> "Vm":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.machine.launch()
        _ = self.machine.console_socket     # start draining the console to the log
        deadline = time.monotonic() + self.cfg.boot_timeout
        while True:
            try:
                self._agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._agent.connect(self._agent_path)
                break
            except OSError:
                self._agent.close()
                if time.monotonic() > deadline or not self.machine.is_running():
                    self._fail("QEMU did not open the agent socket")
                time.sleep(0.1)
        self._read_until(b"HMMDEV-AGENT-READY\n", deadline, "the guest did not boot")

    def stop(self) -> None:
        if self._agent:
            self._agent.close()
            self._agent = None
        try:
            self.machine.shutdown(hard=True)
        finally:
            self._tmp.cleanup()     # logs survive only when cfg.log_dir is set

    # -- commands -------------------------------------------------------------
    def run(self, cmd: str, timeout: float = 300.0) -> tuple[int, str]:
        """Run a shell command in the guest; return (exit status, output)."""
        if not self._agent:
            raise VmError("the VM is not running")
        self._agent.sendall(base64.b64encode(cmd.encode()) + b"\n")
        deadline = time.monotonic() + timeout
        self._read_until(b"HMMDEV-OUT-BEGIN\n", deadline, f"command timed out: {cmd}")
        body = self._read_until(b"HMMDEV-OUT-END ", deadline, f"command timed out: {cmd}")
        status = self._read_until(b"\n", deadline, f"command timed out: {cmd}")
        out = base64.b64decode(b"".join(body.split())).decode(errors="replace")
        return int(status), out

    def check(self, cmd: str, timeout: float = 300.0) -> str:
        """Run a command that must succeed; return its output."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise VmError(f"guest command failed with status {rc}: {cmd}\n{out}")
        return out

    def qmp(self, cmd: str, **args):
        """Issue a QMP command; return its result (raises on error)."""
        return self.machine.cmd(cmd, **args)

    def console_tail(self, lines: int = 30) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def _read_until(self, marker: bytes, deadline: float, what: str) -> bytes:
        """Consume and return agent bytes up to (not including) marker."""
        while marker not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(what)
            self._agent.settimeout(min(left, 1.0))
            try:
                chunk = self._agent.recv(65536)
            except socket.timeout:
                if not self.machine.is_running():
                    self._fail(f"QEMU exited ({what})")
                continue
            if not chunk:
                self._fail(f"agent connection closed ({what})")
            self._buf += chunk
        data, self._buf = self._buf.split(marker, 1)
        return data

    def _fail(self, what: str):
        tail = self.console_tail()
        qemu_log = ""
        try:
            self.machine.kill()
            qemu_log = self.machine.get_log() or ""
        except Exception:  # pylint: disable=broad-except
            pass
        raise VmError(f"{what}\n--- last console lines ({self.console_log}) ---\n{tail}"
                      + (f"\n--- QEMU output ---\n{qemu_log[-2000:]}" if qemu_log else ""))


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qemu", required=True)
    p.add_argument("--qemu-python", help="QEMU tree's python/ directory")
    p.add_argument("--linux", choices=KERNELS, default=os.environ.get("KERNEL", "7.2"),
                   help="the guest kernel that `make kernel KERNEL=...` built (default: "
                        "$KERNEL or 7.2); --kernel and --initrd override it")
    p.add_argument("--flavour", choices=("release", "debug"),
                   default=os.environ.get("KERNEL_FLAVOUR", "release"))
    p.add_argument("--kernel", help="bzImage (default: from build/kernel-LINUX-FLAVOUR.dir)")
    p.add_argument("--initrd", help="initramfs (default: build/initramfs-LINUX-FLAVOUR.cpio.gz)")
    p.add_argument("--share", help="host directory shared read-only at /host")
    p.add_argument("--mem", default="3G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--device-props", default="")
    p.add_argument("--iommu", choices=IOMMU_MODES, default="lazy")
    p.add_argument("--append", default="")
    p.add_argument("--timeout", type=float, default=600.0, help="command timeout (s)")
    p.add_argument("--cmd", help="run this shell command non-interactively and exit with its status")
    p.add_argument("--print-cmdline", action="store_true", help="print the QEMU command line and exit")
    return p.parse_args(argv)


def _built(a: argparse.Namespace) -> None:
    """Fill in --kernel and --initrd from what the Makefile built for --linux."""
    build = Path(__file__).resolve().parent.parent / "build"
    conf = f"{a.linux}-{a.flavour}"
    if a.kernel is None:
        dirfile = build / f"kernel-{conf}.dir"
        if not dirfile.is_file():
            sys.exit(f"vm.py: no kernel built for KERNEL={a.linux} KERNEL_FLAVOUR={a.flavour}: "
                     f"run 'make initramfs KERNEL={a.linux} KERNEL_FLAVOUR={a.flavour}'")
        a.kernel = str(Path(dirfile.read_text().strip()) / "arch/x86/boot/bzImage")
    if a.initrd is None:
        a.initrd = str(build / f"initramfs-{conf}.cpio.gz")
    for what, path in (("kernel", a.kernel), ("initramfs", a.initrd)):
        if not Path(path).is_file():
            sys.exit(f"vm.py: the {what} {path} does not exist: run "
                     f"'make initramfs KERNEL={a.linux} KERNEL_FLAVOUR={a.flavour}'")


def main(argv: list[str]) -> int:
    a = _parse(argv)
    _built(a)
    cfg = VmConfig(qemu=a.qemu, qemu_python=a.qemu_python, kernel=a.kernel, initrd=a.initrd,
                   share=a.share, mem=a.mem, cpus=a.cpus, devices=a.devices,
                   device_props=a.device_props, iommu=a.iommu, append=a.append)
    if a.print_cmdline:
        print(shlex.join([a.qemu] + cfg.qemu_args(shell=True)))
        return 0
    if a.cmd is None:
        # Interactive: the serial console on this terminal.  Ctrl-A X quits.
        args = [a.qemu] + cfg.qemu_args(shell=True) + ["-display", "none", "-serial", "mon:stdio"]
        os.execv(a.qemu, args)
    try:
        with Vm(cfg) as vm:
            rc, out = vm.run(a.cmd, timeout=a.timeout)
    except VmError as e:
        print(f"vm.py: {e}", file=sys.stderr)
        return 124
    sys.stdout.write(out)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
