"""The one place errors become responses: ``{"error", "message", "code"}`` with no-store.

Routes raise from the tree in ``config.errors``; they never build an error response by hand.
Starlette's own HTTP errors (unknown route, wrong method) get the same shape, a client that went
away gets a 499 nobody reads, and anything unexpected is a 500 whose body says nothing about
the code that failed.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from config.errors import ImgstaxError, Overloaded, RateLimited, Unauthorized

_log = logging.getLogger("imgstax.origin")

# A 401 names the scheme it wants (RFC 9110 15.5.2): the key in the X-API-Key header.
CHALLENGE = 'ApiKey realm="imgstax", header="X-API-Key"'

_HTTP_CODES = {
    400: ("INVALID_REQUEST", "Invalid Request"),
    401: ("UNAUTHORIZED", "Unauthorized"),
    404: ("NOT_FOUND", "Not Found"),
    405: ("METHOD_NOT_ALLOWED", "Method Not Allowed"),
    413: ("PAYLOAD_TOO_LARGE", "Payload Too Large"),
}


def error_response(
    status: int, code: str, title: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The documented error body."""
    body = {"error": title, "message": message, "code": code}
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


def _extra_headers(request: Request, exc: ImgstaxError) -> dict[str, str]:
    headers: dict[str, str] = dict(getattr(request.state, "rate_headers", None) or {})
    if isinstance(exc, RateLimited | Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = CHALLENGE
    return headers


async def imgstax_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImgstaxError)
    if exc.report:
        _log.warning("%s %s: %s %s", request.method, request.url.path, exc.code, exc.message)
    return error_response(
        exc.status, exc.code, exc.title, exc.caller_message, _extra_headers(request, exc)
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("INVALID_REQUEST", "Invalid Request"))
    message = {
        404: f"No such endpoint: {request.method} {request.url.path}.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, title, message, dict(exc.headers or {}))


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client left before its answer (mid-body, or while we fetched or rendered for it)."""
    _log.debug("%s %s: the client went away", request.method, request.url.path)
    # 499 is nginx's "client closed request": nobody reads it, metrics and logs count it.
    return Response(status_code=499, headers={"Cache-Control": "no-store"})


async def unexpected_error(request: Request, exc: Exception) -> Response:
    _log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "INTERNAL_ERROR", "Internal Server Error", "The server failed to process the request."
    )


HANDLERS = {
    ImgstaxError: imgstax_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: unexpected_error,
}
