"""The pinned-source fetcher: cache first, checksums enforced, clear errors."""
import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FETCH = ROOT / "scripts/fetch-source.sh"


def _pin(tmp_path, files: dict[str, bytes]) -> Path:
    """A sums file pinning the given contents of package 'hmmdevfake' 1.0-1."""
    sums = tmp_path / "sums"
    sums.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items()))
    return sums


def _run(tmp_path, sums, cache):
    env = dict(os.environ, HMMDEV_SOURCE_SUMS=str(sums), HMMDEV_SOURCE_CACHE=str(cache))
    return subprocess.run(["bash", str(FETCH), "hmmdevfake", "1.0-1", str(tmp_path / "dest")],
                          capture_output=True, text=True, env=env, timeout=120)


FILES = {"hmmdevfake_1.0-1.dsc": b"dsc", "hmmdevfake_1.0.orig.tar.xz": b"orig"}


def test_cache_hit_copies_verified_files(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for n, d in FILES.items():
        (cache / n).write_bytes(d)
    p = _run(tmp_path, _pin(tmp_path, FILES), cache)
    assert p.returncode == 0, p.stderr
    assert "from HMMDEV_SOURCE_CACHE" in p.stdout
    for n, d in FILES.items():
        assert (tmp_path / "dest" / n).read_bytes() == d


def test_checksum_mismatch_is_fatal_and_named(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for n, d in FILES.items():
        (cache / n).write_bytes(d + b"tampered")
    p = _run(tmp_path, _pin(tmp_path, FILES), cache)
    assert p.returncode != 0
    assert "CHECKSUM MISMATCH" in p.stderr and "hmmdevfake" in p.stderr
    assert "HMMDEV_SOURCE_CACHE" in p.stderr
    assert not (tmp_path / "dest" / "hmmdevfake_1.0-1.dsc").exists()


def test_missing_everywhere_names_package_and_variable(tmp_path):
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    p = _run(tmp_path, _pin(tmp_path, FILES), cache)
    assert p.returncode != 0
    assert "cannot get Debian source package hmmdevfake 1.0-1" in p.stderr
    assert "HMMDEV_SOURCE_CACHE" in p.stderr
