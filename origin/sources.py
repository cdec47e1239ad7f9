"""Resolving a request's source to bytes, and ingesting them content-addressed.

``source.url`` is fetched through the SSRF guard, ``source.uploadId`` reads an upload of the
same API key, ``source.storageKey`` reads the team's storage/ namespace. The bytes are stored
under ``sources/<sha256>`` so that a later re-render uses the very same bytes even if the URL
changed or went away; the URL is fetched again only if that copy is lost. Only bytes that
rendered are stored: a truncated file or a pixel bomb is refused and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable

import anyio.to_thread

from cache import ReadableStore, StoredObject, TieredCache, source_key, storage_key, upload_key
from config import SourceSettings
from config.errors import InvalidRequest, NotFound, SourceNotFound, StoreUnavailable
from origin.bodies import MAX_TTL, Source
from origin.budget import charge
from origin.fetch import SourceFetcher
from origin.tokens import SourceRef

# Sources outlive the longest asset made from them by a day (see docs/STORAGE.md).
SOURCE_TTL = MAX_TTL + 86_400
REFRESH_AFTER = 86_400
_log = logging.getLogger("imgstax.origin")
KIND = {"url": "url", "uploadId": "upload", "storageKey": "storage"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Larger sources are hashed on a thread: hashlib lets go of the GIL, the event loop runs on.
HASH_OFF_LOOP = 256 * 1024


def oversize(size: int, limit: int) -> InvalidRequest:
    """The reference's own wording for a source over the size limit."""
    return InvalidRequest(
        f"Source image size ({size} bytes) exceeds maximum allowed size ({limit} bytes)"
    )


class Sources:
    def __init__(
        self,
        cache: TieredCache,
        storage: ReadableStore,
        fetcher: SourceFetcher,
        settings: SourceSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._storage = storage
        self._fetcher = fetcher
        self._settings = settings
        self._clock = clock

    async def load(self, source: Source, key_id: str) -> tuple[SourceRef, bytes]:
        """The source's bytes and a reference to them; ``ingest`` keeps them once they render."""
        kind = KIND[source.kind]
        if kind == "upload":
            data, sha = await self._read_upload(source.value, key_id)
        else:
            data = await self._read(kind, source.value, key_id)
            sha = await sha256_hex(data)
        if len(data) > self._settings.max_source_bytes:
            raise oversize(len(data), self._settings.max_source_bytes)
        return SourceRef(kind, source.value, sha), data

    async def ingest(self, ref: SourceRef, data: bytes) -> None:
        """Keep the bytes for as long as any asset made now may need them."""
        sha = ref.sha256
        key = source_key(sha)
        now = self._clock()
        try:
            info = await self._cache.second_tier.head(key)
        except Exception:  # a failing store is tried again by the put below
            info = None
        # Rewritten when older than a day, present or not: a bucket lifecycle rule counts age
        # from the last write, and an asset made now may need these bytes for 30 more days.
        if info is not None and (info.expires_at or 0) > now + SOURCE_TTL - REFRESH_AFTER:
            return
        obj = StoredObject(data, "application/octet-stream", now + SOURCE_TTL)
        try:
            await self._cache.put(key, obj, durable=True, write_back=False)
        except StoreUnavailable as exc:
            # The asset still renders while its original is reachable; say so, don't fail.
            _log.warning("could not ingest source %s: %s", sha[:12], exc.message)

    async def reload(self, ref: SourceRef, key_id: str) -> bytes:
        """The ingested bytes of ref, fetched again only if the source store lost them."""
        stored = await self._cache.get(source_key(ref.sha256), write_back=False)
        if stored is not None:
            charge(len(stored.data))
            return stored.data
        try:
            data = await self._read(ref.kind, ref.ref, key_id)
        except SourceNotFound as exc:
            raise NotFound("The asset's source is no longer available.") from exc
        if await sha256_hex(data) != ref.sha256:
            raise NotFound("The asset's source has changed since the asset was made.")
        return data

    async def _read_upload(self, upload_id: str, key_id: str) -> tuple[bytes, str]:
        """An upload's bytes and their SHA-256, which was taken when it was accepted."""
        # Strict: with the store down the upload is unavailable (503), not missing (400).
        # Kept in the memory tier when small beside it: an upload is usually rendered in
        # several sizes in a row, and each read from the second tier costs a copy.
        key = upload_key(upload_id)
        upload = await self._cache.get(key, write_back=False, strict=True)
        if upload is None or upload.metadata.get("keyid") != key_id:
            raise SourceNotFound(f"No upload {upload_id!r} for this API key (or it expired).")
        charge(len(upload.data))
        if len(upload.data) <= self._cache.memory.max_bytes // 16:
            self._cache.memory.put_object(key, upload)
        sha = upload.metadata.get("sha256", "")
        if not _HEX64.fullmatch(sha):  # an upload stored without it: hash now
            sha = await sha256_hex(upload.data)
        return upload.data, sha

    async def _read(self, kind: str, value: str, key_id: str) -> bytes:
        if kind == "url":
            return (await self._fetcher.fetch(value)).data
        if kind == "upload":
            return (await self._read_upload(value, key_id))[0]
        key = storage_key(value)
        info = await self._storage.head(key)
        if info is None:
            raise SourceNotFound(f"No object {value!r} in storage.")
        if info.size > self._settings.max_source_bytes:
            raise oversize(info.size, self._settings.max_source_bytes)
        # Charged before the read, as a download is charged as it streams in (fetch.py): an
        # origin at its budget refuses without reading the object at all.
        charge(info.size)
        stored = await self._storage.get(key)
        if stored is None:
            raise SourceNotFound(f"No object {value!r} in storage.")
        charge(max(0, len(stored.data) - info.size))  # replaced by a larger one in between
        return stored.data


async def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of data, on a thread when large."""
    if len(data) < HASH_OFF_LOOP:
        return hashlib.sha256(data).hexdigest()
    return await anyio.to_thread.run_sync(lambda: hashlib.sha256(data).hexdigest())
