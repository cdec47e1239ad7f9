"""Durability of the disk store: an acknowledged put survives SIGKILL; a torn one is invisible."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache import DiskStore, SweepResult
from cache.disk import TEMP_DIR

pytestmark = pytest.mark.anyio

WRITER = Path(__file__).with_name("disk_writer.py")
REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
ACKED_SIZE = 24 * MiB
INFLIGHT_SIZE = 64 * MiB


def pattern(seed: int, size: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def partial_temp_file(root: Path) -> bool:
    temp_dir = root / TEMP_DIR
    return temp_dir.is_dir() and any(p.stat().st_size > 0 for p in temp_dir.iterdir())


def run_writer_and_kill(root: Path, *, mid_write: bool) -> None:
    """Start the writer, SIGKILL it on "acked" (or once a later put is half on disk)."""
    child = subprocess.Popen(
        [sys.executable, str(WRITER), "kill", str(root), str(ACKED_SIZE), str(INFLIGHT_SIZE)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        # The child imports `cache` from this checkout, installed or not.
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        deadline = time.monotonic() + 20
        while mid_write and not partial_temp_file(root) and time.monotonic() < deadline:
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        assert line == b"acked\n"
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


async def test_an_acknowledged_put_survives_sigkill(tmp_path: Path) -> None:
    root = tmp_path / "store"
    run_writer_and_kill(root, mid_write=False)
    acked = await DiskStore(root).get("uploads/acked")
    assert acked is not None
    assert len(acked.data) == ACKED_SIZE and acked.data == pattern(0, ACKED_SIZE)


async def test_a_put_killed_mid_write_leaves_nothing_half_written_visible(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    run_writer_and_kill(root, mid_write=True)
    store = DiskStore(root)
    leftovers = list((root / TEMP_DIR).iterdir())
    assert leftovers, "the kill should have interrupted a put"

    # Either no version of the interrupted object is visible, or one whole earlier version.
    inflight = await store.get("uploads/in-flight")
    if inflight is not None:
        seed = int(inflight.metadata["seed"])
        assert inflight.data == pattern(seed, INFLIGHT_SIZE)
    acked = await store.get("uploads/acked")
    assert acked is not None and acked.data == pattern(0, ACKED_SIZE)

    # The torn bytes live only in the temp directory, and a sweep clears them once stale.
    assert await store.sweep() == SweepResult(expired=0, stale_temps=0)
    result = await DiskStore(root, stale_temp_after=-1).sweep()
    assert result.stale_temps == len(leftovers)
    assert list((root / TEMP_DIR).iterdir()) == []


async def test_a_leftover_temp_file_is_never_an_object_and_is_swept_once_stale(
    tmp_path: Path,
) -> None:
    store = DiskStore(tmp_path, stale_temp_after=600)
    await store.put("renders/whole", b"whole object", content_type="image/png", expires_at=None)
    # A writer that died after writing half of its temp file for the very same key.
    header_and_half = store.path_for("renders/whole").read_bytes()[:20]
    temp = tmp_path / TEMP_DIR / f"{os.getpid() + 1}.abc.part"
    temp.write_bytes(header_and_half)
    fresh_temp = tmp_path / TEMP_DIR / "99.fresh.part"
    fresh_temp.write_bytes(b"a put in progress")
    old = time.time() - 3600
    os.utime(temp, (old, old))

    got = await store.get("renders/whole")
    assert got is not None and got.data == b"whole object"
    assert await store.get("renders/half") is None

    result = await store.sweep()
    assert result.stale_temps == 1
    assert not temp.exists()
    assert fresh_temp.exists()  # a put in flight in another worker is left alone
