"""Drive one hmmdev on pcie.0 over the qtest protocol, with no guest.

qtest has no firmware, so nothing enumerates PCI: the helper programs BARs,
the command register and MSI-X by hand through the legacy 0xcf8/0xcfc
configuration mechanism.
"""
from __future__ import annotations

import re

# Register offsets, mirrored from qemu-device/hmmdev-regs.h (parsed, not copied).
from pathlib import Path

_REGS_H = Path(__file__).resolve().parent.parent / "qemu-device" / "hmmdev-regs.h"


def _parse_regs_h() -> dict[str, int]:
    """Every `NAME = 0x..` enum entry and `#define NAME value` of the ABI header."""
    text = _REGS_H.read_text()
    vals: dict[str, int] = {}
    for m in re.finditer(r"^\s*(HMMDEV_\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)", text, re.M):
        vals[m.group(1)] = int(m.group(2), 0)
    for m in re.finditer(r"^#define\s+(HMMDEV_\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)u?\)?\s*(?:/\*.*)?$", text, re.M):
        vals[m.group(1)] = int(m.group(2), 0)
    for m in re.finditer(r"^#define\s+(HMMDEV_\w+)\s+\(1u?l* << (\d+)\)", text, re.M):
        vals[m.group(1)] = 1 << int(m.group(2))
    return vals


R = _parse_regs_h()

PCI_COMMAND = 0x04
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_CAP_ID_MSIX = 0x11


class QtestHmmdev:
    """One hmmdev at 00:DEV.0 with its BARs placed by hand."""

    BAR0_ADDR = 0xE000_0000
    BAR2_ADDR = 0xE010_0000

    def __init__(self, machine, devfn: int):
        self.m = machine
        self.devfn = devfn

    # -- raw qtest -------------------------------------------------------------
    def _cmd(self, cmd: str) -> str:
        resp = self.m.qtest(cmd)
        if not resp.startswith("OK"):
            raise RuntimeError(f"qtest {cmd!r}: {resp}")
        return resp

    def readl(self, addr: int) -> int:
        return int(self._cmd(f"readl 0x{addr:x}").split()[1], 16)

    def writel(self, addr: int, val: int) -> None:
        self._cmd(f"writel 0x{addr:x} 0x{val:x}")

    def readq(self, addr: int) -> int:
        return int(self._cmd(f"readq 0x{addr:x}").split()[1], 16)

    def writeq(self, addr: int, val: int) -> None:
        self._cmd(f"writeq 0x{addr:x} 0x{val:x}")

    def readb(self, addr: int) -> int:
        return int(self._cmd(f"readb 0x{addr:x}").split()[1], 16)

    def writeb(self, addr: int, val: int) -> None:
        self._cmd(f"writeb 0x{addr:x} 0x{val:x}")

    def memread(self, addr: int, size: int) -> bytes:
        return bytes.fromhex(self._cmd(f"read 0x{addr:x} 0x{size:x}").split()[1][2:])

    def memwrite(self, addr: int, data: bytes) -> None:
        self._cmd(f"write 0x{addr:x} 0x{len(data):x} 0x{data.hex()}")

    # -- PCI configuration space --------------------------------------------------
    def _cfg_addr(self, reg: int) -> int:
        return 0x8000_0000 | (self.devfn << 8) | (reg & 0xFC)

    def cfg_readl(self, reg: int) -> int:
        self._cmd(f"outl 0xcf8 0x{self._cfg_addr(reg):x}")
        return int(self._cmd("inl 0xcfc").split()[1], 16)

    def cfg_writel(self, reg: int, val: int) -> None:
        self._cmd(f"outl 0xcf8 0x{self._cfg_addr(reg):x}")
        self._cmd(f"outl 0xcfc 0x{val:x}")

    def cfg_readw(self, reg: int) -> int:
        return (self.cfg_readl(reg) >> ((reg & 2) * 8)) & 0xFFFF

    def cfg_writew(self, reg: int, val: int) -> None:
        old = self.cfg_readl(reg & ~3)
        shift = (reg & 2) * 8
        self.cfg_writel(reg & ~3, (old & ~(0xFFFF << shift)) | (val << shift))

    def find_cap(self, cap_id: int) -> int:
        ptr = self.cfg_readl(0x34) & 0xFF
        while ptr:
            hdr = self.cfg_readl(ptr)
            if hdr & 0xFF == cap_id:
                return ptr
            ptr = (hdr >> 8) & 0xFF
        raise LookupError(f"capability 0x{cap_id:x} not found")

    def set_bar(self, bar: int, addr: int) -> None:
        reg = 0x10 + 4 * bar
        low = self.cfg_readl(reg)
        self.cfg_writel(reg, addr & 0xFFFF_FFFF)
        if (low & 0x6) == 0x4:          # 64-bit BAR: the next dword is the high half
            self.cfg_writel(reg + 4, addr >> 32)

    def enable(self, master: bool = True) -> None:
        """Place BAR0 and the MSI-X BAR; enable memory decoding (and bus mastering)."""
        self.set_bar(R["HMMDEV_BAR_REGS"], self.BAR0_ADDR)
        self.set_bar(R["HMMDEV_BAR_MSIX"], self.BAR2_ADDR)
        cmd = self.cfg_readw(PCI_COMMAND) | PCI_COMMAND_MEMORY
        if master:
            cmd |= PCI_COMMAND_MASTER
        self.cfg_writew(PCI_COMMAND, cmd)

    # -- device registers ---------------------------------------------------------
    def reg(self, name: str) -> int:
        return self.readl(self.BAR0_ADDR + R[f"HMMDEV_REG_{name}"])

    def set_reg(self, name: str, val: int) -> None:
        self.writel(self.BAR0_ADDR + R[f"HMMDEV_REG_{name}"], val)

    # -- MSI-X --------------------------------------------------------------------
    def msix_enable(self) -> None:
        cap = self.find_cap(PCI_CAP_ID_MSIX)
        ctrl = self.cfg_readw(cap + 2)
        self.cfg_writew(cap + 2, (ctrl | 0x8000) & ~0x4000)   # Enable, not Function Mask
        self._msix_cap = cap

    def _msix_table(self) -> int:
        return self.BAR2_ADDR + (self.cfg_readl(self._msix_cap + 4) & ~7)

    def _msix_pba(self) -> int:
        return self.BAR2_ADDR + (self.cfg_readl(self._msix_cap + 8) & ~7)

    def msix_program(self, vector: int, addr: int, data: int, masked: bool = False) -> None:
        """Point a vector's message at an ordinary RAM address, to read it back."""
        e = self._msix_table() + 16 * vector
        self.writel(e + 0, addr & 0xFFFF_FFFF)
        self.writel(e + 4, addr >> 32)
        self.writel(e + 8, data)
        self.writel(e + 12, 1 if masked else 0)

    def msix_pending(self, vector: int) -> bool:
        return bool(self.readl(self._msix_pba() + 4 * (vector // 32)) >> (vector % 32) & 1)
