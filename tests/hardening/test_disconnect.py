"""Clients that go away, against a real ``imgstax serve`` (uvicorn) on loopback.

A client that disconnects while its source is being fetched cancels the fetch: the source
server sees the connection closed at once, not at the fetch deadline. A client that leaves in
the middle of its upload or JSON body is no server error. A render already running in a worker
thread cannot be interrupted; it keeps its slot until it finishes, then the slot is free and
the result is cached, so asking again costs no second render.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import ALPHA, KEY_ALPHA, SIGNING, put_in_storage
from tests.support import http_source as routes
from tests.support.http_source import HttpSource
from tests.support.origin_process import OriginProcess, running_origin

pytestmark = pytest.mark.slow

SLOW_RENDER = {
    "resize": {"width": 4000},
    "format": {"type": "Webp", "compressionPriority": "Quality"},
}


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[OriginProcess]:
    data_dir = tmp_path / "data"
    put_in_storage(data_dir, "photo-large-6000x4000-progressive.jpg", "large.jpg")
    put_in_storage(data_dir, "tiny-1x1.png", "tiny.png")
    environ = {
        "HOME": str(tmp_path),
        "IMGSTAX_API_KEYS": f"alpha:{KEY_ALPHA}",
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_ALLOW_PRIVATE_SOURCES": "true",
        "IMGSTAX_RENDER_WORKERS": "1",
        "IMGSTAX_RENDER_QUEUE": "0",
    }
    with running_origin(environ, tmp_path) as process:
        yield process


def send_and_leave(
    origin: OriginProcess, path: str, body: bytes, length: int | None = None
) -> socket.socket:
    """Open a raw connection and send a POST (all of body, which may be less than length)."""
    sock = socket.create_connection(("127.0.0.1", origin.port), timeout=5)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {origin.address}\r\nX-API-Key: {KEY_ALPHA}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length or len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def requests(origin: OriginProcess, route: str, status: str) -> float:
    """How many requests to route were answered with status."""
    return metric(origin, rf'^imgstax_requests_total\{{.*route="{route}",status="{status}"')


def metric(origin: OriginProcess, pattern: str) -> float:
    """The sum of every sample whose line matches pattern (0 if none)."""
    total = 0.0
    for line in origin.metrics().splitlines():
        if not line.startswith("#") and re.search(pattern, line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def render_succeeds(http: httpx.Client, width: int) -> bool:
    body = {"source": {"storageKey": "tiny.png"}, "width": width}
    return http.post("/v1/resize", json=body).status_code == 200


def test_leaving_during_a_slow_fetch_stops_the_fetch(origin: OriginProcess) -> None:
    with (
        HttpSource() as source,
        httpx.Client(base_url=origin.url, headers=ALPHA, timeout=30) as http,
    ):
        source.route("/slow.png", routes.trickle(100_000, 0.05))  # 80 minutes at this pace
        body = json.dumps({"source": {"url": source.url("/slow.png")}}).encode()
        sock = send_and_leave(origin, "/v1/compress", body)
        assert source.wait_for(lambda: source.body_bytes_sent >= 5, 5)
        left = time.monotonic()
        sock.close()
        # The fetch deadline is 10 s; the source must see the connection go well before.
        assert source.wait_for(lambda: source.disconnects >= 1, 5)
        assert time.monotonic() - left < 2
        assert render_succeeds(http, 11)
        assert requests(origin, "/v1/compress", "499") == 1
    log = origin.log()
    assert "Traceback" not in log and "unhandled" not in log


@pytest.mark.parametrize("path", ["/v1/uploads", "/v1/process"])
def test_leaving_in_the_middle_of_a_body_is_no_server_error(
    origin: OriginProcess, path: str
) -> None:
    sock = send_and_leave(origin, path, b"\xff\xd8\xff" + b"\0" * 50_000, length=1_000_000)
    time.sleep(0.3)
    sock.close()
    with httpx.Client(base_url=origin.url, headers=ALPHA, timeout=30) as http:
        deadline = time.monotonic() + 5
        while requests(origin, path, "499") < 1:
            assert time.monotonic() < deadline, origin.metrics()
            time.sleep(0.1)
        assert metric(origin, r'^imgstax_requests_total\{.*status="500"') == 0
        assert render_succeeds(http, 12)
    log = origin.log()
    assert "Traceback" not in log and "unhandled" not in log and "Exception" not in log


def test_a_render_whose_client_left_frees_its_slot_and_is_cached(origin: OriginProcess) -> None:
    body = {"source": {"storageKey": "large.jpg"}, **SLOW_RENDER}
    with httpx.Client(base_url=origin.url, headers=ALPHA, timeout=60) as http:
        sock = send_and_leave(origin, "/v1/process", json.dumps(body).encode())
        deadline = time.monotonic() + 10
        while metric(origin, r"^imgstax_renders_running") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sock.close()
        # libvips cannot be stopped: the slot stays taken until the render is done...
        busy = http.post("/v1/resize", json={"source": {"storageKey": "tiny.png"}, "width": 13})
        assert (busy.status_code, busy.json()["code"]) == (503, "OVERLOADED")
        # ...and is free once it is.
        deadline = time.monotonic() + 30
        while not render_succeeds(http, 14):
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.2)
        assert metric(origin, r'^imgstax_renders_total\{format="Webp"\}') == 1
        # The abandoned render was kept: asking again is a cache hit, not a second render.
        again = http.post("/v1/process", json=body)
        assert again.status_code == 200 and again.json()["width"] == 4000
        assert metric(origin, r'^imgstax_renders_total\{format="Webp"\}') == 1
        assert requests(origin, "/v1/process", "499") == 1
