"""Helpers shared by the pytest suites (tests/) and the benchmarks (bench/).

Imported as tests.lib.<module> with the repository root on sys.path:
pytest.ini's `pythonpath = .` for the suites, `python3 -m bench.<name>` run
from the root for the benchmarks.  See tests/README.md.

  artifacts  where the built QEMU, kernel and initramfs are (need(), Artifacts)
  machines   QEMU under qtest: launch, stop, sanitizer reports
  qtest      the register-level driver of one hmmdev over qtest (no guest)
  hw         the device-level rig (Hw), setup_ctx(), VA
  guest      a booted VM from the host: QMP counters, debugfs, hmmdev-tests
  kselftest  parse kselftest (TAP) output
  reports    reports for pytest's closing summary and build/test-logs
"""
