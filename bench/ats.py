#!/usr/bin/env python3
"""ATS benchmark (a report, not a test): ATC hit rate and the cost of translation.

Part 1, qtest (no guest), intel-iommu device-iotlb=on with ATS Enable set by
the script.  DMA remapping is off without a guest, so the IOMMU answers each
Translation Request with the identity, but the request path (bottom half,
BQL, IOMMU, ATC fill) is the real one.
  - hit rate against working-set size for several atc-entries: one SG_COPY
    per sweep over N source and N destination pages (2N pages touched),
    in random order; the second sweep is measured.  An LRU ATC of C
    entries holds the whole working set up to its reach (C * 4 KiB), so
    the knee sits at 2N = C.
  - throughput of 64 MiB SG_COPY (system to system): no IOMMU; IOMMU with
    ATS off (every access translated by the IOMMU); ATS on streaming
    (every page a miss); ATS on with a 256 KiB working set (all hits).

Part 2 (--vm, five guest boots): 64 MiB migrations and the 64 MiB device
read of hmmdev-bench, under intel-iommu lazy and strict with ATS on and with
ATS off (ats=off: the IOMMU translates each access), and with no IOMMU.

Writes <out>/ats.json and <out>/ats.md.

    make bench
    HMMDEV_QEMU_BUILD=.../build python3 -m bench.ats --out build/bench [--vm] [--quick]

(run from the repository root: the helpers are tests.lib's)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from tests.lib.artifacts import ROOT, need
from tests.lib.guest import qstat
from tests.lib.machines import HMMDEV_DEVFN, HMMDEV_SLOT, qtest_machine
from tests.lib.qtest import PCI_EXT_CAP_ID_ATS, EcamDev, GuestAlloc, R, PAGE, HUGE, sg_list

MB = 1e6
SG = R["HMMDEV_CMD_SG_COPY"]


class Machine:
    """One qtest QEMU with hmmdev at 00:04.0, optionally behind intel-iommu."""

    def __init__(self, qemu_build: Path, out: Path, iommu: bool, props: str = "",
                 ram_mib: int = 512):
        args = ["-M", "q35", "-nodefaults", "-m", f"{ram_mib}M", "-qtest-log", "none"]
        if iommu:
            args += ["-device", "intel-iommu,device-iotlb=on"]
        args += ["-device", f"hmmdev,id=hmmdev0,addr={HMMDEV_SLOT:02x}.0{props}"]
        self.m = qtest_machine(qemu_build, out, args)
        self.m.launch()
        self.dev = d = EcamDev(self.m, devfn=HMMDEV_DEVFN)
        d.enable()
        self.alloc = GuestAlloc(d, end=(ram_mib - 16) << 20)
        self.q = d.queue(self.alloc, size=8)

    def ats_enable(self) -> None:
        self.dev.ecam_enable()
        assert self.dev.ext_cap(PCI_EXT_CAP_ID_ATS) == 0x100, "no ATS capability"
        self.dev.set_ats(True)

    def sg_list(self, pairs) -> int:
        return sg_list(self.dev, self.alloc, pairs)

    def run(self, lst: int, n: int) -> float:
        t0 = time.perf_counter()
        c = self.q.run(SG, (lst, n), timeout=120)
        dt = time.perf_counter() - t0
        assert c.code == 0, c
        return dt

    def stats(self) -> dict:
        return self.dev.stats("atc-hits", "atc-misses", "atc-requests", "atc-evictions")

    def close(self) -> None:
        self.m.shutdown()


def hit_rate_curve(qb: Path, out: Path, sizes, ws_pages, pattern: str) -> list[dict]:
    """sequential: one SG entry, N source pages to N destination pages, in
    order (the cyclic sweep that an LRU cache either holds whole or loses
    whole); random: one SG entry per page pair, shuffled (the hit rate then
    also counts the SG-list reads, about one lookup in three)."""
    rows = []
    rng = random.Random(1)
    for entries in sizes:
        m = Machine(qb, out, True, f",atc-entries={entries}", ram_mib=512)
        m.ats_enable()
        maxn = max(ws_pages) // 2
        src = m.alloc.alloc(maxn * PAGE)
        dst = m.alloc.alloc(maxn * PAGE)
        for ws in ws_pages:
            n = ws // 2
            if pattern == "sequential":
                lst = m.sg_list([(src, dst, n * PAGE)])
                lists, count = [lst, lst], 1
            else:
                order = list(range(n))
                lists, count = [], n
                for _ in range(2):
                    rng.shuffle(order)
                    lists.append(m.sg_list([(src + i * PAGE, dst + i * PAGE, PAGE)
                                            for i in order]))
            m.run(lists[0], count)                  # warm up
            s0 = m.stats()
            m.run(lists[1], count)
            s1 = m.stats()
            h, mi = s1["atc-hits"] - s0["atc-hits"], s1["atc-misses"] - s0["atc-misses"]
            rows.append({"pattern": pattern, "atc_entries": entries, "reach_kib": entries * 4,
                         "working_set_pages": ws, "working_set_kib": ws * 4,
                         "hits": h, "misses": mi, "hit_rate": round(h / (h + mi), 4)})
            print(f"  {pattern:10s} atc {entries:5d}  ws {ws:6d} pages  "
                  f"hit rate {rows[-1]['hit_rate']:.3f}", flush=True)
        m.close()
    return rows


def throughput(qb: Path, out: Path, size: int, reps: int) -> list[dict]:
    rows = []
    hot = 64                                    # pages: 2 x 128 KiB, far below the reach
    for name, iommu, ats, ws in (("no IOMMU", False, False, None),
                                 ("IOMMU, ATS off", True, False, None),
                                 ("IOMMU, ATS on, streaming, 4 KiB SG entries", True, True, None),
                                 ("IOMMU, ATS on, streaming, one SG entry", True, True, "one"),
                                 ("IOMMU, ATS on, 256 KiB hot set", True, True, hot)):
        m = Machine(qb, out, iommu, ram_mib=max(512, (3 * size >> 20) + 256))
        if ats:
            m.ats_enable()
        src = m.alloc.alloc(size, align=HUGE)
        dst = m.alloc.alloc(size, align=HUGE)
        npages = size // PAGE
        if ws == "one":
            pairs = [(src, dst, size)]
        elif ws is None:
            pairs = [(src + i * PAGE, dst + i * PAGE, PAGE) for i in range(npages)]
        else:
            pairs = [(src + (i % (ws // 2)) * PAGE, dst + (i % (ws // 2)) * PAGE, PAGE)
                     for i in range(npages)]
        lst = m.sg_list(pairs)
        m.run(lst, len(pairs))
        s0 = m.stats()
        times = [m.run(lst, len(pairs)) for _ in range(reps)]
        s1 = m.stats()
        med = statistics.median(times)
        rows.append({"config": name, "bytes": size, "reps": reps, "median_s": round(med, 4),
                     "mb_s": round(size / med / MB, 1),
                     "atc_hits_per_rep": (s1["atc-hits"] - s0["atc-hits"]) // reps,
                     "atc_misses_per_rep": (s1["atc-misses"] - s0["atc-misses"]) // reps,
                     "atc_requests_per_rep": (s1["atc-requests"] - s0["atc-requests"]) // reps})
        print(f"  {name:32s} {rows[-1]['mb_s']:8.1f} MB/s", flush=True)
        m.close()
    return rows


def vm_throughput(out: Path, reps: int) -> list[dict]:
    from bench.driver_vs_test_hmm import Run
    from images.vm import Vm
    rows = []
    for name, iommu, props in (("no IOMMU", "none", ""),
                               ("IOMMU lazy, ATS off", "lazy", ",ats=off"),
                               ("IOMMU lazy, ATS on", "lazy", ""),
                               ("IOMMU strict, ATS off", "strict", ",ats=off"),
                               ("IOMMU strict, ATS on", "strict", "")):
        run = Run(out, 2, iommu)
        run.cfg.device_props = props
        run.vm = Vm(run.cfg)            # the command line is built from cfg here
        with run:
            mig = run.phase(f"migrate 64 {reps}")
            rd = run.phase(f"read 64 {reps}")
            atc = {k: qstat(run.vm, f"atc-{k}") for k in ("hits", "misses")}
        b = mig["bytes"]
        row = {"config": name,
               "migrate_to_dev_mb_s": round(b / mig["ours_to_dev"]["median_us"], 1),
               "migrate_to_sys_mb_s": round(b / mig["ours_to_sys"]["median_us"], 1),
               "device_read_mb_s": round(rd["bytes"] / rd["ours"]["median_us"], 1),
               "atc": atc}
        print(f"  {name:24s} to_dev {row['migrate_to_dev_mb_s']:8.1f}  to_sys "
              f"{row['migrate_to_sys_mb_s']:8.1f}  read {row['device_read_mb_s']:8.1f} MB/s",
              flush=True)
        rows.append(row)
    return rows


def markdown(r: dict) -> str:
    lines = ["# ATS benchmark", "",
             f"Host: {r['host']['machine']}, {r['host']['cpus']} CPUs; QEMU TCG.", ""]
    for pattern in ("sequential", "random"):
        rows = [x for x in r["hit_rate"] if x["pattern"] == pattern]
        lines += [f"## ATC hit rate against working-set size (qtest, {pattern})", "",
                  "Reach = atc-entries x 4 KiB.  Working set = pages touched per sweep "
                  "(source + destination).", ""]
        sizes = sorted({x["atc_entries"] for x in rows})
        wss = sorted({x["working_set_pages"] for x in rows})
        lines.append("| working set | " + " | ".join(f"atc {s} ({s * 4} KiB)" for s in sizes)
                     + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for ws in wss:
            cells = []
            for s in sizes:
                row = next(x for x in rows if x["atc_entries"] == s and
                           x["working_set_pages"] == ws)
                mark = " *" if ws <= s < 2 * ws else ""
                cells.append(f"{row['hit_rate']:.3f}{mark}")
            lines.append(f"| {ws} pages ({ws * 4} KiB) | " + " | ".join(cells) + " |")
        lines += ["", "`*`: the largest working set that fits the ATC's reach.", ""]
    lines += [f"## Throughput, {r['throughput'][0]['bytes'] >> 20} MiB SG_COPY system to system "
              "(qtest, median)", "",
              "| configuration | MB/s | ATC hits/rep | ATC misses/rep | round trips/rep |",
              "|---|---|---|---|---|"]
    for x in r["throughput"]:
        lines.append(f"| {x['config']} | {x['mb_s']} | {x['atc_hits_per_rep']} | "
                     f"{x['atc_misses_per_rep']} | {x['atc_requests_per_rep']} |")
    lines += ["", "Without a guest the IOMMU's DMA remapping is off: \"ATS off\" is the "
              "IOMMU's cheap identity path, so the VM table is the realistic comparison."]
    if r.get("vm"):
        lines += ["", "## In a guest (hmmdev-bench, 64 MiB, median)", "",
                  "| configuration | migrate to device MB/s | migrate to system MB/s | "
                  "device read MB/s | ATC hits | ATC misses |", "|---|---|---|---|---|---|"]
        for x in r["vm"]:
            lines.append(f"| {x['config']} | {x['migrate_to_dev_mb_s']} | "
                         f"{x['migrate_to_sys_mb_s']} | {x['device_read_mb_s']} | "
                         f"{x['atc']['hits']} | {x['atc']['misses']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--quick", action="store_true", help="smaller sweep (a smoke run)")
    ap.add_argument("--vm", action="store_true", help="also measure in a guest (3 boots)")
    ap.add_argument("--size", type=int, default=64, help="MiB per throughput run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    qb = need("HMMDEV_QEMU_BUILD")
    sizes = (16, 64, 256) if args.quick else (16, 64, 256, 1024)
    wss = [2 ** k for k in range(2, 11 if args.quick else 13)]
    r = {"host": {"machine": platform.machine(), "cpus": os.cpu_count()}}
    t0 = time.monotonic()
    print("[bench] ATC hit rate against working set", flush=True)
    r["hit_rate"] = (hit_rate_curve(qb, args.out, sizes, wss, "sequential") +
                     hit_rate_curve(qb, args.out, sizes, wss, "random"))
    print("[bench] throughput (qtest)", flush=True)
    r["throughput"] = throughput(qb, args.out, (16 if args.quick else args.size) << 20,
                                 2 if args.quick else 5)
    if args.vm:
        print("[bench] throughput in a guest", flush=True)
        r["vm"] = vm_throughput(args.out, 2 if args.quick else 3)
    r["wall_s"] = round(time.monotonic() - t0, 1)
    md = markdown(r)
    (args.out / "ats.json").write_text(json.dumps(r, indent=1) + "\n")
    (args.out / "ats.md").write_text(md)
    print(md)
    print(f"[bench] {args.out}/ats.{{json,md}} ({r['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
