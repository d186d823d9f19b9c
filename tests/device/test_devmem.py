"""Device memory: size, backend, BAR, sparseness at 16 GiB, discard on reset."""
from tests.lib.qtest import OP, R, PAGE, sg_list

GiB = 1 << 30


def vmrss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def sg_copy(hw, q, entries):
    return q.run(OP["SG_COPY"], (sg_list(hw.dev, hw.alloc, entries, align=32), len(entries)))


def test_sparse_16g_device_memory(hw_factory):
    # 16 GiB: touching the last page grows RSS by < 64 MiB; reset discards it and RSS stays low.
    hw = hw_factory(",devmem-size=16G")
    size = hw.dev.reg("DEVMEM_SIZE_HI") << 32 | hw.dev.reg("DEVMEM_SIZE_LO")
    assert size == 16 * GiB
    pid = hw.qemu_pid()
    rss0 = vmrss_kib(pid)
    q = hw.dev.queue(hw.alloc)
    src, dst = hw.alloc.alloc(PAGE), hw.alloc.alloc(PAGE, zero=True)
    hw.dev.memwrite(src, b"\x5a" * PAGE)
    assert sg_copy(hw, q, [(src, size - PAGE, PAGE, R["HMMDEV_SG_DST_DEVMEM"])]).code == 0
    assert sg_copy(hw, q, [(size - PAGE, dst, PAGE, R["HMMDEV_SG_SRC_DEVMEM"])]).code == 0
    assert hw.dev.memread(dst, PAGE) == b"\x5a" * PAGE
    bar4 = hw.place_devmem_bar()
    assert hw.dev.readq(bar4 + size - 8) == 0x5a5a5a5a5a5a5a5a
    assert vmrss_kib(pid) - rss0 < 64 * 1024
    hw.dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    assert hw.dev.readq(bar4 + size - 8) == 0, "reset discards device memory"
    assert vmrss_kib(pid) - rss0 < 64 * 1024


def test_memdev_backend_and_hidden_bar(hw_factory):
    # memdev= gives the size; devmem-bar=off hides BAR 4 and clears FEATURES.DEVMEM_BAR.
    hw = hw_factory(",memdev=dm,devmem-bar=off",
                    ("-object", "memory-backend-ram,id=dm,size=64M"))
    assert hw.dev.reg("DEVMEM_SIZE_LO") == 64 << 20 and hw.dev.reg("DEVMEM_SIZE_HI") == 0
    assert not hw.dev.reg("FEATURES") & R["HMMDEV_FEATURE_DEVMEM_BAR"]
    assert hw.dev.cfg_readl(0x10 + 4 * R["HMMDEV_BAR_DEVMEM"]) == 0
    q = hw.dev.queue(hw.alloc)
    src = hw.alloc.alloc(PAGE)
    c = sg_copy(hw, q, [(src, 64 << 20, PAGE, R["HMMDEV_SG_DST_DEVMEM"])])
    assert c.code == R["HMMDEV_ERR_DEVMEM_RANGE"]


def test_devmem_bar_is_64bit_prefetchable(hw):
    # BAR 4 is a 64-bit prefetchable memory BAR of the device-memory size.
    low = hw.dev.cfg_readl(0x10 + 4 * R["HMMDEV_BAR_DEVMEM"])
    assert low & 0x6 == 0x4 and low & 0x8
    assert hw.dev.reg("FEATURES") & R["HMMDEV_FEATURE_DEVMEM_BAR"]
