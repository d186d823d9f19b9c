"""The device model's files call downward by memory path (qemu-device/hmmdev.h,
docs/hmmdev-spec.rst "Locking (implementation)"):

    pci -> worker -> queue | fault | engine -> walk -> tlb -> dma -> ats -> lru, devmem

Queue, fault and engine do not call one another (the worker drives them).
The one upward signal is hmmdev_kick() (worker), from queue, fault and ats.
Checked on the objects of the QEMU build the suites run.
"""
import os
from pathlib import Path

import pytest

from tests.lib.layers import upward_uses

RANK = {"pci": 0, "worker": 1, "queue": 2, "fault": 2, "engine": 2, "walk": 3, "tlb": 4,
        "dma": 5, "ats": 6, "devmem": 7, "lru": 7}
UPWARD_SIGNALS = {"hmmdev_kick"}


def part(obj: Path) -> str:
    return obj.name.removeprefix("hw_hmmdev_hmmdev-").removesuffix(".c.o")


def device_objects() -> list[Path]:
    build = os.environ.get("HMMDEV_QEMU_BUILD")
    if not build:
        pytest.skip("HMMDEV_QEMU_BUILD is not set: run with `make test`")
    objs = sorted((Path(build) / "libsystem.a.p").glob("hw_hmmdev_hmmdev-*.c.o"))
    assert objs, f"no hmmdev objects in {build}/libsystem.a.p"
    return objs


def test_every_file_has_a_layer():
    assert sorted(set(map(part, device_objects())) - set(RANK)) == []


def test_calls_go_downward():
    objs = device_objects()
    # upward_uses() ranks bottom up; RANK counts from the top
    assert upward_uses(objs, lambda o: -RANK[part(o)], part,
                       allowed=lambda sym: sym in UPWARD_SIGNALS, same_rank_ok=False) == []
