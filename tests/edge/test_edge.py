"""The edge's promises, against real nginx and two real origins on one shared second tier.

The expiry test comes last: it waits for a 60 s asset to run out, and the module's other tests
do not depend on it.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from calendar import timegm
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from tests.edge.conftest import PHOTO, EdgeSite, requires_nginx
from tests.origin.conftest import FIXTURES, KEY_ALPHA, origin_environ, put_in_storage

pytestmark = requires_nginx
ALPHA = {"X-API-Key": KEY_ALPHA}


def make_asset(site: EdgeSite, width: int, **output: Any) -> dict[str, Any]:
    """POST /v1/resize through the edge; the answer."""
    body: dict[str, Any] = {"source": {"storageKey": site.storage_key}, "width": width}
    if output:
        body["output"] = output
    with site.client(**ALPHA) as http:
        answer = http.post("/v1/resize", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "private, no-store"
    assert "x-cache-status" not in answer.headers  # the API never touches the cache
    return dict(answer.json())


def path_of(answer: dict[str, Any]) -> str:
    return f"/v1/assets/{answer['assetId']}"


def expiry(answer: dict[str, Any]) -> int:
    return timegm(time.strptime(answer["expiresAt"], "%Y-%m-%dT%H:%M:%SZ"))


def answered_by(response: httpx.Response) -> str:
    """The origin that finally answered (X-Upstream lists every one nginx tried)."""
    return response.headers["x-upstream"].split(",")[-1].strip()


def test_a_public_asset_is_served_from_the_edge_the_second_time(site: EdgeSite) -> None:
    answer = make_asset(site, 300)
    # The origin builds the url from the Host the edge forwards: it points at the edge.
    assert answer["url"] == f"{site.edge.url}{path_of(answer)}"
    with site.client() as http:
        first = http.get(path_of(answer))
        assert first.status_code == 200 and first.headers["x-cache-status"] == "MISS"
        assert first.headers["cache-control"].startswith("public, max-age=")
        seen = site.asset_gets()

        second = http.get(path_of(answer))
        assert second.status_code == 200 and second.headers["x-cache-status"] == "HIT"
        assert second.content == first.content
        assert second.headers["content-type"] == "image/jpeg"
        assert second.headers["etag"] == first.headers["etag"]
        # A stored max-age would be too long by the entry's age; the absolute Expires is not.
        assert second.headers["cache-control"] == "public, immutable"
        assert second.headers["expires"] == formatdate(expiry(answer), usegmt=True)
        assert "x-upstream" not in second.headers

        etag = first.headers["etag"]
        conditional = http.get(path_of(answer), headers={"If-None-Match": etag})
        assert conditional.status_code == 304 and conditional.content == b""
        assert conditional.headers["etag"] == etag

        head = http.head(path_of(answer))
        assert head.status_code == 200 and head.headers["x-cache-status"] == "HIT"
        assert head.headers["content-length"] == str(len(first.content))

        # Query strings are not part of the cache key: they cannot multiply the entries.
        busted = http.get(f"{path_of(answer)}?v=2")
        assert busted.headers["x-cache-status"] == "HIT" and busted.content == first.content
    assert site.asset_gets() == seen  # no origin saw any of the requests after the first


def test_an_upload_passes_through_the_edge(site: EdgeSite) -> None:
    photo = (FIXTURES / PHOTO).read_bytes()
    with site.client(**ALPHA) as http:
        upload = http.post("/v1/uploads", content=photo)
        assert upload.status_code == 200, upload.text
        body = {"source": {"uploadId": upload.json()["uploadId"]}, "width": 123}
        answer = http.post("/v1/resize", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["width"] == 123
    with site.client() as http:
        assert http.get(answer.json()["url"]).status_code == 200


def length(raw: bytes) -> int:
    found = re.search(rb"(?i)\r\ncontent-length: (\d+)", raw)
    return int(found.group(1)) if found else 0


def test_an_oversized_body_is_refused_by_the_edge_in_the_api_shape(site: EdgeSite) -> None:
    host, port = site.edge.address
    request = (
        "POST /v1/uploads HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"X-API-Key: {KEY_ALPHA}\r\n"
        f"Content-Length: {60 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request.encode())  # the headers only: nginx must answer before any body
        raw = b""
        # Read just the answer: nginx then lingers a while for the body it will discard.
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < length(raw):
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert httpx.Response(413, content=body).json()["code"] == "PAYLOAD_TOO_LARGE"


def test_metrics_are_not_served_through_the_edge(site: EdgeSite) -> None:
    with site.client() as http:
        answer = http.get("/metrics")
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"


def test_private_assets_and_keyed_requests_never_touch_the_edge_cache(site: EdgeSite) -> None:
    private = make_asset(site, 310, public=False)
    before = site.asset_gets()
    with site.client(**ALPHA) as keyed, site.client() as keyless:
        for _ in range(2):
            got = keyed.get(path_of(private))
            assert got.status_code == 200 and got.headers["x-cache-status"] == "BYPASS"
            assert got.headers["cache-control"].startswith("private, max-age=")
        # Right after the keyed GETs, a keyless one still reaches an origin and is refused.
        refused = keyless.get(path_of(private))
        assert refused.status_code == 401 and refused.headers["x-cache-status"] == "MISS"
        assert refused.headers["cache-control"] == "no-store"
        assert keyless.head(path_of(private)).status_code == 401
        assert keyed.get(path_of(private)).headers["x-cache-status"] == "BYPASS"
    assert site.asset_gets() == before + 5  # nginx asks for a HEAD with a GET: it may cache it

    # A key on a public asset bypasses the cache too: it neither reads nor fills it.
    public = make_asset(site, 311)
    with site.client(**ALPHA) as keyed, site.client() as keyless:
        assert keyed.get(path_of(public)).headers["x-cache-status"] == "BYPASS"
        assert keyless.get(path_of(public)).headers["x-cache-status"] == "MISS"
        assert keyed.get(path_of(public)).headers["x-cache-status"] == "BYPASS"
        assert keyless.get(path_of(public)).headers["x-cache-status"] == "HIT"


def mint_elsewhere(tmp_path: Path, width: int) -> str:
    """An asset id made by another deployment sharing the signing key: no tier here has it.

    POST renders at once on the origin that answers, so an asset made through this edge is
    always in some tier already. This one must be rendered by the GET, from storage/.
    """
    data_dir = tmp_path / "elsewhere"
    key = put_in_storage(data_dir, PHOTO)
    body = {"source": {"storageKey": key}, "width": width, "format": "Webp"}
    with TestClient(create_app(load_settings(origin_environ(data_dir)))) as client:
        answer = client.post("/v1/resize", json=body, headers=ALPHA)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["assetId"])


def test_concurrent_misses_reach_an_origin_once_and_render_once(
    site: EdgeSite, tmp_path: Path
) -> None:
    path = f"/v1/assets/{mint_elsewhere(tmp_path, 320)}"
    gets, renders = site.asset_gets(), site.counter("imgstax_renders_total")
    start = threading.Barrier(20)

    def fetch(_: int) -> httpx.Response:
        with site.client() as http:
            start.wait(timeout=10)
            return http.get(path)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(fetch, range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].headers["content-type"] == "image/webp"
    statuses = sorted(a.headers["x-cache-status"] for a in answers)
    assert statuses == ["HIT"] * 19 + ["MISS"]
    assert site.asset_gets() == gets + 1
    assert site.counter("imgstax_renders_total") == renders + 1


def test_with_an_origin_down_every_asset_is_still_served_by_its_same_live_origin(
    site: EdgeSite,
) -> None:
    answers = [make_asset(site, width) for width in range(330, 340)]
    # Keyed GETs bypass the cache, so each one shows where the hash sends the asset.
    home: dict[str, str] = {}
    with site.client(**ALPHA) as keyed:
        for answer in answers:
            seen = {answered_by(keyed.get(path_of(answer))) for _ in range(3)}
            assert len(seen) == 1, seen  # one asset, one origin
            home[answer["assetId"]] = seen.pop()
    victim = site.origin_at(home[answers[0]["assetId"]])
    survivor = next(o for o in site.origins if o is not victim)
    victim.stop()
    try:
        with site.client() as keyless, site.client(**ALPHA) as keyed:
            for answer in answers:
                got = keyless.get(path_of(answer))
                assert got.status_code == 200, got.text
                assert got.headers["x-cache-status"] == "MISS"
                assert answered_by(got) == survivor.address
                if home[answer["assetId"]] == survivor.address:
                    # Assets that already lived on the survivor did not move at all.
                    assert got.headers["x-upstream"] == survivor.address
                again = keyed.get(path_of(answer))
                assert answered_by(again) == survivor.address
                assert keyless.get(path_of(answer)).headers["x-cache-status"] == "HIT"
        # New work still gets done: a POST skips the dead origin too.
        late = make_asset(site, 340)
        with site.client() as keyless:
            assert keyless.get(path_of(late)).status_code == 200
    finally:
        site.restart(victim)


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


@pytest.mark.slow
def test_an_asset_is_never_served_after_it_expires(site: EdgeSite) -> None:
    answer = make_asset(site, 350, ttlSeconds=60)
    expires = expiry(answer)
    with site.client() as http:
        assert http.get(path_of(answer)).headers["x-cache-status"] == "MISS"
        hit = http.get(path_of(answer))
        assert hit.headers["x-cache-status"] == "HIT"
        etag = hit.headers["etag"]

        # Fresh at the edge for the asset's whole life ...
        wait_until(expires - 3)
        assert http.get(path_of(answer)).headers["x-cache-status"] == "HIT"

        # ... and never after. nginx counts whole seconds and keeps an entry through its last
        # second, so the first check is made two seconds after the expiry (see edge.conf).
        wait_until(expires + 2.05)
        late = http.get(path_of(answer))
        assert late.status_code == 404, late.headers
        assert late.headers["x-cache-status"] == "EXPIRED"
        assert late.headers["cache-control"] == "no-store"
        assert http.head(path_of(answer)).status_code == 404
        conditional = http.get(path_of(answer), headers={"If-None-Match": etag})
        assert conditional.status_code == 404
        assert http.get(path_of(answer)).headers["x-cache-status"] == "EXPIRED"
