"""The HTTP endpoints. Each one authenticates, maps its body, and calls a service."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.errors import InvalidRequest, Unauthorized
from origin import bodies
from origin.assets import answer
from origin.disconnect import until_disconnect
from origin.http_cache import API_HEADERS, etag, matches, validators
from origin.idempotency import body_digest
from origin.metrics import CONTENT_TYPE
from origin.openapi import openapi_document
from origin.ratelimit import RateLimitExceeded, headers
from origin.services import Services
from origin.uploads import capped_stream
from transforms import PACKS

MAX_JSON_BYTES = 256 * 1024


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def authenticate(request: Request) -> str:
    """The caller's key id; rate-limit headers are kept for the answer, error or not."""
    services = services_of(request)
    key_id = services.auth.authenticate(request.headers.get("x-api-key"))
    try:
        state = services.limiter.hit(key_id)
    except RateLimitExceeded as exc:
        request.state.rate_headers = headers(exc.state)
        raise
    request.state.rate_headers = headers(state)
    return key_id


def api_json(request: Request, content: Any, status: int = 200) -> JSONResponse:
    extra = getattr(request.state, "rate_headers", None) or {}
    return JSONResponse(content, status_code=status, headers={**API_HEADERS, **extra})


async def read_json(request: Request) -> Mapping[str, Any]:
    stream = capped_stream(request, MAX_JSON_BYTES, "A JSON body")
    raw = b"".join([chunk async for chunk in stream])
    try:
        body = json.loads(raw)
        # Lone surrogates ("\ud800") parse but cannot be encoded again, in keys or in messages.
        json.dumps(body, ensure_ascii=False).encode()
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise InvalidRequest(
            "The body must be a JSON object in UTF-8 (Content-Type: application/json)."
        ) from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def processing(mapper: Callable[[Mapping[str, Any]], bodies.Job] | None) -> Callable[..., Any]:
    """An endpoint that maps its body onto a Job and answers with a minted asset."""

    async def endpoint(request: Request) -> Response:
        key_id = authenticate(request)
        services = services_of(request)
        the_mapper = mapper or bodies.pack(request.path_params["packId"])
        body = await read_json(request)
        job = the_mapper(body)

        async def produce() -> dict[str, Any]:
            # Refused before the source is read: under overload a 503 costs next to nothing.
            # (A stored idempotent answer is replayed without coming here.)
            services.pool.refuse_if_full()
            minted = await services.assets.create(job, key_id)
            return answer(minted, services.base_url(request), job.metadata)

        # A client that goes away cancels the work: a slow source fetch stops at once.
        if job.output.idempotency_key is None:
            return api_json(request, await until_disconnect(request, produce))
        digest = body_digest(request.url.path, body)
        once = functools.partial(
            services.idempotency.once, key_id, job.output.idempotency_key, digest, produce
        )
        return api_json(request, await until_disconnect(request, once))

    return endpoint


async def get_asset(request: Request) -> Response:
    services = services_of(request)
    token = services.signer.verify(request.path_params["assetId"])
    if not token.public and authenticate(request) != token.key_id:
        raise Unauthorized("This asset is private: send the X-API-Key of the key that made it.")
    extra = getattr(request.state, "rate_headers", None) or {}
    head = {**validators(token, services.clock()), **extra}
    if matches(request.headers.get("if-none-match"), etag(token)):
        return Response(status_code=304, headers=head)
    obj = await services.assets.fetch(token)
    if request.method == "HEAD":
        head["Content-Length"] = str(len(obj.data))
        return Response(b"", headers=head, media_type=obj.content_type)
    return Response(obj.data, headers=head, media_type=obj.content_type)


async def list_packs(request: Request) -> Response:
    authenticate(request)
    return api_json(request, {"packs": [pack.describe() for pack in PACKS.values()]})


async def upload(request: Request) -> Response:
    key_id = authenticate(request)
    return api_json(request, await services_of(request).uploads.accept(request, key_id))


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    checks = await services_of(request).readiness()
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


async def metrics(request: Request) -> Response:
    body = services_of(request).metrics.exposition()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(), headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    table = [
        Route(f"/v1/{name}", processing(mapper), methods=["POST"], name=name)
        for name, mapper in bodies.MAPPERS.items()
    ]
    return [
        # First: asset GETs are most of the traffic, and routes are matched in order.
        Route("/v1/assets/{assetId}", get_asset, methods=["GET", "HEAD"], name="asset"),
        *table,
        Route("/v1/packs", list_packs, methods=["GET"], name="packs"),
        Route("/v1/packs/{packId}", processing(None), methods=["POST"], name="pack"),
        Route("/v1/uploads", upload, methods=["POST"], name="uploads"),
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
        Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
    ]
