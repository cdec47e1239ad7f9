"""The disk store beyond the contract: layout, sweeping, corruption, several processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cache import DiskStore, MemoryStore, StoredObject, SweepResult, TieredCache
from cache.disk import TEMP_DIR
from config.errors import StoreUnavailable
from tests.support.stores import FakeClock

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("disk_writer.py")


def pattern(seed: int, size: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize(
    "key", ["renders/" + "f" * 64, "uploads/x", "storage/a/b/c.jpg", "sources/" + "é" * 100]
)
def test_every_key_maps_to_a_file_two_levels_under_its_namespace(tmp_path: Path, key: str) -> None:
    path = DiskStore(tmp_path).path_for(key)
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert path == tmp_path / key.split("/")[0] / digest[:2] / digest
    assert path.resolve().is_relative_to(tmp_path.resolve())


async def test_an_expired_object_is_removed_when_read(tmp_path: Path, clock: FakeClock) -> None:
    store = DiskStore(tmp_path, clock=clock)
    await store.put("renders/e", b"old", content_type="image/jpeg", expires_at=clock.now + 1)
    path = store.path_for("renders/e")
    assert path.exists()
    clock.advance(2)
    assert await store.get("renders/e") is None
    assert not path.exists()


async def test_sweep_removes_expired_objects_only(tmp_path: Path, clock: FakeClock) -> None:
    store = DiskStore(tmp_path, clock=clock)
    for i in range(5):
        await store.put(
            f"renders/old{i}", b"o", content_type="image/jpeg", expires_at=clock.now + 1
        )
    await store.put("renders/live", b"l", content_type="image/jpeg", expires_at=clock.now + 100)
    await store.put("uploads/forever", b"f", content_type="image/jpeg", expires_at=None)
    foreign = tmp_path / "renders" / "README.txt"
    foreign.write_text("not ours")
    clock.advance(10)

    assert await store.sweep() == SweepResult(expired=5, stale_temps=0)
    assert await store.get("renders/live") is not None
    assert await store.get("uploads/forever") is not None
    assert foreign.exists()  # a sweep never deletes what it cannot read as ours
    assert await store.sweep() == SweepResult(expired=0, stale_temps=0)


async def test_sweep_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert await DiskStore(tmp_path / "absent").sweep() == SweepResult(0, 0)


async def test_a_truncated_object_is_a_fault_and_the_tier_heals_it(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    await store.put("renders/t", b"x" * 1000, content_type="image/jpeg", expires_at=None)
    path = store.path_for("renders/t")
    path.write_bytes(path.read_bytes()[:-10])  # as if the disk lost the tail
    with pytest.raises(StoreUnavailable, match="header says 1000"):
        await store.get("renders/t")

    cache = TieredCache(MemoryStore(1 << 20), store)

    async def reload() -> StoredObject:
        return StoredObject(b"y" * 1000, "image/jpeg")

    assert (await cache.get_or_load("renders/t", reload)).data == b"y" * 1000
    assert cache.counters.faults == 1
    await cache.drain()
    healed = await store.get("renders/t")
    assert healed is not None and healed.data == b"y" * 1000


async def test_a_foreign_file_in_place_of_an_object_is_a_fault(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    path = store.path_for("renders/f")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xd8 a jpeg someone copied here")
    with pytest.raises(StoreUnavailable, match="not an imgstax object"):
        await store.get("renders/f")


async def test_an_unusable_root_is_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "file-not-dir"
    root.write_bytes(b"")
    store = DiskStore(root)
    with pytest.raises(StoreUnavailable):
        await store.put("renders/x", b"x", content_type="image/jpeg", expires_at=None)
    with pytest.raises(StoreUnavailable):
        await store.ping()


async def test_a_put_leaves_no_temp_file_behind(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    await store.start()
    await store.ping()
    await store.put("renders/clean", b"c" * 10_000, content_type="image/jpeg", expires_at=None)
    assert list((tmp_path / TEMP_DIR).iterdir()) == []


async def test_several_processes_writing_one_key_never_show_a_mixture(tmp_path: Path) -> None:
    size, writers = 2 * 1024 * 1024, 4
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    children = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "race", str(tmp_path), str(seed), "15", str(size)],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        for seed in range(1, writers + 1)
    ]
    store = DiskStore(tmp_path)
    seen: set[int] = set()
    try:
        while any(child.poll() is None for child in children):
            got = await store.get("renders/shared")
            if got is not None:
                seed = int(got.metadata["seed"])
                assert got.data == pattern(seed, size)  # whole, and one writer's only
                seen.add(seed)
    finally:
        for child in children:
            child.wait(timeout=30)
    assert all(child.returncode == 0 for child in children)
    assert seen  # the reader did observe the writers at work
    assert list((tmp_path / TEMP_DIR).iterdir()) == []


async def test_a_fresh_object_renamed_in_as_an_expired_one_is_removed_survives(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's put lands between the reader's check of the expired file and its
    removal: the fresh object must survive (a check by name then an unlink by name lost it)."""
    import cache.disk

    store = DiskStore(tmp_path, clock=clock)
    await store.put("sources/s", b"old", content_type="image/jpeg", expires_at=clock.now + 1)
    clock.advance(2)
    fresh = StoredObject(b"fresh", "image/jpeg", clock.now + 100)
    real_stat = os.stat
    landed: list[str] = []

    def stat_then_another_put(path: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if not landed:  # the other writer's rename lands right after this look
            landed.append("fresh")
            store._write(  # noqa: SLF001 (the other process's put, synchronously)
                store.path_for("sources/s"),
                cache.disk._encode_header("sources/s", fresh),  # noqa: SLF001
                fresh.data,
            )
        return result

    monkeypatch.setattr(cache.disk.os, "stat", stat_then_another_put)
    assert await store.get("sources/s") is None  # the expired one is a miss
    monkeypatch.undo()
    assert landed == ["fresh"]
    found = await store.get("sources/s")
    assert found is not None and found.data == b"fresh"
