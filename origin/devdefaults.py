"""The embedded defaults of ``make run``: a dev API key and a signing key, generated once.

The dev key is made only while ``<data dir>/api-keys.json`` (where ``imgstax keys create``
writes by default) does not exist; once it does, that file holds the keys.

Only the CLI uses this, and only for settings the operator left unset. Both secrets are kept
under the data dir (mode 0600), so restarts and every worker process share them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from origin.keys_cli import DEFAULT_NAME

DEV_KEY_ID = "dev"


def _secret_file(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(make + "\n")
    return make


def embedded_defaults(environ: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """Variables to add to environ, and the dev API key if one was supplied by default."""
    data_dir = Path(environ.get("IMGSTAX_DATA_DIR", "").strip() or "var")
    added: dict[str, str] = {}
    dev_key = None
    if not environ.get("IMGSTAX_SIGNING_KEYS", "").strip():
        signing = _secret_file(data_dir / "signing-key", secrets.token_urlsafe(48))
        added["IMGSTAX_SIGNING_KEYS"] = signing
    no_keys = not environ.get("IMGSTAX_API_KEYS", "").strip()
    if no_keys and not environ.get("IMGSTAX_API_KEYS_FILE", "").strip():
        keys_file = data_dir / DEFAULT_NAME
        if keys_file.exists():
            # Where `imgstax keys create` writes by default: the keys made there are the keys.
            added["IMGSTAX_API_KEYS_FILE"] = str(keys_file)
        else:
            dev_key = _secret_file(data_dir / "dev-api-key", "dev_" + secrets.token_urlsafe(32))
            added["IMGSTAX_API_KEYS"] = f"{DEV_KEY_ID}:{dev_key}"
    return added, dev_key
