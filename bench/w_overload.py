"""W6: the origin at three times its capacity, against the same origin at 80 % load.

Capacity is W1's Jpeg renders/s, measured earlier in the same run. Requests arrive open-loop
(Poisson, fixed seed): the W1 Jpeg resize with distinct parameters. Past its queue the origin
must refuse at once (503); once the load stops, probes every 25 ms find when it accepts again.
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.httpclient import Client
from bench.load import NextRequest, Request, Sample, open_loop, send, send_open_loop, with_client
from bench.stats import percentile
from bench.suite import Suite
from bench.w_render import origin_request
from transforms import ImageFormat

PROBE_EVERY = 0.025
PROBE_FOR_AT_MOST = 10.0


async def _probe(client: Client, next_request: NextRequest, stopped: float) -> tuple[float, float]:
    """Seconds from `stopped` until the send, and the answer, of the first accepted probe."""
    accepted: list[Sample] = []
    answered = asyncio.Event()
    probes: list[asyncio.Task[None]] = []

    async def probe(request: Request) -> None:
        sample = await send(client, request)
        if sample.response.status == 200:
            accepted.append(sample)
            answered.set()

    while not answered.is_set() and time.perf_counter() - stopped < PROBE_FOR_AT_MOST:
        request = next_request()
        if request is None:
            break
        probes.append(asyncio.create_task(probe(request)))
        try:
            await asyncio.wait_for(answered.wait(), PROBE_EVERY)
        except TimeoutError:
            pass
    await asyncio.gather(*probes)
    if not accepted:
        return math.nan, math.nan
    first = min(accepted, key=lambda s: s.sent)
    return first.sent - stopped, first.sent + first.latency - stopped


def _ms(samples: list[Sample], pct: float) -> float:
    return 1000 * percentile([s.latency for s in samples], pct)


def run_w6(suite: Suite, capacity: float) -> None:
    report, plan, main = suite.report, suite.plan, suite.main
    report.section(
        "W6: overload at 3x capacity vs 80 % load",
        f"Capacity = W1 Jpeg over HTTP, {capacity:.1f} renders/s. Poisson arrivals of the W1 "
        f"Jpeg resize (distinct parameters); render pool {plan.workers} workers + its queue.",
    )
    space = suite.spaces["photo-Jpeg"]
    request_for = origin_request([suite.uploads["photo"]], ImageFormat.JPEG)

    def next_request() -> Request | None:
        params = space.take()
        return None if params is None else request_for(params)

    async def at_80(client: Client) -> list[Sample]:
        return await open_loop(
            client, next_request, rate=0.8 * capacity, seconds=plan.load80_seconds, seed=80
        )

    async def at_300(client: Client) -> tuple[list[Sample], tuple[float, float]]:
        tasks, stopped = await send_open_loop(
            client, next_request, rate=3 * capacity, seconds=plan.overload_seconds, seed=300
        )
        recovery = await _probe(client, next_request, stopped)
        return list(await asyncio.gather(*tasks)), recovery

    suite.quiet.wait()
    normal = with_client(main.server.port, at_80, headers=main.headers)
    suite.quiet.wait()
    overloaded, (accepting, answered) = with_client(main.server.port, at_300, headers=main.headers)
    rows = []
    phases = {"80 %": (0.8, normal), "300 %": (3.0, overloaded)}
    for name, (load, samples) in phases.items():
        ok = [s for s in samples if s.response.status == 200]
        refused = [s for s in samples if s.response.status == 503]
        other = len(samples) - len(ok) - len(refused)
        if other:
            raise RuntimeError(f"W6 {name}: {other} answers neither 200 nor 503")
        rows.append(
            (
                name,
                load * capacity,
                len(samples),
                len(ok),
                len(refused),
                _ms(ok, 50),
                _ms(ok, 95),
                _ms(ok, 99),
                _ms(refused, 50),
                _ms(refused, 99),
            )
        )
    report.table(
        (
            "load",
            "offered req/s",
            "sent",
            "200",
            "503",
            "200 p50 ms",
            "p95 ms",
            "p99 ms",
            "503 p50 ms",
            "503 p99 ms",
        ),
        rows,
    )
    report.note(
        "Recovery: the first request accepted after the load stopped was sent "
        f"{1000 * accepting:.0f} ms after it stopped "
        f"(its answer arrived at {1000 * answered:.0f} ms)."
    )
    refused_p99 = rows[1][9]
    report.target("W6", "503 answers p99 < 20 ms", f"{refused_p99:.1f} ms", refused_p99 < 20)
    ratio = rows[1][7] / rows[0][7]
    report.target("W6", "accepted p99 <= 2 x p99 at 80 % load", f"{ratio:.2f} x", ratio <= 2)
