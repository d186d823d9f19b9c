"""Device-level tests of the first slice: identity, scratch, errors, MSI-X, reset."""
from tests.lib.counters import device_counters
from tests.lib.qtest import R

MSG_ADDR = 0x10_0000          # ordinary guest RAM: MSI-X messages land here


def test_pci_identity(dev):
    # The function answers with the documented vendor/device ID and class.
    assert dev.cfg_readl(0x00) == (R["HMMDEV_PCI_DEVICE_ID"] << 16) | R["HMMDEV_PCI_VENDOR_ID"]
    assert dev.cfg_readl(0x08) >> 16 == 0x0B40          # processor / co-processor
    assert dev.cfg_readl(0x08) & 0xFF == R["HMMDEV_PCI_REVISION"]


def test_id_and_version_registers(dev):
    assert dev.reg("ID") == R["HMMDEV_ID_MAGIC"]
    assert dev.reg("VERSION") == (R["HMMDEV_VERSION_MAJOR"] << 16) | R["HMMDEV_VERSION_MINOR"]
    assert dev.reg("MSIX_VECTORS") == R["HMMDEV_MSIX_VECTORS"]
    assert dev.reg("STATUS") & R["HMMDEV_STATUS_READY"]


def test_scratch_roundtrip_and_soft_reset(dev):
    for val in (0xDEADBEEF, 0, 0x12345678):
        dev.set_reg("SCRATCH", val)
        assert dev.reg("SCRATCH") == val
    dev.set_reg("CONTROL", R["HMMDEV_CONTROL_RESET"])
    assert dev.reg("SCRATCH") == 0
    assert dev.reg("CONTROL") == 0, "RESET must self-clear"


def test_msix_test_interrupt_is_delivered(dev):
    # The message of vector 0 is written to RAM, where the test reads it back.
    dev.memwrite(MSG_ADDR, bytes(4))
    dev.msix_program(0, MSG_ADDR, 0xCAFE0001)
    dev.set_reg("IRQ_TEST", 0)
    assert dev.readl(MSG_ADDR) == 0xCAFE0001
    assert dev.reg("IRQ_TEST_CNT") == 1
    assert dev.reg("ERROR") == R["HMMDEV_ERR_NONE"]


def test_msix_masked_vector_sets_pending_bit(dev):
    # A masked vector is latched in the PBA and delivered when unmasked.
    vec = R["HMMDEV_MSIX_VECTORS"] - 1
    dev.memwrite(MSG_ADDR, bytes(4))
    dev.msix_program(vec, MSG_ADDR, 0xCAFE0002, masked=True)
    dev.set_reg("IRQ_TEST", vec)
    assert dev.readl(MSG_ADDR) == 0
    assert dev.msix_pending(vec)
    dev.msix_program(vec, MSG_ADDR, 0xCAFE0002, masked=False)
    assert dev.readl(MSG_ADDR) == 0xCAFE0002
    assert not dev.msix_pending(vec)


def test_bad_vector_sets_error_and_qemu_survives(dev):
    # msix_notify() would assert on this vector; the device must refuse it instead.
    for bad in (R["HMMDEV_MSIX_VECTORS"], 0xFFFFFFFF):
        dev.set_reg("IRQ_TEST", bad)
        assert dev.reg("ERROR") == R["HMMDEV_ERR_BAD_VECTOR"]
        assert dev.reg("STATUS") & R["HMMDEV_STATUS_ERROR"]
        dev.set_reg("ERROR", 0xFFFFFFFF)              # RW1C
        assert dev.reg("ERROR") == 0
        assert not dev.reg("STATUS") & R["HMMDEV_STATUS_ERROR"]
    assert dev.reg("IRQ_TEST_CNT") == 0
    assert dev.reg("ID") == R["HMMDEV_ID_MAGIC"]


def test_undefined_register_and_bad_access_are_reported(dev):
    base = dev.BAR0_ADDR
    assert dev.readl(base + 0xF00) == 0xFFFFFFFF          # undefined offset
    assert dev.reg("ERROR") == R["HMMDEV_ERR_BAD_REG"]
    dev.set_reg("ERROR", 0xFFFFFFFF)
    dev.writel(base + R["HMMDEV_REG_ID"], 1)           # read-only register
    assert dev.reg("ERROR") == R["HMMDEV_ERR_BAD_REG"]
    dev.set_reg("ERROR", 0xFFFFFFFF)
    dev.writeb(base + R["HMMDEV_REG_SCRATCH"], 0x55)    # wrong size
    assert dev.reg("ERROR") == R["HMMDEV_ERR_BAD_ACCESS"]
    assert dev.reg("SCRATCH") == 0, "a rejected write must not take effect"
    dev.set_reg("ERROR", 0xFFFFFFFF)
    dev.writeq(base + R["HMMDEV_REG_SCRATCH"], 0x1122334455667788)
    assert dev.reg("ERROR") == R["HMMDEV_ERR_BAD_ACCESS"]


def test_guest_errors_are_logged(qmachine, artifacts, request):
    m, d = qmachine()
    d.enable()
    d.set_reg("IRQ_TEST", 1000)
    m.shutdown()
    log = (artifacts.log_dir / request.node.name / "guest-errors.log").read_text()
    assert "hmmdev_err_bad_vector" in log and "vector 1000" in log


def test_system_reset_returns_to_clean_state(qmachine):
    m, d = qmachine()
    d.enable()
    d.set_reg("SCRATCH", 0xA5A5A5A5)
    d.set_reg("IRQ_TEST", 77)                           # leaves an error behind
    m.cmd("system_reset")
    d.enable()                                           # reset cleared the BARs
    assert d.reg("SCRATCH") == 0
    assert d.reg("ERROR") == 0
    assert d.reg("IRQ_TEST_CNT") == 0


def test_stat_properties_are_the_counter_list(dev):
    # qemu-device/hmmdev-stats.def is the one list: every stat-* property, no other.
    props = {p["name"] for p in dev.m.cmd("qom-list", path=dev.QOM_PATH)}
    assert sorted(p[5:] for p in props if p.startswith("stat-")) == sorted(device_counters())
    assert all(dev.stat(n) >= 0 for n in device_counters())
