"""Faults against a real S3 protocol endpoint: stopped, and stalled behind a TCP proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiobotocore.session import AioSession

from cache import MemoryStore, StoredObject, TieredCache
from config.errors import StoreUnavailable
from tests.support.moto import MotoServer, start_moto_server
from tests.support.stores import FAST_TIMEOUTS, open_s3_store
from tests.support.tcp_proxy import StallingProxy

pytestmark = pytest.mark.anyio

FRESH = StoredObject(b"freshly rendered" * 64, "image/jpeg")
# connect/read timeouts of 0.5 s, two attempts, an overall deadline of 1.5 s per operation:
# whatever goes wrong, a caller waits about that long for the second tier, then is served.
BOUND = FAST_TIMEOUTS["operation_timeout"] + 1.0


async def load_fresh() -> StoredObject:
    return FRESH


@pytest.fixture
def private_moto(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto_server of this test's own, so that stopping it leaves the others alone."""
    server = start_moto_server(tmp_path / "moto.log")
    try:
        yield server
    finally:
        server.stop()


async def test_stopped_endpoint_is_a_miss_and_a_fault_within_a_bound(
    private_moto: MotoServer, aws_session: AioSession
) -> None:
    async with open_s3_store(private_moto.endpoint_url, aws_session) as s3:
        await s3.put("renders/k", b"stored", content_type="image/jpeg", expires_at=None)
        cache = TieredCache(MemoryStore(1 << 20), s3)
        private_moto.stop()

        started = time.monotonic()
        got = await cache.get_or_load("renders/k", load_fresh)
        elapsed = time.monotonic() - started
        assert got is FRESH
        assert elapsed < BOUND
        assert cache.counters.faults == 1 and cache.counters.loads == 1

        started = time.monotonic()
        await cache.drain()  # the write-behind fails too, quietly
        assert time.monotonic() - started < BOUND
        assert cache.counters.faults == 2

        with pytest.raises(StoreUnavailable):
            await cache.put("uploads/u", FRESH, durable=True)  # an upload is not acknowledged
        assert cache.memory.get_nowait("uploads/u") is None


async def test_stalled_endpoint_is_a_miss_and_a_fault_within_a_bound(
    moto: MotoServer, aws_session: AioSession
) -> None:
    with StallingProxy("127.0.0.1", moto.port) as proxy:
        async with open_s3_store(proxy.url, aws_session) as s3:
            await s3.put("renders/k", b"stored", content_type="image/jpeg", expires_at=None)
            cache = TieredCache(MemoryStore(1 << 20), s3)
            warm = await cache.get("renders/k")  # through the proxy while it still forwards
            assert warm is not None and warm.data == b"stored"
            cache.memory.clear()
            proxy.stall()

            started = time.monotonic()
            got = await cache.get_or_load("renders/k", load_fresh)
            elapsed = time.monotonic() - started
            assert got is FRESH
            assert elapsed < BOUND
            assert cache.counters.faults == 1

            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await cache.put("uploads/u", FRESH, durable=True)
            assert time.monotonic() - started < BOUND
            await cache.drain()
            assert cache.counters.faults == 3


async def test_missing_bucket_is_unavailable_not_a_miss(
    moto: MotoServer, aws_session: AioSession
) -> None:
    async with open_s3_store(moto.endpoint_url, aws_session, create_bucket=False) as s3:
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            await s3.get("renders/k")
        with pytest.raises(StoreUnavailable):
            await s3.ping()
        cache = TieredCache(MemoryStore(1 << 20), s3)
        assert await cache.get_or_load("renders/k", load_fresh) is FRESH
        await cache.drain()
        assert cache.counters.faults == 2
