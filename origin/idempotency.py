"""output.idempotencyKey: a retried POST gets its first answer, for 24 hours or until the
asset in it expires, whichever comes first (a replay must not hand out a dead url).

Replies are kept in the tiered cache under ``idempotency/``, keyed by the API key id and the
idempotency key, so any origin process sharing the second tier replays a stored answer. The
same key with a different body is a conflict (409).

Copies of one request that arrive together are processed once per process (a lock per key);
two that reach different processes before either has stored its answer are both processed,
and the answer stored last is the one replayed afterwards. The second tiers offer no
create-if-absent write here to order them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from cache import StoredObject, TieredCache, idempotency_key
from config.errors import IdempotencyConflict, StoreUnavailable

KEEP_SECONDS = 86_400


def body_digest(path: str, body: Any) -> str:
    """What identifies a request's meaning: the endpoint and its JSON, key order ignored."""
    text = json.dumps([path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Idempotency:
    def __init__(self, cache: TieredCache, *, clock: Callable[[], float] = time.time) -> None:
        self._cache = cache
        self._clock = clock
        # One lock per key in use, with the number of requests holding or awaiting it.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def once(
        self,
        key_id: str,
        idempotency: str,
        request: str,
        produce: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """produce()'s answer, or the answer stored for this key by an earlier request."""
        digest = hashlib.sha256(f"{key_id}\n{idempotency}".encode()).hexdigest()
        lock, users = self._locks.get(digest, (asyncio.Lock(), 0))
        self._locks[digest] = (lock, users + 1)
        try:
            async with lock:
                return await self._once(digest, idempotency, request, produce)
        finally:
            lock, users = self._locks[digest]
            if users == 1:
                del self._locks[digest]
            else:
                self._locks[digest] = (lock, users - 1)

    async def _once(
        self,
        digest: str,
        idempotency: str,
        request: str,
        produce: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        key = idempotency_key(digest)
        stored = await self._cache.get(key)
        record = json.loads(stored.data) if stored is not None else None
        if record is not None and _asset_expiry(record["response"]) > self._clock():
            if record["request"] != request:
                raise IdempotencyConflict(
                    f"Idempotency key {idempotency!r} was used with a different request in the "
                    "last 24 hours; use a new key for a new request."
                )
            answer: dict[str, Any] = record["response"]
            return answer
        answer = await produce()
        record_bytes = json.dumps({"request": request, "response": answer}).encode()
        keep_until = min(self._clock() + KEEP_SECONDS, _asset_expiry(answer))
        kept = StoredObject(record_bytes, "application/json", keep_until)
        try:
            # Durable, so that a retry reaching another process finds it.
            await self._cache.put(key, kept, durable=True)
        except StoreUnavailable:
            # The answer stands; only this process will remember it.
            await self._cache.memory.put(
                key, kept.data, content_type=kept.content_type, expires_at=kept.expires_at
            )
        return answer


def _asset_expiry(answer: dict[str, Any]) -> float:
    """When the asset in a stored answer expires (unix seconds)."""
    try:
        return datetime.fromisoformat(str(answer["expiresAt"])).timestamp()
    except (KeyError, ValueError):
        return float("inf")
