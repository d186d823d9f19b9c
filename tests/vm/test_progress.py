"""Forward progress of the device fault path (docs/driver.md, "Forward progress").

Pages in device-private memory that fork() made read-only in both processes:
hmm_range_fault() reports them without write permission and does not fault
them (the caller owns them), so a device write that is simply mapped and
replayed faults again forever.  The driver must resolve the access first,
and a command that still makes no progress is cancelled, not replayed forever.
"""
from tests.lib.guest import driver_stats, run_suite

PARAMS = "/sys/module/hmmdev/parameters"


def test_device_write_after_fork_of_device_pages(make_vm):
    """Native COPY, FILL and ATOMIC; each must finish and the child's snapshot stay."""
    vm = make_vm()
    assert run_suite(vm, "ProgressTest.*", timeout=300) == 3   # Stuck* skips: fault_grant=Y
    st = driver_stats(vm)
    # FILL and COPY: 16 pages each; the ATOMIC: its page
    assert st["grant_faults"] == 2 * 16 + 1 and st["stuck_cancels"] == 0, st


def test_stuck_command_is_cancelled_with_eloop(make_vm):
    """Without the fix-up (a test switch) the bound cancels the command: ELOOP."""
    vm = make_vm()
    vm.check(f"echo N > {PARAMS}/fault_grant && echo 8 > {PARAMS}/max_fault_rounds")
    assert run_suite(vm, "ProgressTest.Stuck*", timeout=300) == 1
    assert driver_stats(vm)["stuck_cancels"] == 1
    assert "fault rounds without progress" in vm.check("dmesg")


def test_dmirror_write_after_fork_of_device_pages(make_vm):
    """The same through the test_hmm personality (HMM_DMIRROR_WRITE), and the
    mix that livelocked: WRITE/READ threads, a migrating thread and a forking
    one over one region, every byte checked."""
    vm = make_vm()
    vm.check("rmmod hmmdev && insmod /lib/modules/hmmdev.ko dmirror=1", timeout=60)
    assert run_suite(vm, "ProgressDmirrorTest.*", timeout=300) == 2
    st = driver_stats(vm)
    assert st["grant_faults"] > 0 and st["stuck_cancels"] == 0, st
