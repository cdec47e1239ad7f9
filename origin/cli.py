"""Console entry point: ``imgstax serve`` (also ``python -m origin``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from config import ConfigError, describe, load_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from origin.app import create_app

    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=settings.server.log_level.lower())
    return 0


def _settings(args: argparse.Namespace) -> int:
    for info in describe():
        print(f"{info.name:32} [{info.group}] default {info.default}\n    {info.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgstax", description="imgstax image origin")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the origin")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.set_defaults(run=_serve)
    settings = commands.add_parser("settings", help="list every IMGSTAX_* setting")
    settings.set_defaults(run=_settings)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
