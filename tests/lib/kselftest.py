"""Parse kselftest (TAP) output, as printed by kselftest_harness.h binaries."""
from __future__ import annotations

import re

_RESULT = re.compile(r"^(ok|not ok) \d+ (\S+)(.*)$")


def parse(output: str) -> dict[str, str]:
    """Map each test name to 'pass', 'fail' or 'skip'."""
    results: dict[str, str] = {}
    for line in output.splitlines():
        m = _RESULT.match(line.strip())
        if not m:
            continue
        verdict, name, rest = m.groups()
        if "# SKIP" in rest:
            results[name] = "skip"
        else:
            results[name] = "pass" if verdict == "ok" else "fail"
    return results


def totals(results: dict[str, str]) -> dict[str, int]:
    out = {"pass": 0, "fail": 0, "skip": 0}
    for v in results.values():
        out[v] += 1
    return out
