"""The hit path answers memory hits of public assets exactly as the app would, and no more."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from config import Settings
from origin import create_app
from origin.hit_path import HitPath, asset_id_of
from tests.origin.conftest import KEY_ALPHA, Clock

ROUTE = "/v1/assets/{assetId}"


@dataclass(frozen=True)
class Exchange:
    """One answer as the ASGI server receives it: status, raw header list, body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes:
        return dict(self.headers)[name]


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        yield client


def hit_path_of(client: TestClient) -> HitPath:
    app: Starlette = client.app  # type: ignore[assignment]
    layer: Any = app.middleware_stack
    while not isinstance(layer, HitPath):
        layer = layer.app
    return layer


def exchange(
    client: TestClient, app: ASGIApp, method: str, path: str, headers: dict[str, str] | None = None
) -> Exchange:
    """Drive ``app`` with one request on the client's event loop; the raw ASGI answer."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
        "app": client.app,  # what Starlette sets before its middleware stack
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(run)
    start, *rest = sent
    return Exchange(start["status"], list(start["headers"]), b"".join(m["body"] for m in rest))


def mint(client: TestClient, key: str, **output: object) -> str:
    body: dict[str, object] = {"source": {"storageKey": key}, "width": 120}
    if output:
        body["output"] = output
    response = client.post("/v1/resize", json=body, headers={"X-API-Key": KEY_ALPHA})
    assert response.status_code == 200, response.text
    return "/v1/assets/" + str(response.json()["assetId"])


def etag_of(client: TestClient, path: str) -> str:
    return exchange(client, hit_path_of(client).app, "HEAD", path).header(b"etag").decode()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("condition", ["none", "matching", "other", "weak", "star"])
def test_answers_equal_the_apps_byte_for_byte(
    client: TestClient, clock: Clock, photo_key: str, method: str, condition: str
) -> None:
    path = mint(client, photo_key, ttlSeconds=3600)
    hits = hit_path_of(client)
    tag = etag_of(client, path)
    value = {"none": None, "matching": tag, "other": '"other"', "weak": f"W/{tag}", "star": "*"}
    headers = {} if value[condition] is None else {"If-None-Match": str(value[condition])}
    for elapsed in (0.0, 600.5, 2000.0):  # max-age must follow the clock, not the first answer
        clock.now += elapsed
        before = hits.served
        fast = exchange(client, client.app, method, path, headers)
        assert hits.served == before + 1
        assert fast == exchange(client, hits.app, method, path, headers)
        assert fast.status == (200 if condition in ("none", "other") else 304)
    names = [name for name, _ in fast.headers]
    expected = [b"cache-control", b"expires", b"etag", b"x-content-type-options"]
    expected += [b"content-security-policy", b"x-accel-expires"]
    if fast.status == 200:
        expected += [b"content-length", b"content-type"]
    assert names == expected
    if fast.status == 200 and method == "GET":
        assert fast.body == client.get(path).content and len(fast.body) > 100
    else:
        assert fast.body == b""


def test_max_age_is_rounded_down_on_every_answer(
    client: TestClient, clock: Clock, photo_key: str
) -> None:
    path = mint(client, photo_key, ttlSeconds=3600)
    hits = hit_path_of(client)
    ages = []
    for elapsed in (0.0, 10.25, 589.75, 0.5):
        clock.now += elapsed
        before = hits.served
        ages.append(exchange(client, client.app, "GET", path).header(b"cache-control"))
        assert hits.served == before + 1
    assert ages == [
        b"public, max-age=3600, immutable",
        b"public, max-age=3589, immutable",
        b"public, max-age=3000, immutable",
        b"public, max-age=2999, immutable",
    ]


def test_an_asset_that_expires_after_its_first_answer_is_404(
    client: TestClient, clock: Clock, photo_key: str
) -> None:
    path = mint(client, photo_key, ttlSeconds=60)
    hits = hit_path_of(client)
    tag = etag_of(client, path)
    assert client.get(path).status_code == 200 and hits.served == 1
    clock.now += 60  # expires_at == now: expired
    for headers in ({}, {"If-None-Match": tag}):
        for method in ("GET", "HEAD"):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 404
    assert client.get(path).json()["code"] == "NOT_FOUND"
    assert client.get("/v1/assets/nonsense").json() == client.get(path).json()
    assert hits.served == 1


def test_tampered_ids_private_assets_and_other_requests_go_to_the_app(
    client: TestClient, photo_key: str
) -> None:
    public = mint(client, photo_key)
    private = mint(client, photo_key, public=False)
    hits = hit_path_of(client)
    flipped = public[:-3] + ("A" if public[-3] != "A" else "B") + public[-2:]
    assert client.get(flipped).status_code == 404
    assert client.get(public + "x").status_code == 404
    assert client.get("/v1/assets/").status_code == 404
    assert client.get(public + "/more").status_code == 404
    assert client.post(public).json()["code"] == "METHOD_NOT_ALLOWED"
    assert client.delete(public).status_code == 405
    assert client.get(private).status_code == 401
    assert client.get(private, headers={"If-None-Match": "*"}).status_code == 401
    own = client.get(private, headers={"X-API-Key": KEY_ALPHA})
    assert own.status_code == 200 and own.headers["cache-control"].startswith("private, ")
    assert own.headers["x-ratelimit-remaining"].isdigit()
    assert hits.served == 0
    assert client.get(public).status_code == 200 and hits.served == 1  # and it does serve


def test_a_memory_miss_goes_to_the_app_and_the_next_get_is_a_hit(
    client: TestClient, photo_key: str
) -> None:
    path = mint(client, photo_key)
    hits = hit_path_of(client)
    cache = client.app.state.services.cache  # type: ignore[attr-defined]
    body = client.get(path).content
    assert hits.served == 1
    assert client.portal is not None
    client.portal.call(cache.drain)  # the render is in the second tier
    counters = cache.counters
    memory_hits, second = counters.memory_hits, counters.second_tier_hits
    for method in ("HEAD", "GET"):  # HEAD's second-tier read writes it back too
        cache.memory.clear()
        answer = client.request(method, path)
        assert answer.status_code == 200 and hits.served == 1
    assert answer.content == body
    assert (counters.memory_hits, counters.second_tier_hits) == (memory_hits, second + 2)
    assert client.get(path).content == body and hits.served == 2
    assert counters.memory_hits == memory_hits + 1


def test_a_304_needs_no_cache_even_on_a_memory_miss(client: TestClient, photo_key: str) -> None:
    path = mint(client, photo_key)
    hits = hit_path_of(client)
    tag = etag_of(client, path)
    cache = client.app.state.services.cache  # type: ignore[attr-defined]
    cache.memory.clear()
    counters = cache.counters
    seen = (counters.memory_hits, counters.second_tier_hits, counters.misses)
    answer = client.get(path, headers={"If-None-Match": tag})
    assert answer.status_code == 304 and answer.content == b"" and hits.served == 1
    assert answer.headers["etag"] == tag
    assert (counters.memory_hits, counters.second_tier_hits, counters.misses) == seen


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_what_the_hit_path_answers(client: TestClient, photo_key: str) -> None:
    path = mint(client, photo_key)
    hits = hit_path_of(client)
    tag = etag_of(client, path)

    def requests(method: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        labels = {"route": ROUTE, "method": method, "status": status}
        return "imgstax_requests_total", tuple(sorted(labels.items()))

    memory = ("imgstax_cache_hits_total", (("tier", "memory"),))
    latency = ("imgstax_request_duration_seconds_count", (("route", ROUTE),))
    before = _samples(client)
    for _ in range(3):
        client.get(path)
    client.head(path)
    client.get(path, headers={"If-None-Match": tag})
    client.head(path, headers={"If-None-Match": tag})
    assert hits.served == 6
    after = _samples(client)

    def added(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert added(requests("GET", "200")) == 3
    assert added(requests("HEAD", "200")) == 1
    assert added(requests("GET", "304")) == 1
    assert added(requests("HEAD", "304")) == 1
    assert added(memory) == 4  # a 304 touches no cache
    assert added(latency) == 6
    client.get(path + "x")  # the app's answers are still counted once, by the app
    assert _samples(client)[requests("GET", "404")] == 1


@pytest.mark.parametrize(
    ("method", "path", "root_path", "expected"),
    [
        ("GET", "/v1/assets/abc.def", "", "abc.def"),
        ("HEAD", "/v1/assets/abc.def", "", "abc.def"),
        ("POST", "/v1/assets/abc.def", "", None),
        ("OPTIONS", "/v1/assets/abc.def", "", None),
        ("GET", "/v1/assets/", "", None),
        ("GET", "/v1/assets/abc/def", "", None),
        ("GET", "/v1/assets/abc/", "", None),
        ("GET", "/v1/assetsabc", "", None),
        ("GET", "/v1/packs/abc", "", None),
        ("GET", "/prefix/v1/assets/abc", "/prefix", None),  # mounted: the router decides
    ],
    ids=["get", "head", "post", "options", "empty", "slash", "trailing", "glued", "other", "root"],
)
def test_which_requests_it_considers(
    method: str, path: str, root_path: str, expected: str | None
) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": root_path}
    assert asset_id_of(scope) == expected
    assert asset_id_of({"type": "websocket", "path": path}) is None
