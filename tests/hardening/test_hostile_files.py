"""Every hostile file of the corpus, through POST /v1/process and POST /v1/uploads.

Each one gets its documented 4xx (never a 500), leaves nothing behind in any tier (no render, no
upload, no ingested source), and leaves the one render worker free: a normal render right after
succeeds with RENDER_WORKERS=1 and RENDER_QUEUE=0. The hostile files that are valid images
(a lying extension, a WebP that looks like SVG, a script-laden SVG) render as what they are.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from config import load_settings
from tests.hardening.conftest import (
    ALPHA,
    FIXTURES,
    cache_of,
    drain,
    hardening_environ,
    put_in_storage,
    stored_files,
)
from tests.support.http_source import HttpSource, body
from tests.support.origin_process import running_origin
from tests.transforms.images import decode

# The JPEG bomb is 99.6 MP, just under the default cap of 100 MP (where shrink-on-load renders
# it cheaply, see tests/transforms); these tests run with a 50 MP cap so that it is refused too.
CAP = "50000000"
REFUSED = [
    pytest.param("empty.jpg", "UNSUPPORTED_IMAGE", id="empty"),
    pytest.param("truncated.jpg", "UNSUPPORTED_IMAGE", id="truncated"),
    pytest.param("heic-iphone-p3.heic", "UNSUPPORTED_IMAGE", id="heic-without-decoder"),
    pytest.param("bomb-png-16383x16383.png", "IMAGE_TOO_LARGE", id="png-bomb"),
    pytest.param("bomb-jpeg-9643x10328.jpg", "IMAGE_TOO_LARGE", id="jpeg-bomb"),
    pytest.param("bomb-svg-10000000x10000000.svg", "IMAGE_TOO_LARGE", id="svg-bomb"),
]
ACCEPTED = [
    # name, (width, height, format of a render, format of the upload)
    pytest.param("png-with-jpg-extension.jpg", (128, 128, "Png", "Png"), id="lying-extension"),
    pytest.param("looks-like-svg.webp", (256, 256, "Webp", "Webp"), id="webp-looking-like-svg"),
    pytest.param("svg-with-scripts.svg", (200, 100, "Png", "Svg"), id="script-laden-svg"),
]
_widths = itertools.count(40)


@pytest.fixture
def source() -> Iterator[HttpSource]:
    with HttpSource() as server:
        yield server


@pytest.fixture
def client(make_client: Callable[..., TestClient], data_dir: Path) -> TestClient:
    settings = load_settings(
        hardening_environ(data_dir, max_source_pixels=CAP, allow_private_sources="true")
    )
    return make_client(settings)


def post_source(
    client: TestClient, data_dir: Path, source: HttpSource, name: str, via: str
) -> tuple[int, dict[str, object]]:
    """POST /v1/process with the corpus file as a storage object or a URL."""
    if via == "storageKey":
        src = {"storageKey": put_in_storage(data_dir, name)}
    else:
        source.route(f"/{name}", body((FIXTURES / name).read_bytes(), "image/jpeg"))
        src = {"url": source.url(f"/{name}")}
    response = client.post(
        "/v1/process", json={"source": src, "resize": {"width": 64}}, headers=ALPHA
    )
    return response.status_code, response.json()


def upload(client: TestClient, name: str, via: str) -> tuple[int, dict[str, object]]:
    raw = (FIXTURES / name).read_bytes()
    if via == "raw":
        response = client.post(
            "/v1/uploads", content=raw, headers={**ALPHA, "Content-Type": "image/jpeg"}
        )
    else:
        files = {"file": (name, io.BytesIO(raw), "image/jpeg")}
        response = client.post("/v1/uploads", files=files, headers=ALPHA)
    return response.status_code, response.json()


def assert_worker_free(client: TestClient, data_dir: Path) -> None:
    """A normal render (a new one: a width not asked before) succeeds right away."""
    key = put_in_storage(data_dir, "tiny-1x1.png", "normal/tiny.png")
    response = client.post(
        "/v1/resize", json={"source": {"storageKey": key}, "width": next(_widths)}, headers=ALPHA
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("via", ["storageKey", "url"])
@pytest.mark.parametrize(("name", "code"), REFUSED)
def test_refused_sources_leave_nothing_behind(
    client: TestClient, data_dir: Path, source: HttpSource, name: str, code: str, via: str
) -> None:
    memory = cache_of(client).memory
    before, in_memory = stored_files(data_dir), len(memory)
    status, answer = post_source(client, data_dir, source, name, via)
    assert (status, answer["code"]) == (400, code), answer
    assert set(answer) == {"error", "message", "code"}
    drain(client)
    assert stored_files(data_dir) == before  # no render, and no ingested copy of the source
    assert len(memory) == in_memory
    assert_worker_free(client, data_dir)


@pytest.mark.parametrize("via", ["raw", "multipart"])
@pytest.mark.parametrize(("name", "code"), REFUSED)
def test_refused_uploads_leave_nothing_behind(
    client: TestClient, data_dir: Path, name: str, code: str, via: str
) -> None:
    memory = cache_of(client).memory
    before, in_memory = stored_files(data_dir), len(memory)
    status, answer = upload(client, name, via)
    # An empty raw body is refused before it is looked at: a plain invalid request.
    expected = "INVALID_REQUEST" if (name, via) == ("empty.jpg", "raw") else code
    assert (status, answer["code"]) == (400, expected), answer
    assert "uploadId" not in answer
    drain(client)
    assert stored_files(data_dir) == before
    assert len(memory) == in_memory
    assert_worker_free(client, data_dir)


@pytest.mark.parametrize(("name", "expected"), ACCEPTED)
def test_hostile_but_valid_files_render_as_what_they_are(
    client: TestClient,
    data_dir: Path,
    source: HttpSource,
    name: str,
    expected: tuple[int, int, str, str],
) -> None:
    width, height, rendered, uploaded = expected
    for via in ("storageKey", "url"):
        status, answer = post_source(client, data_dir, source, name, via)
        assert status == 200, answer
        assert (answer["width"], answer["format"]) == (64, rendered)
        image = decode(client.get(str(answer["url"])).content)
        assert image.width == 64
    for via in ("raw", "multipart"):
        status, answer = upload(client, name, via)
        assert status == 200, answer
        assert (answer["width"], answer["height"], answer["format"]) == (width, height, uploaded)


@pytest.mark.slow
def test_a_real_worker_survives_every_hostile_file(tmp_path: Path) -> None:
    """Under uvicorn, one process, one render slot: after each hostile file the same process
    answers a normal render (a crash in a decoder would take the process with it)."""
    data_dir = tmp_path / "data"
    names = [param.values[0] for param in [*REFUSED, *ACCEPTED]]
    for name in names:
        put_in_storage(data_dir, str(name), f"hostile/{name}")
    put_in_storage(data_dir, "tiny-1x1.png", "normal/tiny.png")
    environ = {"HOME": str(tmp_path), **hardening_environ(data_dir, max_source_pixels=CAP)}
    with (
        running_origin(environ, tmp_path) as origin,
        httpx.Client(base_url=origin.url, headers=ALPHA, timeout=60) as http,
    ):
        pid = origin.process.pid
        for width, name in enumerate(names, start=20):
            raw = (FIXTURES / str(name)).read_bytes()
            answers = [
                http.post("/v1/uploads", content=raw),
                http.post("/v1/uploads", files={"file": (str(name), raw)}),
                http.post(
                    "/v1/process",
                    json={"source": {"storageKey": f"hostile/{name}"}, "resize": {"width": 64}},
                ),
            ]
            assert all(a.status_code in (200, 400) for a in answers), (name, answers)
            normal = http.post(
                "/v1/resize", json={"source": {"storageKey": "normal/tiny.png"}, "width": width}
            )
            assert normal.status_code == 200, (name, normal.text)
            assert origin.running and origin.process.pid == pid
    assert "Traceback" not in origin.log()
