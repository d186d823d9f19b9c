"""The guest driver's layers call downward only (DOC: Overview, guest-driver/hmmdev_main.c).

Two checks: on the built objects, every symbol a layer uses that another
object of the module defines belongs to the same or a lower layer; in the
sources, every project header a file includes does.  Tracepoints are the one
documented exception: they are defined in obs/ and emitted by every layer.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.lib.artifacts import ROOT
from tests.lib.layers import upward_uses

DRIVER = ROOT / "guest-driver"
# bottom up; hmmdev_main.c (the module and probe) is above all
LAYERS = ["core", "dmem", "svm", "obs", "frontend"]
TOP = len(LAYERS)
TRACE_HEADER = "obs/hmmdev_trace.h"
TRACEPOINT = re.compile(r"^(__tracepoint_|__traceiter_|__SCK__tp_func_|__SCT__tp_func_)")


def layer_of(path: Path, base: Path) -> int:
    rel = path.relative_to(base)
    if len(rel.parts) == 1:
        return TOP
    assert rel.parts[0] in LAYERS, f"{rel}: not in a layer directory {LAYERS}"
    return LAYERS.index(rel.parts[0])


def name(rank: int) -> str:
    return LAYERS[rank] if rank < TOP else "main"


def upward_calls(build: Path) -> list[str]:
    """'user (layer) -> definer (layer): symbol' for each use of a higher layer."""
    objs = [p for p in build.rglob("hmmdev_*.o") if not p.name.endswith(".mod.o")]
    assert objs, f"no driver objects under {build}: build the module first (make driver)"
    return upward_uses(objs, lambda o: layer_of(o, build),
                       lambda o: f"{o.relative_to(build)} ({name(layer_of(o, build))})",
                       allowed=lambda sym: bool(TRACEPOINT.match(sym)))


def upward_includes(src: Path) -> list[str]:
    bad = []
    for f in sorted(list(src.rglob("*.c")) + list(src.rglob("*.h"))):
        if "include" in f.relative_to(src).parts or f.name.endswith(".mod.c"):
            continue
        lf = layer_of(f, src)
        for m in re.finditer(r'^#include "(([a-z]+)/[^"]+)"', f.read_text(), re.M):
            if m.group(2) not in LAYERS or m.group(1) == TRACE_HEADER:
                continue
            if LAYERS.index(m.group(2)) > lf:
                bad.append(f"{f.relative_to(src)} ({name(lf)}) includes {m.group(1)}")
    return bad


def test_includes_go_downward():
    assert upward_includes(DRIVER) == []


def test_calls_go_downward():
    build = os.environ.get("HMMDEV_DRIVER_BUILD")
    if not build:
        pytest.skip("HMMDEV_DRIVER_BUILD is not set: run with `make test`")
    assert upward_calls(Path(build)) == []


def test_the_check_sees_a_planted_upward_call(tmp_path):
    """A core object that uses a frontend symbol is reported (the check can fail)."""
    (tmp_path / "core").mkdir()
    (tmp_path / "frontend").mkdir()
    (tmp_path / "core/hmmdev_x.c").write_text(
        "void hmmdev_chardev_remove(void *hd);\nvoid hmmdev_x(void) { hmmdev_chardev_remove(0); }\n")
    (tmp_path / "frontend/hmmdev_chardev.c").write_text("void hmmdev_chardev_remove(void *hd) { }\n")
    for c in tmp_path.rglob("*.c"):
        subprocess.run(["gcc", "-c", "-o", str(c.with_suffix(".o")), str(c)], check=True)
    bad = upward_calls(tmp_path)
    assert len(bad) == 1 and "core/hmmdev_x.o (core) -> frontend/hmmdev_chardev.o" in bad[0]
