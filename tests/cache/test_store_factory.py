"""Which second tier the settings build."""

from __future__ import annotations

from pathlib import Path

from cache import (
    DiskStore,
    FileTreeStore,
    S3Store,
    build_memory_tier,
    build_second_tier,
    build_storage_reader,
)
from config import load_settings


def test_without_a_bucket_the_disk_store_lives_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"IMGSTAX_DATA_DIR": str(tmp_path)}).storage
    second = build_second_tier(settings)
    assert isinstance(second, DiskStore) and second.root == tmp_path / "store"
    reader = build_storage_reader(settings, second)
    assert isinstance(reader, FileTreeStore) and reader.root == tmp_path / "storage"


def test_a_bucket_selects_s3_with_endpoint_and_region() -> None:
    settings = load_settings(
        {
            "IMGSTAX_S3_BUCKET": "imgstax-prod",
            "IMGSTAX_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "IMGSTAX_S3_REGION": "eu-central-1",
        }
    ).storage
    second = build_second_tier(settings)
    assert isinstance(second, S3Store)
    assert (second.bucket, second.endpoint_url, second.region) == (
        "imgstax-prod",
        "http://127.0.0.1:9000",
        "eu-central-1",
    )
    assert build_storage_reader(settings, second) is second


def test_the_memory_tier_takes_its_bound_from_settings() -> None:
    settings = load_settings({"IMGSTAX_MEMORY_CACHE_BYTES": "1048576"}).storage
    assert build_memory_tier(settings).max_bytes == 1048576
    assert build_memory_tier(load_settings({}).storage).max_bytes == 256 * 1024 * 1024
