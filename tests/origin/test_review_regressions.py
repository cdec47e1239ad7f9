"""Defects a review found, each pinned by a test that fails if the fix is undone."""

from __future__ import annotations

import base64
import threading
import time
import zlib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from tests.origin.conftest import KEY_ALPHA, SIGNING, Clock, origin_environ, put_in_storage
from tests.origin.test_assets import mint
from tests.support.http_source import HttpSource, body

ALPHA = {"X-API-Key": KEY_ALPHA}


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        pytest.param(
            "/v1/compress-to-size",
            '{"source":{"storageKey":"k"},"maxSizeBytes":153600,"format":5}',
            id="format-number",
        ),
        pytest.param(
            "/v1/compress-to-size",
            '{"source":{"storageKey":"k"},"maxSizeBytes":153600,"format":true}',
            id="format-bool",
        ),
        pytest.param(
            "/v1/compress-to-size",
            '{"source":{"storageKey":"k"},"maxSizeBytes":153600,"format":["Jpeg"]}',
            id="format-list",
        ),
        pytest.param(
            "/v1/compress",
            '{"source":{"storageKey":"k"},"metadata":{"a":"\\ud800"}}',
            id="surrogate-value",
        ),
        pytest.param(
            "/v1/compress",
            '{"source":{"storageKey":"k"},"metadata":{"\\ud800":"x"}}',
            id="surrogate-key",
        ),
        pytest.param(
            "/v1/compress", '{"source":{"storageKey":"k"},"\\ud800":1}', id="surrogate-field"
        ),
        pytest.param(
            "/v1/compress", '{"source":{"storageKey":"a\\ud800.jpg"}}', id="surrogate-storage-key"
        ),
        pytest.param(
            "/v1/compress", '{"source":{"url":"http://127.0.0.1:1/\\ud800"}}', id="surrogate-url"
        ),
        pytest.param("/v1/compress", "[" * 100_000 + "]" * 100_000, id="deep-array"),
        pytest.param(
            "/v1/process", '{"format":{"type":' + "[" * 990 + "]" * 990 + "}}", id="deep-object"
        ),
        pytest.param(
            "/v1/convert",
            '{"source":{"storageKey":"k"},"format":{"quality":50}}',
            id="convert-without-type",
        ),
    ],
)
def test_odd_bodies_are_400_never_500(client: TestClient, path: str, raw: str) -> None:
    response = client.post(
        path, content=raw.encode(), headers={**ALPHA, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 413), response.text
    assert response.json()["code"] == (
        "INVALID_REQUEST" if response.status_code == 400 else "PAYLOAD_TOO_LARGE"
    )


def test_nulls_mean_absent(client: TestClient, photo_key: str) -> None:
    response = client.post(
        "/v1/process",
        json={
            "source": {"storageKey": photo_key},
            "effects": {
                "blurRadius": None,
                "grayscale": None,
                "backgroundColor": None,
                "pad": None,
            },
            "output": {"public": None, "ttlSeconds": None},
        },
        headers=ALPHA,
    )
    assert response.status_code == 200, response.text


def _payload(asset_id: str) -> bytes:
    encoded = asset_id.split(".")[-2] if asset_id.startswith(".") else asset_id.split(".")[0]
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    return zlib.decompress(raw) if asset_id.startswith(".") else raw


def test_asset_id_does_not_reveal_the_source_or_the_key_id(client: TestClient) -> None:
    photo = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "tiny-1x1.png"
    with HttpSource() as server:
        server.route("/p.png", body(photo.read_bytes()))
        url = server.url("/p.png?X-Amz-Credential=AKIA123&X-Amz-Signature=deadbeefsecret")
        answer = client.post("/v1/compress", json={"source": {"url": url}}, headers=ALPHA).json()
    payload = _payload(answer["assetId"])
    assert b'"format"' in payload  # the decoding above really reads the payload
    for secret in (b"deadbeefsecret", b"AKIA123", b"127.0.0.1", b"alpha"):
        assert secret not in payload


def test_signing_key_rotation_keeps_old_assets(data_dir: Path, photo_key: str) -> None:
    old = load_settings(origin_environ(data_dir))
    with TestClient(create_app(old)) as client:
        answer = mint(client, photo_key)
    rotated = load_settings(origin_environ(data_dir, signing_keys=f"{'n' * 40},{SIGNING}"))
    with TestClient(create_app(rotated)) as client:
        assert client.get(str(answer["url"])).status_code == 200
    dropped = load_settings(origin_environ(data_dir, signing_keys="n" * 40))
    with TestClient(create_app(dropped)) as client:
        assert client.get(str(answer["url"])).status_code == 404


def test_idempotent_replay_is_the_first_answer_not_a_new_one(
    settings: object, photo_key: str
) -> None:
    clock = Clock()
    with TestClient(create_app(settings, clock=clock)) as client:  # type: ignore[arg-type]
        request = {
            "source": {"storageKey": photo_key},
            "width": 90,
            "output": {"idempotencyKey": "again"},
        }
        first = client.post("/v1/resize", json=request, headers=ALPHA).json()
        clock.now += 30  # a new mint would carry a later expiry and another id
        second = client.post("/v1/resize", json=request, headers=ALPHA).json()
        fresh = client.post("/v1/resize", json={**request, "output": {}}, headers=ALPHA).json()
    assert second == first
    assert fresh["expiresAt"] != first["expiresAt"]


def test_a_longer_lived_asset_extends_the_shared_render(data_dir: Path, photo_key: str) -> None:
    settings = load_settings(origin_environ(data_dir))
    clock = Clock()
    with TestClient(create_app(settings, clock=clock)) as client:
        mint(client, photo_key, ttlSeconds=60)
        long = mint(client, photo_key, ttlSeconds=7200)
    clock.now += 3600
    # A new process an hour later: the render must still be in the second tier.
    real_later = time.time() + 3600
    with TestClient(create_app(settings, clock=clock)) as client:
        cache = client.app.state.services.cache  # type: ignore[attr-defined]
        cache.second_tier._clock = lambda: real_later  # the disk tier judges expiry by its clock
        assert client.get(str(long["url"])).status_code == 200
        assert cache.counters.loads == 0 and cache.counters.second_tier_hits == 1


def test_http_503_with_retry_after_when_the_pool_is_full(
    data_dir: Path, photo_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import origin.assets
    import origin.sources

    gate = threading.Event()
    real = origin.assets.render

    def slow(*args: object, **kwargs: object) -> object:
        gate.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(origin.assets, "render", slow)
    loads: list[object] = []
    real_load = origin.sources.Sources.load

    async def counted_load(self: object, source: object, key_id: str) -> object:
        loads.append(source)
        return await real_load(self, source, key_id)  # type: ignore[arg-type]

    monkeypatch.setattr(origin.sources.Sources, "load", counted_load)
    settings = load_settings(origin_environ(data_dir, render_workers="1", render_queue="0"))
    with TestClient(create_app(settings)) as client:
        results: list[int] = []
        blocked = threading.Thread(
            target=lambda: results.append(
                client.post(
                    "/v1/resize",
                    json={"source": {"storageKey": photo_key}, "width": 31},
                    headers=ALPHA,
                ).status_code
            )
        )
        blocked.start()
        time.sleep(0.5)
        refused = client.post(
            "/v1/resize", json={"source": {"storageKey": photo_key}, "width": 32}, headers=ALPHA
        )
        ready = client.get("/readyz")
        gate.set()
        blocked.join(10)
    assert refused.status_code == 503 and refused.json()["code"] == "OVERLOADED"
    assert refused.headers["retry-after"] == "1"
    assert ready.status_code == 200  # a busy pool is still a ready origin
    assert results == [200]
    assert len(loads) == 1  # the refused request never read its source


def test_head_sends_no_body_bytes(client: TestClient, photo_key: str) -> None:
    import anyio

    answer = mint(client, photo_key)
    path = "/v1/assets/" + str(answer["assetId"])
    app = client.app
    sent: list[dict[str, object]] = []

    async def call() -> None:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "HEAD",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [],
            "scheme": "http",
            "server": ("testserver", 80),
            "http_version": "1.1",
            "root_path": "",
        }
        await app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(call)
    start = sent[0]
    assert start["status"] == 200
    length = dict(start["headers"])[b"content-length"]  # type: ignore[call-overload]
    assert int(length) > 1000
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b""  # type: ignore[misc]


def test_storage_object_over_the_limit_is_refused_before_it_is_read(data_dir: Path) -> None:
    settings = load_settings(origin_environ(data_dir, max_source_bytes="4096"))
    key = put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")
    with TestClient(create_app(settings)) as client:
        store = client.app.state.services.assets._sources._storage  # type: ignore[attr-defined]
        reads: list[str] = []
        original_get = store.get

        async def counting_get(k: str) -> object:
            reads.append(k)
            return await original_get(k)

        store.get = counting_get
        response = client.post("/v1/compress", json={"source": {"storageKey": key}}, headers=ALPHA)
    assert (
        response.status_code == 400
        and "exceeds maximum allowed size (4096 bytes)" in response.json()["message"]
    )
    assert reads == []


def test_a_non_ascii_source_gets_an_asset_url_that_opens(
    client: TestClient, data_dir: Path
) -> None:
    """A 1,000-byte storage key of 'é's sealed as \\u00e9 escapes made a 4,420-character id,
    and GET refuses ids over 4,096: a 200 with a URL that never opened."""
    key = "/".join(["é" * 120] * 4) + ".png"
    put_in_storage(data_dir, "tiny-1x1.png", key)
    answer = client.post("/v1/compress", json={"source": {"storageKey": key}}, headers=ALPHA)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["assetId"]) <= 4096
    assert client.get(answer.json()["url"]).status_code == 200


def test_a_source_too_long_for_an_asset_url_is_refused_before_rendering(
    client: TestClient,
) -> None:
    photo = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "tiny-1x1.png"
    with HttpSource() as server:
        server.route("/p.png", body(photo.read_bytes()))
        url = server.url("/p.png?x=" + "\U0001f600" * 1000)  # 4 bytes each in UTF-8
        answer = client.post("/v1/compress", json={"source": {"url": url}}, headers=ALPHA)
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_REQUEST"
    assert "limit is 4096" in answer.json()["message"]
    assert client.app.state.services.cache.counters.loads == 0  # type: ignore[attr-defined]
