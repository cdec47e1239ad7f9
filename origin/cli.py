"""Console entry point: ``imgstax serve|keys|settings`` (also ``python -m origin``)."""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config import ConfigError, describe, load_settings
from origin.devdefaults import embedded_defaults
from origin.keys_cli import add_keys_commands
from origin.malloc import tune_malloc

SAMPLE_KEY = "sample.jpg"


def _serve(args: argparse.Namespace) -> int:
    # First, before any thread: glibc reads its tunables at start, so this re-executes.
    tune_malloc(os.environ)
    import uvicorn

    added, dev_key = embedded_defaults(os.environ)
    # The process boundary: worker processes read the same environment through the factory.
    os.environ.update(added)
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    if dev_key is not None:
        _print_quick_start(base, dev_key, settings.storage.data_dir / "storage" / SAMPLE_KEY)
    uvicorn.run(
        "origin.app:app_from_environ",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(settings.server.log_level),
        log_level=settings.server.log_level.lower(),
        proxy_headers=True,
        server_header=False,
        # No WebSocket route exists: an upgrade is answered as plain HTTP, and uvicorn does not
        # load the websockets library (1.3 MB of RSS, bench W7).
        ws="none",
    )
    return 0


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup plus imgstax's own loggers, at IMGSTAX_LOG_LEVEL, on stderr.

    Without it the ``imgstax.*`` loggers have no handler: their INFO and DEBUG lines are lost
    and warnings reach stderr bare, through Python's last-resort handler.
    """
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["imgstax"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
    }
    config["handlers"]["imgstax"] = {
        "formatter": "imgstax",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["imgstax"] = {"handlers": ["imgstax"], "level": level, "propagate": False}
    return config


def _print_quick_start(base: str, key: str, sample: Path) -> None:
    print(f"imgstax dev API key (id dev, kept in the data dir): {key}")
    headers = f"-H 'X-API-Key: {key}'"
    if sample.is_file():  # make run puts one there
        body = json.dumps({"source": {"storageKey": SAMPLE_KEY}, "width": 800, "height": 600})
        print(f"Sample source: {sample}. Try:")
    else:
        print("Try: upload a photo of your own,")
        print(
            f"  curl -s -X POST {base}/v1/uploads {headers} "
            "-H 'Content-Type: image/jpeg' --data-binary @photo.jpg"
        )
        print("and resize it by the uploadId in the answer:")
        body = json.dumps({"source": {"uploadId": "up_…"}, "width": 800, "height": 600})
    print(
        f"  curl -s -X POST {base}/v1/resize {headers} "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    print("then fetch the answer's url with curl -o out.jpg.", flush=True)


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
    add_keys_commands(commands)
    settings = commands.add_parser("settings", help="list every IMGSTAX_* setting")
    settings.set_defaults(run=_settings)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
