"""Application factory: builds every component from Settings and injects it.

Nothing happens at import time. Tests pass their own Settings and, where they need them, their
own second tier, storage reader or DNS resolver.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware

from cache import (
    DiskStore,
    ReadableStore,
    SecondTier,
    TieredCache,
    build_memory_tier,
    build_second_tier,
    build_storage_reader,
)
from config import ConfigError, Settings, load_settings
from origin.assets import Assets
from origin.auth import Authenticator
from origin.budget import budget_for
from origin.errors import HANDLERS
from origin.fetch import Resolver, SourceFetcher
from origin.hit_path import HitPath
from origin.idempotency import Idempotency
from origin.metrics import Metrics, MetricsMiddleware
from origin.pool import RenderPool
from origin.ratelimit import RateLimiter
from origin.routes import routes
from origin.services import Services
from origin.sources import Sources
from origin.tokens import TokenSigner
from origin.uploads import Uploads
from transforms import parse_spec, render

SWEEP_EVERY = 600.0
_log = logging.getLogger("imgstax.origin")
# A 1x1 white PNG: readiness renders it to prove libvips works, on a render-priority thread.
_PROBE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000970485973"
    "000003e8000003e801b57b526b0000000c49444154089963f8ffff3f0005fe02fe58f26b0e00000000"
    "49454e44ae426082"
)


def create_app(
    settings: Settings,
    *,
    second_tier: SecondTier | None = None,
    storage: ReadableStore | None = None,
    resolver: Resolver | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the ASGI app for these settings."""
    if not settings.auth.signing_keys:
        raise ConfigError(["IMGSTAX_SIGNING_KEYS: at least one signing key is needed"])
    tier = second_tier if second_tier is not None else build_second_tier(settings.storage)
    reader = storage if storage is not None else build_storage_reader(settings.storage, tier)
    cache = TieredCache(build_memory_tier(settings.storage), tier)
    pool = RenderPool(settings.render.workers, settings.render.queue, settings.render.timeout)
    fetcher = SourceFetcher(settings.sources, resolver=resolver)
    metrics = Metrics()
    metrics.watch(cache.counters, lambda: (pool.running, pool.waiting))
    signer = TokenSigner(settings.auth.signing_keys, clock=clock)
    sources = Sources(cache, reader, fetcher, settings.sources, clock=clock)
    limits = settings.sources
    budget = budget_for(limits.max_source_bytes)

    async def readiness() -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            with anyio.fail_after(3):
                await _ping(tier)
            checks["store"] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported
            checks["store"] = f"unavailable: {type(exc).__name__}"
        try:
            # Beside the render pool, not in it: a busy pool is a ready origin, not a broken one.
            with anyio.fail_after(3):
                await pool.run_aside(render, _PROBE_PNG, parse_spec({"format": "Png"}))
            checks["libvips"] = "ok"
        except Exception as exc:
            checks["libvips"] = f"failing: {type(exc).__name__}"
        return checks

    services = Services(
        settings=settings,
        auth=Authenticator.from_settings(settings.auth),
        limiter=RateLimiter(settings.auth.rate_limit_per_minute),
        signer=signer,
        assets=Assets(
            cache,
            sources,
            pool,
            signer,
            metrics,
            max_pixels=limits.max_source_pixels,
            budget=budget,
            clock=clock,
        ),
        uploads=Uploads(
            cache,
            pool,
            max_bytes=limits.max_source_bytes,
            max_pixels=limits.max_source_pixels,
            budget=budget,
            clock=clock,
        ),
        idempotency=Idempotency(cache, clock=clock),
        pool=pool,
        cache=cache,
        metrics=metrics,
        readiness=readiness,
        clock=clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _start(tier)
        if reader is not tier:
            await _start(reader)
        async with anyio.create_task_group() as tasks:
            if isinstance(tier, DiskStore):
                tasks.start_soon(_sweep_forever, tier)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        pool.close()
        await cache.drain()
        await fetcher.aclose()
        if reader is not tier:
            await _close(reader)
        await _close(tier)

    app = Starlette(
        routes=routes(),
        exception_handlers=HANDLERS,
        middleware=[
            # First: memory hits of public assets are answered before routing (bench W5).
            Middleware(HitPath, signer=signer, cache=cache, metrics=metrics, clock=clock),
            Middleware(MetricsMiddleware, metrics=metrics),
        ],
        lifespan=lifespan,
    )
    # A trailing slash is a 404 in the error shape, not Starlette's empty 307 to a URL built
    # from the request's own Host header.
    app.router.redirect_slashes = False
    app.state.services = services
    return app


async def _start(store: Any) -> None:
    start = getattr(store, "start", None)
    if start is not None:
        await start()


async def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if close is not None:
        await close()


async def _ping(store: Any) -> None:
    ping = getattr(store, "ping", None)
    if ping is not None:
        await ping()


async def _sweep_forever(store: DiskStore) -> None:
    while True:
        await anyio.sleep(SWEEP_EVERY)
        try:
            result = await store.sweep()
            _log.info("swept the disk tier: %s", result)
        except Exception:  # a failed sweep is retried next time; never take the app down
            _log.exception("sweeping the disk tier failed")


def app_from_environ() -> Starlette:
    """The factory uvicorn calls in each worker process (``imgstax serve --workers N``)."""
    return create_app(load_settings(os.environ))
