"""The memory tier: a per-process cache bounded in bytes, with per-item expiry."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from cachetools import TLRUCache

from cache.keys import require_writable, validate_key
from cache.store import Clock, ObjectInfo, StoredObject, check_content_type, check_metadata

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def _size(obj: StoredObject) -> int:
    # Only the body counts against the bound: metadata is small and bounded by check_metadata.
    return len(obj.data)


def _expiry(_key: str, obj: StoredObject, _now: float) -> float:
    return math.inf if obj.expires_at is None else obj.expires_at


class MemoryStore:
    """Objects held in this process, least recently used evicted past ``max_bytes``.

    A hit returns the very object that was put: no copy, no parsing. It lives on the event loop
    thread only (no locks), and it is never the only copy of anything that matters. The
    ``ByteStore`` methods validate keys; ``get_nowait``/``put_object`` are the tier's fast path
    and trust their caller to have done so.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, *, clock: Clock = time.time) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._clock = clock
        # The timer is the wall clock (not monotonic) because expiries are unix seconds.
        self._cache: TLRUCache[str, StoredObject] = TLRUCache(
            maxsize=max_bytes, ttu=_expiry, timer=clock, getsizeof=_size
        )

    @property
    def max_bytes(self) -> int:
        """The bound, in bytes of object bodies."""
        return int(self._cache.maxsize)

    @property
    def bytes_used(self) -> int:
        """Bytes of object bodies held now."""
        return int(self._cache.currsize)

    def __len__(self) -> int:
        return len(self._cache)

    def get_nowait(self, key: str) -> StoredObject | None:
        """The object under ``key`` or None, without awaiting anything."""
        return self._cache.get(key)

    def put_object(self, key: str, obj: StoredObject) -> None:
        """Keep ``obj`` under ``key`` unless it is expired or larger than the whole bound."""
        if obj.expired(self._clock()) or _size(obj) > self._cache.maxsize:
            # cachetools raises ValueError for an item over maxsize; such an item is simply
            # not cached, and an older value under the key must not outlive the new put.
            self._cache.pop(key, None)
            return
        self._cache[key] = obj

    async def get(self, key: str) -> StoredObject | None:
        """The object under ``key``, or None."""
        return self._cache.get(validate_key(key))

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None."""
        obj = self._cache.get(validate_key(key))
        return None if obj is None else obj.info()

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        expires_at: float | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Keep ``data`` under ``key`` (skipped when larger than the bound)."""
        require_writable(key)
        obj = StoredObject(
            data, check_content_type(content_type), expires_at, check_metadata(metadata)
        )
        self.put_object(key, obj)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._cache.pop(require_writable(key), None)

    def clear(self) -> None:
        """Forget everything."""
        self._cache.clear()
