"""Prometheus metrics, on a registry of the app's own (no process-wide globals).

Requests and latencies per route, renders and encodes per format, render time, cache hits per
tier (read from the cache's own counters at scrape time), the render queue, store faults.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cache import CacheCounters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def route_label(path: str) -> str:
    """The route template of a path, so that labels stay few (asset ids are not labels)."""
    if path.startswith("/v1/assets/"):
        return "/v1/assets/{assetId}"
    if path.startswith("/v1/packs/"):
        return "/v1/packs/{packId}"
    known = (
        "/v1/compress",
        "/v1/convert",
        "/v1/compress-to-size",
        "/v1/resize",
        "/v1/downsize",
        "/v1/process",
        "/v1/packs",
        "/v1/uploads",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    )
    return path if path in known else "other"


class _StateCollector(Collector):
    """Reads plain counters and gauges owned by other components at scrape time."""

    def __init__(self, counters: CacheCounters, queue: Callable[[], tuple[int, int]]) -> None:
        self._counters = counters
        self._queue = queue

    def collect(self) -> Iterable[Metric]:
        c = self._counters
        hits = CounterMetricFamily("imgstax_cache_hits", "Cache hits per tier", labels=["tier"])
        hits.add_metric(["memory"], c.memory_hits)
        hits.add_metric(["second"], c.second_tier_hits)
        yield hits
        yield CounterMetricFamily("imgstax_cache_misses", "Lookups missing both tiers", c.misses)
        yield CounterMetricFamily("imgstax_cache_loads", "Loader calls (renders, reads)", c.loads)
        yield CounterMetricFamily(
            "imgstax_cache_coalesced", "Callers served by another's lookup", c.coalesced
        )
        yield CounterMetricFamily("imgstax_store_faults", "Second-tier failures", c.faults)
        yield CounterMetricFamily(
            "imgstax_store_dropped_writes", "Write-behinds shed", c.dropped_writes
        )
        running, waiting = self._queue()
        yield GaugeMetricFamily("imgstax_renders_running", "Renders running now", running)
        yield GaugeMetricFamily("imgstax_render_queue_depth", "Renders waiting", waiting)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "imgstax_requests",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "imgstax_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.renders = Counter("imgstax_renders", "Renders", ["format"], registry=self.registry)
        self.encodes = Counter("imgstax_encodes", "Encodes", ["format"], registry=self.registry)
        self.render_seconds = Histogram(
            "imgstax_render_duration_seconds",
            "Time in the render pool, queueing included",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def watch(self, counters: CacheCounters, queue: Callable[[], tuple[int, int]]) -> None:
        self.registry.register(_StateCollector(counters, queue))

    @contextmanager
    def render_timer(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.render_seconds.observe(time.perf_counter() - start)

    def rendered(self, fmt: str, encodes: int) -> None:
        self.renders.labels(fmt).inc()
        self.encodes.labels(fmt).inc(encodes)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_label(scope["path"])
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
