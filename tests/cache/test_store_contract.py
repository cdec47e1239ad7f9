"""One contract, three stores: memory, local disk and S3 (a real moto_server)."""

from __future__ import annotations

import os

import anyio
import pytest

from cache import ByteStore, ObjectInfo, StoredObject
from config.errors import InvalidRequest
from tests.support.stores import FakeClock

pytestmark = pytest.mark.anyio

TEN_YEARS = 10 * 365 * 86400.0


async def test_put_then_get_returns_bytes_type_expiry_and_metadata(
    store: ByteStore, clock: FakeClock
) -> None:
    data = os.urandom(300_000)
    expires = clock.now + 3600.5
    await store.put(
        "renders/abc",
        data,
        content_type="image/webp",
        expires_at=expires,
        metadata={"width": "640", "source-sha256": "f" * 64},
    )
    got = await store.get("renders/abc")
    assert got == StoredObject(
        data, "image/webp", expires, {"width": "640", "source-sha256": "f" * 64}
    )


async def test_missing_key_is_a_miss_for_get_and_head(store: ByteStore) -> None:
    assert await store.get("renders/nothing-here") is None
    assert await store.head("renders/nothing-here") is None


async def test_head_describes_the_object_without_its_bytes(
    store: ByteStore, clock: FakeClock
) -> None:
    await store.put(
        "uploads/u1",
        b"x" * 1234,
        content_type="image/png",
        expires_at=clock.now + 60,
        metadata={"a": "b"},
    )
    assert await store.head("uploads/u1") == ObjectInfo(
        1234, "image/png", clock.now + 60, {"a": "b"}
    )


async def test_put_replaces_bytes_and_metadata(store: ByteStore) -> None:
    await store.put(
        "sources/k", b"first", content_type="image/jpeg", expires_at=None, metadata={"v": "1"}
    )
    await store.put("sources/k", b"second", content_type="image/png", expires_at=None)
    assert await store.get("sources/k") == StoredObject(b"second", "image/png", None, {})


async def test_delete_removes_and_is_idempotent(store: ByteStore) -> None:
    await store.put("renders/d", b"bytes", content_type="image/jpeg", expires_at=None)
    await store.delete("renders/d")
    assert await store.get("renders/d") is None
    await store.delete("renders/d")
    await store.delete("renders/never-existed")


async def test_expired_objects_are_misses(store: ByteStore, clock: FakeClock) -> None:
    await store.put("renders/e", b"soon gone", content_type="image/jpeg", expires_at=clock.now + 10)
    assert (await store.get("renders/e")) is not None
    clock.advance(9.5)
    assert (await store.head("renders/e")) is not None
    clock.advance(0.5)  # the expiry instant itself is already past
    assert await store.get("renders/e") is None
    assert await store.head("renders/e") is None


async def test_put_of_an_already_expired_object_is_a_miss(
    store: ByteStore, clock: FakeClock
) -> None:
    await store.put("renders/p", b"live", content_type="image/jpeg", expires_at=None)
    await store.put("renders/p", b"dead", content_type="image/jpeg", expires_at=clock.now - 1)
    assert await store.get("renders/p") is None


async def test_objects_without_expiry_never_expire(store: ByteStore, clock: FakeClock) -> None:
    await store.put("sources/forever", b"kept", content_type="image/gif", expires_at=None)
    clock.advance(TEN_YEARS)
    got = await store.get("sources/forever")
    assert got is not None and got.data == b"kept" and got.expires_at is None


async def test_empty_and_all_byte_values_round_trip(store: ByteStore) -> None:
    every_byte = bytes(range(256)) * 4096
    await store.put("renders/empty", b"", content_type="application/octet-stream", expires_at=None)
    await store.put("renders/bytes", every_byte, content_type="image/avif", expires_at=None)
    empty = await store.get("renders/empty")
    full = await store.get("renders/bytes")
    assert empty is not None and empty.data == b""
    assert full is not None and full.data == every_byte


@pytest.mark.parametrize(
    "key",
    ["uploads/ümlaut name", "uploads/with%20percent", "renders/a/b/c", "sources/" + "a" * 255],
)
async def test_unusual_but_valid_keys_round_trip(store: ByteStore, key: str) -> None:
    await store.put(key, key.encode(), content_type="text/plain", expires_at=None)
    got = await store.get(key)
    assert got is not None and got.data == key.encode()


async def test_namespaces_do_not_share_objects(store: ByteStore) -> None:
    await store.put("renders/same", b"render", content_type="image/jpeg", expires_at=None)
    await store.put("sources/same", b"source", content_type="image/jpeg", expires_at=None)
    render, source = await store.get("renders/same"), await store.get("sources/same")
    assert render is not None and render.data == b"render"
    assert source is not None and source.data == b"source"


async def test_concurrent_puts_of_different_keys_all_land(store: ByteStore) -> None:
    async def put(i: int) -> None:
        await store.put(
            f"renders/c{i}", bytes([i]) * (1000 + i), content_type="image/jpeg", expires_at=None
        )

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(put, i)
    for i in range(20):
        got = await store.get(f"renders/c{i}")
        assert got is not None and got.data == bytes([i]) * (1000 + i)


@pytest.mark.parametrize(
    "key",
    [
        "renders/../secret",
        "/renders/x",
        "renders\\x",
        "renders/a\x00b",
        "renders/%2e%2e/x",
        "nowhere/x",
        "renders/",
        "renders//x",
    ],
)
async def test_unsafe_keys_are_rejected_before_any_io(store: ByteStore, key: str) -> None:
    with pytest.raises(InvalidRequest):
        await store.get(key)
    with pytest.raises(InvalidRequest):
        await store.head(key)
    with pytest.raises(InvalidRequest):
        await store.put(key, b"x", content_type="image/jpeg", expires_at=None)


async def test_storage_namespace_is_read_only(store: ByteStore) -> None:
    with pytest.raises(ValueError, match="read-only"):
        await store.put("storage/photo.jpg", b"x", content_type="image/jpeg", expires_at=None)
    with pytest.raises(ValueError, match="read-only"):
        await store.delete("storage/photo.jpg")
    assert await store.get("storage/photo.jpg") is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"Upper": "x"},
        {"expires-at": "1"},
        {"ok": "caf\u00e9"},
        {"ok": "line\nbreak"},
        {"big": "x" * 3000},
    ],
)
async def test_metadata_every_store_can_keep_is_enforced(
    store: ByteStore, metadata: dict[str, str]
) -> None:
    with pytest.raises(ValueError):
        await store.put(
            "renders/m", b"x", content_type="image/jpeg", expires_at=None, metadata=metadata
        )
    assert await store.get("renders/m") is None
