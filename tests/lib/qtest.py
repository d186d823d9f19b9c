"""Drive one hmmdev on pcie.0 over the qtest protocol, with no guest.

qtest has no firmware, so nothing enumerates PCI: the helper programs BARs,
the command register and MSI-X by hand through the legacy 0xcf8/0xcfc
configuration mechanism.
"""
from __future__ import annotations

import re
import struct
import time
from pathlib import Path

# Register offsets, mirrored from qemu-device/hmmdev-regs.h (parsed, not copied).
_REGS_H = Path(__file__).resolve().parents[2] / "qemu-device" / "hmmdev-regs.h"


def _parse_regs_h() -> dict[str, int]:
    """Every `NAME = 0x..` enum entry and `#define NAME value` of the ABI header."""
    text = _REGS_H.read_text()
    vals: dict[str, int] = {}
    for m in re.finditer(r"^\s*(HMMDEV_\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)", text, re.M):
        vals[m.group(1)] = int(m.group(2), 0)
    for m in re.finditer(r"^#define\s+(HMMDEV_\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)(?:ull|u)?\)?\s*(?:/\*.*)?$", text, re.M):
        vals[m.group(1)] = int(m.group(2), 0)
    for m in re.finditer(r"^#define\s+(HMMDEV_\w+)\s+\(1(?:ull|u) << (\d+)\)", text, re.M):
        vals[m.group(1)] = 1 << int(m.group(2))
    return vals


R = _parse_regs_h()

PCI_COMMAND = 0x04
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_CAP_ID_MSIX = 0x11
PCI_EXT_CAP_ID_ATS = 0x0F
PCI_ATS_CTRL_ENABLE = 0x8000
ECAM_BASE = 0xB000_0000         # where ecam_enable() puts q35's MMCONFIG window
MCH_PCIEXBAR = 0x60             # q35 host bridge (00:00.0) register


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

    # -- QOM ----------------------------------------------------------------------
    QOM_PATH = "/machine/peripheral/hmmdev0"

    def qom_get(self, prop: str):
        return self.m.cmd("qom-get", path=self.QOM_PATH, property=prop)

    def qom_set(self, prop: str, value) -> None:
        self.m.cmd("qom-set", path=self.QOM_PATH, property=prop, value=value)

    def stat(self, name: str) -> int:
        return self.qom_get(f"stat-{name}")

    def stats(self, *names: str) -> dict[str, int]:
        return {n: self.stat(n) for n in names}

    # -- contexts, fault ring, queues ---------------------------------------------
    def set_ctx(self, asid: int, root: int, enable: bool = True) -> None:
        base = self.BAR0_ADDR + R["HMMDEV_REG_CTX_BASE"] + asid * R["HMMDEV_CTX_STRIDE"]
        self.writel(base + R["HMMDEV_CTXREG_ROOT_HI"], root >> 32)
        self.writel(base + R["HMMDEV_CTXREG_ROOT_LO"],
                    (root & 0xFFFF_FFFF) | (R["HMMDEV_CTX_ENABLE"] if enable else 0))

    def qreg_addr(self, q: int, name: str) -> int:
        return (self.BAR0_ADDR + R["HMMDEV_REG_QUEUE_BASE"] + q * R["HMMDEV_QUEUE_STRIDE"]
                + R[f"HMMDEV_QREG_{name}"])

    def qreg(self, q: int, name: str) -> int:
        return self.readl(self.qreg_addr(q, name))

    def set_qreg(self, q: int, name: str, val: int) -> None:
        self.writel(self.qreg_addr(q, name), val)

    def setup_fq(self, alloc: "GuestAlloc", size: int = 64, vector: int = 1) -> "FaultRing":
        return FaultRing(self, alloc, size, vector)

    def queue(self, alloc: "GuestAlloc", qid: int = 0, asid: int = 0, size: int = 64,
              vector: int | None = None) -> "Queue":
        return Queue(self, alloc, qid, asid, size,
                     R["HMMDEV_MSIX_VEC_QUEUE0"] + qid if vector is None else vector)

    def clear_error(self) -> None:
        self.set_reg("ERROR", 0xFFFF_FFFF)

    def wait_for(self, pred, timeout: float = 5.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.002)


class EcamDev(QtestHmmdev):
    """QtestHmmdev plus extended configuration space through ECAM (for ATS)."""

    def ecam_enable(self) -> None:
        # Host bridge 00:00.0 register PCIEXBAR: base 0xb0000000, 256 buses, enabled.
        for reg, val in ((MCH_PCIEXBAR + 4, 0), (MCH_PCIEXBAR, ECAM_BASE | 1)):
            self._cmd(f"outl 0xcf8 0x{0x8000_0000 | reg:x}")
            self._cmd(f"outl 0xcfc 0x{val:x}")

    def ecam(self, reg: int) -> int:
        return ECAM_BASE | (self.devfn << 12) | reg

    def ext_cap(self, cap_id: int) -> int | None:
        off = 0x100
        while off:
            hdr = self.readl(self.ecam(off))
            if hdr in (0, 0xFFFF_FFFF):
                return None
            if hdr & 0xFFFF == cap_id:
                return off
            off = hdr >> 20
        return None

    def ats_ctrl(self) -> int:
        # dword at +4: ATS Capability (15:0), ATS Control (31:16)
        return self.readl(self.ecam(self.ext_cap(PCI_EXT_CAP_ID_ATS) + 4)) >> 16

    def set_ats(self, enable: bool) -> None:
        cap = self.ext_cap(PCI_EXT_CAP_ID_ATS)
        self.writel(self.ecam(cap + 4), (PCI_ATS_CTRL_ENABLE if enable else 0) << 16)


class GuestAlloc:
    """Bump allocator over guest RAM (qtest RAM starts zeroed; nothing is freed)."""

    def __init__(self, dev: QtestHmmdev, start: int = 0x0100_0000, end: int = 0x0F00_0000):
        self.dev, self.next, self.end = dev, start, end

    def alloc(self, size: int, align: int = 4096, zero: bool = False) -> int:
        addr = (self.next + align - 1) & ~(align - 1)
        if addr + size > self.end:
            raise MemoryError("guest RAM exhausted")
        self.next = addr + size
        if zero:
            self.dev.memwrite(addr, bytes(size))
        return addr


PTE_V = R["HMMDEV_PTE_VALID"]
PTE_W = R["HMMDEV_PTE_WRITE"]
PTE_ATOMIC = R["HMMDEV_PTE_ATOMIC"]
PTE_LEAF = R["HMMDEV_PTE_LEAF"]
PTE_DEVMEM = R["HMMDEV_PTE_DEVMEM"]
PTE_A = R["HMMDEV_PTE_ACCESSED"]
PTE_D = R["HMMDEV_PTE_DIRTY"]
PTE_ADDR = R["HMMDEV_PTE_ADDR_MASK"]
PAGE = 4096
HUGE = 2 << 20


class PageTable:
    """A 4-level hmmdev page table in guest RAM, written over qtest."""

    def __init__(self, dev: QtestHmmdev, alloc: GuestAlloc):
        self.dev, self.alloc = dev, alloc
        self.root = alloc.alloc(PAGE, zero=True)

    @staticmethod
    def index(va: int, level: int) -> int:
        return (va >> (12 + 9 * (level - 1))) & 511

    def _table_for(self, va: int, leaf_level: int) -> int:
        table = self.root
        for level in range(4, leaf_level, -1):
            ea = table + 8 * self.index(va, level)
            pte = self.dev.readq(ea)
            if not pte & PTE_V:
                nxt = self.alloc.alloc(PAGE, zero=True)
                self.dev.writeq(ea, nxt | PTE_V)
                pte = nxt | PTE_V
            table = pte & PTE_ADDR
        return table

    def map(self, va: int, target: int, flags: int = PTE_W, huge: bool = False) -> int:
        """Map one 4 KiB page (or 2 MiB with huge) at va; returns the PTE address."""
        level = 2 if huge else 1
        ea = self._table_for(va, level) + 8 * self.index(va, level)
        self.dev.writeq(ea, target | PTE_V | flags | (PTE_LEAF if huge else 0))
        return ea

    def map_range(self, va: int, target: int, size: int, flags: int = PTE_W) -> None:
        for off in range(0, size, PAGE):
            self.map(va + off, target + off, flags)

    def map_linear(self, va: int, target: int, size: int, flags: int = PTE_W,
                   huge: bool = False) -> None:
        """Map [va, va + size) linearly to target, fast enough for many MiB.

        All three must be 2 MiB aligned.  With 4 KiB leaves each level-1
        table is written in one go; with huge, one 2 MiB leaf per 2 MiB.
        """
        if (va | target | size) & (HUGE - 1):
            raise ValueError("map_linear needs 2 MiB aligned va, target and size")
        for off in range(0, size, HUGE):
            if huge:
                self.map(va + off, target + off, flags, huge=True)
                continue
            table = self._table_for(va + off, 1)
            ptes = b"".join(struct.pack("<Q", (target + off + i * PAGE) | PTE_V | flags)
                            for i in range(512))
            self.dev.memwrite(table, ptes)

    def pte_addr(self, va: int) -> int:
        table = self.root
        for level in range(4, 0, -1):
            ea = table + 8 * self.index(va, level)
            pte = self.dev.readq(ea)
            if level == 1 or (level == 2 and pte & PTE_LEAF) or not pte & PTE_V:
                return ea
            table = pte & PTE_ADDR
        raise AssertionError("unreachable")

    def pte(self, va: int) -> int:
        return self.dev.readq(self.pte_addr(va))

    def set_pte(self, va: int, val: int) -> None:
        self.dev.writeq(self.pte_addr(va), val)


CMD = struct.Struct("<BBHI5QIIQ")
FAULT_REC = struct.Struct("<QHBBBBBBQII")


SG_ENTRY = struct.Struct("<QQIIQ")          # src, dst, len, flags, reserved
OP = {n: R[f"HMMDEV_CMD_{n}"] for n in
      ("NOP", "FENCE", "COPY", "FILL", "ATOMIC", "KERNEL", "TLB_INV", "SG_COPY")}


def cmd_bytes(opcode: int, args=(), cdw1: int = 0, flags: int = 0, rsvd0: int = 0) -> bytes:
    a = list(args) + [0] * (5 - len(args))
    return CMD.pack(opcode, flags, rsvd0, cdw1, *a, 0, 0, 0)


def sg_list(dev: QtestHmmdev, alloc: GuestAlloc, entries, align: int = PAGE) -> int:
    """An SG_COPY list in guest RAM; entries are (src, dst, len) or (src, dst, len, flags)."""
    lst = alloc.alloc(SG_ENTRY.size * len(entries), align=align)
    dev.memwrite(lst, b"".join(SG_ENTRY.pack(*e, *(0,) * (5 - len(e))) for e in entries))
    return lst


class Completion:
    def __init__(self, status: int, info: int, result: int):
        self.status, self.info, self.result = status, info, result
        self.code = status & R["HMMDEV_CS_CODE_MASK"]
        self.reason = (status >> R["HMMDEV_CS_REASON_SHIFT"]) & 0xFF
        self.access = (status >> R["HMMDEV_CS_ACCESS_SHIFT"]) & 0xFF

    def __repr__(self):
        return f"Completion(code=0x{self.code:x}, info={self.info}, result=0x{self.result:x})"


class Queue:
    """A submission ring in guest RAM, enabled on queue qid."""

    def __init__(self, dev: QtestHmmdev, alloc: GuestAlloc, qid: int, asid: int, size: int,
                 vector: int):
        self.dev, self.qid, self.size = dev, qid, size
        self.base = alloc.alloc(size * 64, zero=True)
        self.tail = 0
        dev.set_qreg(qid, "BASE_HI", self.base >> 32)
        dev.set_qreg(qid, "BASE_LO", self.base & 0xFFFF_FFFF)
        dev.set_qreg(qid, "SIZE", size)
        dev.set_qreg(qid, "ASID", asid)
        dev.set_qreg(qid, "VECTOR", vector)
        dev.set_qreg(qid, "CTRL", R["HMMDEV_QCTRL_ENABLE"])

    def slot_addr(self, slot: int) -> int:
        return self.base + 64 * slot

    def submit_raw(self, data: bytes, ring: bool = True) -> int:
        slot = self.tail
        self.dev.memwrite(self.slot_addr(slot), data)
        self.tail = (self.tail + 1) % self.size
        if ring:
            self.dev.set_qreg(self.qid, "TAIL", self.tail)
        return slot

    def submit(self, opcode: int, args=(), cdw1: int = 0, flags: int = 0, ring: bool = True) -> int:
        return self.submit_raw(cmd_bytes(opcode, args, cdw1, flags), ring)

    def completion(self, slot: int) -> Completion | None:
        raw = self.dev.memread(self.slot_addr(slot) + 48, 16)
        status, info, result = struct.unpack("<IIQ", raw)
        if not status & R["HMMDEV_CS_DONE"]:
            return None
        return Completion(status, info, result)

    def wait(self, slot: int, timeout: float = 5.0) -> Completion:
        return self.dev.wait_for(lambda: self.completion(slot), timeout,
                                 f"completion of queue {self.qid} slot {slot}")

    def run(self, opcode: int, args=(), cdw1: int = 0, flags: int = 0,
            timeout: float = 5.0) -> Completion:
        return self.wait(self.submit(opcode, args, cdw1, flags), timeout)

    def wait_stalled(self, timeout: float = 5.0) -> None:
        self.dev.wait_for(lambda: self.dev.qreg(self.qid, "STATUS") & R["HMMDEV_QSTATUS_STALLED"],
                          timeout, f"queue {self.qid} to stall")

    def replay(self) -> None:
        self.dev.set_qreg(self.qid, "FAULT", R["HMMDEV_QFAULT_REPLAY"])

    def cancel(self) -> None:
        self.dev.set_qreg(self.qid, "FAULT", R["HMMDEV_QFAULT_CANCEL"])


class FaultRecord:
    def __init__(self, raw: bytes):
        (self.va, self.asid, self.queue, self.access, self.reason, self.level, self.flags,
         _, self.seq, self.cmd_index, _) = FAULT_REC.unpack(raw)

    def __repr__(self):
        return (f"FaultRecord(q={self.queue}, asid={self.asid}, va=0x{self.va:x}, "
                f"access={self.access}, reason={self.reason}, seq={self.seq})")


class FaultRing:
    """The device's fault ring in guest RAM."""

    def __init__(self, dev: QtestHmmdev, alloc: GuestAlloc, size: int, vector: int):
        self.dev, self.size = dev, size
        self.base = alloc.alloc(size * 32, zero=True)
        dev.set_reg("FQ_BASE_HI", self.base >> 32)
        dev.set_reg("FQ_BASE_LO", self.base & 0xFFFF_FFFF)
        dev.set_reg("FQ_SIZE", size)
        dev.set_reg("FQ_VECTOR", vector)
        dev.set_reg("FQ_CTRL", R["HMMDEV_FQ_CTRL_ENABLE"])
        self.head = 0

    def pending(self) -> int:
        return (self.dev.reg("FQ_TAIL") - self.head) % self.size

    def wait_records(self, n: int, timeout: float = 5.0) -> None:
        self.dev.wait_for(lambda: self.pending() >= n, timeout, f"{n} fault records")

    def drain(self, ack: bool = True) -> list[FaultRecord]:
        """Read every record up to FQ_TAIL; with ack, write FQ_HEAD."""
        tail = self.dev.reg("FQ_TAIL")
        recs = []
        while self.head != tail:
            recs.append(FaultRecord(self.dev.memread(self.base + 32 * self.head, 32)))
            self.head = (self.head + 1) % self.size
        if ack:
            self.dev.set_reg("FQ_HEAD", self.head)
        return recs
