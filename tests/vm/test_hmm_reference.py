"""The reference: upstream selftests/mm/hmm-tests against the kernel's own test_hmm.ko.

test_hmm is fully configured so nothing skips: coherent "devices" come from
reserved RAM (memmap=), debugfs is mounted for gup_test, hugepages are
reserved and THP is in madvise mode.  The per-test results are published as
the baseline our driver is held to later.
"""
from kselftest import parse, totals
from reports import publish

# Known failures shared by every faithful implementation: hmm2.snapshot
# migrates 7 pages with `ptr` pointing at a malloc(7) buffer (buffer->mirror),
# so the 28 KiB copy-back overflows the heap.  Whether glibc notices and aborts
# depends on the heap layout: with our static -O2 build of hmm-tests it goes
# unnoticed and the test passes (measured: 58 pass, 0 fail, 0 skip), other
# builds abort (56 pass, 2 fail).  Either outcome is accepted for these two.
KNOWN_FAILURES = {"hmm2.hmm2_device_private.snapshot", "hmm2.hmm2_device_coherent.snapshot"}
EXPECTED_TESTS = 58


def test_hmm_tests_against_test_hmm(make_vm, artifacts):
    vm = make_vm(mem="3G", append="memmap=512M$0x100000000")
    vm.check("insmod /lib/modules/test_hmm.ko spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000")
    for n in range(4):
        assert vm.run(f"test -c /dev/hmm_dmirror{n}")[0] == 0
    rc, out = vm.run("hmm-tests 2>&1", timeout=1500)
    (artifacts.log_dir / "hmm-tests-test_hmm.log").write_text(out)
    results = parse(out)
    t = totals(results)
    lines = [f"hmm-tests against test_hmm.ko: {t['pass']} pass, {t['fail']} fail, "
             f"{t['skip']} skip of {len(results)}", "", "| test | test_hmm |", "|---|---|"]
    lines += [f"| {name} | {v} |" for name, v in sorted(results.items())]
    publish(artifacts.log_dir, "hmm-tests-reference", "\n".join(lines),
            {"runner": "test_hmm.ko", "totals": t, "results": results})

    assert len(results) == EXPECTED_TESTS, out[-3000:]
    assert t["skip"] == 0, [n for n, v in results.items() if v == "skip"]
    failed = {n for n, v in results.items() if v == "fail"}
    assert failed <= KNOWN_FAILURES, f"unexpected failures: {failed - KNOWN_FAILURES}"
