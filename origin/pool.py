"""The render pool: libvips work off the event loop, bounded, refusing at once when full.

At most ``workers`` renders run, on threads of their own, and at most ``queue`` more wait for
one. Past that a request is refused at once with 503 OVERLOADED and Retry-After, instead of
queueing until every caller times out. A render that runs past ``timeout`` seconds is
stopped between two tiles and answered 503 (``transforms.deadline``).

The render threads run at a lower CPU priority (nice +``RENDER_NICE``), and the libvips
threads they start inherit it: when renders fill every core, the event loop still answers
503s, health checks and cache hits within milliseconds (bench W6). They are threads of their
own, not anyio's shared worker threads, so that the disk store's reads keep normal priority.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

from config.errors import Overloaded
from transforms import time_limit

T = TypeVar("T")

RENDER_NICE = 10

log = logging.getLogger("imgstax.pool")


def _lower_priority() -> None:
    """Nice this thread (Linux keeps a nice value per thread); a no-op where that fails."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICE)
    except (OSError, AttributeError) as exc:
        log.debug("render threads keep normal priority: %s", exc)


class RenderPool:
    def __init__(self, workers: int, queue: int, timeout: float | None = None) -> None:
        self.workers = workers
        self.queue = queue
        self.timeout = timeout
        self._admitted = 0
        self._running = 0
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._aside: ThreadPoolExecutor | None = None

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return max(0, self._admitted - self._running)

    @property
    def full(self) -> bool:
        return self._admitted >= self.workers + self.queue

    def refuse_if_full(self) -> None:
        """Raise Overloaded now, before a request reads its source, if no render could start."""
        if self.full:
            raise Overloaded("Every render worker is busy; retry in a moment.", retry_after=1)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn on a render thread, or raise Overloaded if the pool and its queue are full."""
        self.refuse_if_full()
        self._admitted += 1
        try:
            future = self._threads().submit(self._counted, functools.partial(fn, *args, **kwargs))
            try:
                return await asyncio.wrap_future(future)
            except BaseException:
                if future.cancelled() or (future.done() and future.exception() is not None):
                    raise  # dropped while queued (wrap_future cancels it), or it failed
                # Cancelled while rendering: the render keeps its slot until it ends (or its
                # time limit stops it), and its result is returned (and cached) as anyio's
                # to_thread does; the cancellation reaches the caller at its next checkpoint.
                with anyio.CancelScope(shield=True):
                    await _finished(future)
                return future.result()
        finally:
            self._admitted -= 1

    async def run_aside(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn on a thread of its own beside the pool, never refused (the readiness check).

        At the render threads' priority all the same: libvips keeps one pool of worker threads
        for the whole process, each taking the nice value of the thread that started it, and
        later renders run on them. A readiness render on a normal-priority thread left workers
        at nice 0 doing the renders' pixel work until they had idled for 20 s.
        """
        if self._aside is None:
            self._aside = ThreadPoolExecutor(
                1, thread_name_prefix="imgstax-check", initializer=_lower_priority
            )
        return await asyncio.wrap_future(self._aside.submit(self._limited, fn, *args))

    def close(self) -> None:
        """Stop the threads once their renders end; a later run() starts new ones."""
        for executor in (self._executor, self._aside):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._aside = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.workers, thread_name_prefix="imgstax-render", initializer=_lower_priority
            )
        return self._executor

    def _counted(self, call: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        try:
            return self._limited(call)
        finally:
            with self._lock:
                self._running -= 1

    def _limited(self, fn: Callable[..., T], *args: Any) -> T:
        with time_limit(self.timeout):
            return fn(*args)


async def _finished(future: Future[Any]) -> None:
    await asyncio.wait([asyncio.wrap_future(future)])
