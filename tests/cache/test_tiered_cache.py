"""The tiered cache: tier order, write-back, single-flight, faults as misses, durable puts."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from cache import DiskStore, MemoryStore, StoredObject, TieredCache
from cache.store import ObjectInfo
from config.errors import SourceNotFound, StoreUnavailable

pytestmark = pytest.mark.anyio

RENDER = StoredObject(b"rendered bytes" * 100, "image/webp", None, {"w": "10"})


class ScriptedStore:
    """A second tier that counts calls and can be told to fail or hang."""

    def __init__(self) -> None:
        self.inner = MemoryStore(1 << 30)
        self.gets = 0
        self.puts = 0
        self.fail: Exception | None = None
        self.hang = False
        self.put_delay = 0.0

    async def _trouble(self) -> None:
        if self.hang:
            await anyio.sleep_forever()
        if self.fail is not None:
            raise self.fail

    async def get(self, key: str) -> StoredObject | None:
        self.gets += 1
        await self._trouble()
        return await self.inner.get(key)

    async def head(self, key: str) -> ObjectInfo | None:
        await self._trouble()
        return await self.inner.head(key)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        expires_at: float | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.puts += 1
        await anyio.sleep(self.put_delay)
        await self._trouble()
        await self.inner.put(
            key, data, content_type=content_type, expires_at=expires_at, metadata=metadata
        )

    async def delete(self, key: str) -> None:
        await self._trouble()
        await self.inner.delete(key)


@pytest.fixture
def second() -> ScriptedStore:
    return ScriptedStore()


@pytest.fixture
def cache(second: ScriptedStore) -> TieredCache:
    return TieredCache(MemoryStore(1 << 20), second, read_timeout=0.5)


async def test_fifty_concurrent_misses_run_the_loader_once(
    cache: TieredCache, second: ScriptedStore
) -> None:
    calls = 0
    results: list[StoredObject] = []

    async def loader() -> StoredObject:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)  # long enough for all fifty to pile up behind it
        return StoredObject(b"fresh" * 1000, "image/jpeg")

    async def one() -> None:
        results.append(await cache.get_or_load("renders/hot", loader))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert calls == 1
    assert len(results) == 50
    assert all(r.data == b"fresh" * 1000 for r in results)
    assert second.gets == 1  # the second tier was asked once too
    assert cache.counters.loads == 1 and cache.counters.coalesced == 49
    await cache.drain()
    assert second.puts == 1


async def test_a_loaded_object_lands_in_both_tiers(
    cache: TieredCache, second: ScriptedStore
) -> None:
    async def loader() -> StoredObject:
        return RENDER

    assert await cache.get_or_load("renders/k", loader) is RENDER
    assert cache.memory.get_nowait("renders/k") is RENDER
    await cache.drain()
    assert await second.inner.get("renders/k") == RENDER
    assert await cache.get_or_load("renders/k", loader) is RENDER
    assert cache.counters.memory_hits == 1 and cache.counters.loads == 1


async def test_a_second_tier_hit_is_written_back_to_memory(
    cache: TieredCache, second: ScriptedStore
) -> None:
    await second.inner.put("renders/s", b"from s3", content_type="image/png", expires_at=None)
    got = await cache.get("renders/s")
    assert got is not None and got.data == b"from s3"
    assert cache.counters.second_tier_hits == 1
    assert await cache.get("renders/s") is got
    assert cache.counters.memory_hits == 1 and second.gets == 1


async def test_write_back_false_keeps_objects_out_of_memory(
    cache: TieredCache, second: ScriptedStore
) -> None:
    async def loader() -> StoredObject:
        return RENDER

    await cache.get_or_load("sources/" + "a" * 64, loader, write_back=False)
    await second.inner.put("sources/b", b"big original", content_type="image/jpeg", expires_at=None)
    await cache.get("sources/b", write_back=False)
    assert len(cache.memory) == 0
    await cache.drain()
    assert await second.inner.get("sources/" + "a" * 64) == RENDER


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached(cache: TieredCache) -> None:
    calls = 0

    async def failing() -> StoredObject:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.02)
        raise SourceNotFound("gone")

    errors: list[Exception] = []

    async def one() -> None:
        try:
            await cache.get_or_load("renders/bad", failing)
        except SourceNotFound as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert calls == 1 and len(errors) == 10

    async def working() -> StoredObject:
        return RENDER

    assert await cache.get_or_load("renders/bad", working) is RENDER  # the flight was cleared


async def test_a_cancelled_leader_hands_over_to_a_waiter(cache: TieredCache) -> None:
    calls = 0

    async def slow() -> StoredObject:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.1)
        return RENDER

    got: list[StoredObject] = []

    async def follower() -> None:
        got.append(await cache.get_or_load("renders/c", slow))

    async with anyio.create_task_group() as tg:
        with anyio.move_on_after(0.03):  # the leader's client goes away mid-load
            tg.start_soon(follower)
            await cache.get_or_load("renders/c", slow)
    assert got == [RENDER]
    assert calls == 2


@pytest.mark.parametrize("failure", [StoreUnavailable("s3 down"), RuntimeError("a bug")])
async def test_a_second_tier_fault_is_a_miss_a_log_line_and_a_count(
    cache: TieredCache, second: ScriptedStore, failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    second.fail = failure

    async def loader() -> StoredObject:
        return RENDER

    with caplog.at_level(logging.WARNING, logger="imgstax.cache"):
        assert await cache.get("renders/f") is None
        assert await cache.get_or_load("renders/g", loader) is RENDER
        await cache.drain()
    assert cache.counters.faults == 3  # two reads and the write-behind
    assert sum("second tier" in r.getMessage() for r in caplog.records) == 3


async def test_a_hung_second_tier_is_a_miss_after_the_read_timeout(
    cache: TieredCache, second: ScriptedStore
) -> None:
    second.hang = True

    async def loader() -> StoredObject:
        return RENDER

    started = anyio.current_time()
    assert await cache.get_or_load("renders/h", loader) is RENDER
    assert anyio.current_time() - started < 1.0
    assert cache.counters.faults == 1
    second.hang = False
    await cache.drain()


async def test_a_durable_put_raises_when_the_second_tier_fails(
    cache: TieredCache, second: ScriptedStore
) -> None:
    second.fail = StoreUnavailable("disk full")
    with pytest.raises(StoreUnavailable):
        await cache.put("uploads/u1", RENDER, durable=True)
    assert cache.memory.get_nowait("uploads/u1") is None  # nothing unacknowledged is served
    second.fail = RuntimeError("unexpected")
    with pytest.raises(StoreUnavailable):
        await cache.put("uploads/u1", RENDER, durable=True)
    assert cache.counters.faults == 2


async def test_a_durable_put_is_in_the_second_tier_when_it_returns(
    cache: TieredCache, second: ScriptedStore
) -> None:
    second.put_delay = 0.05
    await cache.put("uploads/u2", RENDER, durable=True)
    assert await second.inner.get("uploads/u2") == RENDER
    assert cache.memory.get_nowait("uploads/u2") is RENDER
    assert cache.pending_writes == 0


async def test_a_plain_put_returns_before_the_second_tier_write(
    cache: TieredCache, second: ScriptedStore
) -> None:
    second.put_delay = 0.2
    started = anyio.current_time()
    await cache.put("renders/bg", RENDER)
    assert anyio.current_time() - started < 0.1
    assert cache.memory.get_nowait("renders/bg") is RENDER
    assert cache.pending_writes == 1
    await cache.drain()
    assert await second.inner.get("renders/bg") == RENDER


async def test_write_behinds_of_one_key_land_in_the_order_they_were_made(
    cache: TieredCache, second: ScriptedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render stored for a minute, then extended for a longer-lived asset: the first write,
    slower to land, must not overwrite the second (the asset's render would go early)."""
    delays = iter([0.2, 0.0])
    plain_put = second.put

    async def put(key: str, data: bytes, **options: Any) -> None:
        await anyio.sleep(next(delays))
        await plain_put(key, data, **options)

    monkeypatch.setattr(second, "put", put)
    now = time.time()
    short = StoredObject(RENDER.data, RENDER.content_type, now + 60, {})
    extended = StoredObject(RENDER.data, RENDER.content_type, now + 7200, {})
    await cache.put("renders/ext", short)
    await cache.put("renders/ext", extended)
    await cache.drain()
    stored = await second.inner.get("renders/ext")
    assert stored is not None and stored.expires_at == now + 7200


async def test_write_behinds_are_shed_when_the_second_tier_falls_behind(
    second: ScriptedStore,
) -> None:
    cache = TieredCache(MemoryStore(1 << 20), second, max_pending_writes=2)
    second.put_delay = 0.1
    for i in range(5):
        await cache.put(f"renders/w{i}", RENDER)
    assert cache.counters.dropped_writes == 3
    await cache.drain()
    assert second.puts == 2


async def test_storage_is_read_only_through_the_cache(cache: TieredCache) -> None:
    with pytest.raises(ValueError, match="read-only"):
        await cache.put("storage/photo.jpg", RENDER, durable=True)


async def test_delete_removes_from_both_tiers(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path)
    cache = TieredCache(MemoryStore(1 << 20), disk)
    await cache.put("renders/del", RENDER, durable=True)
    await cache.delete("renders/del")
    assert await cache.get("renders/del") is None
    assert await disk.get("renders/del") is None
