"""A source server that hangs, trickles, truncates, fails or resets, through the API.

Each answers SOURCE_TIMEOUT (504) or SOURCE_UNREACHABLE (502) within the fetch deadline, the
connection to the source is closed (nothing keeps downloading behind the answer), and the one
render worker is free afterwards: a render right after succeeds with RENDER_WORKERS=1 and
RENDER_QUEUE=0.
"""

from __future__ import annotations

import dataclasses
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import load_settings
from tests.hardening.conftest import ALPHA, FIXTURES, hardening_environ, put_in_storage
from tests.support import http_source as routes
from tests.support.http_source import Exchange, HttpSource

DEADLINE = 1.5
TINY = (FIXTURES / "tiny-1x1.png").read_bytes()
_widths = itertools.count(10)


def garbage_answer(ex: Exchange) -> None:
    ex.send(b"HELLO THERE\r\n\r\n")


def close_at_once(ex: Exchange) -> None:
    ex.sock.shutdown(socket.SHUT_RDWR)


def headers_then_hang(ex: Exchange) -> None:
    if ex.head(200, {"Content-Type": "image/png", "Content-Length": str(len(TINY))}):
        ex.wait(3600)


def half_the_image_then_reset(ex: Exchange) -> None:
    if ex.head(200, {"Content-Type": "image/png", "Content-Length": str(len(TINY))}):
        ex.send(TINY[: len(TINY) // 2])
        routes.reset()(ex)


FAILURES = {
    "hung": (routes.hang(), 504, "SOURCE_TIMEOUT"),
    "headers-then-hung": (headers_then_hang, 504, "SOURCE_TIMEOUT"),
    "trickling": (routes.trickle(100_000, 0.05), 504, "SOURCE_TIMEOUT"),
    "truncated": (routes.declared(10_000, 500), 502, "SOURCE_UNREACHABLE"),
    "500": (routes.status(500), 502, "SOURCE_UNREACHABLE"),
    "502": (routes.status(502), 502, "SOURCE_UNREACHABLE"),
    "503": (routes.status(503), 502, "SOURCE_UNREACHABLE"),
    "reset": (routes.reset(), 502, "SOURCE_UNREACHABLE"),
    "reset-mid-body": (half_the_image_then_reset, 502, "SOURCE_UNREACHABLE"),
    "closed": (close_at_once, 502, "SOURCE_UNREACHABLE"),
    "not-http": (garbage_answer, 502, "SOURCE_UNREACHABLE"),
}


@pytest.fixture
def server() -> Iterator[HttpSource]:
    with HttpSource() as source:
        yield source


@pytest.fixture
def client(make_client: Callable[..., TestClient], data_dir: Path) -> TestClient:
    base = load_settings(hardening_environ(data_dir, allow_private_sources="true"))
    sources = dataclasses.replace(base.sources, total_timeout=DEADLINE, connect_timeout=0.5)
    return make_client(dataclasses.replace(base, sources=sources))


def render_succeeds(client: TestClient, data_dir: Path) -> None:
    key = put_in_storage(data_dir, "tiny-1x1.png", "normal/tiny.png")
    response = client.post(
        "/v1/resize", json={"source": {"storageKey": key}, "width": next(_widths)}, headers=ALPHA
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failing_source_is_a_clear_error_within_the_deadline(
    client: TestClient, server: HttpSource, data_dir: Path, name: str
) -> None:
    handler, status, code = FAILURES[name]
    server.route("/image.png", handler)
    started = time.monotonic()
    response = client.post(
        "/v1/resize", json={"source": {"url": server.url("/image.png")}, "width": 8}, headers=ALPHA
    )
    elapsed = time.monotonic() - started
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert elapsed < DEADLINE + 1.0
    assert response.headers["cache-control"] == "no-store"
    # The connection is closed, not left downloading behind the answer.
    assert server.wait_for(lambda: all(ex.sock.fileno() == -1 for ex in server.requests), 3)
    render_succeeds(client, data_dir)


def test_a_refused_connection_is_unreachable(client: TestClient, data_dir: Path) -> None:
    with socket.socket() as placeholder:  # a port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    response = client.post(
        "/v1/resize",
        json={"source": {"url": f"http://127.0.0.1:{port}/x.png"}, "width": 8},
        headers=ALPHA,
    )
    assert (response.status_code, response.json()["code"]) == (502, "SOURCE_UNREACHABLE")
    assert "refused" in response.json()["message"]
    render_succeeds(client, data_dir)


def test_many_hung_sources_at_once_leave_the_worker_free(
    client: TestClient, server: HttpSource, data_dir: Path
) -> None:
    """Fetches do not hold render slots: eight hung fetches and a render, side by side."""
    server.route("/image.png", routes.hang())
    answers: list[int] = []

    def fetch() -> None:
        response = client.post(
            "/v1/compress", json={"source": {"url": server.url("/image.png")}}, headers=ALPHA
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert server.wait_for(lambda: server.accepted == 8, 3)
    render_succeeds(client, data_dir)  # while all eight hang
    for thread in threads:
        thread.join(10)
    assert answers == [504] * 8
