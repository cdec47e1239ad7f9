"""Per-key, per-process rate limiting with honest X-RateLimit-* headers.

A fixed window per key: the first request of a key opens a 60-second window that allows
``per_minute`` requests; the window closes 60 s later and the next request opens a new one. So
``X-RateLimit-Remaining`` is exactly what is left and ``X-RateLimit-Reset`` is exactly when it
returns to the limit. Windows start at each key's own first request rather than on the minute,
so keys don't all refill at the same instant. The price of a fixed window is that a key may send
up to twice the limit across a window boundary; for a per-process guard that is acceptable.

Windows live in a TTLCache whose entries expire when their window ends, so an idle key is
forgotten after at most a minute; ``max_keys`` bounds memory even under a flood of ids (only
authenticated ids reach here, so the bound is rarely near).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from config.errors import RateLimited

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RateState:
    """What the X-RateLimit-* headers say: limit, remaining, reset in unix seconds."""

    limit: int
    remaining: int
    reset: int


class RateLimitExceeded(RateLimited):
    """RateLimited that also carries the state, so the 429 can show the same headers."""

    def __init__(self, message: str, retry_after: int, state: RateState) -> None:
        super().__init__(message, retry_after)
        self.state = state


@dataclass
class _Window:
    ends: float
    count: int


class RateLimiter:
    """Allows ``per_minute`` requests per key id in each key's 60-second window."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_keys: int = 100_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._clock = clock
        self._wall_clock = wall_clock
        self._windows: TTLCache[str, _Window] = TTLCache(
            maxsize=max_keys, ttl=WINDOW_SECONDS, timer=clock
        )
        # Called from the event loop, but a lock keeps it right from worker threads too.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._windows.expire()
            return len(self._windows)

    def hit(self, key_id: str) -> RateState:
        """Count one request for ``key_id``; raise RateLimitExceeded past the limit."""
        with self._lock:
            now = self._clock()
            window = self._windows.get(key_id)
            if window is None or now >= window.ends:
                window = _Window(now + WINDOW_SECONDS, 0)
                self._windows[key_id] = window
            left = window.ends - now
            # Monotonic time drives the window; the wall clock only translates its end.
            state = RateState(
                self.per_minute,
                max(self.per_minute - window.count - 1, 0),
                math.ceil(self._wall_clock() + left),
            )
            if window.count >= self.per_minute:
                retry_after = min(max(math.ceil(left), 1), int(WINDOW_SECONDS))
                raise RateLimitExceeded(
                    f"Rate limit of {self.per_minute} requests a minute exceeded for this API "
                    f"key. Retry in {retry_after} seconds.",
                    retry_after,
                    state,
                )
            window.count += 1
            return state


def headers(state: RateState) -> dict[str, str]:
    """The X-RateLimit-Limit, -Remaining and -Reset headers for ``state``."""
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": str(state.reset),
    }
