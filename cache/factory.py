"""Build the tiers from ``StorageSettings``: S3 when a bucket is set, else local disk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cache.disk import DiskStore
from cache.filetree import FileTreeStore
from cache.memory import MemoryStore
from cache.s3 import S3Credentials, S3Store
from config.settings import StorageSettings

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

SecondTier = DiskStore | S3Store
StorageReader = FileTreeStore | S3Store


def build_memory_tier(settings: StorageSettings) -> MemoryStore:
    """The memory tier, bounded by ``IMGSTAX_MEMORY_CACHE_BYTES``."""
    return MemoryStore(settings.memory_cache_bytes)


def build_second_tier(
    settings: StorageSettings,
    *,
    credentials: S3Credentials | None = None,
    session: AioSession | None = None,
) -> SecondTier:
    """The S3 store when ``s3_bucket`` is set, else the disk store under ``data_dir/store``.

    The caller starts it (``await store.start()``) and closes it at shutdown.
    """
    if settings.s3_bucket:
        return S3Store(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            credentials=credentials,
            session=session,
        )
    return DiskStore(settings.data_dir / "store")


def build_storage_reader(settings: StorageSettings, second_tier: SecondTier) -> StorageReader:
    """Where ``storage/`` keys are read: the same bucket, or the data dir's storage/ folder."""
    if isinstance(second_tier, S3Store):
        return second_tier
    return FileTreeStore(settings.data_dir / "storage")
