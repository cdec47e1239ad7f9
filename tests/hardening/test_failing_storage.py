"""S3 stalls or goes away in the middle of a run.

Assets are still served — from memory, or rendered again from a source that can still be read —
and every answer that depends on S3 is a clear 503 OVERLOADED "Storage Unavailable" with
Retry-After: an upload is never acknowledged unless S3 holds it, and an upload that S3 cannot be
asked about is not reported missing. S3 is a real moto_server, stalled behind a TCP proxy (the
connection opens, no byte comes back) or stopped outright under a real ``imgstax serve``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.testclient import TestClient

from cache import S3Store
from config import load_settings
from tests.hardening.conftest import (
    ALPHA,
    FIXTURES,
    KEY_ALPHA,
    SIGNING,
    cache_of,
    hardening_environ,
)
from tests.support.http_source import HttpSource, body
from tests.support.moto import (
    REGION,
    MotoServer,
    isolated_session,
    s3_origin_environ,
    start_moto_server,
)
from tests.support.origin_process import running_origin
from tests.support.stores import CREDENTIALS, FAST_TIMEOUTS
from tests.support.tcp_proxy import StallingProxy
from tests.transforms.images import decode

BUCKET = "imgstax-hardening"
PHOTO = (FIXTURES / "photo-medium-1024x768-camera.jpg").read_bytes()
# A stalled S3 costs a caller the store's deadline (1.5 s here) per call it makes, at most a few.
BOUND = 8.0


def make_bucket(endpoint: str, home: Path) -> None:
    async def create() -> None:
        store = S3Store(
            BUCKET,
            endpoint_url=endpoint,
            region=REGION,
            credentials=CREDENTIALS,
            session=isolated_session(home),
        )
        async with store:
            await store.ensure_bucket()

    anyio.run(create)


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto_server of this test's own: stopping it leaves every other test alone."""
    server = start_moto_server(tmp_path / "moto.log")
    try:
        make_bucket(server.endpoint_url, tmp_path)
        yield server
    finally:
        server.stop()


@pytest.fixture
def source() -> Iterator[HttpSource]:
    with HttpSource() as server:
        server.route("/photo.jpg", body(PHOTO, "image/jpeg"))
        yield server


def assert_storage_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "OVERLOADED"
    assert response.json()["error"] == "Storage Unavailable"
    # The log has the store's own words; the caller learns no endpoint, bucket or path.
    message = response.json()["message"]
    assert message == "The image store is unavailable; try again shortly.", message
    assert int(response.headers["retry-after"]) >= 1
    assert "uploadId" not in response.json()


@pytest.mark.slow
def test_a_stalled_s3_mid_run(
    make_client: Callable[..., TestClient],
    data_dir: Path,
    tmp_path: Path,
    moto: MotoServer,
    source: HttpSource,
) -> None:
    with StallingProxy("127.0.0.1", moto.port) as proxy:
        store = S3Store(
            BUCKET,
            endpoint_url=proxy.url,
            region=REGION,
            credentials=CREDENTIALS,
            session=isolated_session(tmp_path),
            **FAST_TIMEOUTS,
        )
        settings = load_settings(
            hardening_environ(data_dir, allow_private_sources="true", render_workers="2")
        )
        client = make_client(settings, second_tier=store)
        # While S3 answers: an upload, an asset from a URL, and its bytes.
        uploaded = client.post("/v1/uploads", content=PHOTO, headers=ALPHA)
        assert uploaded.status_code == 200, uploaded.text
        upload_id = uploaded.json()["uploadId"]
        body = {"source": {"url": source.url("/photo.jpg")}, "width": 320}
        answer = client.post("/v1/resize", json=body, headers=ALPHA).json()
        first = client.get(answer["url"])
        assert first.status_code == 200

        proxy.stall()

        started = time.monotonic()
        assert_storage_unavailable(client.post("/v1/uploads", content=PHOTO, headers=ALPHA))
        files = {"file": ("p.jpg", PHOTO, "image/jpeg")}
        assert_storage_unavailable(client.post("/v1/uploads", files=files, headers=ALPHA))
        assert time.monotonic() - started < 2 * BOUND

        # An upload that S3 cannot be asked about is unavailable, not missing.
        started = time.monotonic()
        by_upload = client.post(
            "/v1/resize", json={"source": {"uploadId": upload_id}, "width": 99}, headers=ALPHA
        )
        assert_storage_unavailable(by_upload)
        assert time.monotonic() - started < BOUND

        # From memory at once.
        assert client.get(answer["url"]).content == first.content
        # Rendered again when memory has lost it: the render and the ingested source are out of
        # reach, the URL is read again.
        cache_of(client).memory.clear()
        started = time.monotonic()
        again = client.get(answer["url"])
        assert again.status_code == 200 and again.headers["etag"] == first.headers["etag"]
        assert decode(again.content).width == 320
        assert time.monotonic() - started < BOUND
        # New assets are made too.
        fresh = client.post("/v1/resize", json={**body, "width": 200}, headers=ALPHA)
        assert fresh.status_code == 200 and fresh.json()["width"] == 200
        assert client.get("/readyz").status_code == 503

        proxy.resume()
        assert client.post("/v1/uploads", content=PHOTO, headers=ALPHA).status_code == 200
        by_upload = client.post(
            "/v1/resize", json={"source": {"uploadId": upload_id}, "width": 99}, headers=ALPHA
        )
        assert by_upload.status_code == 200, by_upload.text
        assert cache_of(client).counters.faults > 0


def s3_environ(tmp: Path, moto: MotoServer) -> dict[str, str]:
    environ = s3_origin_environ(
        tmp, moto, BUCKET, api_keys=f"alpha:{KEY_ALPHA}", signing_keys=SIGNING
    )
    return {**environ, "IMGSTAX_ALLOW_PRIVATE_SOURCES": "true"}


@pytest.mark.slow
def test_s3_stopped_under_a_running_origin(
    tmp_path: Path, moto: MotoServer, source: HttpSource
) -> None:
    with (
        running_origin(s3_environ(tmp_path, moto), tmp_path) as origin,
        httpx.Client(base_url=origin.url, timeout=30, headers=ALPHA) as http,
    ):
        assert http.get("/readyz").status_code == 200
        upload_id = http.post("/v1/uploads", content=PHOTO).json()["uploadId"]
        body = {"source": {"url": source.url("/photo.jpg")}, "width": 240}
        answer = http.post("/v1/resize", json=body).json()
        first = http.get(answer["url"])
        assert first.status_code == 200
        time.sleep(0.5)  # the write-behinds reach S3

        moto.stop()

        assert_storage_unavailable(http.post("/v1/uploads", content=PHOTO))
        assert_storage_unavailable(
            http.post("/v1/resize", json={"source": {"uploadId": upload_id}, "width": 50})
        )
        assert http.get(answer["url"]).content == first.content
        fresh = http.post("/v1/resize", json={**body, "width": 100})
        assert fresh.status_code == 200 and fresh.json()["width"] == 100
        assert http.get(fresh.json()["url"]).status_code == 200
        assert http.get("/readyz").status_code == 503
        assert origin.running
    log = origin.log()
    assert "Traceback" not in log and KEY_ALPHA not in log
