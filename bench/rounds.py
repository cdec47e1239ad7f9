"""Throughput of several implementations of one job, measured in interleaved rounds.

Each round runs every implementation for the same wall time, one after the other (the first
one rotates from round to round); the reported throughput is the median over rounds.
Interleaving is what makes the ratios hold on a noisy machine: a slow patch hits every
implementation alike. While one implementation runs, the others are idle. On a machine shared
with other people's jobs, each round first waits (within a budget for the whole run) until
the other processes leave the CPUs alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from bench.httpclient import Client, Response
from bench.load import Request, Sample, closed_loop, with_client
from bench.procs import cpu_seconds, machine_busy_seconds
from bench.sources import Params, ParamSpace
from bench.stats import Round, Summary


@dataclass
class QuietGate:
    """Waits until other processes use less than `threshold` cores, `budget` seconds in all."""

    budget: float
    threshold: float = 0.3
    window: float = 0.25
    waited: float = 0.0

    def wait(self) -> None:
        while self.budget > 0:
            busy, own = machine_busy_seconds(), time.process_time()
            time.sleep(self.window)
            others = machine_busy_seconds() - busy - (time.process_time() - own)
            if others / self.window < self.threshold:
                return
            self.budget -= self.window
            self.waited += self.window


class Implementation(Protocol):
    name: str

    def run_round(self, seconds: float) -> Round: ...


@dataclass
class InProcess:
    """A job run in this process by `threads` threads (the references)."""

    name: str
    job: Callable[[Params], bytes]
    space: ParamSpace
    threads: int = 2

    def run_round(self, seconds: float) -> Round:
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def worker() -> list[tuple[float, int]]:
            done = []
            while time.perf_counter() < deadline:
                with lock:
                    params = self.space.take()
                assert params is not None  # a replay never runs out
                start = time.perf_counter()
                size = len(self.job(params))
                done.append((time.perf_counter() - start, size))
            return done

        cpu, busy = time.process_time(), machine_busy_seconds()
        start = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            results = [f.result() for f in [pool.submit(worker) for _ in range(self.threads)]]
        elapsed = time.perf_counter() - start
        jobs = [job for result in results for job in result]
        own = time.process_time() - cpu
        return Round(
            len(jobs),
            elapsed,
            [latency for latency, _ in jobs],
            [size for _, size in jobs],
            own,
            foreign_cpu_seconds=max(0.0, machine_busy_seconds() - busy - own),
        )


@dataclass
class OverHttp:
    """Requests to a server process, `concurrency` in flight (the origin, thumbor)."""

    name: str
    pid: int
    port: int
    request_for: Callable[[Params], Request]
    size_of: Callable[[Response], int]
    space: ParamSpace
    concurrency: int = 4
    headers: dict[str, str] = field(default_factory=dict)

    def next_request(self) -> Request | None:
        params = self.space.take()
        return None if params is None else self.request_for(params)

    def run_round(self, seconds: float) -> Round:
        server_cpu, client_cpu = cpu_seconds(self.pid), time.process_time()
        busy = machine_busy_seconds()

        async def use(client: Client) -> tuple[list[Sample], float]:
            return await closed_loop(
                client, self.next_request, concurrency=self.concurrency, seconds=seconds
            )

        samples, elapsed = with_client(self.port, use, headers=self.headers)
        for sample in samples:
            if sample.response.status != 200:
                body = sample.response.body[:300].decode(errors="replace")
                raise RuntimeError(f"{self.name}: HTTP {sample.response.status}: {body}")
        server_cpu = cpu_seconds(self.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        return Round(
            len(samples),
            elapsed,
            [s.latency for s in samples],
            [self.size_of(s.response) for s in samples],
            server_cpu,
            client_cpu,
            max(0.0, machine_busy_seconds() - busy - server_cpu - client_cpu),
        )


def compare(
    impls: Sequence[Implementation],
    *,
    rounds: int,
    seconds: float,
    warm_up: bool = True,
    quiet: QuietGate | None = None,
) -> dict[str, Summary]:
    """Each implementation's rounds, after one untimed warm-up round each (unless not)."""
    summaries = {impl.name: Summary() for impl in impls}
    for impl in impls if warm_up else ():  # imports, libvips start-up, first-call costs
        impl.run_round(min(seconds, 0.05))
    for index in range(rounds):
        for offset in range(len(impls)):
            impl = impls[(index + offset) % len(impls)]
            if quiet is not None:
                quiet.wait()
            summaries[impl.name].add(impl.run_round(seconds))
    return summaries
