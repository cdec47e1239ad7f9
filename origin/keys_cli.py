"""``imgstax keys create|revoke|list``: edit the hashed keys file.

The file is ``--file``, else ``IMGSTAX_API_KEYS_FILE``, else ``<IMGSTAX_DATA_DIR or var>/
api-keys.json``. Exit codes: 0 done, 1 the edit was refused (unknown or duplicate id, unreadable
file), 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from origin.keys import KEY_ID, KeyFile, KeyFileError

DEFAULT_NAME = "api-keys.json"


def keys_file_path(file: str | None, environ: Mapping[str, str]) -> Path:
    """The keys file the command edits: --file, then the environment, then the data dir."""
    if file:
        return Path(file)
    configured = environ.get("IMGSTAX_API_KEYS_FILE", "").strip()
    if configured:
        return Path(configured)
    data_dir = environ.get("IMGSTAX_DATA_DIR", "").strip() or "var"
    return Path(data_dir) / DEFAULT_NAME


def _key_id(raw: str) -> str:
    if not KEY_ID.match(raw):
        raise argparse.ArgumentTypeError("a key id is 1-64 letters, digits, '_', '.' or '-'")
    return raw


def _create(keys: KeyFile, args: argparse.Namespace) -> int:
    key_id, secret = keys.create(args.id)
    print(f"Created API key {key_id} in {keys.path}")
    print(f"  id:     {key_id}")
    print(f"  secret: {secret}")
    print("Store the secret now: it cannot be shown again. Callers send it in X-API-Key.")
    return 0


def _revoke(keys: KeyFile, args: argparse.Namespace) -> int:
    keys.revoke(args.key_id)
    print(f"Revoked API key {args.key_id} in {keys.path}")
    print("A running origin refuses it within a few seconds.")
    return 0


def _list(keys: KeyFile, args: argparse.Namespace) -> int:
    records = keys.list()
    if not records:
        print(f"No API keys in {keys.path}")
        return 0
    width = max(len("ID"), *(len(r.key_id) for r in records))
    print(f"{'ID':<{width}}  {'CREATED':<20}  STATUS")
    for r in records:
        created = r.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        status = "active" if r.revoked is None else r.revoked.strftime("revoked %Y-%m-%dT%H:%M:%SZ")
        print(f"{r.key_id:<{width}}  {created:<20}  {status}")
    return 0


Action = Callable[[KeyFile, argparse.Namespace], int]


def _runner(action: Action, environ: Mapping[str, str] | None) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        keys = KeyFile(keys_file_path(args.file, os.environ if environ is None else environ))
        try:
            return action(keys, args)
        except KeyFileError as exc:
            print(f"imgstax keys: {exc.message}", file=sys.stderr)
            return 1

    return run


def add_keys_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Add ``keys create|revoke|list``; ``environ`` defaults to the process environment."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--file",
        help="the keys file (default: $IMGSTAX_API_KEYS_FILE, else <data dir>/api-keys.json)",
    )
    keys = subparsers.add_parser("keys", help="create, revoke and list API keys")
    commands = keys.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser(
        "create", parents=[common], help="create a key and print its secret once"
    )
    create.add_argument("--id", type=_key_id, help="the key id (default: a random one)")
    create.set_defaults(run=_runner(_create, environ))
    revoke = commands.add_parser("revoke", parents=[common], help="revoke a key by id")
    revoke.add_argument("key_id", type=_key_id, help="the id of the key to revoke")
    revoke.set_defaults(run=_runner(_revoke, environ))
    listing = commands.add_parser("list", parents=[common], help="list keys (never secrets)")
    listing.set_defaults(run=_runner(_list, environ))
