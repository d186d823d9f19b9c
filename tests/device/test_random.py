"""Bounded random run: random MMIO, rings, commands and page tables; QEMU must survive.

Works with any QEMU binary (HMMDEV_QEMU_BUILD), e.g. an ASan/UBSan build.
HMMDEV_RANDOM_SECONDS sets the length (default 3), HMMDEV_RANDOM_SEED the seed.
"""
import os
import random
import time

from tests.lib.qtest import (R, PageTable, PAGE, PCI_COMMAND, PCI_COMMAND_MASTER,
                             PCI_COMMAND_MEMORY, PTE_ATOMIC, PTE_DEVMEM, PTE_W, SG_ENTRY, cmd_bytes)

RAM_LO, RAM_HI = 0x0100_0000, 0x0F00_0000
STATS = ("cmd-nop", "cmd-fence", "cmd-copy", "cmd-fill", "cmd-atomic", "cmd-kernel",
         "cmd-tlb-inv", "cmd-sg-copy", "cmd-errors", "faults", "replays", "cancels",
         "fault-overflows", "tlb-walks", "dma-errors", "bytes-sys-to-sys", "bytes-sys-to-dev",
         "bytes-dev-to-sys", "bytes-dev-to-dev", "bytes-filled")


def rand_addr(rng):
    return rng.choice([
        rng.randrange(RAM_LO, RAM_HI) & ~7,                  # plausible RAM
        rng.randrange(0, 1 << 64),                           # garbage
        0xFEB0_0000,                                         # MMIO hole
        0xE000_0000 + rng.randrange(0, 0x1000),              # our own BAR 0
        rng.randrange(0, 256 << 20),                         # device-memory offset
    ])


VA_BASE, VA_PAGES = 0x7F00_0000_0000, 64


def rand_va(rng, align=1):
    return (VA_BASE + rng.randrange(0, VA_PAGES) * PAGE + rng.randrange(0, PAGE)) & ~(align - 1)


def rand_len(rng, align=1):
    return max(align, rng.choice([rng.randrange(1, 64), rng.randrange(1, 3 * PAGE)]) & ~(align - 1))


def good_command(rng, sg_list):
    """A well-formed command on the VA window: it gets past decoding and moves data."""
    C = R
    op = rng.choice(["copy", "fill", "atomic", "sum", "axpy", "sg", "fence", "inv"])
    if op == "copy":
        return C["HMMDEV_CMD_COPY"], 0, [rand_va(rng), rand_va(rng), rand_len(rng)]
    if op == "fill":
        return C["HMMDEV_CMD_FILL"], 0, [rand_va(rng), rng.randrange(1 << 64), rand_len(rng)]
    if op == "atomic":
        return C["HMMDEV_CMD_ATOMIC"], rng.randrange(3), [rand_va(rng, 8), rng.randrange(1 << 64),
                                                          rng.randrange(4)]
    if op == "sum":
        return C["HMMDEV_CMD_KERNEL"], C["HMMDEV_KERNEL_SUM64"], [0, rand_va(rng, 8),
                                                                 rand_len(rng, 8)]
    if op == "axpy":
        return C["HMMDEV_CMD_KERNEL"], C["HMMDEV_KERNEL_AXPY32"], [
            rand_va(rng, 4), rand_va(rng, 4), rand_len(rng, 4), rand_va(rng, 4),
            rng.randrange(1 << 32)]
    if op == "sg":
        return C["HMMDEV_CMD_SG_COPY"], 0, [sg_list, rng.randrange(1, 9)]
    if op == "fence":
        return C["HMMDEV_CMD_FENCE"], 0, [rng.randrange(RAM_LO, RAM_HI) & ~7, rng.randrange(1 << 64)]
    return C["HMMDEV_CMD_TLB_INV"], rng.randrange(1, 4), [
        rand_va(rng) & ~(PAGE - 1), rng.randrange(4), rng.randrange(1, 8) * PAGE]


def good_pte_target(rng, huge):
    """(target, flags) of a leaf that translates: RAM or device memory."""
    align = (2 << 20) if huge else PAGE
    flags = rng.choice([PTE_W, PTE_W | PTE_ATOMIC, 0])
    if rng.random() < 0.5:
        return rng.randrange(RAM_LO, RAM_HI) & ~(align - 1), flags
    return rng.randrange(0, 256 << 20) & ~(align - 1), flags | PTE_DEVMEM


def random_sg_entries(rng, n):
    out = b""
    for _ in range(n):
        sd = rng.randrange(4)                # bit 0 src in devmem, bit 1 dst in devmem
        src = rng.randrange(0, 256 << 20) if sd & 1 else rng.randrange(RAM_LO, RAM_HI)
        dst = rng.randrange(0, 256 << 20) if sd & 2 else rng.randrange(RAM_LO, RAM_HI)
        out += SG_ENTRY.pack(src, dst, rng.choice([rng.randrange(1, 64), rng.randrange(1, 3 * PAGE),
                                                   rng.randrange(1, 1 << 20)]), sd, 0)
    return out


def test_random_programming(hw_factory, capsys):
    # Random registers, rings, commands and PTEs for a few seconds; ID still reads back.
    seed = int(os.environ.get("HMMDEV_RANDOM_SEED", time.time_ns() % (1 << 32)))
    seconds = float(os.environ.get("HMMDEV_RANDOM_SECONDS", "3"))
    rng = random.Random(seed)
    tlb = rng.choice([1, 3, 16, 256])        # small ones evict all the time
    print(f"hmmdev random run: seed {seed}, {seconds} s, tlb-entries={tlb}")
    # The seed replays the run: no qtest log of every command (GBs in a long run).
    hw = hw_factory(f",tlb-entries={tlb}", extra_args=["-qtest-log", "none"])
    dev = hw.dev
    fq = dev.setup_fq(hw.alloc, 8)
    pts = [PageTable(dev, hw.alloc) for _ in range(4)]
    for i, pt in enumerate(pts):
        dev.set_ctx(i, pt.root)
    queues = [dev.queue(hw.alloc, qid=i, asid=i % 4, size=16) for i in range(4)]
    bases = [q.base for q in queues]

    def arm_queue(qi):                   # random writes and resets disable queues
        dev.set_qreg(qi, "CTRL", 0)
        for name, val in (("BASE_HI", bases[qi] >> 32), ("BASE_LO", bases[qi] & 0xFFFF_FFFF),
                          ("SIZE", 16), ("ASID", qi % 4),
                          ("VECTOR", R["HMMDEV_MSIX_VEC_QUEUE0"] + qi),
                          ("CTRL", R["HMMDEV_QCTRL_ENABLE"])):
            dev.set_qreg(qi, name, val)

    def arm_fq():
        dev.set_reg("FQ_CTRL", 0)
        for name, val in (("FQ_BASE_HI", fq.base >> 32), ("FQ_BASE_LO", fq.base & 0xFFFF_FFFF),
                          ("FQ_SIZE", fq.size), ("FQ_VECTOR", 1),
                          ("FQ_CTRL", R["HMMDEV_FQ_CTRL_ENABLE"])):
            dev.set_reg(name, val)
    sg_list = hw.alloc.alloc(8 * SG_ENTRY.size)
    dev.memwrite(sg_list, random_sg_entries(rng, 8))
    regs = [v for k, v in R.items() if k.startswith("HMMDEV_REG_")]
    deadline = time.monotonic() + seconds
    ops = 0
    reenable_at = None
    while time.monotonic() < deadline:
        ops += 1
        if ops == reenable_at:
            dev.enable()
        choice = rng.random()
        if choice < 0.35:                    # a random command in a random slot
            qi = rng.randrange(4)
            slot = rng.randrange(16)
            if rng.random() < 0.5:
                op, cdw1, args = good_command(rng, sg_list)
                data = cmd_bytes(op, args, cdw1=cdw1, flags=rng.choice([0, 1]))
            else:
                op = rng.choice(list(range(8)) + [rng.randrange(256)])
                args = [rng.choice([rand_addr(rng), rng.randrange(0, 3 * PAGE),
                                    VA_BASE + rng.randrange(0, VA_PAGES) * PAGE])
                        for _ in range(5)]
                data = cmd_bytes(op, args[:rng.randrange(6)], cdw1=rng.randrange(4),
                                 flags=rng.choice([0, 1, 1, 0xFF]))
            dev.memwrite(bases[qi] + 64 * slot, data)
            dev.set_qreg(qi, "TAIL", rng.choice([slot, (slot + 1) % 16, rng.randrange(1 << 32)]))
        elif choice < 0.50:                  # a random PTE somewhere in a table
            pt = rng.choice(pts)
            va = VA_BASE + rng.randrange(0, VA_PAGES) * PAGE
            huge = rng.random() < 0.1
            if rng.random() < 0.7:
                target, flags = good_pte_target(rng, huge)
                pt.map(va & ~((2 << 20) - 1) if huge else va, target, flags, huge=huge)
            else:
                pt.map(va, rand_addr(rng) & ~0xFFF, rng.randrange(0, 1 << 12) & ~1, huge=huge)
            if rng.random() < 0.05:
                dev.memwrite(sg_list, random_sg_entries(rng, 8))
        elif choice < 0.58:                  # resolve faults at random
            dev.set_qreg(rng.randrange(16), "FAULT", rng.choice([1, 2, 0, 7]))
            if rng.random() < 0.5:
                dev.set_reg("FQ_HEAD", rng.randrange(8))
        elif choice < 0.63:                  # bring a queue or the fault ring back
            if rng.random() < 0.8:
                arm_queue(rng.randrange(4))
            else:
                arm_fq()
        elif choice < 0.97:                  # a random register write
            off = rng.choice(regs + [rng.randrange(0, 0x1000) & ~3,
                                     R["HMMDEV_REG_QUEUE_BASE"] + rng.randrange(0, 0x400) & ~3,
                                     R["HMMDEV_REG_CTX_BASE"] + rng.randrange(0, 0x200) & ~3])
            if off == R["HMMDEV_REG_CONTROL"] and rng.random() < 0.8:
                continue                     # resets are rarer
            dev.writel(dev.BAR0_ADDR + off, rng.choice([0, 1, 2, 3, rng.randrange(1 << 32)]))
        else:                                # the odd wrong-size access, reset or
            r = rng.random()                 # bus-master/decode flip under DMA
            if r < 0.3:                      # off for a few operations
                cmd = rng.choice([PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER])
                dev.cfg_writew(PCI_COMMAND, dev.cfg_readw(PCI_COMMAND) & ~cmd)
                reenable_at = ops + rng.randrange(1, 20)
            elif r < 0.65:
                dev.writeb(dev.BAR0_ADDR + rng.randrange(0x1000), rng.randrange(256))
            else:
                dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
                for i, pt in enumerate(pts):
                    dev.set_ctx(i, pt.root)
                arm_fq()
                for i in range(4):
                    arm_queue(i)
    dev.enable()
    assert dev.reg("ID") == R["HMMDEV_ID_MAGIC"], f"seed {seed}"
    # The device is still usable after a reset.
    dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    q = dev.queue(hw.alloc)
    assert q.run(R["HMMDEV_CMD_NOP"]).code == 0, f"seed {seed}"
    stats = {k: v for k, v in dev.stats(*STATS).items() if v}
    print(f"hmmdev random run: seed {seed}, {ops} operations, device stats {stats}")
