"""ATS and the device's address translation cache, over qtest (no guest).

With no guest the emulated intel-iommu has DMA remapping off, so its
translations are the identity with read/write permission: enough to check
the capability, ATS Enable, hits, misses, LRU reach and the counters.  The
IOMMU's queued invalidation is driven directly (VtdQueue) to send device-IOTLB
invalidations, and the x86 interrupt window stands in for a refused
translation.  Stale translations and DMAR faults need a guest: see
tests/vm/test_ats.py.
"""
import pytest

from tests.lib.hw import VA, Hw
from tests.lib.machines import HMMDEV_DEVFN, QtestMachines
from tests.lib.qtest import (OP, R, PAGE, PTE_V, PTE_W, PCI_ATS_CTRL_ENABLE, PCI_EXT_CAP_ID_ATS,
                             EcamDev, PageTable, sg_list)

SG = R["HMMDEV_CMD_SG_COPY"]
ATC_STATS = ("atc-hits", "atc-misses", "atc-requests", "atc-invalidations", "atc-invalidated-entries",
             "atc-evictions", "atc-translation-failures")


@pytest.fixture
def atsmachine(artifacts, request):
    """Factory: atsmachine(iommu args, hmmdev props) -> (machine, EcamDev)."""
    machines = QtestMachines(artifacts, artifacts.log_dir / request.node.name)

    def factory(iommu: str | None = "intel-iommu,device-iotlb=on", props: str = ""):
        m = machines.launch(props, before=["-device", iommu] if iommu else [])
        d = EcamDev(m, devfn=HMMDEV_DEVFN)
        d.ecam_enable()
        return m, d

    yield factory
    machines.stop_all()


def sg_read_pages(hw: Hw, q, src: int, npages: int, dst: int) -> None:
    """One SG_COPY: npages 4 KiB pages from src (DMA address) to dst."""
    lst = sg_list(hw.dev, hw.alloc, [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(npages)])
    c = q.run(SG, (lst, npages))
    assert c.code == 0, c


def test_ats_cap_exposed_with_device_iotlb(atsmachine):
    # intel-iommu with device-iotlb=on: the ATS capability is there, Enable clear.
    _, d = atsmachine()
    cap = d.ext_cap(PCI_EXT_CAP_ID_ATS)
    assert cap == 0x100
    assert d.ats_ctrl() & PCI_ATS_CTRL_ENABLE == 0


@pytest.mark.parametrize("iommu,props", [
    (None, ""),                                     # no IOMMU: nothing to ask
    ("intel-iommu,device-iotlb=off", ""),           # would abort QEMU on Enable
    ("intel-iommu,device-iotlb=on", ",ats=off"),    # forced off
], ids=["no-iommu", "device-iotlb-off", "ats-off"])
def test_no_ats_cap(atsmachine, iommu, props):
    m, d = atsmachine(iommu, props)
    assert d.ext_cap(PCI_EXT_CAP_ID_ATS) is None
    # Writing where the capability would be is harmless, and QEMU lives on.
    d.writel(d.ecam(0x104), PCI_ATS_CTRL_ENABLE << 16)
    assert d.cfg_readl(0) & 0xFFFF == R["HMMDEV_PCI_VENDOR_ID"]
    assert m.cmd("qom-get", path="/machine/peripheral/hmmdev0", property="stat-atc-hits") == 0


def test_ats_on_without_iommu_is_refused(artifacts, tmp_path):
    # ats=on cannot be honoured without device-IOTLB support: realize fails cleanly.
    import subprocess
    for iommu in ([], ["-device", "intel-iommu,device-iotlb=off"]):
        p = subprocess.run([str(artifacts.qemu), *artifacts.firmware_args, "-M", "q35",
                            "-nodefaults", "-display", "none", "-S", *iommu,
                            "-device", "hmmdev,ats=on"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert "ats=on needs an IOMMU with device-IOTLB support" in p.stderr


@pytest.mark.parametrize("val", ["0", "65537"])
def test_atc_entries_validated(artifacts, val):
    import subprocess
    p = subprocess.run([str(artifacts.qemu), *artifacts.firmware_args, "-M", "q35",
                        "-nodefaults", "-display", "none", "-S",
                        "-device", f"hmmdev,atc-entries={val}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "atc-entries must be 1..65536" in p.stderr, p.stderr


def test_atc_counters_present_and_zero(atsmachine):
    m, _ = atsmachine()
    for name in ATC_STATS:
        assert m.cmd("qom-get", path="/machine/peripheral/hmmdev0",
                     property=f"stat-{name}") == 0, name


def test_ats_disabled_goes_through_iommu(atsmachine):
    # Capability present, Enable clear: DMA works and the ATC is not used.
    m, d = atsmachine()
    hw = Hw(m, d)
    src = hw.alloc.alloc(4 * PAGE)
    dst = hw.alloc.alloc(4 * PAGE, zero=True)
    data = bytes((i * 13) & 0xFF for i in range(4 * PAGE))
    d.memwrite(src, data)
    sg_read_pages(hw, d.queue(hw.alloc), src, 4, dst)
    assert d.memread(dst, 4 * PAGE) == data
    assert d.stats("atc-hits", "atc-misses") == {"atc-hits": 0, "atc-misses": 0}


def test_ats_enable_hits_and_misses(atsmachine):
    # ATS Enable set: the first pass misses once per page (data and ring pages),
    # the second pass over the same pages only hits.  The data is right.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    assert d.ats_ctrl() & PCI_ATS_CTRL_ENABLE
    q = d.queue(hw.alloc)
    n = 8
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    data = bytes((i * 7 + 1) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    sg_read_pages(hw, q, src, n, dst)
    assert d.memread(dst, n * PAGE) == data
    first = d.stats("atc-hits", "atc-misses")
    assert first["atc-misses"] >= 2 * n, first       # every src and dst page
    d.memwrite(dst, bytes(n * PAGE))
    sg_read_pages(hw, q, src, n, dst)
    assert d.memread(dst, n * PAGE) == data
    second = d.stats("atc-hits", "atc-misses")
    # Only the new SG list page may miss; the 2n data pages all hit.
    assert second["atc-misses"] - first["atc-misses"] <= 1, (first, second)
    assert second["atc-hits"] - first["atc-hits"] >= 2 * n, (first, second)
    assert d.stat("atc-translation-failures") == 0


def test_atc_lru_reach(atsmachine):
    # A working set larger than the ATC thrashes an LRU cache when swept in order;
    # one that fits is all hits on the second sweep.
    entries = 16
    m, d = atsmachine(props=f",atc-entries={entries}")
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    dst = hw.alloc.alloc(PAGE, zero=True)
    lst = hw.alloc.alloc(32 * 64, zero=True)

    def sweep(src, npages):
        for i in range(npages):
            d.memwrite(lst + 32 * i, (src + i * PAGE).to_bytes(8, "little") +
                       dst.to_bytes(8, "little") + PAGE.to_bytes(4, "little") + bytes(12))
        before = d.stats("atc-hits", "atc-misses")
        assert q.run(SG, (lst, npages)).code == 0
        after = d.stats("atc-hits", "atc-misses")
        return {k: after[k] - before[k] for k in after}

    small = hw.alloc.alloc(8 * PAGE)
    sweep(small, 8)
    warm = sweep(small, 8)
    assert warm["atc-misses"] == 0, warm
    big = hw.alloc.alloc(2 * entries * PAGE)
    sweep(big, 2 * entries)
    cold = sweep(big, 2 * entries)
    assert cold["atc-misses"] >= 2 * entries, cold
    assert d.stat("atc-evictions") > 0


def test_ats_disable_flushes_and_bypasses(atsmachine):
    # Clearing Enable empties the ATC; later DMA goes through the IOMMU again.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    src = hw.alloc.alloc(PAGE)
    dst = hw.alloc.alloc(PAGE, zero=True)
    d.memwrite(src, b"\x5a" * PAGE)
    sg_read_pages(hw, q, src, 1, dst)
    d.set_ats(False)
    assert d.ats_ctrl() & PCI_ATS_CTRL_ENABLE == 0
    before = d.stats("atc-hits", "atc-misses")
    d.memwrite(dst, bytes(PAGE))
    sg_read_pages(hw, q, src, 1, dst)
    assert d.memread(dst, PAGE) == b"\x5a" * PAGE
    assert d.stats("atc-hits", "atc-misses") == before
    # Enable again: the cache starts empty, so the same pages miss again.
    d.set_ats(True)
    sg_read_pages(hw, q, src, 1, dst)
    assert d.stat("atc-misses") > before["atc-misses"]


def test_ats_bus_master_off_fails_cleanly(atsmachine):
    # Bus master off with cached translations: no DMA at all, the ring fetch fails.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    src = hw.alloc.alloc(PAGE)
    dst = hw.alloc.alloc(PAGE, zero=True)
    d.memwrite(src, b"\x11" * PAGE)
    sg_read_pages(hw, q, src, 1, dst)
    d.cfg_writew(0x04, d.cfg_readw(0x04) & ~0x4)
    d.memwrite(dst, bytes(PAGE))
    q.submit(SG, (0, 1))
    d.wait_for(lambda: d.qreg(0, "STATUS") & R["HMMDEV_QSTATUS_ERROR"], what="ring error")
    assert d.memread(dst, PAGE) == bytes(PAGE)


def test_reset_with_ats_enabled(atsmachine):
    # Device reset empties the ATC; a system reset clears ATS Enable.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    src = hw.alloc.alloc(PAGE)
    dst = hw.alloc.alloc(PAGE, zero=True)
    sg_read_pages(hw, q, src, 1, dst)
    d.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    misses = d.stat("atc-misses")
    q = d.queue(hw.alloc)
    sg_read_pages(hw, q, src, 1, dst)
    assert d.stat("atc-misses") > misses
    m.cmd("system_reset")
    d.ecam_enable()
    d.wait_for(lambda: d.ext_cap(PCI_EXT_CAP_ID_ATS) == 0x100, what="config space after reset")
    assert d.ats_ctrl() & PCI_ATS_CTRL_ENABLE == 0


def test_atc_miss_requests_the_rest_of_the_access(atsmachine):
    # One 32-page SG entry: every page misses once, but a Translation Request
    # covers up to 16 pages of the access, so there are far fewer requests.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n = 32
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    data = bytes((i * 3 + 5) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    lst = sg_list(d, hw.alloc, [(src, dst, n * PAGE)])
    before = d.stats("atc-hits", "atc-misses", "atc-requests")
    assert q.run(SG, (lst, 1)).code == 0
    assert d.memread(dst, n * PAGE) == data
    s = d.stats("atc-hits", "atc-misses", "atc-requests")
    misses = s["atc-misses"] - before["atc-misses"]
    requests = s["atc-requests"] - before["atc-requests"]
    assert misses >= 2 * n, s                   # a prefetched page is still a miss
    assert requests <= 2 * n // 16 + 4, s       # data in 16-page requests, plus the ring
    # The second pass hits everywhere (64 entries of reach is plenty).
    assert q.run(SG, (lst, 1)).code == 0
    s2 = d.stats("atc-hits", "atc-misses", "atc-requests")
    assert s2["atc-misses"] == s["atc-misses"] and s2["atc-requests"] == s["atc-requests"], s2
    assert s2["atc-hits"] - s["atc-hits"] >= 2 * n


def test_ats_races_with_reset_disable_and_toggle(atsmachine):
    # Streams of misses (every translation request needs the BQL) while the
    # BQL side resets the device, disables the queue and toggles ATS Enable:
    # whoever waits for the worker serves its request, so nothing deadlocks,
    # and afterwards the device still copies correctly through the ATC.
    import random
    m, d = atsmachine(props=",atc-entries=8")
    hw = Hw(m, d)
    d.set_ats(True)
    n = 256
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    lst = sg_list(d, hw.alloc, [(src + i * PAGE, dst + ((i * 7) % n) * PAGE, PAGE)
                                for i in range(n)])
    rng = random.Random(7)
    requests = d.stat("atc-requests")
    for round_ in range(60):
        q = d.queue(hw.alloc, size=8)
        for _ in range(4):
            q.submit(SG, (lst, n))
        action = rng.choice(("reset", "disable", "toggle", "master"))
        if action == "reset":
            d.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
        elif action == "disable":
            d.set_qreg(0, "CTRL", 0)
        elif action == "toggle":
            d.set_ats(False)
            d.set_ats(True)
            d.set_qreg(0, "CTRL", 0)
        else:
            d.cfg_writew(0x04, d.cfg_readw(0x04) & ~0x4)
            d.set_qreg(0, "CTRL", 0)
            d.cfg_writew(0x04, d.cfg_readw(0x04) | 0x4)
        assert d.reg("ID") == R["HMMDEV_ID_MAGIC"]
    assert d.stat("atc-requests") > requests
    # Still coherent and working.
    d.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    data = bytes((i * 11) & 0xFF for i in range(8 * PAGE))
    d.memwrite(src, data)
    d.memwrite(dst, bytes(8 * PAGE))
    q = d.queue(hw.alloc)
    sg_read_pages(hw, q, src, 8, dst)
    assert d.memread(dst, 8 * PAGE) == data


MSI_WINDOW = 0xFEE0_0000        # intel-iommu refuses every translation here


@pytest.mark.parametrize("dst_devmem", [False, True], ids=["sys2sys", "sys2dev"])
def test_atc_batch_few_round_trips(atsmachine, dst_devmem):
    # A 512-entry SG_COPY of 4 KiB pages (a migration): the engine translates
    # the pages it will touch next in batches, one round trip each, so the
    # round trips are far fewer than the pages; every page still counts as a
    # miss when first used, and the data is right.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n = 512
    src = hw.alloc.alloc(n * PAGE)
    data = bytes((i * 5 + 3) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    if dst_devmem:
        dst = 0
        lst = sg_list(d, hw.alloc, [(src + i * PAGE, dst + i * PAGE, PAGE, R["HMMDEV_SG_DST_DEVMEM"])
                                    for i in range(n)])
    else:
        dst = hw.alloc.alloc(n * PAGE, zero=True)
        lst = sg_list(d, hw.alloc, [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(n)])
    before = d.stats("atc-misses", "atc-requests")
    c = q.run(SG, (lst, n))
    assert c.code == 0 and c.info == n and c.result == n * PAGE, c
    if dst_devmem:
        back = hw.alloc.alloc(n * PAGE, zero=True)
        blst = sg_list(d, hw.alloc, [(0, back, n * PAGE, R["HMMDEV_SG_SRC_DEVMEM"])])
        assert q.run(SG, (blst, 1)).code == 0
        assert d.memread(back, n * PAGE) == data
    else:
        assert d.memread(dst, n * PAGE) == data
    s = d.stats("atc-misses", "atc-requests")
    pages = n * (1 if dst_devmem else 2)
    assert s["atc-misses"] - before["atc-misses"] >= pages, s
    assert s["atc-requests"] - before["atc-requests"] <= pages // 32 + 4, (before, s)


def test_atc_batch_stops_at_refused_page(atsmachine):
    # Entry 300 of 512 reads a page the IOMMU refuses (the MSI window), and so
    # does entry 301.  The batch that covers them must stop at the first
    # refusal: the command fails with DMA at entry 300, the 300 pages before
    # it are copied, nothing after; the IOMMU is asked about the refused page
    # once (one failure, no second request by the access), and entry 301 is
    # never asked about.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n, bad = 512, 300
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    data = bytes((i * 7 + 1) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    pairs = [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(n)]
    pairs[bad] = (MSI_WINDOW, dst + bad * PAGE, PAGE)
    pairs[bad + 1] = (MSI_WINDOW + PAGE, dst + (bad + 1) * PAGE, PAGE)
    lst = sg_list(d, hw.alloc, pairs)
    c = q.run(SG, (lst, n))
    assert c.code == R["HMMDEV_ERR_DMA"] and c.info == bad and c.result == bad * PAGE, c
    assert d.memread(dst, bad * PAGE) == data[:bad * PAGE]
    assert d.memread(dst + bad * PAGE, (n - bad) * PAGE) == bytes((n - bad) * PAGE)
    assert d.stat("atc-translation-failures") == 1
    assert d.stat("atc-requests") < bad // 16
    # The kept refusal belongs to that command only: the same list again asks
    # again (a second failure), and a clean list still works.
    c = q.run(SG, (lst, n))
    assert c.code == R["HMMDEV_ERR_DMA"] and c.info == bad, c
    assert d.stat("atc-translation-failures") == 2
    pairs[bad] = (src + bad * PAGE, dst + bad * PAGE, PAGE)
    pairs[bad + 1] = (src + (bad + 1) * PAGE, dst + (bad + 1) * PAGE, PAGE)
    c = q.run(SG, (sg_list(d, hw.alloc, pairs), n))
    assert c.code == 0, c
    assert d.memread(dst, n * PAGE) == data


def test_atc_batch_stops_before_bad_entry(atsmachine):
    # A malformed entry (len 0) ends the command there; the batch must not
    # translate past it: a refused page right after it is never asked about.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n, bad = 64, 20
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    pairs = [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(n)]
    pairs[bad] = (src, dst, 0)
    pairs[bad + 1] = (MSI_WINDOW, dst, PAGE)
    c = q.run(SG, (sg_list(d, hw.alloc, pairs), n))
    assert c.code == R["HMMDEV_ERR_BAD_CMD"] and c.info == bad, c
    assert d.stat("atc-translation-failures") == 0


VTD_BASE = 0xFED9_0000          # q35 intel-iommu registers
VTD_GCMD, VTD_GSTS, VTD_IQT, VTD_IQA = 0x18, 0x1C, 0x88, 0x90
VTD_GCMD_QIE = 1 << 26


class VtdQueue:
    """intel-iommu queued invalidation, driven over qtest: device-IOTLB
    invalidation descriptors reach the device's IOTLB notifier."""

    def __init__(self, hw: Hw):
        self.d = hw.dev
        self.base = hw.alloc.alloc(PAGE, zero=True)   # 256 descriptors of 16 bytes
        self.tail = 0
        self.d.writeq(VTD_BASE + VTD_IQA, self.base)
        self.d.writel(VTD_BASE + VTD_GCMD, VTD_GCMD_QIE)
        assert self.d.readl(VTD_BASE + VTD_GSTS) & VTD_GCMD_QIE

    def devtlb_inv(self, addr: int, size_bit: bool) -> None:
        lo = 0x3 | ((self.d.devfn & 0xFFFF) << 32)     # device-IOTLB invalidate, SID
        hi = addr | int(size_bit)
        self.d.memwrite(self.base + 16 * self.tail,
                        lo.to_bytes(8, "little") + hi.to_bytes(8, "little"))
        self.tail = (self.tail + 1) % 256
        self.d.writeq(VTD_BASE + VTD_IQT, self.tail << 4)


def test_atc_batch_and_invalidations(atsmachine):
    # Device-IOTLB invalidations from the IOMMU while batched SG_COPYs run:
    # nothing deadlocks (the batch waits for the BQL the notifier holds),
    # the data stays right, and an invalidation drops what a batch cached:
    # the next pass misses and asks again for every page.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    vq = VtdQueue(hw)
    q = d.queue(hw.alloc, size=8)
    n = 512
    src = hw.alloc.alloc(n * PAGE)
    dst = hw.alloc.alloc(n * PAGE, zero=True)
    data = bytes((i * 11 + 7) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    lst = sg_list(d, hw.alloc, [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(n)])
    everything = (256 << 20) // (2 * PAGE) - 1      # S=1: [0, 256 MiB)
    slots = [q.submit(SG, (lst, n)) for _ in range(6)]
    invs = 0
    while not q.completion(slots[-1]):
        vq.devtlb_inv((everything << 12) if invs % 2 else src + (invs % n) * PAGE,
                      bool(invs % 2))
        invs += 1
    for sl in slots:
        c = q.completion(sl)
        assert c.code == 0 and c.result == n * PAGE, c
    assert d.memread(dst, n * PAGE) == data
    assert invs > 0 and d.stat("atc-invalidations") == invs, invs
    # Idle: a whole-range invalidation empties the ATC of this data.
    vq.devtlb_inv(everything << 12, True)
    before = d.stats("atc-misses", "atc-requests", "atc-invalidated-entries")
    assert before["atc-invalidated-entries"] > 0
    d.memwrite(dst, bytes(n * PAGE))
    assert q.run(SG, (lst, n)).code == 0
    assert d.memread(dst, n * PAGE) == data
    after = d.stats("atc-misses", "atc-requests")
    assert after["atc-misses"] - before["atc-misses"] >= 2 * n, (before, after)
    assert after["atc-requests"] > before["atc-requests"]


def va_setup(hw: Hw, npages: int):
    """Context 0: VA..VA+npages -> src, VA2..VA2+npages -> dst (4 KiB leaves)."""
    pt = PageTable(hw.dev, hw.alloc)
    src = hw.alloc.alloc(npages * PAGE, align=2 << 20)
    dst = hw.alloc.alloc(npages * PAGE, align=2 << 20, zero=True)
    va2 = VA + (1 << 30)
    size = max(npages * PAGE, 2 << 20)
    pt.map_linear(VA, src, size, PTE_W)
    pt.map_linear(va2, dst, size, PTE_W)
    hw.dev.set_ctx(0, pt.root)
    return pt, VA, va2, src, dst


def test_atc_va_commands_batch(atsmachine):
    # COPY, SUM64 and FILL over 256 pages of device VA, every system page a
    # fresh ATC miss: the engine peeks the leaf PTEs ahead and translates
    # the pages it will touch next in one round trip, so round trips stay
    # far below the pages; the results are right.
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n = 256
    pt, va, va2, src, dst = va_setup(hw, n)
    data = bytes((i * 13 + 5) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    r0 = d.stat("atc-requests")
    assert q.run(OP["COPY"], (va2, va, n * PAGE)).code == 0
    assert d.memread(dst, n * PAGE) == data
    r1 = d.stat("atc-requests")
    assert r1 - r0 <= 2 * n // 16, (r0, r1)
    d.set_ats(False)                                  # empty the ATC
    d.set_ats(True)
    c = q.run(OP["KERNEL"], (0, va, n * PAGE), cdw1=R["HMMDEV_KERNEL_SUM64"])
    want = sum(int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8))
    assert c.code == 0 and c.result == want % (1 << 64), c
    r2 = d.stat("atc-requests")
    assert r2 - r1 <= n // 16, (r1, r2)
    d.set_ats(False)
    d.set_ats(True)
    assert q.run(OP["FILL"], (va2, 0x0123456789ABCDEF, n * PAGE)).code == 0
    assert d.memread(dst, n * PAGE) == (0x0123456789ABCDEF).to_bytes(8, "little") * (n * PAGE // 8)
    r3 = d.stat("atc-requests")
    assert r3 - r2 <= n // 16, (r2, r3)
    assert d.stat("atc-translation-failures") == 0


def test_atc_va_batch_stops_at_refused_page(atsmachine):
    # A COPY whose source page 40 is mapped (device PTE) to an IOVA the IOMMU
    # refuses, and page 41 too: the copy fails with DMA after 40 pages, those
    # are copied, nothing after, and the IOMMU is asked about page 40 only.
    # A not-present PTE further on must not be touched either (no fault).
    m, d = atsmachine()
    hw = Hw(m, d)
    d.set_ats(True)
    q = d.queue(hw.alloc)
    n, bad = 64, 40
    pt, va, va2, src, dst = va_setup(hw, n)
    data = bytes((i * 3 + 11) & 0xFF for i in range(n * PAGE))
    d.memwrite(src, data)
    pt.set_pte(va + bad * PAGE, MSI_WINDOW | PTE_V | PTE_W)
    pt.set_pte(va + (bad + 1) * PAGE, (MSI_WINDOW + PAGE) | PTE_V | PTE_W)
    pt.set_pte(va + (bad + 10) * PAGE, 0)
    c = q.run(OP["COPY"], (va2, va, n * PAGE))
    assert c.code == R["HMMDEV_ERR_DMA"] and c.result == bad * PAGE, c
    assert d.memread(dst, bad * PAGE) == data[:bad * PAGE]
    assert d.memread(dst + bad * PAGE, (n - bad) * PAGE) == bytes((n - bad) * PAGE)
    assert d.stat("atc-translation-failures") == 1
    assert d.stat("faults") == 0
