"""VM tests of ATS: the guest enables it, the device's ATC serves DMA, and
the IOMMU's invalidations keep it coherent (docs/hmmdev-spec.rst, "ATS").

The stale-translation and bad-IOVA tests drive the driver's debugfs
self-test (guest-driver/obs/hmmdev_atstest.c), which controls the IOVAs the
device reads; the host checks the device's counters (qom-get stat-atc-*).
"""
import re

import pytest

from tests.lib.guest import DEBUGFS, qstat, run_suite
from tests.lib.qtest import PCI_ATS_CTRL_ENABLE, PCI_EXT_CAP_ID_ATS

SELFTEST = f"{DEBUGFS}/ats_selftest"
ATS_CAP = 0x100                 # the device's first extended capability


def atc(vm):
    return {k: qstat(vm, f"atc-{k}") for k in
            ("hits", "misses", "invalidations", "invalidated-entries", "evictions",
             "translation-failures")}


def delta(after, before):
    return {k: after[k] - before[k] for k in after}


def bdf(vm):
    return vm.check("basename $(readlink /sys/class/hmmdev/hmmdev0/device)").strip()


def cfg_word(vm, off, size=2):
    """A config-space word of the device, read from sysfs (od is in busybox)."""
    path = f"/sys/bus/pci/devices/{bdf(vm)}/config"
    out = vm.check(f"od -An -tx{size} -j {off} -N {size} {path}")
    return int(out.split()[0], 16)


def ats_state(vm):
    """(capability present, ATS Control Enable set)."""
    hdr = cfg_word(vm, ATS_CAP, 4)
    if hdr & 0xFFFF != PCI_EXT_CAP_ID_ATS:
        return False, False
    return True, bool(cfg_word(vm, ATS_CAP + 6) & PCI_ATS_CTRL_ENABLE)


def selftest(vm, what):
    return vm.check(f"echo '{what}' > {SELFTEST}; cat {SELFTEST}").strip()


def test_guest_enables_ats_and_atc_hits(make_vm):
    """Under intel-iommu (lazy, the default) the kernel sets ATS Enable, and
    repeated device reads of one IOVA are ATC hits, not translations."""
    vm = make_vm()
    assert ats_state(vm) == (True, True)
    before = atc(vm)
    out = selftest(vm, "repeat 100")
    assert out.startswith("repeat: ok"), out
    d = delta(atc(vm), before)
    # each read: command fetch, SG list, source page, result page, completion
    assert d["hits"] >= 4 * 100, d
    assert d["misses"] <= 10, d
    assert d["translation-failures"] == 0, d


@pytest.mark.parametrize("iommu", ["strict", "lazy"])
def test_stale_translation_never_used(make_vm, iommu):
    """Unmap an IOVA, map the same IOVA to another page: the device reads the
    new page.  Strict: the unmap invalidates the device TLB before it returns.
    Lazy: the IOVA is not handed out again before the deferred invalidation
    (the flush queue), so a reused IOVA is always a fresh translation."""
    vm = make_vm(iommu=iommu)
    assert ats_state(vm) == (True, True)
    results = []
    for _ in range(3):
        before = atc(vm)
        out = selftest(vm, "stale")
        results.append(out)
        assert "FAIL" not in out, out
        if out.startswith("stale: ok"):
            d = delta(atc(vm), before)
            # the unmap reached the device: an invalidation dropped the entry
            assert d["invalidations"] >= 1 and d["invalidated-entries"] >= 1, d
            assert d["misses"] >= 2, d
    print(f"iommu={iommu}: {results}")
    if not any(r.startswith("stale: ok") for r in results):
        pytest.skip(f"IOVA never reused: {results}")


@pytest.mark.parametrize("iommu", ["strict", "lazy"])
def test_device_writes_a_write_only_mapping(make_vm, iommu):
    """A page mapped DMA_FROM_DEVICE may be write-only in the IOMMU (Linux 7.2's
    intel-iommu: ATS answers R=0 W=1): the device's write must go through."""
    vm = make_vm(iommu=iommu)
    out = selftest(vm, "writeonly")
    assert out.startswith("writeonly: ok"), out


def test_bad_iova_dmar_fault_and_survival(make_vm):
    """The device reads an IOVA the driver never mapped: the IOMMU reports a
    DMAR fault in the guest, the command fails with DMA, and both QEMU and
    the guest carry on."""
    vm = make_vm(iommu="strict")
    vm.run("dmesg -c > /dev/null")
    before = atc(vm)
    out = selftest(vm, "badiova")
    assert out.startswith("badiova: ok"), out
    assert "status 0x8000000c" in out, out
    d = delta(atc(vm), before)
    assert d["translation-failures"] == 1, d
    dmesg = vm.check("sleep 0.5; dmesg")
    assert re.search(r"DMAR: .*fault addr 0x7f00000000", dmesg), dmesg[-3000:]
    # still alive: the same queue machinery works, and so does a user context
    assert selftest(vm, "repeat 5").startswith("repeat: ok")
    run_suite(vm, "QueueTest.CopyAnonymous")
    assert vm.qmp("query-status")["status"] == "running"


@pytest.mark.parametrize("iommu", ["none", "strict", "lazy", "pt"])
def test_driver_suite_in_iommu_mode(make_vm, iommu):
    """The driver's queue and mirror suites pass in every IOMMU setup, with
    the ATC in use wherever the guest enabled ATS."""
    vm = make_vm(iommu=iommu)
    cap, enabled = ats_state(vm)
    assert cap == (iommu != "none")
    before = atc(vm)
    run_suite(vm, "QueueTest.*:MirrorTest.*", timeout=900)
    d = delta(atc(vm), before)
    assert qstat(vm, "dma-errors") == 0
    assert d["translation-failures"] == 0, d
    if enabled:
        assert d["hits"] > 1000 and d["misses"] > 0, d
        if iommu != "pt":
            assert d["invalidations"] > 0, d
    else:
        assert d["hits"] == 0 and d["misses"] == 0, d
    print(f"iommu={iommu} ats enabled={enabled} atc={d}")


def test_unbind_rebind_with_ats(make_vm):
    """Unbind and rebind the driver with ATS on: the device keeps working
    through the ATC and the stale-translation check still holds."""
    vm = make_vm(iommu="strict")
    b = bdf(vm)
    assert selftest(vm, "repeat 3").startswith("repeat: ok")
    vm.check(f"echo {b} > /sys/bus/pci/drivers/hmmdev/unbind")
    vm.check(f"echo {b} > /sys/bus/pci/drivers/hmmdev/bind")
    assert ats_state(vm) == (True, True)
    before = atc(vm)
    assert selftest(vm, "repeat 10").startswith("repeat: ok")
    out = selftest(vm, "stale")
    assert "FAIL" not in out, out
    run_suite(vm, "QueueTest.CopyAnonymous:MirrorTest.UnmappedIsEfault")
    d = delta(atc(vm), before)
    assert d["hits"] > 0 and d["translation-failures"] == 0, d
