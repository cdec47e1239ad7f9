"""The store contract: what every byte store (memory, disk, S3) promises.

A store keeps opaque bytes under a validated key (see ``cache.keys``) together with a content
type, an optional expiry (unix seconds) and a small dict of string metadata. An expired object
is a miss everywhere. ``get`` and ``head`` answer ``None`` for a miss; every other failure of a
second-tier store is ``config.errors.StoreUnavailable``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# Wall-clock source in unix seconds; injected so tests can move time without sleeping.
Clock = Callable[[], float]

# S3 user metadata travels as HTTP headers, so the contract is the subset every store can keep:
# lowercase token names and printable ASCII values, 2 KiB in all (the S3 limit).
_META_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_META_VALUE = re.compile(r"^[\x20-\x7e]*$")
MAX_METADATA_BYTES = 2048
# Reserved: the S3 store keeps the expiry under this metadata name.
EXPIRES_AT_NAME = "expires-at"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What ``head`` knows about an object without reading its bytes."""

    size: int
    content_type: str
    expires_at: float | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's bytes with its content type, expiry (unix seconds) and metadata."""

    data: bytes
    content_type: str = DEFAULT_CONTENT_TYPE
    expires_at: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def expired(self, now: float) -> bool:
        """True when the object's expiry has passed at ``now``."""
        return self.expires_at is not None and self.expires_at <= now

    def info(self) -> ObjectInfo:
        """The object's ``ObjectInfo``."""
        return ObjectInfo(len(self.data), self.content_type, self.expires_at, self.metadata)


class ReadableStore(Protocol):
    """A store we only read from (the ``storage/`` namespace)."""

    async def get(self, key: str) -> StoredObject | None:
        """The object under ``key``, or None when missing or expired."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's info without its bytes, or None when missing or expired."""
        ...


class ByteStore(ReadableStore, Protocol):
    """A store we read and write: memory, local disk or S3."""

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        expires_at: float | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``data`` under ``key``; returns once the store holds all of it."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""
        ...


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``metadata`` that every store can keep, or ValueError (a programming error)."""
    if not metadata:
        return {}
    total = 0
    for name, value in metadata.items():
        if not _META_NAME.match(name) or name == EXPIRES_AT_NAME:
            raise ValueError(f"metadata name {name!r} must be a lowercase token (a-z 0-9 -)")
        if not _META_VALUE.match(value):
            raise ValueError(f"metadata value for {name!r} must be printable ASCII")
        total += len(name) + len(value)
    if total > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {total} bytes; at most {MAX_METADATA_BYTES} fit")
    return dict(metadata)


def check_content_type(content_type: str) -> str:
    """``content_type`` if it can travel as a header value, else ValueError."""
    if not content_type or not _META_VALUE.match(content_type) or len(content_type) > 255:
        raise ValueError(f"content type {content_type!r} must be printable ASCII")
    return content_type
