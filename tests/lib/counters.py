"""The driver's counter names, read from the one list the driver, libhmmdev and
the CLI are built from (guest-driver/include/uapi/linux/hmmdev_stats.def)."""
from __future__ import annotations

import functools
import re

from tests.lib.artifacts import ROOT

DEF = ROOT / "guest-driver/include/uapi/linux/hmmdev_stats.def"


@functools.cache
def driver_counters() -> tuple[str, ...]:
    """Every counter name, in struct hmmdev_stats order."""
    names = re.findall(r"^HMMDEV_STAT\(\w+, (\w+)\)$", DEF.read_text(), re.M)
    assert names, f"no HMMDEV_STAT lines in {DEF}"
    return tuple(names)


def stage_counters() -> tuple[str, ...]:
    """The stage times (cumulative ns): docs/driver.md, "Performance counters"."""
    return tuple(n for n in driver_counters() if n.startswith("ns_"))
