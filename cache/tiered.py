"""The tiered cache: memory first, then the second tier (S3 or disk), then the loader.

A second-tier hit is written back to memory; a loaded object goes to memory at once and to the
second tier behind the response. Concurrent misses of one key share a single lookup and a
single loader call. A second-tier failure on the read path is a miss, a log line and a count,
never an exception; only a ``durable`` put and a ``strict`` get (uploads) report it, as
``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from cache.keys import require_writable, validate_key
from cache.memory import MemoryStore
from cache.store import ByteStore, StoredObject
from config.errors import StoreUnavailable

Loader = Callable[[], Awaitable[StoredObject]]
_log = logging.getLogger("imgstax.cache")


@dataclass
class CacheCounters:
    """Plain counts the origin exports as metrics; cache/ itself knows no metrics library."""

    memory_hits: int = 0
    second_tier_hits: int = 0
    misses: int = 0  # both tiers missed
    loads: int = 0  # loader calls
    coalesced: int = 0  # callers that waited for another caller's lookup of the same key
    faults: int = 0  # second-tier reads or writes that failed or timed out
    dropped_writes: int = 0  # write-behinds skipped because too many were already pending


class _Flight:
    """One lookup in progress; the callers that arrive meanwhile wait for its outcome."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: StoredObject | None = None
        self.error: Exception | None = None


class TieredCache:
    """Memory, then a second-tier ``ByteStore``, with single-flight loading per key."""

    def __init__(
        self,
        memory: MemoryStore,
        second_tier: ByteStore,
        *,
        read_timeout: float = 5.0,
        max_pending_writes: int = 64,
        logger: logging.Logger = _log,
    ) -> None:
        self.memory = memory
        self.second_tier = second_tier
        self.counters = CacheCounters()
        self._read_timeout = read_timeout
        self._max_pending_writes = max_pending_writes
        self._log = logger
        self._flights: dict[str, _Flight] = {}
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._pending: set[asyncio.Task[None]] = set()
        # The last write-behind of each key: the next one for that key waits for it.
        self._last_write: dict[str, asyncio.Task[None]] = {}

    @property
    def pending_writes(self) -> int:
        """Second-tier writes scheduled and not yet finished."""
        return len(self._pending)

    async def get(
        self, key: str, *, write_back: bool = True, strict: bool = False
    ) -> StoredObject | None:
        """The object from memory or the second tier, or None.

        A store fault is a miss (logged and counted), unless ``strict``: then it raises
        ``StoreUnavailable``, for objects nothing can load again (uploads), whose absence
        would otherwise be reported as a fact.
        """
        validate_key(key)
        hit = self.memory_hit(key)
        if hit is not None:
            return hit
        obj = await self._second_tier_get(key, strict=strict)
        if obj is None:
            self.counters.misses += 1
            return None
        self.counters.second_tier_hits += 1
        if write_back:
            self.memory.put_object(key, obj)
        return obj

    def memory_hit(self, key: str) -> StoredObject | None:
        """The object if the memory tier holds it (counted as a memory hit), else None.

        Awaits nothing and counts no miss: on None the caller goes the long way (``get``,
        ``get_or_load``), which counts what it finds. ``key`` must be valid (``cache.keys``).
        """
        hit = self.memory.get_nowait(key)
        if hit is not None:
            self.counters.memory_hits += 1
        return hit

    async def get_or_load(
        self, key: str, loader: Loader, *, write_back: bool = True
    ) -> StoredObject:
        """The cached object, or the loader's result (stored in both tiers); one load per key.

        ``write_back=False`` keeps the object out of the memory tier (large originals).
        """
        validate_key(key)
        hit = self.memory_hit(key)
        if hit is not None:
            return hit
        while (flight := self._flights.get(key)) is not None:
            self.counters.coalesced += 1
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.result is not None:
                return flight.result
            # The leader was cancelled before finishing: try again, maybe as the leader.
        flight = self._flights[key] = _Flight()
        try:
            flight.result = await self._lookup_or_load(key, loader, write_back)
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()

    async def put(
        self, key: str, obj: StoredObject, *, durable: bool = False, write_back: bool = True
    ) -> None:
        """Store in both tiers; ``durable`` awaits the second tier and raises StoreUnavailable.

        Without ``durable`` the second-tier write runs behind the caller and a failure is only
        logged and counted.
        """
        require_writable(key)
        if not durable:
            if write_back:
                self.memory.put_object(key, obj)
            self._write_behind(key, obj)
            return
        try:
            await self._second_tier_put(key, obj)
        except Exception as exc:
            self._fault("put", key, exc)
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(f"could not store {key}: {exc}") from exc
        # Only after the durable write: memory must never serve what was not acknowledged.
        if write_back:
            self.memory.put_object(key, obj)

    async def delete(self, key: str) -> None:
        """Remove from both tiers; a second-tier failure raises StoreUnavailable."""
        require_writable(key)
        await self.memory.delete(key)
        await self.second_tier.delete(key)

    async def drain(self) -> None:
        """Wait for every write-behind (shutdown, tests)."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def _lookup_or_load(self, key: str, loader: Loader, write_back: bool) -> StoredObject:
        obj = await self._second_tier_get(key)
        if obj is not None:
            self.counters.second_tier_hits += 1
            if write_back:
                self.memory.put_object(key, obj)
            return obj
        self.counters.misses += 1
        self.counters.loads += 1
        obj = await loader()
        if write_back:
            self.memory.put_object(key, obj)
        self._write_behind(key, obj)
        return obj

    async def _second_tier_get(self, key: str, *, strict: bool = False) -> StoredObject | None:
        try:
            with anyio.fail_after(self._read_timeout):
                return await self.second_tier.get(key)
        except Exception as exc:
            self._fault("get", key, exc)
            if not strict:
                return None
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(f"could not read {key}: {exc or type(exc).__name__}") from exc

    async def _second_tier_put(self, key: str, obj: StoredObject) -> None:
        await self.second_tier.put(
            key,
            obj.data,
            content_type=obj.content_type,
            expires_at=obj.expires_at,
            metadata=obj.metadata,
        )

    def _write_behind(self, key: str, obj: StoredObject) -> None:
        if len(self._pending) >= self._max_pending_writes:
            # The second tier is slower than our writes: shed them rather than hold every
            # body in memory. The object can be loaded again.
            self.counters.dropped_writes += 1
            self._log.warning("second tier is behind: not storing %s", key)
            return
        # asyncio, not an anyio task group: write-behinds outlive the request that started them.
        # Writes of one key land in the order they were made: a render stored with a short
        # lifetime and then extended for a longer-lived asset must not end up short.
        before = self._last_write.get(key)
        task = asyncio.get_running_loop().create_task(self._write_quietly(key, obj, before))
        self._pending.add(task)
        self._last_write[key] = task
        task.add_done_callback(lambda done: self._write_done(key, done))

    def _write_done(self, key: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last_write.get(key) is task:
            del self._last_write[key]

    async def _write_quietly(
        self, key: str, obj: StoredObject, before: asyncio.Task[None] | None
    ) -> None:
        if before is not None:
            await asyncio.wait({before})  # its failure is its own, logged there
        try:
            await self._second_tier_put(key, obj)
        except Exception as exc:
            self._fault("put", key, exc)

    def _fault(self, action: str, key: str, exc: Exception) -> None:
        self.counters.faults += 1
        # A StoreUnavailable names the store and the cause, and a timeout is our own deadline;
        # anything else is a bug in a store and worth its traceback.
        expected = isinstance(exc, StoreUnavailable | TimeoutError)
        self._log.warning(
            "second tier %s %s failed: %s",
            action,
            key,
            str(exc) or type(exc).__name__,
            exc_info=None if expected else exc,
        )
