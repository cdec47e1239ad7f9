"""The hit path: GET and HEAD of a public asset in the memory tier, answered before routing.

Most of an origin's traffic is asset GETs that hit memory, and for those Starlette's routing,
exception middleware, Request and Response objects cost as much as all the rest (bench W5).
This middleware answers exactly those requests, and the 304s of public assets, with the very
status, headers and body ``routes.get_asset`` sends; it counts them in the same metrics as
``MetricsMiddleware``. Everything else goes on to the app untouched, and so does every request
it is not sure of: an id that does not verify or has expired (the app answers its 404), a
private asset (authentication and rate-limit headers), a memory miss (the app reads the second
tier or renders). It sits inside ServerErrorMiddleware, so a failure here is the usual 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cachetools import LRUCache
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from cache import TieredCache, render_key, validate_key
from config.errors import NotFound
from origin.http_cache import cache_control, etag, matches, validators
from origin.metrics import Metrics, route_label
from origin.tokens import AssetToken, TokenSigner

PREFIX = "/v1/assets/"
_METHODS = ("GET", "HEAD")
Header = tuple[bytes, bytes]
Answer = tuple[int, list[Header], bytes]


@dataclass(frozen=True, slots=True)
class _Asset:
    """A verified public token and the headers every answer about it carries."""

    token: AssetToken
    key: str  # the render's cache key
    etag: str
    headers: tuple[Header, ...]  # validators(), encoded as Starlette encodes them
    cache_control_at: int  # Cache-Control's place in headers: its max-age changes each second


class HitPath:
    """ASGI middleware answering public asset GET/HEAD from memory, before the router."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        signer: TokenSigner,
        cache: TieredCache,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        remember: int = 10_000,
    ) -> None:
        self.app = app
        self.served = 0  # requests answered here rather than by the app
        self._signer = signer
        self._cache = cache
        self._metrics = metrics
        self._clock = clock
        self._assets: LRUCache[str, _Asset] = LRUCache(maxsize=remember)
        self._route = route_label(PREFIX)
        self._requests: dict[tuple[str, int], Counter] = {}
        self._latency = metrics.latency.labels(self._route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asset_id = asset_id_of(scope)
        if asset_id is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        start = time.perf_counter()
        status = 500  # what MetricsMiddleware would count if what follows failed
        try:
            answer = self._answer(method, asset_id, scope["headers"])
            if answer is None:
                status = 0  # not ours: the app answers and counts it
            else:
                self.served += 1
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            if status:
                self._count(method, status, start)
        if not status:
            await self.app(scope, receive, send)

    def _answer(
        self, method: str, asset_id: str, request_headers: Iterable[Header]
    ) -> Answer | None:
        asset = self._assets.get(asset_id) or self._verify(asset_id)
        if asset is None:
            return None
        now = self._clock()
        token = asset.token
        if token.expires_at <= now:
            # Verified once, expired since: the app answers the same 404 as for any bad id.
            self._assets.pop(asset_id, None)
            return None
        headers = list(asset.headers)
        value = cache_control(token, now).encode("latin-1")
        headers[asset.cache_control_at] = (b"cache-control", value)
        if matches(_header(request_headers, b"if-none-match"), asset.etag):
            return 304, headers, b""
        obj = self._cache.memory_hit(asset.key)
        if obj is None:
            return None
        media_type = obj.content_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"  # as Starlette's Response adds it (renders are images)
        headers.append((b"content-length", b"%d" % len(obj.data)))
        headers.append((b"content-type", media_type.encode("latin-1")))
        return 200, headers, b"" if method == "HEAD" else obj.data

    def _verify(self, asset_id: str) -> _Asset | None:
        """The public asset behind asset_id, remembered; None for the app to answer."""
        try:
            token = self._signer.verify(asset_id)
        except NotFound:
            return None
        if not token.public:
            return None
        encoded = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in validators(token, self._clock()).items()
        ]
        at = next(i for i, (name, _) in enumerate(encoded) if name == b"cache-control")
        key = validate_key(render_key(token.render_key))
        asset = _Asset(token, key, etag(token), tuple(encoded), at)
        self._assets[asset_id] = asset
        return asset

    def _count(self, method: str, status: int, start: float) -> None:
        counter = self._requests.get((method, status))
        if counter is None:
            counter = self._metrics.requests.labels(self._route, method, str(status))
            self._requests[(method, status)] = counter
        counter.inc()
        self._latency.observe(time.perf_counter() - start)


def asset_id_of(scope: Scope) -> str | None:
    """The assetId of a GET or HEAD that the asset route would match, else None."""
    if scope["type"] != "http" or scope["method"] not in _METHODS or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    asset_id = path[len(PREFIX) :]
    return asset_id if asset_id and "/" not in asset_id else None


def _header(headers: Iterable[Header], name: bytes) -> str | None:
    """The first value of a header (ASGI servers give names in lower case), like Starlette."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
