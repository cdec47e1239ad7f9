"""Storage keys and upload ids that try to leave their namespace, through the API.

A small, distinctive image is planted next to the storage/ folder (and one elsewhere on the
machine); a key that reached it would render it. Every traversal form — ``..``, percent-encoded
and double-encoded dots and slashes, a leading ``/``, backslashes, NUL and other control
characters — is a 400 INVALID_REQUEST before any store is asked for anything (the stores'
reads are recorded). Keys that are odd but stay inside (a literal ``%c0%af``, fullwidth dots)
are plain misses, and a symlink inside storage/ that points outside is a miss too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvips
from starlette.testclient import TestClient

from config import load_settings
from tests.hardening.conftest import ALPHA, hardening_environ, put_in_storage

OUTSIDE = "planted-7x5.png"  # next to storage/, in the data dir
SECRET_SIZE = (7, 5)

TRAVERSALS = [
    "../planted-7x5.png",
    "a/../../planted-7x5.png",
    "a/b/../../../planted-7x5.png",
    "..",
    ".",
    "./planted-7x5.png",
    "a/./b.png",
    "a//b.png",
    "a/",
    "/planted-7x5.png",
    "/etc/hostname",
    "//etc/hostname",
    "{outside}",  # an absolute path to a planted file outside the data dir
    "%2e%2e/planted-7x5.png",
    "%2E%2E/planted-7x5.png",
    ".%2e/planted-7x5.png",
    "%2e%2e%2fplanted-7x5.png",
    "..%2fplanted-7x5.png",
    "..%2Fplanted-7x5.png",
    "%2fetc%2fhostname",
    "%252e%252e/planted-7x5.png",
    "%252e%252e%252fplanted-7x5.png",
    "%25252e%25252e/planted-7x5.png",
    "%2525252e%2525252e/planted-7x5.png",
    "..\\planted-7x5.png",
    "a\\..\\..\\planted-7x5.png",
    "..%5cplanted-7x5.png",
    "..%255cplanted-7x5.png",
    "planted-7x5.png\x00.jpg",
    "a\x00/../../planted-7x5.png",
    "%00",
    "a%00.png",
    "a%0a.png",
    "a\r\n.png",
    "a\x7f.png",
    "a\u0085.png",
]
CONTAINED = [
    "..%c0%afplanted-7x5.png",  # overlong UTF-8 '/': decodes to U+FFFD, not a separator
    "\uff0e\uff0e/planted-7x5.png",  # fullwidth dots are ordinary characters
    "...",
    "..planted-7x5.png",
    "a..b/planted-7x5.png",
]
BAD_UPLOAD_IDS = [
    "../store/uploads/x",
    "up_..%2f..%2fsecret",
    "up_/../x",
    "up_\x00",
    "up_" + "a" * 200,
    "up_\\..\\x",
]


class Recorder:
    """Wraps a store's get and head, recording every key asked for."""

    def __init__(self, store: Any) -> None:
        self.keys: list[str] = []
        for name in ("get", "head"):
            original = getattr(store, name)
            setattr(store, name, self._recording(original))

    def _recording(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def call(key: str, *args: Any, **kwargs: Any) -> Any:
            self.keys.append(key)
            return await original(key, *args, **kwargs)

        return call


def planted_image() -> bytes:
    image = pyvips.Image.black(*SECRET_SIZE).new_from_image([200, 10, 10])
    data: bytes = image.copy(interpretation="srgb").pngsave_buffer()
    return data


@pytest.fixture
def client(make_client: Callable[..., TestClient], data_dir: Path, tmp_path: Path) -> TestClient:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / OUTSIDE).write_bytes(planted_image())
    (tmp_path / "elsewhere.png").write_bytes(planted_image())
    put_in_storage(data_dir, "tiny-1x1.png", "inside/tiny.png")
    return make_client(load_settings(hardening_environ(data_dir)))


def recorders(client: TestClient) -> tuple[Recorder, Recorder]:
    services = client.app.state.services  # type: ignore[attr-defined]
    return Recorder(services.assets._sources._storage), Recorder(services.cache.second_tier)


def post(client: TestClient, source: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/process", json={"source": source, "format": "Png"}, headers=ALPHA)
    return response.status_code, response.json()


@pytest.mark.parametrize("key", TRAVERSALS)
def test_traversal_is_a_400_before_any_read(client: TestClient, tmp_path: Path, key: str) -> None:
    key = key.format(outside=tmp_path / "elsewhere.png")
    storage, second = recorders(client)
    status, answer = post(client, {"storageKey": key})
    assert (status, answer["code"]) == (400, "INVALID_REQUEST"), answer
    assert "Storage key" in answer["message"] or "non-empty" in answer["message"]
    assert storage.keys == [] and second.keys == []


@pytest.mark.parametrize("key", CONTAINED)
def test_odd_keys_that_stay_inside_are_misses(client: TestClient, key: str) -> None:
    storage, _ = recorders(client)
    status, answer = post(client, {"storageKey": key})
    assert (status, answer["code"]) == (400, "SOURCE_NOT_FOUND"), answer
    assert storage.keys and all(k == f"storage/{key}" for k in storage.keys)


def test_a_symlink_out_of_storage_is_a_miss(client: TestClient, data_dir: Path) -> None:
    link = data_dir / "storage" / "inside" / "link.png"
    link.symlink_to(data_dir / OUTSIDE)
    status, answer = post(client, {"storageKey": "inside/link.png"})
    assert (status, answer["code"]) == (400, "SOURCE_NOT_FOUND"), answer


def test_the_planted_file_would_be_noticed(client: TestClient, data_dir: Path) -> None:
    """Control: the same bytes inside storage/ render, at their own telltale size."""
    (data_dir / "storage" / "inside" / OUTSIDE).write_bytes((data_dir / OUTSIDE).read_bytes())
    status, answer = post(client, {"storageKey": f"inside/{OUTSIDE}"})
    assert status == 200 and (answer["width"], answer["height"]) == SECRET_SIZE


@pytest.mark.parametrize("upload_id", BAD_UPLOAD_IDS)
def test_upload_ids_cannot_name_another_object(client: TestClient, upload_id: str) -> None:
    storage, second = recorders(client)
    status, answer = post(client, {"uploadId": upload_id})
    assert (status, answer["code"]) == (400, "INVALID_REQUEST"), answer
    assert storage.keys == [] and second.keys == []
