"""Bounded random run: random MMIO, rings, commands and page tables; QEMU must survive.

Works with any QEMU binary (HMMDEV_QEMU_BUILD), e.g. an ASan/UBSan build.
HMMDEV_RANDOM_SECONDS sets the length (default 3), HMMDEV_RANDOM_SEED the seed.
"""
import os
import random
import struct
import time

from hmmdev_qtest import R, PageTable, PAGE, cmd_bytes

RAM_LO, RAM_HI = 0x0100_0000, 0x0F00_0000


def rand_addr(rng):
    return rng.choice([
        rng.randrange(RAM_LO, RAM_HI) & ~7,                  # plausible RAM
        rng.randrange(0, 1 << 64),                           # garbage
        0xFEB0_0000,                                         # MMIO hole
        0xE000_0000 + rng.randrange(0, 0x1000),              # our own BAR 0
        rng.randrange(0, 256 << 20),                         # device-memory offset
    ])


def test_random_programming(hw, capsys):
    # Random registers, rings, commands and PTEs for a few seconds; ID still reads back.
    seed = int(os.environ.get("HMMDEV_RANDOM_SEED", time.time_ns() % (1 << 32)))
    seconds = float(os.environ.get("HMMDEV_RANDOM_SECONDS", "3"))
    print(f"hmmdev random run: seed {seed}, {seconds} s")
    rng = random.Random(seed)
    dev = hw.dev
    fq = dev.setup_fq(hw.alloc, 8)
    pts = [PageTable(dev, hw.alloc) for _ in range(4)]
    for i, pt in enumerate(pts):
        dev.set_ctx(i, pt.root)
    queues = [dev.queue(hw.alloc, qid=i, asid=i % 4, size=16) for i in range(4)]
    bases = [q.base for q in queues]
    regs = [v for k, v in R.items() if k.startswith("HMMDEV_REG_")]
    deadline = time.monotonic() + seconds
    ops = 0
    while time.monotonic() < deadline:
        ops += 1
        choice = rng.random()
        if choice < 0.35:                    # a random command in a random slot
            qi = rng.randrange(4)
            slot = rng.randrange(16)
            op = rng.choice(list(range(8)) + [rng.randrange(256)])
            args = [rng.choice([rand_addr(rng), rng.randrange(0, 3 * PAGE),
                                0x7F00_0000_0000 + rng.randrange(0, 64) * PAGE])
                    for _ in range(5)]
            data = cmd_bytes(op, args[:rng.randrange(6)], cdw1=rng.randrange(4),
                             flags=rng.choice([0, 1, 1, 0xFF]))
            dev.memwrite(bases[qi] + 64 * slot, data)
            dev.set_qreg(qi, "TAIL", rng.choice([slot, (slot + 1) % 16, rng.randrange(1 << 32)]))
        elif choice < 0.55:                  # a random PTE somewhere in a table
            pt = rng.choice(pts)
            va = 0x7F00_0000_0000 + rng.randrange(0, 64) * PAGE
            pt.map(va, rand_addr(rng) & ~0xFFF, rng.randrange(0, 1 << 12) & ~1,
                   huge=rng.random() < 0.1)
        elif choice < 0.65:                  # resolve faults at random
            dev.set_qreg(rng.randrange(16), "FAULT", rng.choice([1, 2, 0, 7]))
            if rng.random() < 0.5:
                dev.set_reg("FQ_HEAD", rng.randrange(8))
        elif choice < 0.97:                  # a random register write
            off = rng.choice(regs + [rng.randrange(0, 0x1000) & ~3,
                                     R["HMMDEV_REG_QUEUE_BASE"] + rng.randrange(0, 0x400) & ~3,
                                     R["HMMDEV_REG_CTX_BASE"] + rng.randrange(0, 0x200) & ~3])
            if off == R["HMMDEV_REG_CONTROL"] and rng.random() < 0.8:
                continue                     # resets are rarer
            dev.writel(dev.BAR0_ADDR + off, rng.choice([0, 1, 2, 3, rng.randrange(1 << 32)]))
        else:                                # the odd wrong-size access or full reset
            if rng.random() < 0.5:
                dev.writeb(dev.BAR0_ADDR + rng.randrange(0x1000), rng.randrange(256))
            else:
                dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
                for i, pt in enumerate(pts):
                    dev.set_ctx(i, pt.root)
    assert dev.reg("ID") == R["HMMDEV_ID_MAGIC"], f"seed {seed}"
    # The device is still usable after a reset.
    dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    q = dev.queue(hw.alloc)
    assert q.run(R["HMMDEV_CMD_NOP"]).code == 0, f"seed {seed}"
    print(f"hmmdev random run: seed {seed}, {ops} operations")
