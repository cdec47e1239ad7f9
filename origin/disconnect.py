"""Work that stops when the client goes away.

The server tells an app that its client left with an ``http.disconnect`` message, but nothing
cancels a handler that is busy: a slow source fetch would run on to its deadline for nobody.
``until_disconnect`` runs the work beside a listener for that message and cancels the work when
it comes; the endpoint then raises Starlette's ``ClientDisconnect``, answered with 499 (the
status nginx logs for "client closed request"), which nobody receives. A render already in a
worker thread cannot be interrupted (libvips has no cancel): it keeps its slot until it finishes,
and its result is still cached for the next caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.requests import ClientDisconnect, Request

T = TypeVar("T")


async def until_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """work()'s result; ClientDisconnect if the client left first (the work is cancelled).

    Call it once the request body has been read: it listens on the same receive channel.
    """
    results: list[T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_cancel_on_disconnect, request, tasks.cancel_scope)
        try:
            results.append(await work())
        except Exception as exc:  # re-raised below, outside the task group, unwrapped
            errors.append(exc)
        tasks.cancel_scope.cancel()
    if errors:
        raise errors[0]
    if not results:
        raise ClientDisconnect()
    return results[0]


async def _cancel_on_disconnect(request: Request, scope: anyio.CancelScope) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
