"""Byte stores and tiers: memory, local disk and S3, and the tiered cache with single-flight.

Imports only the standard library, third-party libraries and ``config``: never transforms or
origin. Keys are validated in ``cache.keys``; every second-tier failure is ``StoreUnavailable``.
"""

from __future__ import annotations

from cache.disk import DiskStore, SweepResult
from cache.factory import (
    SecondTier,
    StorageReader,
    build_memory_tier,
    build_second_tier,
    build_storage_reader,
)
from cache.filetree import FileTreeStore
from cache.keys import (
    IDEMPOTENCY,
    NAMESPACES,
    RENDERS,
    SOURCES,
    STORAGE,
    UPLOADS,
    idempotency_key,
    render_key,
    source_key,
    storage_key,
    upload_key,
    validate_key,
)
from cache.memory import MemoryStore
from cache.s3 import S3Credentials, S3Store
from cache.store import ByteStore, ObjectInfo, ReadableStore, StoredObject
from cache.tiered import CacheCounters, Loader, TieredCache

__all__ = [
    "IDEMPOTENCY",
    "NAMESPACES",
    "RENDERS",
    "SOURCES",
    "STORAGE",
    "UPLOADS",
    "ByteStore",
    "CacheCounters",
    "DiskStore",
    "FileTreeStore",
    "Loader",
    "MemoryStore",
    "ObjectInfo",
    "ReadableStore",
    "S3Credentials",
    "S3Store",
    "SecondTier",
    "StorageReader",
    "StoredObject",
    "SweepResult",
    "TieredCache",
    "build_memory_tier",
    "build_second_tier",
    "build_storage_reader",
    "idempotency_key",
    "render_key",
    "source_key",
    "storage_key",
    "upload_key",
    "validate_key",
]
