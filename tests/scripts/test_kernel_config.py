"""The guest kernel config: every symbol the fragments ask for must survive.

These run only the configure step of scripts/build-kernel.sh (--config-only,
~10 s each) against the unpacked tree of the kernel under test (KERNEL=7.2 or
6.12, as `make test` exports it) in the build cache.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _config_only(root: Path, out: Path, flavour: str):
    env = dict(os.environ, KERNEL_FLAVOUR=flavour)
    return subprocess.run(["bash", str(root / "scripts/build-kernel.sh"), "--config-only", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)


def _symbols(config: Path) -> dict[str, str]:
    out = {}
    for line in config.read_text().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


@pytest.mark.parametrize("flavour,expect", [
    ("release", {"CONFIG_DEVICE_PRIVATE": "y", "CONFIG_TEST_HMM": "m", "CONFIG_HMM_MIRROR": "y",
                 "CONFIG_TRANSPARENT_HUGEPAGE_MADVISE": "y", "CONFIG_PCI_ATS": "y"}),
    ("debug", {"CONFIG_PROVE_LOCKING": "y", "CONFIG_KASAN": "y", "CONFIG_DEBUG_KMEMLEAK": "y",
               "CONFIG_DEBUG_VM": "y", "CONFIG_DEVICE_PRIVATE": "y"}),
])
def test_flavour_config_has_every_requested_symbol(tmp_path, flavour, expect):
    p = _config_only(ROOT, tmp_path, flavour)
    assert p.returncode == 0, p.stderr
    syms = _symbols(tmp_path / ".config")
    for k, v in expect.items():
        assert syms.get(k) == v, f"{k}={syms.get(k)}"


def test_dropped_symbols_are_listed(tmp_path):
    # ZONE_DEVICE needs MEMORY_HOTREMOVE: without it merge_config drops it silently.
    root = tmp_path / "repo"
    for d in ("scripts", "images"):
        shutil.copytree(ROOT / d, root / d)
    frag = root / "images/kernel.config"
    text = frag.read_text().replace("CONFIG_MEMORY_HOTREMOVE=y", "# CONFIG_MEMORY_HOTREMOVE is not set")
    frag.write_text(text + "CONFIG_HMMDEV_NO_SUCH_SYMBOL=y\n")
    p = _config_only(root, tmp_path / "out", "release")
    assert p.returncode != 0
    assert "did not survive merge_config" in p.stderr
    assert "CONFIG_ZONE_DEVICE: wanted y, got n" in p.stderr
    assert "CONFIG_HMMDEV_NO_SUCH_SYMBOL: wanted y, got n" in p.stderr


@pytest.mark.parametrize("cmd", [
    ["bash", "scripts/build-kernel.sh", "--print-dir"],
    ["make", "-s", "help"],
])
def test_unknown_kernel_is_one_clear_line(cmd):
    # not the variables of the `make test` we may run under (KERNEL=7.2 there)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["KERNEL"] = "5.4"
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0
    assert "KERNEL=5.4: expected KERNEL=7.2 (the default) or KERNEL=6.12" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
