"""Application factory: builds every component from Settings and injects it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from config import Settings


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app for these settings; nothing happens at import time."""
    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
    app.state.settings = settings
    return app
