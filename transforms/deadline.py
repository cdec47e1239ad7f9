"""A time limit on the libvips work of one render, enforced by stopping the pipeline.

libvips evaluates an image tile by tile and, before each tile, looks at the image's ``kill``
flag. A render runs under ``time_limit(seconds)``: every evaluation it starts (an encode, a
copy to memory, a smart crop, a decode check) registers the image it evaluates, and when the
time is up one watchdog thread sets ``kill`` on those images. The render's thread then gets a
libvips error within a tile's time, which ``vips.translated`` turns into ``RenderTimeout``, and
any evaluation it would start afterwards is refused at once.

What is not stopped is work inside a single codec call that does not go back to libvips
between tiles: libaom encodes an Avif in one call, once libvips has gathered its pixels.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config.errors import RenderTimeout


class TimeLimit:
    """The time one render may take, and the images it is evaluating now."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.finished = False
        self._evaluating: list[Any] = []
        self._lock = threading.Lock()

    def error(self) -> RenderTimeout:
        return RenderTimeout(
            f"The render took longer than the {self.seconds:g} s allowed and was stopped. Ask "
            "for a smaller output, fewer effects or compressionPriority Speed.",
            # As long again: the same render on a machine as busy would be stopped again.
            retry_after=max(1, round(self.seconds)),
        )

    def enter(self, image: Any) -> None:
        with self._lock:
            if self.expired:
                raise self.error()
            self._evaluating.append(image)

    def leave(self, image: Any) -> None:
        with self._lock:
            self._evaluating.remove(image)

    def expire(self) -> None:
        """Stop the render: called by the watchdog once the time is up."""
        with self._lock:
            if self.finished:
                return
            self.expired = True
            for image in self._evaluating:
                image.set_kill(True)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._evaluating.clear()


class _Watchdog:
    """One thread that expires time limits as they fall due."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, TimeLimit]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, limit: TimeLimit) -> None:
        with self._wake:
            heapq.heappush(self._due, (limit.ends, next(self._order), limit))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="imgstax-render-watchdog", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is limit:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._due and self._due[0][2].finished:
                        heapq.heappop(self._due)
                    if not self._due:
                        self._wake.wait()
                        continue
                    delay = self._due[0][0] - time.monotonic()
                    if delay <= 0:
                        break
                    self._wake.wait(delay)
                _, _, limit = heapq.heappop(self._due)
            limit.expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Limit the libvips work this thread does inside the block to seconds (None: no limit)."""
    if seconds is None:
        yield
        return
    limit = TimeLimit(seconds)
    outer = getattr(_current, "limit", None)
    _current.limit = limit
    _watchdog.watch(limit)
    try:
        yield
    finally:
        limit.finish()
        _current.limit = outer


def current() -> TimeLimit | None:
    limit: TimeLimit | None = getattr(_current, "limit", None)
    return limit


@contextmanager
def evaluating(image: Any) -> Iterator[None]:
    """Mark image as being computed by this thread, so that the time limit can stop it."""
    limit = current()
    if limit is None:
        yield
        return
    limit.enter(image)
    try:
        yield
    finally:
        limit.leave(image)
