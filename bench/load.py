"""Load against one server: closed loop (fixed concurrency) and open loop (Poisson arrivals).

Both loops are bounded: they stop at their deadline or when the workload has no distinct
request left, and then wait for the requests already in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bench.httpclient import Client, Response


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None


@dataclass(frozen=True)
class Sample:
    sent: float  # perf_counter at send
    latency: float  # seconds
    response: Response


T = TypeVar("T")
# Gives the next request to send, or None when the workload has run out of distinct ones.
NextRequest = Callable[[], Request | None]


async def send(client: Client, request: Request) -> Sample:
    sent = time.perf_counter()
    response = await client.request(
        request.method, request.path, request.body, request.content_type
    )
    return Sample(sent, time.perf_counter() - sent, response)


async def closed_loop(
    client: Client, next_request: NextRequest, *, concurrency: int, seconds: float
) -> tuple[list[Sample], float]:
    """Keep `concurrency` requests in flight until the deadline; samples and elapsed seconds."""
    samples: list[Sample] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            request = next_request()
            if request is None:
                return
            samples.append(await send(client, request))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - start


async def send_open_loop(
    client: Client, next_request: NextRequest, *, rate: float, seconds: float, seed: int = 6
) -> tuple[list[asyncio.Task[Sample]], float]:
    """Send at Poisson arrivals of `rate` per second for `seconds`, whatever the answers.

    Returns the requests still in flight and the perf_counter of the last send (when the
    load stopped); the caller awaits them.
    """
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Sample]] = []
    start = time.perf_counter()
    at = start
    last_send = start
    while True:
        at += rng.expovariate(rate)
        if at - start > seconds:
            break
        request = next_request()
        if request is None:
            break
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        last_send = time.perf_counter()
        tasks.append(asyncio.create_task(send(client, request)))
    return tasks, last_send


async def open_loop(
    client: Client, next_request: NextRequest, *, rate: float, seconds: float, seed: int = 6
) -> list[Sample]:
    """send_open_loop, then every answer."""
    tasks, _ = await send_open_loop(client, next_request, rate=rate, seconds=seconds, seed=seed)
    return list(await asyncio.gather(*tasks))


def with_client(
    port: int,
    use: Callable[[Client], Awaitable[T]],
    *,
    headers: dict[str, str] | None = None,
    limit: int = 64,
) -> T:
    """Run `use(client)` in a fresh event loop with a client for the server on `port`."""

    async def main() -> T:
        client = Client(port, limit=limit, headers=headers)
        try:
            return await use(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def send_all(
    port: int, requests: list[Request], *, concurrency: int, headers: dict[str, str]
) -> list[Sample]:
    """Every request once, `concurrency` in flight, in order of sending."""
    pending = list(reversed(requests))

    async def use(client: Client) -> list[Sample]:
        samples, _ = await closed_loop(
            client,
            lambda: pending.pop() if pending else None,
            concurrency=concurrency,
            seconds=3600,
        )
        return samples

    return with_client(port, use, headers=headers)
