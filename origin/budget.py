"""A bound on the source bytes the process holds at once, across every request.

Every request that reads a source (an upload's body, a URL download, a stored original) opens an
account with ``SourceBudget.account()`` and charges the bytes as they arrive (a stored original by
its size, before it is read); they are given back when the request's render is done. A charge that
would pass the budget is refused with 503 OVERLOADED, so many large sources at once cannot take the
process's memory (sixteen 50 MiB uploads held 1.16 GB before). Bytes, not request slots: a source
that hangs or trickles holds next to nothing, so it cannot shut renders out the way a slot held for
its 10 s would.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from config.errors import Overloaded

# The budget is this many sources of the largest allowed size, and never less than MIN_BUDGET
# (a small IMGSTAX_MAX_SOURCE_BYTES must not cut how many requests may run at once).
SOURCES_IN_BUDGET = 4
MIN_BUDGET = 64 * 1024 * 1024


def budget_for(max_source_bytes: int) -> SourceBudget:
    return SourceBudget(max(SOURCES_IN_BUDGET * max_source_bytes, MIN_BUDGET))


class _Account:
    def __init__(self, budget: SourceBudget) -> None:
        self.budget = budget
        self.held = 0

    def take(self, size: int) -> None:
        budget = self.budget
        if budget.used + size > budget.limit:
            raise Overloaded(
                "The origin is holding as many source bytes as it may; retry in a moment.",
                retry_after=1,
            )
        budget.used += size
        self.held += size


_current: contextvars.ContextVar[_Account | None] = contextvars.ContextVar(
    "imgstax_source_account", default=None
)


class SourceBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @contextmanager
    def account(self) -> Iterator[None]:
        """Charge the source bytes this request reads in the block; give them back after it."""
        if _current.get() is not None:  # nested: the outer account holds them
            yield
            return
        account = _Account(self)
        token = _current.set(account)
        try:
            yield
        finally:
            _current.reset(token)
            self.used -= account.held


def charge(size: int) -> None:
    """Count size more bytes against the current request's account (if it has one)."""
    account = _current.get()
    if account is not None:
        account.take(size)
