"""The real thing: `imgstax serve` under uvicorn in a subprocess, S3 on a moto_server process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.origin.conftest import FIXTURES, KEY_ALPHA, SIGNING
from tests.support.moto import (
    HOST,
    MotoServer,
    isolated_session,
    moto_server,
    s3_origin_environ,
)
from tests.support.origin_process import running_origin, start_origin
from tests.support.stores import open_s3_store
from tests.transforms.images import decode

BUCKET = "imgstax-e2e"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    home = tmp_path_factory.mktemp("moto")
    with moto_server(home / "moto.log") as server:

        async def make_bucket() -> None:
            session = isolated_session(home)
            async with open_s3_store(server.endpoint_url, session, bucket=BUCKET):
                pass

        anyio.run(make_bucket)
        yield server


def origin_environ(tmp: Path, moto: MotoServer) -> dict[str, str]:
    return s3_origin_environ(tmp, moto, BUCKET, api_keys=f"alpha:{KEY_ALPHA}", signing_keys=SIGNING)


@pytest.mark.slow
def test_serve_over_real_http_with_s3(tmp_path: Path, moto: MotoServer) -> None:
    environ = origin_environ(tmp_path, moto)
    first = start_origin(environ, tmp_path, args=("--workers", "2"))
    headers = {"X-API-Key": KEY_ALPHA}
    try:
        with httpx.Client(base_url=first.url, timeout=30) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            photo = (FIXTURES / "photo-progressive-1944x2592.jpg").read_bytes()
            upload = http.post("/v1/uploads", content=photo, headers=headers)
            assert upload.status_code == 200, upload.text
            upload_id = upload.json()["uploadId"]
            body = {"source": {"uploadId": upload_id}, "width": 400, "format": "Webp"}
            answer = http.post("/v1/resize", json=body, headers=headers).json()
            assert answer["url"].startswith(f"{first.url}/v1/assets/")
            image = http.get(answer["url"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
            assert (decode(image.content).width, decode(image.content).height) == (400, 533)
            etag = image.headers["etag"]
            assert http.get(answer["url"], headers={"If-None-Match": etag}).status_code == 304
            assert http.head(answer["url"]).headers["content-length"] == str(len(image.content))
            # Let the write-behind reach S3 before this process goes away.
            time.sleep(1.0)
    finally:
        first.stop()
    # A second origin, new process and empty memory, serves the same asset from S3.
    with running_origin(environ, tmp_path) as second:
        again = httpx.get(f"{second.url}/v1/assets/{answer['assetId']}", timeout=30)
        assert again.status_code == 200 and again.content == image.content
        metrics = second.metrics()
        assert 'imgstax_cache_hits_total{tier="second"} 1.0' in metrics
        assert 'imgstax_renders_total{format="Webp"}' not in metrics  # nothing rendered here
    log = first.log()
    assert KEY_ALPHA not in log and "Traceback" not in log


def test_a_websocket_upgrade_is_answered_as_plain_http(tmp_path: Path) -> None:
    """No route speaks WebSocket: uvicorn must not switch protocols (nor load websockets)."""
    environ = {"HOME": str(tmp_path), "IMGSTAX_DATA_DIR": str(tmp_path / "data")}
    with running_origin(environ, tmp_path) as origin:
        with socket.create_connection((HOST, origin.port), timeout=10) as conn:
            conn.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            status = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 200 OK", status
