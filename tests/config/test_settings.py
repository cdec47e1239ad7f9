from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, Settings, describe, load_settings

GOOD_KEY = "k" * 20
GOOD_SIGNING = "s" * 40


def test_empty_environment_gives_embedded_defaults() -> None:
    settings = load_settings({})
    assert settings.sources.max_source_bytes == 52_428_800
    assert settings.sources.max_source_pixels == 100_000_000
    assert settings.sources.allow_private_sources is False
    assert settings.auth.rate_limit_per_minute == 600
    assert settings.storage.memory_cache_bytes == 256 * 1024 * 1024
    assert settings.storage.data_dir == Path("var")
    assert settings.storage.s3_bucket is None
    assert settings.render.queue == 4 * settings.render.workers
    assert settings.render.timeout == 30.0


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "IMGSTAX_API_KEYS": f"alpha:{GOOD_KEY}, beta:{GOOD_KEY}b",
            "IMGSTAX_SIGNING_KEYS": f"{GOOD_SIGNING}new,{GOOD_SIGNING}old",
            "IMGSTAX_PUBLIC_BASE_URL": "https://img.example.com/",
            "IMGSTAX_DATA_DIR": "/srv/imgstax",
            "IMGSTAX_S3_BUCKET": "my-bucket",
            "IMGSTAX_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "IMGSTAX_S3_REGION": "eu-west-1",
            "IMGSTAX_MEMORY_CACHE_BYTES": "1_000_000",
            "IMGSTAX_MAX_SOURCE_BYTES": "2048",
            "IMGSTAX_MAX_SOURCE_PIXELS": "1000",
            "IMGSTAX_ALLOW_PRIVATE_SOURCES": "TRUE",
            "IMGSTAX_SOURCE_ALLOWLIST": "cdn.example.com, *.images.example.org",
            "IMGSTAX_RATE_LIMIT_PER_MINUTE": "5",
            "IMGSTAX_RENDER_WORKERS": "3",
            "IMGSTAX_RENDER_QUEUE": "0",
            "IMGSTAX_RENDER_TIMEOUT": "12.5",
            "IMGSTAX_LOG_LEVEL": "debug",
            "IMGSTAX_API_KEYS_FILE": "/etc/imgstax/keys",
        }
    )
    assert [k.key_id for k in settings.auth.api_keys] == ["alpha", "beta"]
    assert settings.auth.signing_keys[0].endswith("new")
    assert settings.server.public_base_url == "https://img.example.com"
    assert settings.storage.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.storage.memory_cache_bytes == 1_000_000
    assert settings.sources.allow_private_sources is True
    assert settings.sources.source_allowlist == ("cdn.example.com", "*.images.example.org")
    assert settings.render.workers == 3 and settings.render.queue == 0
    assert settings.render.timeout == 12.5
    assert load_settings({"IMGSTAX_RENDER_TIMEOUT": "0"}).render.timeout is None
    assert settings.server.log_level == "DEBUG"
    assert settings.auth.api_keys_file == Path("/etc/imgstax/keys")


def test_every_bad_variable_is_named_in_one_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            {
                "IMGSTAX_MAX_SOURCE_BYTES": "lots",
                "IMGSTAX_RENDER_WORKERS": "0",
                "IMGSTAX_RENDER_TIMEOUT": "0.5",
                "IMGSTAX_ALLOW_PRIVATE_SOURCES": "maybe",
                "IMGSTAX_S3_BUCKET": "Bad_Bucket",
                "IMGSTAX_API_KEYS": "nokey",
                "IMGSTAX_SIGNING_KEYS": "short",
                "IMGSTAX_PUBLIC_BASE_URL": "img.example.com",
                "IMGSTAX_BUKET": "typo",
            }
        )
    names = [p.split("=")[0].split(":")[0] for p in info.value.problems]
    assert names == [
        "IMGSTAX_PUBLIC_BASE_URL",
        "IMGSTAX_API_KEYS",
        "IMGSTAX_SIGNING_KEYS",
        "IMGSTAX_S3_BUCKET",
        "IMGSTAX_MAX_SOURCE_BYTES",
        "IMGSTAX_ALLOW_PRIVATE_SOURCES",
        "IMGSTAX_RENDER_WORKERS",
        "IMGSTAX_RENDER_TIMEOUT",
        "IMGSTAX_BUKET",
    ]
    assert "between 1 and 256" in str(info.value)
    assert "0 (no limit) or between 1 and 3600" in str(info.value)


def test_secrets_never_appear_in_repr_or_errors() -> None:
    secret = "supersecretvalue-123456"
    settings = load_settings(
        {"IMGSTAX_API_KEYS": f"alpha:{secret}", "IMGSTAX_SIGNING_KEYS": GOOD_SIGNING}
    )
    assert secret not in repr(settings)
    assert GOOD_SIGNING not in repr(settings)
    with pytest.raises(ConfigError) as info:
        load_settings({"IMGSTAX_SIGNING_KEYS": "tooshort-secret"})
    assert "tooshort-secret" not in str(info.value)


def test_every_setting_is_described_with_a_group() -> None:
    catalogue = describe()
    assert len({s.name for s in catalogue}) == len(catalogue) >= 16
    assert all(s.description and s.group for s in catalogue)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.render = settings.render  # type: ignore[misc]
