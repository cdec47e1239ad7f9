"""The source budget: the source bytes held at once are bounded (4 x IMGSTAX_MAX_SOURCE_BYTES),
charged as they arrive; past it a request is refused with 503 and the bytes are given back
when a request ends. An upload body that trickles in is cut off with 408."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

import origin.app
import origin.budget
import origin.uploads
from cache.filetree import FileTreeStore
from cache.store import ObjectInfo, StoredObject
from config import load_settings
from origin import create_app
from origin.budget import SourceBudget
from tests.support.http_source import Exchange, HttpSource

from .conftest import FIXTURES, KEY_ALPHA, origin_environ, put_in_storage

ALPHA = {"X-API-Key": KEY_ALPHA}
CAP = 300_000  # IMGSTAX_MAX_SOURCE_BYTES here: a budget of 1.2 MB
PHOTO = (FIXTURES / "photo-medium-1024x768-camera.jpg").read_bytes()  # 180 KB


@pytest.fixture
def served(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app under a real uvicorn on loopback (bodies stream in as a client sends them)."""
    monkeypatch.setattr(origin.budget, "MIN_BUDGET", 0)  # the budget is 4 x CAP here
    environ = origin_environ(data_dir, max_source_bytes=str(CAP))
    config = uvicorn.Config(
        create_app(load_settings(environ)), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def stalled_upload(address: str, sent: int) -> socket.socket:
    """A raw POST /v1/uploads that announces CAP bytes, sends `sent` of them and waits."""
    host, port = address.split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    head = (
        f"POST /v1/uploads HTTP/1.1\r\nHost: {address}\r\nX-API-Key: {KEY_ALPHA}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {CAP}\r\n\r\n"
    )
    conn.sendall(head.encode() + PHOTO[:sent])
    return conn


def upload(address: str) -> httpx.Response:
    return httpx.post(
        f"http://{address}/v1/uploads",
        content=PHOTO,
        headers={**ALPHA, "Content-Type": "image/jpeg"},
        timeout=20,
    )


def accepted_soon(address: str) -> httpx.Response:
    deadline = time.monotonic() + 10
    while (answer := upload(address)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


def test_uploads_past_the_budget_are_refused_until_the_bytes_are_given_back(
    served: str,
) -> None:
    # Five stalled uploads of 170 KB each hold 850 KB; the sixth, 180 KB more, still fits,
    # and a seventh would not.
    stalled = [stalled_upload(served, 170_000) for _ in range(5)]
    try:
        time.sleep(0.5)
        fits = upload(served)
        stalled.append(stalled_upload(served, 170_000))
        time.sleep(0.3)
        refused = upload(served)
    finally:
        for conn in stalled:
            conn.close()
    assert fits.status_code == 200
    assert refused.status_code == 503
    assert refused.json()["code"] == "OVERLOADED"
    assert "source bytes" in refused.json()["message"]
    assert refused.headers["retry-after"] == "1"
    assert accepted_soon(served).status_code == 200  # the clients that left gave them back


def test_downloads_count_against_the_same_budget(served: str) -> None:
    release = threading.Event()

    def half_then_wait(exchange: Exchange) -> None:
        exchange.head(200, {"Content-Type": "image/jpeg", "Content-Length": str(len(PHOTO))})
        exchange.send(PHOTO[:170_000])
        exchange.server.note_body(170_000)
        release.wait(10)
        exchange.send(PHOTO[170_000:])

    with HttpSource() as source:
        source.route("/photo.jpg", half_then_wait)
        answers: list[int] = []

        def fetch() -> None:
            response = httpx.post(
                f"http://{served}/v1/compress",
                json={"source": {"url": source.url("/photo.jpg")}},
                headers=ALPHA,
                timeout=20,
            )
            answers.append(response.status_code)

        fetches = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in fetches:
            thread.start()
        try:
            assert source.wait_for(lambda: source.body_bytes_sent >= 6 * 170_000, 10)
            time.sleep(0.3)
            refused = upload(served)
        finally:
            release.set()
            for thread in fetches:
                thread.join(20)
    assert refused.status_code == 503 and refused.json()["code"] == "OVERLOADED"
    assert answers == [200] * 6  # the downloads themselves were within the budget
    assert accepted_soon(served).status_code == 200


def test_an_upload_body_that_trickles_in_is_cut_off_with_408(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(origin.uploads, "UPLOAD_READ_SECONDS", 0.5)
    slow = stalled_upload(served, 16)
    started = time.monotonic()
    try:
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = slow.recv(4096)
            if not chunk:
                break
            reply += chunk
    finally:
        slow.close()
    elapsed = time.monotonic() - started
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["code"] == "REQUEST_TIMEOUT"
    assert elapsed < 5
    assert upload(served).status_code == 200


def test_the_budget_is_four_sources_of_the_largest_size_and_never_under_64_mib() -> None:
    assert origin.budget.budget_for(50 * 1024 * 1024).limit == 200 * 1024 * 1024
    assert origin.budget.budget_for(CAP).limit == 64 * 1024 * 1024


class CountingStorage:
    """The data dir's storage/ folder, counting the objects read out of it."""

    def __init__(self, root: Path) -> None:
        self.inner = FileTreeStore(root)
        self.reads = 0

    async def head(self, key: str) -> ObjectInfo | None:
        return await self.inner.head(key)

    async def get(self, key: str) -> StoredObject | None:
        self.reads += 1
        return await self.inner.get(key)


def test_a_stored_original_is_charged_before_it_is_read(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = SourceBudget(4 * CAP)
    monkeypatch.setattr(origin.app, "budget_for", lambda _: budget)
    key = put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")
    storage = CountingStorage(data_dir / "storage")
    settings = load_settings(origin_environ(data_dir, max_source_bytes=str(CAP)))
    with TestClient(create_app(settings, storage=storage)) as client:

        def resize(width: int) -> httpx.Response:
            body = {"source": {"storageKey": key}, "width": width}
            return client.post("/v1/resize", json=body, headers=ALPHA)

        assert resize(200).status_code == 200 and storage.reads == 1
        assert budget.used == 0  # given back once the render was done
        # Other requests hold all but 100 KB: the 180 KB object is refused before a byte of
        # it is read, and read once they have given their bytes back.
        budget.used = budget.limit - 100_000
        refused = resize(201)
        assert refused.status_code == 503 and refused.json()["code"] == "OVERLOADED"
        assert refused.headers["retry-after"] == "1"
        assert storage.reads == 1
        budget.used = 0
        assert resize(202).status_code == 200 and storage.reads == 2


class ReplacedInBetween(CountingStorage):
    """An object replaced between head and get by one over the size limit."""

    async def get(self, key: str) -> StoredObject | None:
        self.reads += 1
        return StoredObject(b"\xff\xd8" + b"\0" * CAP, "image/jpeg")


def test_a_stored_original_replaced_by_an_oversize_one_while_read_is_refused(
    data_dir: Path,
) -> None:
    key = put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")
    storage = ReplacedInBetween(data_dir / "storage")
    settings = load_settings(origin_environ(data_dir, max_source_bytes=str(CAP)))
    with TestClient(create_app(settings, storage=storage)) as client:
        body = {"source": {"storageKey": key}, "width": 200}
        answer = client.post("/v1/resize", json=body, headers=ALPHA)
    assert storage.reads == 1
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_REQUEST"
    assert f"exceeds maximum allowed size ({CAP} bytes)" in answer.json()["message"]
