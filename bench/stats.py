"""Samples of one measurement and what the report prints of them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (no interpolation: a p99 is a latency that happened)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Round:
    """One timed batch of one implementation."""

    count: int
    seconds: float
    latencies: list[float]  # seconds, one per completed job
    sizes: list[int]  # output bytes, one per completed job
    cpu_seconds: float  # of the process doing the work (the server, or this one in-process)
    client_cpu_seconds: float = 0.0  # of this process while it only generated load
    # CPU the rest of the machine used meanwhile (other people's jobs on a shared machine).
    foreign_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Summary:
    """Every round of one implementation: the median throughput and the pooled latencies."""

    rounds: list[Round] = field(default_factory=list)

    def add(self, round_: Round) -> None:
        self.rounds.append(round_)

    @property
    def count(self) -> int:
        return sum(r.count for r in self.rounds)

    @property
    def per_second(self) -> float:
        return statistics.median(r.per_second for r in self.rounds) if self.rounds else 0.0

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.rounds for x in r.latencies]

    def ms(self, pct: float) -> float:
        return 1000 * percentile(self.latencies, pct)

    @property
    def mean_bytes(self) -> float:
        sizes = [s for r in self.rounds for s in r.sizes]
        return statistics.fmean(sizes) if sizes else math.nan

    @property
    def cpu_ms_per_job(self) -> float:
        count = self.count
        return 1000 * sum(r.cpu_seconds for r in self.rounds) / count if count else math.nan

    @property
    def foreign_load(self) -> float:
        """The busiest round's foreign CPU, in cores: how much the figures may be disturbed."""
        return max((r.foreign_cpu_seconds / r.seconds for r in self.rounds), default=0.0)

    @property
    def client_cpu_share(self) -> float:
        """Share of one core this process spent generating the load."""
        seconds = sum(r.seconds for r in self.rounds)
        return sum(r.client_cpu_seconds for r in self.rounds) / seconds if seconds else 0.0
