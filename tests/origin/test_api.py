from __future__ import annotations

import asyncio
import hashlib
import io
import json
import types
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.origin.conftest import FIXTURES, KEY_BETA, put_in_storage
from tests.transforms.images import decode, loader

LOADERS = {
    "Jpeg": "jpegload_buffer",
    "Png": "pngload_buffer",
    "Webp": "webpload_buffer",
    "Avif": "heifload_buffer",
}
ASSET_FIELDS = {
    "assetId",
    "url",
    "width",
    "height",
    "sizeBytes",
    "format",
    "mimeType",
    "expiresAt",
    "metadata",
}


def fetch_asset(client: TestClient, answer: dict[str, object]) -> bytes:
    """GET the answer's url; check the bytes are what the answer claims."""
    url = str(answer["url"])
    assert url.startswith("http://testserver/v1/assets/")
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == answer["mimeType"]
    data = response.content
    assert len(data) == answer["sizeBytes"]
    assert loader(data) == LOADERS[str(answer["format"])]
    image = decode(data)
    assert (image.width, image.height) == (answer["width"], answer["height"])
    return data


ENDPOINTS = [
    pytest.param("compress", {"quality": 80, "format": "Jpeg"}, (1024, 768, "Jpeg"), id="compress"),
    pytest.param("compress", {}, (1024, 768, "Jpeg"), id="compress-defaults"),
    pytest.param("convert", {"format": "Webp", "quality": 90}, (1024, 768, "Webp"), id="convert"),
    pytest.param("convert", {"format": "png"}, (1024, 768, "Png"), id="convert-lowercase"),
    pytest.param(
        "compress-to-size", {"maxSizeBytes": 60000, "format": "Jpeg"}, (1024, 768, "Jpeg"), id="cts"
    ),
    pytest.param(
        "resize",
        {
            "width": 1200,
            "height": 630,
            "fit": "Cover",
            "gravity": "Center",
            "format": {"type": "Jpeg", "quality": 90},
        },
        (1200, 630, "Jpeg"),
        id="resize",
    ),
    pytest.param("resize", {"width": 800, "height": 600}, (800, 600, "Jpeg"), id="resize-example"),
    pytest.param(
        "downsize",
        {"maxWidth": 640, "maxHeight": 480, "format": {"type": "Jpeg", "quality": 85}},
        (640, 480, "Jpeg"),
        id="downsize",
    ),
    pytest.param(
        "downsize",
        {"maxWidth": 0, "maxHeight": 0, "maxSizeBytes": 10485760, "format": {"type": "Jpeg"}},
        (1024, 768, "Jpeg"),
        id="downsize-bytes",
    ),
    pytest.param(
        "process",
        {
            "resize": {"width": 3000, "height": 2000, "fit": "Cover", "gravity": "Center"},
            "format": {
                "type": "Jpeg",
                "quality": 90,
                "compressionPriority": "Balanced",
                "targetFileSizeBytes": 153600,
            },
            "effects": {"grayscale": False, "blurRadius": 0, "backgroundColor": "#FFFFFF"},
            "output": {
                "ttlSeconds": 86400,
                "public": True,
                "idempotencyKey": "optional-unique-key",
            },
            "metadata": {"userId": "123", "projectId": "abc"},
        },
        (3000, 2000, "Jpeg"),
        id="process-reference-body",
    ),
    pytest.param(
        "process",
        {"resize": {"width": 3000}, "format": {"type": "Jpeg", "quality": 90}},
        (3000, 2250, "Jpeg"),
        id="process-basic",
    ),
    pytest.param(
        "process",
        {
            "resize": {"width": 1200, "height": 630},
            "format": {"type": "Jpeg", "targetFileSizeBytes": 153600},
        },
        (1200, 630, "Jpeg"),
        id="process-target",
    ),
    pytest.param("packs/instagram-feed", {}, (1080, 1350, "Jpeg"), id="pack"),
    pytest.param(
        "packs/youtube-thumbnail",
        {"output": {"ttlSeconds": 86400, "idempotencyKey": "optional-key"}},
        (1280, 720, "Jpeg"),
        id="pack-output",
    ),
]


@pytest.mark.parametrize(("endpoint", "fields", "expected"), ENDPOINTS)
def test_every_endpoint_answers_the_documented_shape(
    client: TestClient,
    alpha: dict[str, str],
    photo_key: str,
    endpoint: str,
    fields: dict[str, object],
    expected: tuple[int, int, str],
) -> None:
    body = {"source": {"storageKey": photo_key}, **fields}
    response = client.post(f"/v1/{endpoint}", json=body, headers=alpha)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == ASSET_FIELDS
    assert (answer["width"], answer["height"], answer["format"]) == expected
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["x-ratelimit-limit"] == "600"
    assert answer["metadata"] == fields.get("metadata", {})
    assert answer["expiresAt"].endswith("Z")
    data = fetch_asset(client, answer)
    target = fields.get("format")
    if isinstance(target, dict) and "targetFileSizeBytes" in target:
        assert len(data) <= int(target["targetFileSizeBytes"])


def test_uploads_raw_and_multipart_feed_the_endpoints(
    client: TestClient, alpha: dict[str, str]
) -> None:
    raw = (FIXTURES / "png-rgba-transparency.png").read_bytes()
    first = client.post("/v1/uploads", content=raw, headers={**alpha, "Content-Type": "image/png"})
    assert first.status_code == 200, first.text
    upload = first.json()
    assert upload["width"] == 300 and upload["height"] == 225 and upload["format"] == "Png"
    assert upload["sizeBytes"] == len(raw) and upload["uploadId"].startswith("up_")
    files = {
        "file": ("photo.jpg", io.BytesIO((FIXTURES / "Landscape_6.jpg").read_bytes()), "image/jpeg")
    }
    second = client.post("/v1/uploads", files=files, headers=alpha)
    assert second.status_code == 200, second.text
    assert (second.json()["width"], second.json()["height"]) == (1800, 1200)
    answer = client.post(
        "/v1/resize", json={"source": {"uploadId": upload["uploadId"]}, "width": 150}, headers=alpha
    ).json()
    assert (answer["width"], answer["height"], answer["format"]) == (150, 113, "Png")
    fetch_asset(client, answer)


def test_a_large_upload_is_hashed_off_the_event_loop(
    client: TestClient, alpha: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 50 MB upload hashed on the loop would stall every other request for ~100 ms."""
    on_loop: list[bool] = []

    def sha256(data: bytes) -> hashlib._Hash:
        if len(data) > 256 * 1024:
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
        return hashlib.sha256(data)

    monkeypatch.setattr("origin.sources.hashlib", types.SimpleNamespace(sha256=sha256))
    raw = (FIXTURES / "Landscape_6.jpg").read_bytes()
    assert len(raw) > 256 * 1024
    upload = client.post("/v1/uploads", content=raw, headers=alpha)
    assert upload.status_code == 200, upload.text
    assert on_loop == [False]
    body = {"source": {"uploadId": upload.json()["uploadId"]}, "width": 120}
    assert client.post("/v1/resize", json=body, headers=alpha).json()["width"] == 120


def test_an_upload_belongs_to_its_api_key(client: TestClient, alpha: dict[str, str]) -> None:
    raw = (FIXTURES / "tiny-1x1.png").read_bytes()
    upload_id = client.post("/v1/uploads", content=raw, headers=alpha).json()["uploadId"]
    other = client.post(
        "/v1/compress", json={"source": {"uploadId": upload_id}}, headers={"X-API-Key": KEY_BETA}
    )
    assert other.status_code == 400 and other.json()["code"] == "SOURCE_NOT_FOUND"


def test_list_packs(client: TestClient, alpha: dict[str, str]) -> None:
    packs = client.get("/v1/packs", headers=alpha).json()["packs"]
    assert {p["id"] for p in packs} == {
        "instagram-feed",
        "instagram-story",
        "tiktok",
        "youtube-thumbnail",
        "twitter-post",
        "linkedin-post",
        "pinterest-pin",
    }


def test_same_transform_shares_one_render_and_etag(
    client: TestClient, alpha: dict[str, str], photo_key: str
) -> None:
    body = {"source": {"storageKey": photo_key}, "width": 200}
    a = client.post("/v1/resize", json=body, headers=alpha).json()
    b = client.post(
        "/v1/resize", json={**body, "output": {"ttlSeconds": 600}}, headers={"X-API-Key": KEY_BETA}
    ).json()
    assert a["assetId"] != b["assetId"]
    ra, rb = client.get(a["url"]), client.get(b["url"])
    assert ra.headers["etag"] == rb.headers["etag"] and ra.content == rb.content


def test_url_uses_the_public_base_url(
    data_dir: Path, photo_key: str, alpha: dict[str, str]
) -> None:
    from config import load_settings
    from origin import create_app
    from tests.origin.conftest import origin_environ

    settings = load_settings(origin_environ(data_dir, public_base_url="https://img.example.com/"))
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/v1/compress", json={"source": {"storageKey": photo_key}}, headers=alpha
        ).json()
    assert answer["url"] == f"https://img.example.com/v1/assets/{answer['assetId']}"


def test_idempotency_returns_the_first_answer_and_refuses_a_different_body(
    client: TestClient, alpha: dict[str, str], photo_key: str
) -> None:
    body = {"source": {"storageKey": photo_key}, "width": 100, "output": {"idempotencyKey": "k-1"}}
    first = client.post("/v1/resize", json=body, headers=alpha)
    again = client.post("/v1/resize", json=dict(reversed(list(body.items()))), headers=alpha)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = client.post("/v1/resize", json={**body, "width": 101}, headers=alpha)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_CONFLICT"
    # The same idempotency key from another API key is another request.
    beta = client.post("/v1/resize", json={**body, "width": 101}, headers={"X-API-Key": KEY_BETA})
    assert beta.status_code == 200


def test_request_errors(client: TestClient, alpha: dict[str, str], photo_key: str) -> None:
    cases = [
        ("/v1/resize", {"source": {"storageKey": photo_key}}, 400, "INVALID_REQUEST"),
        ("/v1/resize", {"source": {"storageKey": photo_key}, "width": 0}, 400, "INVALID_REQUEST"),
        (
            "/v1/resize",
            {"source": {"storageKey": photo_key}, "width": 10, "colour": "red"},
            400,
            "INVALID_REQUEST",
        ),
        ("/v1/convert", {"source": {"storageKey": photo_key}}, 400, "INVALID_REQUEST"),
        ("/v1/compress-to-size", {"source": {"storageKey": photo_key}}, 400, "INVALID_REQUEST"),
        (
            "/v1/compress-to-size",
            {"source": {"storageKey": photo_key}, "maxSizeBytes": 5000, "format": "Png"},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/v1/downsize",
            {"source": {"storageKey": photo_key}, "maxWidth": 0},
            400,
            "INVALID_REQUEST",
        ),
        ("/v1/compress", {"source": {}}, 400, "INVALID_REQUEST"),
        (
            "/v1/compress",
            {"source": {"storageKey": photo_key, "uploadId": "x"}},
            400,
            "INVALID_REQUEST",
        ),
        ("/v1/compress", {}, 400, "INVALID_REQUEST"),
        ("/v1/compress", {"source": {"storageKey": "nope.jpg"}}, 400, "SOURCE_NOT_FOUND"),
        ("/v1/compress", {"source": {"storageKey": "../secrets"}}, 400, "INVALID_REQUEST"),
        ("/v1/compress", {"source": {"uploadId": "up_missing"}}, 400, "SOURCE_NOT_FOUND"),
        (
            "/v1/compress",
            {"source": {"storageKey": photo_key}, "output": {"ttlSeconds": 10}},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/v1/compress",
            {"source": {"storageKey": photo_key}, "metadata": {"a": 1}},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/v1/compress",
            {"source": {"storageKey": photo_key}, "metadata": {str(i): "v" for i in range(21)}},
            400,
            "INVALID_REQUEST",
        ),
        ("/v1/packs/myspace", {"source": {"storageKey": photo_key}}, 404, "NOT_FOUND"),
        (
            "/v1/process",
            {
                "source": {"storageKey": photo_key},
                "resize": {"width": 100, "height": 100},
                "format": {"type": "Jpeg", "targetFileSizeBytes": 300},
            },
            400,
            "TARGET_SIZE_UNREACHABLE",
        ),
    ]
    for path, body, status, code in cases:
        response = client.post(path, json=body, headers=alpha)
        assert (response.status_code, response.json()["code"]) == (status, code), (
            path,
            body,
            response.text,
        )
        assert set(response.json()) == {"error", "message", "code"}
        assert response.headers["cache-control"] == "no-store"


def test_bad_json_and_unknown_routes(client: TestClient, alpha: dict[str, str]) -> None:
    for content in (b"{", b"[]", b"null", b"\xff\xfe"):
        response = client.post(
            "/v1/compress", content=content, headers={**alpha, "Content-Type": "application/json"}
        )
        assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    assert (
        client.post("/v1/compress", content=b"{" + b" " * 300_000 + b"}", headers=alpha).status_code
        == 413
    )
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    for path in ("/v1/compress/", "/v1/packs/"):
        slashed = client.post(path, json={}, headers=alpha, follow_redirects=False)
        assert slashed.status_code == 404 and slashed.json()["code"] == "NOT_FOUND", path
    wrong = client.get("/v1/compress", headers=alpha)
    assert wrong.status_code == 405 and set(wrong.json()) == {"error", "message", "code"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty.jpg", "UNSUPPORTED_IMAGE"),
        ("truncated.jpg", "UNSUPPORTED_IMAGE"),
        ("heic-iphone-p3.heic", "UNSUPPORTED_IMAGE"),
        ("bomb-png-16383x16383.png", "IMAGE_TOO_LARGE"),
        ("bomb-svg-10000000x10000000.svg", "IMAGE_TOO_LARGE"),
    ],
)
def test_hostile_sources_and_uploads(
    client: TestClient, alpha: dict[str, str], data_dir: Path, name: str, code: str
) -> None:
    key = put_in_storage(data_dir, name)
    response = client.post(
        "/v1/process", json={"source": {"storageKey": key}, "resize": {"width": 100}}, headers=alpha
    )
    assert (response.status_code, response.json()["code"]) == (400, code)
    raw = (FIXTURES / name).read_bytes()
    upload = client.post("/v1/uploads", content=raw, headers=alpha)
    assert upload.status_code == 400
    assert upload.json()["code"] in (
        code,
        "INVALID_REQUEST",
    )  # empty body is a plain invalid request
    assert "Traceback" not in upload.text and "/work" not in upload.text
    assert client.get("/healthz").status_code == 200


def test_upload_over_the_size_limit_is_413(data_dir: Path, alpha: dict[str, str]) -> None:
    from config import load_settings
    from origin import create_app
    from tests.origin.conftest import origin_environ

    settings = load_settings(origin_environ(data_dir, max_source_bytes="2048"))
    with TestClient(create_app(settings)) as client:
        big = (FIXTURES / "photo-medium-1024x768-camera.jpg").read_bytes()
        raw = client.post("/v1/uploads", content=big, headers=alpha)
        assert raw.status_code == 413 and raw.json()["code"] == "PAYLOAD_TOO_LARGE"
        files = {"file": ("a.jpg", io.BytesIO(big), "image/jpeg")}
        multi = client.post("/v1/uploads", files=files, headers=alpha)
        assert multi.status_code == 413
        assert "limit of 2048 bytes" in multi.json()["message"]  # not 2048 + the envelope's room
        key = put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")
        stored = client.post("/v1/compress", json={"source": {"storageKey": key}}, headers=alpha)
        assert stored.status_code == 400
        assert stored.json()["message"] == (
            f"Source image size ({len(big)} bytes) exceeds maximum allowed size (2048 bytes)"
        )


def test_openapi_names_every_route(client: TestClient) -> None:
    from openapi_spec_validator import validate

    document = client.get("/openapi.json").json()
    validate(document)
    served = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        served.add(route.path)
    assert served == set(document["paths"])
    assert json.dumps(document)  # serialisable


def test_health_ready_metrics(client: TestClient, alpha: dict[str, str], photo_key: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": "ok", "libvips": "ok"}
    answer = client.post(
        "/v1/resize", json={"source": {"storageKey": photo_key}, "width": 64}, headers=alpha
    ).json()
    client.get(answer["url"])
    text = client.get("/metrics").text
    assert 'imgstax_requests_total{method="POST",route="/v1/resize",status="200"} 1.0' in text
    assert 'imgstax_renders_total{format="Jpeg"}' in text
    assert 'imgstax_cache_hits_total{tier="memory"}' in text
    assert "imgstax_render_queue_depth" in text
