"""Fixtures for the hardening tests: a loopback-only network fence, apps and their stores.

The fence is autouse for the whole package: every ``connect`` to an address beyond loopback, and
every name lookup other than ``localhost``, is refused and recorded, and the test fails. A broken
SSRF guard therefore fails a test instead of sending a packet anywhere. Subprocesses (origins
under uvicorn, moto_server) are outside the fence; they are only ever pointed at loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cache import TieredCache
from config import Settings, load_settings
from origin import create_app
from origin.ssrf import Address
from tests.origin.conftest import FIXTURES, KEY_ALPHA, KEY_BETA, SIGNING, put_in_storage

__all__ = [
    "ALPHA",
    "FIXTURES",
    "KEY_ALPHA",
    "KEY_BETA",
    "SIGNING",
    "LoopbackResolver",
    "hardening_environ",
    "put_in_storage",
    "stored_files",
]

ALPHA = {"X-API-Key": KEY_ALPHA}


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse and record every connection and lookup beyond loopback; the test fails on any."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(address: object) -> bool:
        if isinstance(address, tuple) and address:
            return _is_loopback(address[0])
        return isinstance(address, str | bytes)  # AF_UNIX paths: local by definition

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            attempts.append(address)
            raise ConnectionRefusedError(f"test fence: {address!r} is not loopback")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            attempts.append(address)
            return 111  # ECONNREFUSED
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "", b"", "localhost", b"localhost") and not _is_loopback(host):
            attempts.append(("lookup", host))
            raise socket.gaierror(socket.EAI_NONAME, f"test fence: no lookups of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"something tried to leave loopback: {attempts}"


class LoopbackResolver:
    """A resolver from a table (name -> answers, one per lookup, the last repeating).

    Names not in the table do not resolve. The answers are what the test says; whether they may
    be connected to is the SSRF guard's business, and the fence's if the guard fails.
    """

    def __init__(self, table: dict[str, list[list[str]]] | None = None) -> None:
        self.table = table or {}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[Address]:
        self.lookups.append(host)
        answers = self.table.get(host)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers[min(self.lookups.count(host), len(answers)) - 1]
        return [ipaddress.ip_address(text) for text in answer]


def hardening_environ(data_dir: Path, **extra: str) -> dict[str, str]:
    """The origin's environment for these tests; ``extra`` adds IMGSTAX_<NAME> variables."""
    environ = {
        "IMGSTAX_API_KEYS": f"alpha:{KEY_ALPHA},beta:{KEY_BETA}",
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_RENDER_WORKERS": "1",
        "IMGSTAX_RENDER_QUEUE": "0",
        "IMGSTAX_MEMORY_CACHE_BYTES": str(64 * 1024 * 1024),
    }
    environ.update({f"IMGSTAX_{k.upper()}": v for k, v in extra.items()})
    return environ


def stored_files(data_dir: Path, *namespaces: str) -> set[str]:
    """Every object file of the disk tier in these namespaces (all of them if none given)."""
    root = data_dir / "store"
    names = namespaces or ("renders", "sources", "uploads", "idempotency")
    return {
        str(path.relative_to(root))
        for name in names
        for path in (root / name).rglob("*")
        if path.is_file()
    }


def cache_of(client: TestClient) -> TieredCache:
    cache: TieredCache = client.app.state.services.cache  # type: ignore[attr-defined]
    return cache


def drain(client: TestClient) -> None:
    """Wait for the app's write-behinds, so that the disk tier shows everything written."""
    portal = client.portal
    assert portal is not None
    portal.call(cache_of(client).drain)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_client(data_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Start an app (raise_server_exceptions=True) on data_dir; closed after the test."""
    clients: list[TestClient] = []

    def make(settings: Settings | None = None, **kwargs: Any) -> TestClient:
        settings = settings or load_settings(hardening_environ(data_dir))
        client = TestClient(create_app(settings, **kwargs), raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)
