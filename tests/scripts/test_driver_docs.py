"""The guest driver documents itself where the code is.

- every non-static function has a kernel-doc comment naming it;
- DOC: Overview and DOC: Locking are in the source, and the kernel's own
  scripts/kernel-doc extracts them (docs/driver.md points there);
- each lock group has one "protects" marker.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.lib.artifacts import ROOT

DRIVER = ROOT / "guest-driver"
SOURCES = sorted(p for p in DRIVER.rglob("*.c") if not p.name.endswith(".mod.c"))
HEADERS = sorted(p for p in DRIVER.rglob("*.h") if "uapi" not in p.parts)
FUNC = re.compile(r"^(?!static\b)[a-z][\w \*]*?\b([a-z]\w+)\(", re.M)


def undocumented(text: str) -> list[str]:
    missing = []
    for m in FUNC.finditer(text):
        if text[m.start():].split("\n", 1)[0].rstrip().endswith(";"):
            continue  # a declaration
        before = text[:m.start()].rstrip()
        block = before[before.rfind("/**"):] if before.endswith("*/") else ""
        if not re.search(rf"^/\*\*\n \* {m.group(1)}\(\) - ", block, re.M):
            missing.append(m.group(1))
    return missing


def test_every_non_static_function_has_kernel_doc():
    missing = {f"{p.relative_to(DRIVER)}: {fn}" for p in SOURCES for fn in undocumented(p.read_text())}
    assert sorted(missing) == []


def test_the_check_sees_a_missing_comment():
    text = "/* not kernel-doc */\nint hmmdev_x(void)\n{\n}\n\n/**\n * hmmdev_y() - y\n */\nint hmmdev_y(void)\n{\n}\n"
    assert undocumented(text) == ["hmmdev_x"]


def kernel_doc_script() -> Path:
    build = os.environ.get("HMMDEV_KERNEL_BUILD")
    if not build:
        pytest.skip("HMMDEV_KERNEL_BUILD is not set: run with `make test`")
    script = Path(build) / "source/scripts/kernel-doc"
    assert script.exists(), f"{script}: the kernel build has no source link"
    return script


@pytest.mark.parametrize("section", ["Overview", "Locking"])
def test_doc_sections_extract_with_kernel_doc(section):
    out = subprocess.run(["perl", str(kernel_doc_script()), "-rst", "-function", section,
                          str(DRIVER / "hmmdev_main.c")], capture_output=True, text=True, check=True)
    assert len(out.stdout.splitlines()) > 10, out.stderr
    assert f"DOC: {section}" in (ROOT / "docs/driver.md").read_text()


def test_kernel_doc_has_no_warnings():
    script = kernel_doc_script()
    out = subprocess.run(["perl", str(script), "-none", "-Wall", *map(str, SOURCES + HEADERS)],
                         capture_output=True, text=True)
    warnings = [l for l in out.stderr.splitlines() if "warning" in l.lower()]
    assert warnings == []


def test_one_protects_marker_per_lock_group():
    """A lock says what it protects once, on its own line ("protects the
    fields below": the group then runs to the next blank line); no group
    also carries a closing "protects the above"."""
    for h in list(DRIVER.rglob("*.h")) + SOURCES:
        lines = h.read_text().splitlines()
        assert not [l for l in lines if "protects the above" in l], h.relative_to(DRIVER)
        for i, l in enumerate(lines):
            if "protects the fields below" in l:
                assert lines[i + 1].strip() and not lines[i + 1].strip().startswith("}"), \
                    f"{h.relative_to(DRIVER)}:{i + 1}: a lock group with no field"
