"""The render pool: libvips work off the event loop, bounded, refusing at once when full.

At most ``workers`` renders run (an anyio CapacityLimiter over worker threads) and at most
``queue`` more wait for a thread. Past that a request is refused at once with 503 OVERLOADED and
Retry-After, instead of queueing until every caller times out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from config.errors import Overloaded

T = TypeVar("T")


class RenderPool:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self._limiter = anyio.CapacityLimiter(workers)
        self._admitted = 0

    @property
    def running(self) -> int:
        return int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        return max(0, self._admitted - self.running)

    @property
    def full(self) -> bool:
        return self._admitted >= self.workers + self.queue

    def refuse_if_full(self) -> None:
        """Raise Overloaded now, before a request reads its source, if no render could start."""
        if self.full:
            raise Overloaded("Every render worker is busy; retry in a moment.", retry_after=1)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn in a worker thread, or raise Overloaded if the pool and its queue are full."""
        self.refuse_if_full()
        self._admitted += 1
        try:
            call = functools.partial(fn, *args, **kwargs)
            # Not abandoned on cancel: the thread keeps its slot until libvips is really done.
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        finally:
            self._admitted -= 1
