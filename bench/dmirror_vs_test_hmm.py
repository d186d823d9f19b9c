#!/usr/bin/env python3
"""The test_hmm uAPI on test_hmm.ko and on our device, in one VM run (a report, not a test).

Boots one guest with four hmmdev functions and memmap= reserved RAM, then runs
the guest program hmm-dmirror-bench (guest-userspace/bench/dmirror_bench.cpp)
on the same buffer sizes against:

  test_hmm.ko   the kernel's software device: the guest CPU mirrors, copies
                and migrates (coherent "device memory" is reserved RAM);
  hmmdev.ko     dmirror=1 coherent=0xc: the emulated device faults through
                its page tables and fault ring, its copy engine moves the data.

for device-private memory (/dev/hmm_dmirror0) and device-coherent memory
(/dev/hmm_dmirror2).  Operations: read (faulting), read of mirrored pages,
write, migrate to device and back, CPU access after migration.  Writes
<out>/dmirror-vs-test_hmm.{json,md}: MB/s of both and the ratio, plus our
driver's stage times (sysfs stats) and the device's counters for each run.

    make bench
    HMMDEV_QEMU_BUILD=... HMMDEV_KERNEL_BUILD=... HMMDEV_INITRD=... \\
        python3 -m bench.dmirror_vs_test_hmm --out build/bench [--quick]

(run from the repository root: the helpers are tests.lib's)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.lib.artifacts import ROOT, Artifacts
from tests.lib.counters import stage_counters
from tests.lib.guest import qstats

OPS = ("read", "read_mirrored", "write", "migrate_to_dev", "migrate_to_sys", "cpu_fault_back")
NODES = {"private": 0, "coherent": 2}
STAGES = stage_counters()
COUNTERS = ("fault-records", "cmd-copy", "cmd-sg-copy", "bytes-sys-to-sys",
            "bytes-sys-to-dev", "bytes-dev-to-sys")
TEST_HMM = "insmod /lib/modules/test_hmm.ko spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000"


def run_node(vm, node: int, mib: int, reps: int) -> dict:
    rc, out = vm.run(f"hmm-dmirror-bench {node} {mib} {reps}", timeout=1200)
    if rc:
        raise RuntimeError(f"hmm-dmirror-bench {node} failed ({rc}):\n{out[-3000:]}")
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def sysfs_stats(vm, dev: int) -> dict:
    out = vm.check(f"cd /sys/class/hmmdev/hmmdev{dev}/stats && for f in {' '.join(STAGES)}; "
                   "do echo $f $(cat $f); done")
    return {k: int(v) for k, v in (ln.split() for ln in out.strip().splitlines())}


def markdown(res: dict) -> str:
    lines = [f"# The test_hmm uAPI: test_hmm.ko vs hmmdev ({res['mib']} MiB buffers, "
             f"median of {res['reps']}, IOMMU {res['iommu']})", "",
             "MB/s (1e6 bytes/s); ratio = hmmdev / test_hmm (> 1: the device is faster).", ""]
    for kind in NODES:
        lines += [f"## {kind} memory (/dev/hmm_dmirror{NODES[kind]})", "",
                  "| operation | test_hmm.ko | hmmdev | ratio |", "|---|---|---|---|"]
        for op in OPS:
            a = res["test_hmm"][kind][op]["mbps"]
            b = res["hmmdev"][kind][op]["mbps"]
            lines.append(f"| {op} | {a:.0f} | {b:.0f} | {b / a:.2f} |")
        st = res["hmmdev_stages_ms"][kind]
        lines += ["", "Where hmmdev's time went over the whole run (driver stage times, ms): " +
                  ", ".join(f"{k[3:]} {v:.1f}" for k, v in st.items() if v), "",
                  "Device counters: " + ", ".join(f"{k} {v}" for k, v in
                                                  res["hmmdev_device"][kind].items()), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--quick", action="store_true", help="4 MiB, one repetition (a smoke run)")
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--iommu", default="lazy", help="none|lazy|strict|pt (default lazy, as make run)")
    args = ap.parse_args()
    mib, reps = (4, 1) if args.quick else (args.mib, args.reps)

    from images.vm import Vm
    cfg = Artifacts().vm_config(args.out / "vm-log-dmirror", devices=4, mem="3G",
                                append="memmap=512M$0x100000000 hmmdev.noload=1", iommu=args.iommu)
    args.out.mkdir(parents=True, exist_ok=True)
    res = {"mib": mib, "reps": reps, "iommu": args.iommu, "test_hmm": {}, "hmmdev": {}, "hmmdev_stages_ms": {},
           "hmmdev_device": {}}
    with Vm(cfg) as vm:
        vm.check(TEST_HMM)
        for kind, node in NODES.items():
            res["test_hmm"][kind] = run_node(vm, node, mib, reps)
        vm.check("rmmod test_hmm && insmod /lib/modules/hmmdev.ko dmirror=1 coherent=0xc")
        for kind, node in NODES.items():
            dev = node      # dmirror0 is hmmdev0 (private), dmirror2 is hmmdev2 (coherent)
            s0, q0 = sysfs_stats(vm, dev), qstats(vm, COUNTERS, dev)
            res["hmmdev"][kind] = run_node(vm, node, mib, reps)
            s1, q1 = sysfs_stats(vm, dev), qstats(vm, COUNTERS, dev)
            res["hmmdev_stages_ms"][kind] = {k: (s1[k] - s0[k]) / 1e6 for k in STAGES}
            res["hmmdev_device"][kind] = {k: q1[k] - q0[k] for k in COUNTERS}
    res["ratio"] = {kind: {op: round(res["hmmdev"][kind][op]["mbps"] /
                                     res["test_hmm"][kind][op]["mbps"], 3) for op in OPS}
                    for kind in NODES}
    md = markdown(res)
    (args.out / "dmirror-vs-test_hmm.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "dmirror-vs-test_hmm.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
