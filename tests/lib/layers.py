"""Layering checks on built objects: which object uses a symbol another defines.

The driver (tests/scripts/test_driver_layers.py) and the device model
(tests/scripts/test_device_layers.py) are each layered; a layer may use only
symbols of its own or lower layers, except for the documented upward
signals each check names.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable


def nm(obj: Path, *flags: str) -> list[list[str]]:
    out = subprocess.run(["nm", *flags, str(obj)], capture_output=True, text=True, check=True)
    return [l.split() for l in out.stdout.splitlines() if l.strip()]


def upward_uses(objs: list[Path], rank: Callable[[Path], int], name: Callable[[Path], str],
                allowed: Callable[[str], bool] = lambda sym: False,
                same_rank_ok: bool = True) -> list[str]:
    """'user (layer) -> definer (layer): symbol' for each use that goes up (or,
    without same_rank_ok, sideways between different objects of one rank)."""
    defined = {}
    for o in objs:
        for f in nm(o, "--defined-only"):
            if len(f) == 3 and f[1].isupper():
                defined[f[2]] = o
    bad = []
    for o in objs:
        for f in nm(o, "-u"):
            sym = f[-1]
            d = defined.get(sym)
            if d is None or d == o or allowed(sym):
                continue
            ru, rd = rank(o), rank(d)
            if rd > ru or (rd == ru and not same_rank_ok):
                bad.append(f"{name(o)} -> {name(d)}: {sym}")
    return sorted(set(bad))
