"""Counter names, read from the one lists they are built from: the driver's
(guest-driver/include/uapi/linux/hmmdev_stats.def: the driver, libhmmdev, the
CLI) and the device model's (qemu-device/hmmdev-stats.def: HmmdevStats and
the QOM properties stat-<name>)."""
from __future__ import annotations

import functools
import re

from tests.lib.artifacts import ROOT

DEF = ROOT / "guest-driver/include/uapi/linux/hmmdev_stats.def"
DEVICE_DEF = ROOT / "qemu-device/hmmdev-stats.def"


@functools.cache
def driver_counters() -> tuple[str, ...]:
    """Every counter name, in struct hmmdev_stats order."""
    names = re.findall(r"^HMMDEV_STAT\(\w+, (\w+)\)$", DEF.read_text(), re.M)
    assert names, f"no HMMDEV_STAT lines in {DEF}"
    return tuple(names)


def stage_counters() -> tuple[str, ...]:
    """The stage times (cumulative ns): docs/driver.md, "Performance counters"."""
    return tuple(n for n in driver_counters() if n.startswith("ns_"))


@functools.cache
def device_counters() -> tuple[str, ...]:
    """Every stat-<name> property of the device model, without "stat-"."""
    text = DEVICE_DEF.read_text()
    names = [("cmd-" if kind else "") + n for kind, n in
             re.findall(r'^HMMDEV_STAT(_CMD)?\(\w+, "([\w-]+)"\)', text, re.M)]
    assert names, f"no HMMDEV_STAT lines in {DEVICE_DEF}"
    return tuple(names)
