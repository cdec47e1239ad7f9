"""W5's reference: a bare Starlette app that serves bytes from a dict, under uvicorn.

``python -m bench.bare_app --port P --body FILE`` serves FILE's bytes at /v1/assets/{anything},
with uvicorn started the way ``imgstax serve`` starts it (same options, same log level), so the
difference to the origin's memory-tier hit is the origin's own work per request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app(body: bytes) -> Starlette:
    assets = {"any": body}

    async def asset(request: Request) -> Response:
        return Response(assets["any"], media_type="image/jpeg")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/assets/{asset_id}", asset, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    app = create_app(args.body.read_bytes())
    # The options of origin/cli.py's uvicorn.run: the same server doing the same HTTP work.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="info",
        proxy_headers=True,
        server_header=False,
        ws="none",
    )


if __name__ == "__main__":
    main()
