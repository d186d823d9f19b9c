"""scripts/deps.sh: the apt source lines are a check of their own.

The pinned linux and qemu source packages come from a deb-src line for sid,
derived from the mirror this machine already uses; no binary package may come
from sid, and a stale sources file makes `--check` fail so that `make` runs the
install path (rewrite + apt-get update).
"""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPS = ROOT / "scripts/deps.sh"


def _deps(*args, env=None):
    return subprocess.run(["bash", str(DEPS), *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, **(env or {})))


def _stanzas(text: str) -> list[dict[str, str]]:
    out, cur = [], {}
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                out.append(cur)
            cur = {}
            continue
        k, _, v = line.partition(":")
        cur[k.strip()] = v.strip()
    return out


def test_sid_is_source_only_and_from_the_configured_mirror():
    p = _deps("--print-sources")
    assert p.returncode == 0, p.stderr
    stanzas = _stanzas(p.stdout)
    sid = [s for s in stanzas if "sid" in s["Suites"].split()]
    assert len(sid) == 1, p.stdout
    assert sid[0]["Types"].split() == ["deb-src"], "a binary line for sid"
    # every line points at a mirror already configured here, none is made up
    configured = "".join(f.read_text() for f in Path("/etc/apt").rglob("*")
                         if f.is_file() and f.suffix in (".list", ".sources")
                         and f.name != "hmmdev.sources")
    for s in stanzas:
        assert s["URIs"] in configured, s


def test_stale_sources_file_fails_the_check(tmp_path):
    stale = tmp_path / "hmmdev.sources"
    stale.write_text("Types: deb-src\nURIs: http://example.invalid/debian\nSuites: bookworm\n")
    p = _deps("--check", env={"HMMDEV_APT_LIST": str(stale)})
    assert p.returncode == 1
    assert "apt source lines" in p.stdout and str(stale) in p.stdout
    assert stale.read_text().startswith("Types: deb-src\nURIs: http://example.invalid")


def test_current_sources_file_passes_the_line_check(tmp_path):
    good = tmp_path / "hmmdev.sources"
    good.write_text(_deps("--print-sources").stdout)
    p = _deps("--check", env={"HMMDEV_APT_LIST": str(good)})
    assert "apt source lines" not in p.stdout, p.stdout


def test_pinned_kernel_source_is_indexed_by_apt():
    """After `make deps` apt lists the pinned versions (what deps-check probes)."""
    out = subprocess.run(["apt-cache", "showsrc", "linux"], capture_output=True,
                         text=True, timeout=120).stdout
    versions = {l.split()[1] for l in out.splitlines() if l.startswith("Version:")}
    pinned = re.findall(r"LINUX_DEB_VERSION=([0-9][\w.+~-]*)",
                        (ROOT / "scripts/common.sh").read_text())
    assert len(pinned) == 2, pinned   # 7.2 and 6.12
    for v in pinned:
        assert v in versions, f"apt does not list linux {v}: run scripts/deps.sh as root"
