"""Every component of one origin, built from Settings in one place and handed to the routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from cache import TieredCache
from config import Settings
from origin.assets import Assets
from origin.auth import Authenticator
from origin.idempotency import Idempotency
from origin.metrics import Metrics
from origin.pool import RenderPool
from origin.ratelimit import RateLimiter
from origin.tokens import TokenSigner
from origin.uploads import Uploads


@dataclass
class Services:
    settings: Settings
    auth: Authenticator
    limiter: RateLimiter
    signer: TokenSigner
    assets: Assets
    uploads: Uploads
    idempotency: Idempotency
    pool: RenderPool
    cache: TieredCache
    metrics: Metrics
    readiness: Callable[[], Awaitable[dict[str, str]]]
    clock: Callable[[], float] = time.time

    def base_url(self, request: Request) -> str:
        """IMGSTAX_PUBLIC_BASE_URL, or the request's own scheme and host."""
        configured = self.settings.server.public_base_url
        if configured:
            return configured
        return str(request.base_url).rstrip("/")
