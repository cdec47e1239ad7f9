"""Source URLs through the API: the SSRF guard, the size cap and the deadline, end to end."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from tests.origin.conftest import KEY_ALPHA, origin_environ
from tests.support.http_source import HttpSource, endless, hang, redirect

ALPHA = {"X-API-Key": KEY_ALPHA}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse, and record, any connection beyond loopback: a broken guard must fail, not leak."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = str(address[0]) if isinstance(address, tuple) else ""
        if not (host.startswith("127.") or host == "::1"):
            attempts.append(address)
            raise ConnectionRefusedError(f"test fence: {address!r} is not loopback")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == []


@pytest.fixture
def guarded(data_dir: Path) -> Iterator[TestClient]:
    """An origin with the default policy: no private sources."""
    settings = load_settings(origin_environ(data_dir, allow_private_sources="false"))
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def victim() -> Iterator[HttpSource]:
    with HttpSource() as server:
        yield server


FORBIDDEN = [
    "http://127.0.0.1:{port}/x.jpg",
    "http://10.0.0.1/x.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/x.jpg",
    "http://[::ffff:127.0.0.1]:{port}/x.jpg",
    "http://2130706433:{port}/x.jpg",
    "http://0x7f.1:{port}/x.jpg",
    "http://localhost:{port}/x.jpg",
    "file:///etc/passwd",
    "ftp://127.0.0.1/x.jpg",
]


@pytest.mark.parametrize("template", FORBIDDEN)
def test_forbidden_sources_make_no_connection(
    guarded: TestClient, victim: HttpSource, template: str
) -> None:
    url = template.format(port=victim.port)
    response = guarded.post("/v1/compress", json={"source": {"url": url}}, headers=ALPHA)
    assert response.status_code == 400
    assert response.json()["code"] == "SOURCE_FORBIDDEN"
    assert victim.accepted == 0


def test_a_redirect_to_a_forbidden_address_is_refused(data_dir: Path, victim: HttpSource) -> None:
    """The first hop is allowed (a policy that admits one loopback hop); the redirect is not."""
    from config.errors import SourceForbidden

    settings = load_settings(origin_environ(data_dir, allow_private_sources="false"))
    hops: list[str] = []

    def first_hop_only(host: str, ip: object) -> None:
        if hops or str(ip) != "127.0.0.1":
            raise SourceForbidden("That address is not allowed.")
        hops.append(host)

    with HttpSource() as redirector, TestClient(create_app(settings)) as client:
        redirector.route("/hop", redirect(f"http://127.0.0.1:{victim.port}/x.jpg"))
        client.app.state.services.assets._sources._fetcher._policy = first_hop_only  # type: ignore[attr-defined]
        response = client.post(
            "/v1/compress", json={"source": {"url": redirector.url("/hop")}}, headers=ALPHA
        )
        assert response.status_code == 400 and response.json()["code"] == "SOURCE_FORBIDDEN"
        assert redirector.accepted == 1 and victim.accepted == 0


def test_an_endless_body_stops_at_the_cap(data_dir: Path) -> None:
    settings = load_settings(origin_environ(data_dir, max_source_bytes="200000"))
    with HttpSource() as server, TestClient(create_app(settings)) as client:
        server.route("/endless", endless())
        response = client.post(
            "/v1/compress", json={"source": {"url": server.url("/endless")}}, headers=ALPHA
        )
        assert response.status_code == 400
        assert "exceeds maximum allowed size (200000 bytes)" in response.json()["message"]
        assert server.wait_for(lambda: server.disconnects >= 1)


def test_a_hung_source_times_out_within_the_deadline(data_dir: Path) -> None:
    base = load_settings(origin_environ(data_dir))
    settings = dataclasses.replace(
        base, sources=dataclasses.replace(base.sources, total_timeout=1.5)
    )
    with HttpSource() as server, TestClient(create_app(settings)) as client:
        server.route("/hang", hang())
        start = time.monotonic()
        response = client.post(
            "/v1/compress", json={"source": {"url": server.url("/hang")}}, headers=ALPHA
        )
        elapsed = time.monotonic() - start
    assert response.status_code == 504 and response.json()["code"] == "SOURCE_TIMEOUT"
    assert 1.4 < elapsed < 3.0


def test_an_internal_error_says_nothing_about_the_code(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, photo_key: str
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]

    async def broken(*args: object) -> object:
        raise RuntimeError("secret detail at /work/main/origin/assets.py")

    monkeypatch.setattr(services.assets, "create", broken)
    response = client.post(
        "/v1/compress", json={"source": {"storageKey": photo_key}}, headers=ALPHA
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal Server Error",
        "message": "The server failed to process the request.",
        "code": "INTERNAL_ERROR",
    }
    assert response.headers["cache-control"] == "no-store"
