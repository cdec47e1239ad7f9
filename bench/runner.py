"""Throughput of several implementations of one job, measured in interleaved rounds.

Each round runs every implementation for the same wall time on the same thread pool, one after
the other; the reported figure is the median over rounds. Interleaving is what makes the ratios
hold on a noisy machine: a slow patch hits every implementation alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    per_second: float
    rounds: list[float]


def throughput(
    job: Callable[[], bytes], pool: ThreadPoolExecutor, threads: int, seconds: float
) -> float:
    """Jobs completed per second with `threads` of them always in flight."""
    deadline = time.perf_counter() + seconds
    done = 0

    def worker() -> int:
        count = 0
        while time.perf_counter() < deadline:
            job()
            count += 1
        return count

    start = time.perf_counter()
    futures = [pool.submit(worker) for _ in range(threads)]
    done = sum(f.result() for f in futures)
    return done / (time.perf_counter() - start)


def compare(
    jobs: Mapping[str, Callable[[], bytes]], *, threads: int, rounds: int, seconds: float
) -> dict[str, Measurement]:
    """Median throughput of each job over interleaved rounds."""
    results: dict[str, list[float]] = {name: [] for name in jobs}
    with ThreadPoolExecutor(threads) as pool:
        for job in jobs.values():  # warm up: imports, libvips init, first-call costs
            job()
        for _ in range(rounds):
            for name, job in jobs.items():
                results[name].append(throughput(job, pool, threads, seconds))
    return {name: Measurement(statistics.median(r), r) for name, r in results.items()}
