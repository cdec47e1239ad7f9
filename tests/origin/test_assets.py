from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import Settings, load_settings
from origin import create_app
from tests.origin.conftest import FIXTURES, KEY_ALPHA, KEY_BETA, Clock, origin_environ


@pytest.fixture
def timed(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        yield client


def mint(client: TestClient, key: str, **output: object) -> dict[str, object]:
    body: dict[str, object] = {"source": {"storageKey": key}, "width": 120}
    if output:
        body["output"] = output
    response = client.post("/v1/resize", json=body, headers={"X-API-Key": KEY_ALPHA})
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_asset_headers(timed: TestClient, clock: Clock, photo_key: str) -> None:
    answer = mint(timed, photo_key, ttlSeconds=3600)
    clock.now += 600
    response = timed.get(str(answer["url"]))
    assert response.status_code == 200
    h = response.headers
    assert h["cache-control"] == "public, max-age=3000, immutable"
    assert parsedate_to_datetime(h["expires"]).timestamp() == clock.now + 3000
    assert h["etag"].startswith('"') and len(h["etag"]) == 66
    assert h["content-type"] == "image/jpeg" and int(h["content-length"]) == len(response.content)
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-security-policy"] == "default-src 'none'; sandbox"
    assert "x-ratelimit-limit" not in h  # a public GET is not an authenticated answer


def test_if_none_match_and_head(timed: TestClient, photo_key: str) -> None:
    answer = mint(timed, photo_key)
    first = timed.get(str(answer["url"]))
    etag = first.headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = timed.get(str(answer["url"]), headers={"If-None-Match": value})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and "max-age" in again.headers["cache-control"]
    assert timed.get(str(answer["url"]), headers={"If-None-Match": '"other"'}).status_code == 200
    head = timed.head(str(answer["url"]))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))
    assert head.headers["etag"] == etag and head.headers["content-type"] == "image/jpeg"


def test_expired_tampered_and_truncated_ids_are_one_404(
    timed: TestClient, clock: Clock, photo_key: str
) -> None:
    answer = mint(timed, photo_key, ttlSeconds=60)
    asset_id = str(answer["assetId"])
    bodies = []
    flipped = asset_id[:-3] + ("A" if asset_id[-3] != "A" else "B") + asset_id[-2:]
    for bad in (flipped, asset_id[: len(asset_id) // 2], "x", "a" * 5000, asset_id + "x"):
        response = timed.get(f"/v1/assets/{bad}")
        assert response.status_code == 404
        bodies.append(response.json())
    clock.now += 61
    expired = timed.get(f"/v1/assets/{asset_id}")
    assert expired.status_code == 404
    bodies.append(expired.json())
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["code"] == "NOT_FOUND"


def test_private_asset_needs_the_key_that_made_it(timed: TestClient, photo_key: str) -> None:
    answer = mint(timed, photo_key, public=False)
    url = str(answer["url"])
    assert timed.get(url).status_code == 401
    assert timed.get(url, headers={"X-API-Key": KEY_BETA}).status_code == 401
    own = timed.get(url, headers={"X-API-Key": KEY_ALPHA})
    assert own.status_code == 200 and own.headers["cache-control"].startswith("private, max-age=")
    assert own.headers["x-ratelimit-remaining"].isdigit()


def test_missing_and_wrong_api_keys_get_one_identical_401(
    timed: TestClient, photo_key: str
) -> None:
    body = {"source": {"storageKey": photo_key}, "width": 10}
    answers = [
        timed.post("/v1/resize", json=body),
        timed.post("/v1/resize", json=body, headers={"X-API-Key": "wrong-key-0123456789"}),
        timed.post("/v1/resize", json=body, headers={"X-API-Key": ""}),
        timed.post("/v1/resize", json=body, headers={"X-API-Key": KEY_ALPHA[:-1]}),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1
    assert {r.headers["www-authenticate"] for r in answers} == {
        'ApiKey realm="imgstax", header="X-API-Key"'
    }
    assert answers[0].json()["code"] == "UNAUTHORIZED"


def test_a_fresh_origin_serves_from_the_shared_tier_and_re_renders_when_evicted(
    settings: Settings, data_dir: Path, photo_key: str
) -> None:
    with TestClient(create_app(settings)) as first:
        answer = mint(first, photo_key)
        original = first.get(str(answer["url"])).content
    # Another process: an empty memory tier, the same data dir (the shared second tier).
    with TestClient(create_app(settings)) as second:
        served = second.get(str(answer["url"]))
        assert served.status_code == 200 and served.content == original
        counters = second.app.state.services.cache.counters  # type: ignore[attr-defined]
        assert (counters.second_tier_hits, counters.loads) == (1, 0)
    renders = list((data_dir / "store" / "renders").rglob("*"))
    assert [p for p in renders if p.is_file()]
    for path in renders:
        if path.is_file():
            path.unlink()
    (data_dir / "storage" / photo_key).unlink()  # the ingested copy must be what is used
    with TestClient(create_app(settings)) as third:
        rendered = third.get(str(answer["url"]))
        assert rendered.status_code == 200 and rendered.content == original
        assert third.app.state.services.cache.counters.loads == 1  # type: ignore[attr-defined]


def test_rate_limit(data_dir: Path, photo_key: str) -> None:
    settings = load_settings(origin_environ(data_dir, rate_limit_per_minute="3"))
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": KEY_ALPHA}
        remaining = [
            client.get("/v1/packs", headers=headers).headers["x-ratelimit-remaining"]
            for _ in range(3)
        ]
        assert remaining == ["2", "1", "0"]
        limited = client.get("/v1/packs", headers=headers)
        assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
        assert 0 < int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert int(limited.headers["x-ratelimit-reset"]) > time.time()
        assert client.get("/v1/packs", headers={"X-API-Key": KEY_BETA}).status_code == 200


def test_overload_answers_503_at_once(data_dir: Path, photo_key: str) -> None:
    import anyio

    from config.errors import Overloaded
    from origin.pool import RenderPool

    async def scenario() -> list[str]:
        pool = RenderPool(workers=1, queue=1)
        outcomes: list[str] = []
        gate = threading.Event()

        def slow() -> str:
            gate.wait(10)
            return "done"

        async def call() -> None:
            try:
                outcomes.append(await pool.run(slow))
            except Overloaded as exc:
                outcomes.append(f"{exc.status} {exc.retry_after}")

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(call)
            await anyio.sleep(0.2)
            assert outcomes == ["503 1"]  # the third was refused while two were admitted
            gate.set()
        return outcomes

    assert sorted(anyio.run(scenario)) == ["503 1", "done", "done"]


def test_renders_run_at_lower_cpu_priority_than_the_event_loop() -> None:
    import os

    import anyio

    from origin.pool import RENDER_NICE, RenderPool

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def scenario() -> int:
        pool = RenderPool(workers=1, queue=0)
        try:
            return await pool.run(niceness)
        finally:
            pool.close()

    assert anyio.run(scenario) == min(19, niceness() + RENDER_NICE)
    assert niceness() < 19  # this thread (the event loop's) was not niced


READINESS_FIRST = """
import json, os, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from starlette.testclient import TestClient
from config import load_settings
from origin import create_app
from tests.origin.conftest import FIXTURES, KEY_ALPHA, origin_environ

app = create_app(load_settings(origin_environ(Path(sys.argv[1]))))
photo = (FIXTURES / "photo-progressive-1944x2592.jpg").read_bytes()
key = {"X-API-Key": KEY_ALPHA}
with TestClient(app) as client:
    ready = client.get("/readyz").status_code
    upload = client.post("/v1/uploads", content=photo, headers=key).json()["uploadId"]
    body = lambda width: {"source": {"uploadId": upload}, "width": width, "format": "Webp"}
    with ThreadPoolExecutor(2) as both:
        answers = [r.status_code for r in both.map(
            lambda w: client.post("/v1/resize", json=body(w), headers=key), (1500, 1600))]
    workers = []
    for task in os.listdir("/proc/self/task"):
        if open(f"/proc/self/task/{task}/comm").read().strip() == "libvips worker":
            workers.append(os.getpriority(os.PRIO_PROCESS, int(task)))
print(json.dumps({"ready": ready, "answers": answers, "workers": workers}))
"""


def test_libvips_workers_the_readiness_check_starts_run_at_render_priority(
    tmp_path: Path,
) -> None:
    """libvips shares its worker threads across renders, each at the nice value of the thread
    that started it: a readiness render at normal priority left renders running at nice 0."""
    import os

    from origin.pool import RENDER_NICE
    from tests.support.fresh import run_fresh

    report = run_fresh(READINESS_FIRST, str(tmp_path / "data"))
    assert report["ready"] == 200 and report["answers"] == [200, 200]
    render_nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + RENDER_NICE)
    assert report["workers"] and set(report["workers"]) == {render_nice}, report


def test_a_cancelled_render_keeps_its_slot_until_it_ends_and_a_queued_one_never_runs() -> None:
    import anyio

    from origin.pool import RenderPool

    gate = threading.Event()
    ran: list[str] = []

    def slow(name: str) -> None:
        ran.append(name)
        gate.wait(10)

    async def scenario() -> list[tuple[int, int]]:
        pool = RenderPool(workers=1, queue=1)
        callers = anyio.CancelScope()
        seen: list[tuple[int, int]] = []

        async def call_twice() -> None:
            with callers:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(pool.run, slow, "running")
                    tasks.start_soon(pool.run, slow, "queued")

        async with anyio.create_task_group() as outer:
            outer.start_soon(call_twice)
            await anyio.sleep(0.2)
            seen.append((pool.running, pool.waiting))
            callers.cancel()  # both callers go away
            await anyio.sleep(0.2)
            seen.append((pool.running, pool.waiting))  # the render still holds its thread
            gate.set()
        seen.append((pool.running, pool.waiting))
        pool.close()
        return seen

    assert anyio.run(scenario) == [(1, 1), (1, 0), (0, 0)]
    assert ran == ["running"]  # the queued render was dropped, never started


def test_an_upload_rendered_in_several_sizes_is_read_from_the_store_once(
    client: TestClient, alpha: dict[str, str]
) -> None:
    photo = (FIXTURES / "photo-progressive-1944x2592.jpg").read_bytes()
    upload = client.post("/v1/uploads", content=photo, headers=alpha).json()["uploadId"]
    cache = client.app.state.services.cache  # type: ignore[attr-defined]
    before = cache.counters.second_tier_hits
    for width in (100, 200, 300):
        answer = client.post(
            "/v1/resize", json={"source": {"uploadId": upload}, "width": width}, headers=alpha
        )
        assert answer.status_code == 200 and answer.json()["width"] == width
    assert cache.counters.second_tier_hits - before == 1


def test_an_idempotent_replay_never_hands_out_an_expired_asset(
    timed: TestClient, clock: Clock, photo_key: str
) -> None:
    first = mint(timed, photo_key, ttlSeconds=60, idempotencyKey="short-lived")
    clock.now += 30
    assert mint(timed, photo_key, ttlSeconds=60, idempotencyKey="short-lived") == first
    clock.now += 31  # the first asset has expired; its answer is not replayed
    again = mint(timed, photo_key, ttlSeconds=60, idempotencyKey="short-lived")
    assert again["assetId"] != first["assetId"]
    assert timed.get(f"/v1/assets/{first['assetId']}").status_code == 404
    assert timed.get(f"/v1/assets/{again['assetId']}").status_code == 200
