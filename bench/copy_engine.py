#!/usr/bin/env python3
"""Copy-engine throughput benchmark (not a test): 64 MiB transfers against host memcpy.

Drives one hmmdev over qtest (no guest): builds page tables in guest RAM,
times each command from its doorbell to its DONE status, and compares the
median rate with a single-threaded host memcpy (bench/memcpy.c, compiled on
the fly) measured on the same machine in the same run.  Writes
<out>/copy-engine.json and <out>/copy-engine.md.

    make bench                          # the usual way
    HMMDEV_QEMU_BUILD=.../build python3 -m bench.copy_engine [--reps N] [--size MiB]

(run from the repository root: the helpers are tests.lib's)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.lib.artifacts import ROOT
from tests.lib.machines import HMMDEV_DEVFN, HMMDEV_SLOT, qtest_machine
from tests.lib.qtest import (GuestAlloc, PageTable, QtestHmmdev, R, HUGE, PTE_W, PTE_DEVMEM,
                             SG_ENTRY)

MB = 1e6
VA_SRC = 0x10_0000_0000
VA_DST = 0x20_0000_0000


def host_baseline(out: Path, size: int) -> dict:
    exe = out / "memcpy"
    subprocess.run(["cc", "-O2", "-o", str(exe), str(ROOT / "bench" / "memcpy.c")], check=True)
    return json.loads(subprocess.run([str(exe), str(size), "11"], check=True,
                                     capture_output=True, text=True).stdout)


class Bench:
    STATS = ("tlb-hits", "tlb-misses", "tlb-walks", "bytes-sys-to-sys", "bytes-sys-to-dev",
             "bytes-dev-to-sys", "bytes-dev-to-dev", "bytes-filled", "dma-errors", "cmd-errors")

    def __init__(self, qemu_build: Path, out: Path, size: int):
        self.size = size
        ram_mib = max(512, (4 * size >> 20) + 256)
        devmem = max(256 << 20, 2 * size + (64 << 20))
        self.m = qtest_machine(qemu_build, out, [
            "-M", "q35", "-nodefaults", "-m", f"{ram_mib}M", "-qtest-log", "none",
            "-device", f"hmmdev,id=hmmdev0,addr={HMMDEV_SLOT:02x}.0,devmem-size={devmem}"])
        self.m.launch()
        self.dev = d = QtestHmmdev(self.m, devfn=HMMDEV_DEVFN)
        d.enable()
        self.alloc = GuestAlloc(d, end=(ram_mib - 16) << 20)
        self.src = self.alloc.alloc(size, align=HUGE)
        self.dst = self.alloc.alloc(size, align=HUGE)
        self.dev_src, self.dev_dst = 0, size          # device-memory offsets
        # asid 0: 4 KiB leaves sys->sys; 1: 2 MiB leaves; 2: 4 KiB leaves in device memory.
        for asid, (target_src, target_dst, flags, huge) in enumerate([
                (self.src, self.dst, PTE_W, False),
                (self.src, self.dst, PTE_W, True),
                (self.dev_src, self.dev_dst, PTE_W | PTE_DEVMEM, False)]):
            pt = PageTable(d, self.alloc)
            pt.map_linear(VA_SRC, target_src, size, flags, huge)
            pt.map_linear(VA_DST, target_dst, size, flags, huge)
            d.set_ctx(asid, pt.root)
        self.queues = {a: d.queue(self.alloc, qid=a, asid=a, size=8) for a in range(3)}
        self.sg = {}
        for name, page in (("4k", 4096), ("2m", HUGE)):
            for direction, (s, dd, fl) in {
                    "s2d": (self.src, self.dev_dst, R["HMMDEV_SG_DST_DEVMEM"]),
                    "d2s": (self.dev_src, self.dst, R["HMMDEV_SG_SRC_DEVMEM"])}.items():
                raw = b"".join(SG_ENTRY.pack(s + o, dd + o, page, fl, 0)
                               for o in range(0, size, page))
                base = self.alloc.alloc(len(raw))
                for o in range(0, len(raw), 1 << 16):
                    d.memwrite(base + o, raw[o:o + (1 << 16)])
                self.sg[(direction, name)] = (base, size // page)
        self.m.qtest(f"memset 0x{self.src:x} 0x{size:x} 0x5a")
        self.m.qtest(f"memset 0x{self.dst:x} 0x{size:x} 0x00")
        for o in range(0, size, size // 64):          # markers for check_copied()
            d.memwrite(self.src + o, os.urandom(64))

    def stats(self) -> dict:
        return self.dev.stats(*self.STATS)

    def timed(self, q, opcode: int, args, cdw1: int = 0) -> float:
        """Seconds from the doorbell write to DONE seen in the completion."""
        slot = q.submit(opcode, args, cdw1, ring=False)
        addr = q.slot_addr(slot) + 48
        t0 = time.perf_counter()
        self.dev.set_qreg(q.qid, "TAIL", q.tail)
        while True:
            status, _, _ = struct.unpack("<IIQ", self.dev.memread(addr, 16))
            if status & R["HMMDEV_CS_DONE"]:
                break
            time.sleep(0.0001)          # leave the 2nd CPU to the engine on small hosts
        t = time.perf_counter() - t0
        code = status & R["HMMDEV_CS_CODE_MASK"]
        if code:
            raise RuntimeError(f"opcode {opcode} completed with error 0x{code:x}")
        return t

    def check_copied(self, src: int, dst: int) -> None:
        """Spot-check the destination against the source at 64 places."""
        step = self.size // 64
        for o in range(0, self.size, step):
            a = self.dev.memread(src + o, 64)
            b = self.dev.memread(dst + o, 64)
            if a != b:
                raise RuntimeError(f"copy mismatch at +0x{o:x}")

    def run(self, name: str, desc: str, reps: int, go, prepare=None, check=None) -> dict:
        times, deltas = [], None
        for i in range(reps + 1):                 # rep 0 warms up (first-touch page faults)
            if prepare:
                prepare()
            before = self.stats()
            t = go()
            after = self.stats()
            if check:
                check()
            if i == 0:
                cold = t
                continue
            times.append(t)
            deltas = {k: after[k] - before[k] for k in self.STATS if after[k] != before[k]}
        med = statistics.median(times)
        return {"name": name, "description": desc, "bytes": self.size,
                "median_s": med, "min_s": min(times), "max_s": max(times), "cold_s": cold,
                "median_mbps": self.size / med / MB, "reps": reps, "stats_per_run": deltas}

    def nop_latency(self, reps: int) -> float:
        q = self.queues[0]
        return statistics.median(self.timed(q, R["HMMDEV_CMD_NOP"], ()) for _ in range(reps))

    def all(self, reps: int) -> list[dict]:
        C = R
        size, res = self.size, []
        clear_dst = lambda: self.m.qtest(f"memset 0x{self.dst:x} 0x{size:x} 0x00")  # noqa: E731
        for asid, label in ((0, "4k"), (1, "2m")):
            q = self.queues[asid]
            res.append(self.run(
                f"copy_sys_sys_{label}",
                f"COPY VA->VA, system->system, {'4 KiB' if label == '4k' else '2 MiB'} leaves",
                reps, lambda q=q: self.timed(q, C["HMMDEV_CMD_COPY"], (VA_DST, VA_SRC, size)),
                clear_dst, lambda: self.check_copied(self.src, self.dst)))
        q = self.queues[0]
        res.append(self.run("fill_sys_4k", "FILL VA, system memory, 4 KiB leaves", reps,
                            lambda: self.timed(q, C["HMMDEV_CMD_FILL"],
                                               (VA_DST, 0x0123456789ABCDEF, size))))
        for direction, desc in (("s2d", "SG_COPY system->device"),
                                ("d2s", "SG_COPY device->system")):
            for label, ent in (("4k", "4 KiB"), ("2m", "2 MiB")):
                base, n = self.sg[(direction, label)]
                res.append(self.run(
                    f"sg_{direction}_{label}", f"{desc}, {n} entries of {ent} (migration path)",
                    reps, lambda base=base, n=n: self.timed(q, C["HMMDEV_CMD_SG_COPY"], (base, n)),
                    clear_dst if direction == "d2s" else None))
        q = self.queues[2]
        res.append(self.run("copy_dev_dev_4k",
                            "COPY VA->VA, device->device, 4 KiB leaves (no DMA API)", reps,
                            lambda: self.timed(q, C["HMMDEV_CMD_COPY"], (VA_DST, VA_SRC, size))))
        return res

    def close(self):
        self.m.shutdown()


def markdown(doc: dict) -> str:
    h = doc["host"]
    lines = [
        "# hmmdev copy-engine benchmark", "",
        f"{doc['size_mib']} MiB per command, median of {doc['reps']} timed runs after one "
        f"warm-up, timed from the doorbell write to DONE in the completion (over qtest; "
        f"the round trip of a NOP is {doc['nop_latency_us']:.0f} us).  "
        f"Host: {doc['machine']}.", "",
        f"Host baseline, single thread: memcpy {h['memcpy_mbps']:.0f} MB/s, "
        f"memset {h['memset_mbps']:.0f} MB/s.  Target: >= 50 % of memcpy.", "",
        "| operation | MB/s | vs memcpy | min..max ms | cold ms | TLB walks | per run |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        st = r["stats_per_run"] or {}
        other = ", ".join(f"{k}={v}" for k, v in st.items() if k != "tlb-walks")
        lines.append(f"| {r['description']} | {r['median_mbps']:.0f} | "
                     f"{100 * r['ratio_vs_memcpy']:.0f} % | "
                     f"{1e3 * r['min_s']:.1f}..{1e3 * r['max_s']:.1f} | {1e3 * r['cold_s']:.1f} | "
                     f"{st.get('tlb-walks', 0)} | {other} |")
    d = doc["derived"]
    lines += ["", "Per 4 KiB page of the 4 KiB-leaf COPY (two translations, each a TLB miss, "
              "since 64 MiB is far beyond the TLB's reach, and a 4-level walk of 4 DMA reads): "
              f"{d['copy_4k_page_ns']:.0f} ns system->system, "
              f"{d['copy_dev_dev_4k_page_ns']:.0f} ns device->device; "
              f"{d['copy_4k_extra_ns_vs_2m']:.0f} ns more than with 2 MiB leaves "
              f"(the translation cost).  Host memcpy moves 4 KiB in "
              f"{d['memcpy_4k_ns']:.0f} ns."]
    lines += ["", "FILL is also set against host memset: " + ", ".join(
        f"{r['name']} {100 * r['median_mbps'] / h['memset_mbps']:.0f} %"
        for r in doc["results"] if r["name"].startswith("fill")) + ".", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qemu-build", default=os.environ.get("HMMDEV_QEMU_BUILD"))
    ap.add_argument("--out", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--size", type=int, default=64, help="MiB per command (multiple of 2)")
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    if not a.qemu_build:
        ap.error("set HMMDEV_QEMU_BUILD or --qemu-build (make bench does)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    size = a.size << 20

    host = host_baseline(out, size)
    b = Bench(Path(a.qemu_build), out, size)
    try:
        nop = b.nop_latency(20)
        results = b.all(a.reps)
    finally:
        b.close()
    host_after = host_baseline(out, size)       # the machine is shared: take both
    host["memcpy_mbps"] = max(host["memcpy_mbps"], host_after["memcpy_mbps"])
    host["memset_mbps"] = max(host["memset_mbps"], host_after["memset_mbps"])
    for r in results:
        r["ratio_vs_memcpy"] = r["median_mbps"] / host["memcpy_mbps"]
    by = {r["name"]: r for r in results}
    pages = size // 4096
    ns = lambda a, b: 1e9 * (by[a]["median_s"] - by[b]["median_s"]) / pages  # noqa: E731
    derived = {
        # Per 4 KiB page of a COPY (2 translations, 2 walks on a TLB miss each).
        "copy_4k_page_ns": 1e9 * by["copy_sys_sys_4k"]["median_s"] / pages,
        "copy_4k_extra_ns_vs_2m": ns("copy_sys_sys_4k", "copy_sys_sys_2m"),
        "copy_dev_dev_4k_page_ns": 1e9 * by["copy_dev_dev_4k"]["median_s"] / pages,
        "memcpy_4k_ns": 1e9 * 4096 / (host["memcpy_mbps"] * MB),
    }
    doc = {"size_mib": a.size, "reps": a.reps, "nop_latency_us": nop * 1e6,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
           "qemu": str(a.qemu_build), "host": host, "results": results,
           "derived": derived}
    (out / "copy-engine.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = markdown(doc)
    (out / "copy-engine.md").write_text(md)
    print(md)
    print(f"written: {out / 'copy-engine.json'}, {out / 'copy-engine.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
