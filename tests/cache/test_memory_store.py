"""The memory tier: bounded in bytes, per-item expiry, hits without copies."""

from __future__ import annotations

import pytest

from cache import MemoryStore, StoredObject
from tests.support.stores import FakeClock

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def obj(size: int, fill: int = 0, expires_at: float | None = None) -> StoredObject:
    return StoredObject(bytes([fill]) * size, "image/jpeg", expires_at)


def test_never_holds_more_than_its_bound_after_twice_that_much() -> None:
    memory = MemoryStore(4 * MiB)
    sizes = [300_000, 700_000, 123_456, 1_000_000, 64_000] * 4  # 8.7 MB: over twice the bound
    assert sum(sizes) > 2 * memory.max_bytes
    for i, size in enumerate(sizes):
        memory.put_object(f"renders/{i}", obj(size, i))
        assert memory.bytes_used <= memory.max_bytes
        held = [memory.get_nowait(f"renders/{k}") for k in range(len(sizes))]
        assert memory.bytes_used == sum(len(o.data) for o in held if o is not None)
    assert memory.get_nowait(f"renders/{len(sizes) - 1}") is not None  # newest kept
    assert memory.get_nowait("renders/0") is None  # oldest evicted


def test_least_recently_used_is_evicted_first() -> None:
    memory = MemoryStore(3 * MiB)
    for name in "abc":
        memory.put_object(f"renders/{name}", obj(MiB))
    assert memory.get_nowait("renders/a") is not None  # a is now the most recent
    memory.put_object("renders/d", obj(MiB))
    assert memory.get_nowait("renders/b") is None
    assert memory.get_nowait("renders/a") is not None


def test_an_object_larger_than_the_bound_is_not_cached_and_replaces_nothing() -> None:
    memory = MemoryStore(MiB)
    memory.put_object("renders/big", obj(1000))
    memory.put_object("renders/big", obj(MiB + 1, 7))  # cachetools alone would raise
    assert memory.get_nowait("renders/big") is None  # the old value must not linger
    assert memory.bytes_used == 0


def test_a_zero_bound_caches_nothing() -> None:
    memory = MemoryStore(0)
    memory.put_object("renders/x", obj(1))
    assert memory.get_nowait("renders/x") is None


def test_a_hit_is_the_very_object_put_not_a_copy() -> None:
    memory = MemoryStore(MiB)
    stored = obj(10_000, 3)
    memory.put_object("renders/same", stored)
    hit = memory.get_nowait("renders/same")
    assert hit is stored and hit.data is stored.data


def test_per_item_expiry_frees_the_bytes(clock: FakeClock) -> None:
    memory = MemoryStore(2 * MiB, clock=clock)
    memory.put_object("renders/short", obj(MiB, 1, clock.now + 5))
    memory.put_object("renders/long", obj(MiB // 2, 2, clock.now + 500))
    clock.advance(6)
    assert memory.get_nowait("renders/short") is None
    assert memory.get_nowait("renders/long") is not None
    memory.put_object("renders/new", obj(MiB, 3))  # fits only because the expired item left
    assert memory.get_nowait("renders/long") is not None
    assert memory.bytes_used == MiB + MiB // 2


async def test_async_protocol_matches_the_fast_path(clock: FakeClock) -> None:
    memory = MemoryStore(MiB, clock=clock)
    await memory.put("renders/p", b"abc", content_type="image/png", expires_at=None)
    assert await memory.get("renders/p") is memory.get_nowait("renders/p")
    info = await memory.head("renders/p")
    assert info is not None and info.size == 3
    memory.clear()
    assert len(memory) == 0
