"""Every curl example of the API reference, with its source served by a loopback HTTP server.

The reference's https://example.com/... URLs become URLs of a test server on 127.0.0.1 (the
origin runs with IMGSTAX_ALLOW_PRIVATE_SOURCES=true for that), and each answer's url must serve
bytes of the claimed format and dimensions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.origin.conftest import FIXTURES
from tests.origin.test_api import ASSET_FIELDS, fetch_asset
from tests.support.http_source import HttpSource, body

PHOTO = (FIXTURES / "photo-baseline-4000x2250-cc0.jpg").read_bytes()
PNG = (FIXTURES / "png-rgba-transparency.png").read_bytes()


@pytest.fixture(scope="module")
def source() -> Iterator[HttpSource]:
    with HttpSource() as server:
        server.route("/photo.jpg", body(PHOTO, "image/jpeg"))
        server.route("/image.jpg", body(PHOTO, "image/jpeg"))
        server.route("/photo.png", body(PNG, "image/png"))
        yield server


EXAMPLES = [
    pytest.param(
        "compress",
        {"source": {"url": "/photo.jpg"}, "quality": 80},
        (4000, 2250, "Jpeg"),
        id="compress",
    ),
    pytest.param(
        "convert",
        {"source": {"url": "/photo.png"}, "format": "Webp"},
        (300, 225, "Webp"),
        id="convert",
    ),
    pytest.param(
        "compress-to-size",
        {"source": {"url": "/photo.jpg"}, "maxSizeBytes": 153600},
        (None, None, "Jpeg"),
        id="compress-to-size",
    ),
    pytest.param(
        "resize",
        {"source": {"url": "/photo.jpg"}, "width": 800, "height": 600},
        (800, 600, "Jpeg"),
        id="resize",
    ),
    pytest.param(
        "downsize",
        {"source": {"url": "/photo.jpg"}, "maxWidth": 1920, "maxHeight": 1080},
        (1920, 1080, "Jpeg"),
        id="downsize-dimensions",
    ),
    pytest.param(
        "downsize",
        {"source": {"url": "/photo.jpg"}, "maxWidth": 0, "maxHeight": 0, "maxSizeBytes": 10485760},
        (4000, 2250, "Jpeg"),
        id="downsize-file-size",
    ),
    pytest.param(
        "process",
        {
            "source": {"url": "/image.jpg"},
            "resize": {"width": 3000},
            "format": {"type": "Jpeg", "quality": 90},
        },
        (3000, 1688, "Jpeg"),
        id="process-basic",
    ),
    pytest.param(
        "process",
        {
            "source": {"url": "/image.jpg"},
            "resize": {"width": 1200, "height": 630},
            "format": {"type": "Jpeg", "targetFileSizeBytes": 153600},
        },
        (1200, 630, "Jpeg"),
        id="process-target-file-size",
    ),
    pytest.param(
        "packs/instagram-feed", {"source": {"url": "/image.jpg"}}, (1080, 1350, "Jpeg"), id="pack"
    ),
]


@pytest.mark.parametrize(("endpoint", "request_body", "expected"), EXAMPLES)
def test_reference_example(
    client: TestClient,
    alpha: dict[str, str],
    source: HttpSource,
    endpoint: str,
    request_body: dict[str, object],
    expected: tuple[int | None, int | None, str],
) -> None:
    url = source.url(str(request_body["source"]["url"]))  # type: ignore[index]
    response = client.post(
        f"/v1/{endpoint}",
        json={**request_body, "source": {"url": url}},
        headers={**alpha, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == ASSET_FIELDS
    width, height, fmt = expected
    assert answer["format"] == fmt
    if width is not None:
        assert (answer["width"], answer["height"]) == (width, height)
    data = fetch_asset(client, answer)
    # The reference sends the API key on Get Asset too; for a public asset it changes nothing.
    keyed = client.get(answer["url"], headers=alpha)
    assert keyed.status_code == 200 and keyed.content == data
    if "maxSizeBytes" in request_body:
        assert len(data) <= int(str(request_body["maxSizeBytes"]))
    if endpoint == "downsize" and request_body.get("maxSizeBytes") == 10485760:
        assert data == PHOTO  # already within every cap: the source's own bytes
    fmt_options = request_body.get("format")
    if isinstance(fmt_options, dict) and "targetFileSizeBytes" in fmt_options:
        assert len(data) <= fmt_options["targetFileSizeBytes"]
