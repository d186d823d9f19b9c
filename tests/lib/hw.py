"""A device-level test rig: an enabled hmmdev with a guest-RAM allocator and
its MSI-X vectors pointed at RAM, and a context mapping a user-looking VA."""
from __future__ import annotations

from tests.lib.qtest import GuestAlloc, PageTable, PAGE, PTE_W, R

VA = 0x7F00_0000_0000          # a user-looking VA


class Hw:
    """An enabled hmmdev plus a guest-RAM allocator, MSI-X vectors pointed at RAM."""

    MSG_BASE = 0x0080_0000      # vector v writes its number to MSG_BASE + 4 * v

    def __init__(self, machine, dev):
        self.m, self.dev = machine, dev
        self.alloc = GuestAlloc(dev)
        dev.enable()
        dev.msix_enable()
        for v in range(R["HMMDEV_MSIX_VECTORS"]):
            dev.msix_program(v, self.MSG_BASE + 4 * v, 0x1000 + v)
        self.clear_msgs()

    def clear_msgs(self) -> None:
        self.dev.memwrite(self.MSG_BASE, bytes(4 * R["HMMDEV_MSIX_VECTORS"]))

    def msg(self, vector: int) -> bool:
        """True if the vector fired since the last clear_msgs()."""
        return self.dev.readl(self.MSG_BASE + 4 * vector) == 0x1000 + vector

    DEVMEM_BAR_ADDR = 0x40_0000_0000     # above RAM and the 32-bit hole

    def place_devmem_bar(self) -> int:
        """Map BAR 4 (device memory) at a fixed address for direct reads."""
        self.dev.set_bar(R["HMMDEV_BAR_DEVMEM"], self.DEVMEM_BAR_ADDR)
        return self.DEVMEM_BAR_ADDR

    def qemu_pid(self) -> int:
        return self.m.get_pid()


def setup_ctx(hw: Hw, npages=8, flags=PTE_W, asid=0, va=VA):
    """A context whose VA..VA+npages maps a fresh buffer in guest RAM."""
    pt = PageTable(hw.dev, hw.alloc)
    buf = hw.alloc.alloc(npages * PAGE, zero=True)
    pt.map_range(va, buf, npages * PAGE, flags)
    hw.dev.set_ctx(asid, pt.root)
    return pt, buf
