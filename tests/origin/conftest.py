"""Fixtures for the origin: settings on a temporary data dir, the app under a test client."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import Settings, load_settings
from origin import create_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
KEY_ALPHA = "alpha-secret-0123456789abcdef"
KEY_BETA = "beta-secret-0123456789abcdef"
SIGNING = "signing-key-0123456789abcdef0123456789abcdef"


def origin_environ(data_dir: Path, **extra: str) -> dict[str, str]:
    environ = {
        "IMGSTAX_API_KEYS": f"alpha:{KEY_ALPHA},beta:{KEY_BETA}",
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_ALLOW_PRIVATE_SOURCES": "true",
        "IMGSTAX_RENDER_WORKERS": "2",
        "IMGSTAX_MEMORY_CACHE_BYTES": str(64 * 1024 * 1024),
    }
    environ.update({f"IMGSTAX_{k.upper()}": v for k, v in extra.items()})
    return environ


def put_in_storage(data_dir: Path, name: str, key: str | None = None) -> str:
    """Copy a corpus image into the data dir's storage/ folder; the storageKey to use."""
    key = key or f"corpus/{name}"
    target = data_dir / "storage" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / name, target)
    return key


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings(origin_environ(data_dir))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def alpha() -> dict[str, str]:
    return {"X-API-Key": KEY_ALPHA}


@pytest.fixture
def photo_key(data_dir: Path) -> str:
    return put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")


class Clock:
    """A clock the test sets (``clock.now += 3600``), starting at the current whole second."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
