"""Namespaces and key validation for the second tier.

Keys are opaque strings ``<namespace>/<rest>``. Four namespaces exist: ``renders/`` and
``sources/`` (content-addressed by sha256), ``uploads/`` and the read-only ``storage/``, where a
team's own pipeline puts originals. A key with a ``..`` or ``.`` segment, an empty segment, a
leading ``/``, a backslash or a control character — before or after percent-decoding — is
rejected with ``InvalidRequest`` (400), so no store can be steered outside its root.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from config.errors import InvalidRequest

RENDERS = "renders"
SOURCES = "sources"
UPLOADS = "uploads"
STORAGE = "storage"
# Idempotent replies, so that a retried POST gets its first answer from any origin process.
IDEMPOTENCY = "idempotency"
NAMESPACES = frozenset({RENDERS, SOURCES, UPLOADS, STORAGE, IDEMPOTENCY})
WRITABLE_NAMESPACES = frozenset({RENDERS, SOURCES, UPLOADS, IDEMPOTENCY})

MAX_KEY_BYTES = 1024  # the S3 limit
MAX_SEGMENT_BYTES = 255  # a file name on every common file system
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Percent-decoding is repeated so that %252e%252e cannot smuggle a '..' past a later decoder.
_MAX_DECODE_ROUNDS = 4


def _path_problem(path: str) -> str | None:
    """Why ``path`` (a key without its namespace) is unsafe, or None."""
    if not path:
        return "it is empty"
    if path.startswith("/"):
        return "it starts with '/'"
    if "\\" in path:
        return "it contains a backslash"
    if _CONTROL.search(path):
        return "it contains a control character"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return "it has an empty, '.' or '..' segment"
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _checked_path(path: str, shown: str) -> str:
    if len(path.encode()) > MAX_KEY_BYTES:
        raise InvalidRequest(f"Storage key {shown} is longer than {MAX_KEY_BYTES} bytes.")
    decoded = path
    for _ in range(_MAX_DECODE_ROUNDS):
        problem = _path_problem(decoded)
        if problem is not None:
            raise InvalidRequest(
                f"Storage key {shown} is not allowed: {problem}. "
                "Use a relative path such as 'photos/2024/cat.jpg'."
            )
        if "%" not in decoded:
            return path
        previous, decoded = decoded, unquote(decoded)
        if decoded == previous:
            return path
    raise InvalidRequest(f"Storage key {shown} is percent-encoded too many times.")


def _shown(key: str) -> str:
    # repr() escapes control characters, so the message never carries them raw.
    return repr(key[:80] + ("..." if len(key) > 80 else ""))


def validate_key(key: str) -> str:
    """``key`` itself if it is a safe ``<namespace>/<path>`` key, else InvalidRequest."""
    namespace, sep, rest = key.partition("/")
    if not sep or namespace not in NAMESPACES:
        raise InvalidRequest(
            f"Key {_shown(key)} must start with one of: "
            + ", ".join(sorted(ns + "/" for ns in NAMESPACES))
        )
    _checked_path(rest, _shown(key))
    return key


def namespace_of(key: str) -> str:
    """The namespace of a valid key."""
    return key.partition("/")[0]


def require_writable(key: str) -> str:
    """``key`` if valid and in a namespace imgstax writes; ``storage/`` is read-only."""
    validate_key(key)
    if namespace_of(key) not in WRITABLE_NAMESPACES:
        # A programming error, not a caller's: nothing in imgstax should write there.
        raise ValueError(f"{namespace_of(key)}/ is read-only for imgstax")
    return key


def render_key(digest: str) -> str:
    """The key of a render, from its sha256 hex digest."""
    if not _SHA256_HEX.match(digest):
        raise ValueError("a render key is a lowercase sha256 hex digest")
    return f"{RENDERS}/{digest}"


def source_key(sha256_hex: str) -> str:
    """The content-addressed key of ingested source bytes."""
    if not _SHA256_HEX.match(sha256_hex):
        raise ValueError("a source key is the lowercase sha256 hex digest of the bytes")
    return f"{SOURCES}/{sha256_hex}"


def idempotency_key(digest: str) -> str:
    """The key of a stored idempotent reply, from the sha256 of (API key id, idempotency key)."""
    if not _SHA256_HEX.match(digest):
        raise ValueError("an idempotency key is a lowercase sha256 hex digest")
    return f"{IDEMPOTENCY}/{digest}"


def upload_key(upload_id: str) -> str:
    """The key of an uploaded original."""
    if not _UPLOAD_ID.match(upload_id):
        raise InvalidRequest(f"Upload id {_shown(upload_id)} is not a valid upload id.")
    return f"{UPLOADS}/{upload_id}"


def storage_key(path: str) -> str:
    """The key of a caller's ``source.storageKey`` inside the read-only ``storage/`` namespace."""
    _checked_path(path, _shown(path))
    return f"{STORAGE}/{path}"
