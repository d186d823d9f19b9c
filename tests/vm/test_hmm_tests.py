"""The kernel's own HMM conformance suite, unmodified, against test_hmm.ko and
against our hardware, side by side in one VM.

tools/testing/selftests/mm/hmm-tests, built from the tree of the kernel under
test (58 runs on 6.12, 76 on 7.2), talks to /dev/hmm_dmirror0..3.  First the
kernel's software device, lib/test_hmm.c, fully configured so nothing
skips: coherent "devices" from reserved RAM (memmap=), debugfs for gup_test,
hugepages reserved, THP in madvise mode.
Then hmmdev.ko with dmirror=1 on four emulated devices: dmirror0/1 are
device-private on hmmdev0/1, dmirror2/3 device-coherent over the BAR of
hmmdev2/3 (coherent=0xc).  The device model's own counters must show that
the hardware did the work.
"""
from tests.lib.guest import qstat, qstats
from tests.lib.kselftest import parse, totals
from tests.lib.reports import publish

# Known failures shared by every faithful implementation: hmm2.snapshot
# migrates 7 pages with `ptr` pointing at a malloc(7) buffer (buffer->mirror),
# so the 28 KiB copy-back overflows the heap.  Whether glibc notices and aborts
# depends on the heap layout: with our static -O2 build of hmm-tests it goes
# unnoticed and the test passes (measured: 58 pass, 0 fail, 0 skip), other
# builds abort (56 pass, 2 fail).  Either outcome is accepted for these two.
KNOWN_FAILURES = {"hmm2.hmm2_device_private.snapshot", "hmm2.hmm2_device_coherent.snapshot"}
# Runs per kernel (TEST_F x 2 variants: 6.12 has 29, 7.2 has 38).
EXPECTED_TESTS = {"6.12": 58, "7.2": 76}
# The reference's own failures on 7.2, each with its cause (docs/driver.md,
# "Conformance"): test_hmm carves its coherent chunk into 2 MiB or 4 KiB
# folios once, so a second memremap of the range for a 4 KiB fallback gets
# "Conflicting mapping in same section" and ENOMEM; benchmark_thp_migration
# moves 256 MiB buffers under a 120 s timeout, which TCG may not meet.
# Our device must pass these too (nothing of ours is excused).
REFERENCE_OWN_FAILURES = {
    "7.2": {"hmm.hmm_device_coherent.migrate_anon_huge_err",
            "hmm.hmm_device_coherent.benchmark_thp_migration"},
    "6.12": set(),
}

TEST_HMM = "insmod /lib/modules/test_hmm.ko spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000"
HMMDEV_DMIRROR = "insmod /lib/modules/hmmdev.ko dmirror=1 coherent=0xc"
COUNTERS = ("fault-records", "replays", "cancels", "cmd-copy", "cmd-sg-copy",
            "bytes-sys-to-sys", "bytes-sys-to-dev", "bytes-dev-to-sys", "bytes-dev-to-dev",
            "tlb-walks")


# Ours, pending: the tests that need 2 MiB device folios (device-private
# THP, issue 10 item 4) and HMM_DMIRROR_FLAGS, which comes with them.  Strict:
# a test here that passes fails the run, so the list only shrinks.
PENDING = {
    "7.2": {"hmm.hmm_device_private.migrate_anon_huge_err",
            "hmm.hmm_device_private.migrate_anon_huge_zero_err",
            "hmm.hmm_device_private.migrate_anon_huge_fault",
            "hmm.hmm_device_coherent.migrate_anon_huge_err",
            "hmm.hmm_device_coherent.migrate_anon_huge_zero_err"},
    "6.12": set(),
}


def kernel_line(vm) -> str:
    release = vm.check("uname -r").strip()
    line = ".".join(release.split(".")[:2])
    assert line in EXPECTED_TESTS, f"no hmm-tests expectations for Linux {release}"
    return line


def run_hmm_tests(vm, log, expected):
    rc, out = vm.run("hmm-tests 2>&1", timeout=2400)
    log.write_text(out)
    results = parse(out)
    assert len(results) == expected, out[-3000:]
    return results


def check_conformance(results, who, excused=frozenset()):
    skipped = [n for n, v in results.items() if v == "skip"]
    assert not skipped, f"{who}: skipped {skipped}"
    failed = {n for n, v in results.items() if v == "fail"}
    allowed = KNOWN_FAILURES | excused
    assert failed <= allowed, f"{who}: unexpected failures {failed - allowed}"


def test_hmm_tests_side_by_side(make_vm, artifacts):
    # 512 MiB of device memory each: 7.2's benchmark_thp_migration holds
    # 256 MiB buffers on the device
    vm = make_vm(mem="3G", devices=4, device_props=",devmem-size=512M",
                 append="memmap=512M$0x100000000 hmmdev.noload=1")
    line = kernel_line(vm)
    expected = EXPECTED_TESTS[line]

    # the reference: the kernel's software device
    vm.check(TEST_HMM)
    ref = run_hmm_tests(vm, artifacts.log_dir / "hmm-tests-test_hmm.log", expected)
    vm.check("rmmod test_hmm")

    # the same binary against the emulated hardware
    vm.check(HMMDEV_DMIRROR)
    dmesg = vm.check("dmesg | grep hmmdev")
    assert dmesg.count("device-private pages") == 2 and dmesg.count("device-coherent pages") == 2
    before = [qstats(vm, COUNTERS, n) for n in range(4)]
    ours = run_hmm_tests(vm, artifacts.log_dir / "hmm-tests-hmmdev.log", expected)
    after = [qstats(vm, COUNTERS, n) for n in range(4)]
    delta = [{k: a[k] - b[k] for k in COUNTERS} for a, b in zip(after, before)]

    t_ref, t_ours = totals(ref), totals(ours)
    lines = [f"hmm-tests (Linux {line}): test_hmm.ko {t_ref['pass']} pass, {t_ref['fail']} fail, "
             f"{t_ref['skip']} skip; hmmdev {t_ours['pass']} pass, {t_ours['fail']} fail, "
             f"{t_ours['skip']} skip (of {expected})", "",
             "| test | test_hmm.ko | hmmdev |", "|---|---|---|"]
    lines += [f"| {name} | {ref[name]} | {ours.get(name, 'missing')} |" for name in sorted(ref)]
    lines += ["", "Device counters during the hmmdev run (qom-get stat-*):", "",
              "| counter | " + " | ".join(f"hmmdev{n}" for n in range(4)) + " |",
              "|---|" + "---|" * 4]
    lines += [f"| {k} | " + " | ".join(str(d[k]) for d in delta) + " |" for k in COUNTERS]
    publish(artifacts.log_dir, "hmm-tests-side-by-side", "\n".join(lines),
            {"kernel": line, "test_hmm": {"totals": t_ref, "results": ref},
             "hmmdev": {"totals": t_ours, "results": ours},
             "device_counters": delta})

    check_conformance(ref, "test_hmm.ko", REFERENCE_OWN_FAILURES[line])
    check_conformance(ours, "hmmdev", PENDING[line])
    now_passing = {n for n in PENDING[line] if ours.get(n) == "pass"}
    assert not now_passing, f"pending tests now pass: remove them from PENDING: {now_passing}"
    assert set(ours) == set(ref)

    # The hardware did the work, on every one of the four devices: its page
    # walker faulted and was replayed, its copy engine moved the READ/WRITE
    # data (COPY) and the migrations (SG_COPY), both ways.
    for n, d in enumerate(delta):
        assert d["fault-records"] > 0 and d["replays"] > 0, (n, d)
        assert d["cmd-copy"] > 0 and d["tlb-walks"] > 0, (n, d)
        assert d["cmd-sg-copy"] > 0 and d["bytes-sys-to-dev"] > 0, (n, d)
    # hmm.* runs on dmirror0 and dmirror2 only: megabytes of READ/WRITE data
    for n in (0, 2):
        assert delta[n]["bytes-sys-to-sys"] >= 16 << 20, delta[n]
        assert delta[n]["bytes-dev-to-sys"] >= 4 << 20, delta[n]
    # every device fault reached the driver and got an answer
    for n, d in enumerate(delta):
        assert d["replays"] + d["cancels"] >= d["fault-records"], (n, d)


def test_dmirror_names_belong_to_one_module(make_vm):
    """test_hmm.ko and hmmdev.ko dmirror=1 cannot both own /dev/hmm_dmirror*:
    whichever comes second fails to load, and says why; without dmirror=1
    the two coexist."""
    vm = make_vm(mem="3G", devices=2, append="memmap=512M$0x100000000 hmmdev.noload=1")
    vm.check(HMMDEV_DMIRROR)
    rc, out = vm.run(TEST_HMM + " 2>&1")
    assert rc != 0, out
    vm.check("rmmod hmmdev")

    vm.check(TEST_HMM)
    rc, out = vm.run(HMMDEV_DMIRROR + " 2>&1")
    assert rc != 0 and "busy" in out.lower(), out
    assert "is test_hmm.ko loaded?" in vm.check("dmesg | tail -5")
    vm.check("insmod /lib/modules/hmmdev.ko")
    vm.check("test -c /dev/hmmdev0 && test -c /dev/hmm_dmirror0")
    # the nodes are still test_hmm's: a device read through them never
    # reaches our hardware
    faults = qstat(vm, "fault-records")
    out = vm.check("hmm-tests -r hmm.hmm_device_private.anon_read 2>&1")
    assert "ok 1 hmm.hmm_device_private.anon_read" in out, out
    assert qstat(vm, "fault-records") == faults
