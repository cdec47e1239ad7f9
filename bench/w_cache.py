"""W5: GET of a memory-tier hit against a bare Starlette app; W5b: GET of a second-tier hit.

W5 runs both servers in interleaved rounds, 8 keep-alive connections each, through the small
load-generating client (httpx would be the bottleneck). W5b asks origins whose memory tier is
0 bytes, so every GET of a stored render reads the second tier, and times each GET beside a
direct read of the same object from that store (the file; a plain GET of the S3 object), one
request at a time.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

import httpx

from bench.httpclient import Response
from bench.load import Request
from bench.rounds import OverHttp, compare
from bench.sources import Params, ParamSpace
from bench.stats import percentile
from bench.suite import BUCKET, HIT_SOURCE, HIT_SPEC, Origin, Suite
from cache import DiskStore, render_key


def _get(path: str) -> Callable[[Params], Request]:
    return lambda _params: Request("GET", path)


def run_w5(suite: Suite) -> None:
    report, plan, main = suite.report, suite.plan, suite.main
    report.section(
        "W5: GET of a memory-tier hit (48.6 KB Jpeg, keep-alive) vs a bare Starlette app",
        "Both under uvicorn started the same way (one process, the same options); "
        f"{plan.hit_concurrency} connections, interleaved rounds.",
    )
    upload = main.upload(HIT_SOURCE.read_bytes())
    answer = main.post("/v1/resize", {"source": {"uploadId": upload}, **HIT_SPEC})
    path = "/v1/assets/" + answer["assetId"]
    body = main.http.get(path).content
    if body != (suite.workdir / "hit-body.jpg").read_bytes():
        raise RuntimeError("W5: the origin's asset differs from the bare app's bytes")
    one = ParamSpace(range(1), range(1)).replay()

    def size(response: Response) -> int:
        if response.body != body:
            raise RuntimeError("W5: a GET answered other bytes")
        return len(response.body)

    impls = [
        OverHttp(
            "imgstax",
            main.server.pid,
            main.server.port,
            _get(path),
            size,
            one,
            plan.hit_concurrency,
        ),
        OverHttp(
            "bare Starlette",
            suite.bare.pid,
            suite.bare.port,
            _get("/v1/assets/any"),
            size,
            one.replay(),
            plan.hit_concurrency,
        ),
    ]
    results = compare(
        impls, rounds=plan.rounds, seconds=plan.hit_seconds, warm_up=plan.warm_up, quiet=suite.quiet
    )
    ours, bare = results["imgstax"], results["bare Starlette"]
    for summary in results.values():
        report.saw_other_load(summary.foreign_load)
    report.table(
        (
            "server",
            "GET/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "server CPU µs/GET",
            "client CPU",
            "n",
            "other load",
        ),
        [
            (
                name,
                s.per_second,
                s.ms(50),
                s.ms(95),
                s.ms(99),
                1000 * s.cpu_ms_per_job,
                f"{100 * s.client_cpu_share:.0f} %",
                s.count,
                s.foreign_load,
            )
            for name, s in results.items()
        ],
    )
    ratio = ours.per_second / bare.per_second
    report.target("W5", ">= 0.8 x bare Starlette", f"{ratio:.2f} x", ratio >= 0.8)


def _second_tier_hits(origin: Origin) -> float:
    found = re.search(
        r'^imgstax_cache_hits_total{tier="second"} ([0-9.e+]+)$', origin.metrics(), re.MULTILINE
    )
    return float(found.group(1)) if found else 0.0


def _renders(origin: Origin) -> float:
    return sum(
        float(v)
        for v in re.findall(
            r"^imgstax_renders_total{[^}]*} ([0-9.e+]+)$", origin.metrics(), re.MULTILINE
        )
    )


def _second_tier(
    suite: Suite, label: str, origin: Origin, read: Callable[[str], bytes]
) -> tuple[list[float], list[float]]:
    """Time GETs of second-tier hits and direct reads of the same objects, interleaved."""
    upload = origin.upload(HIT_SOURCE.read_bytes())
    paths = []
    for index in range(suite.plan.second_tier_assets):
        body = {"source": {"uploadId": upload}, **HIT_SPEC, "width": 700 + index}
        paths.append("/v1/assets/" + origin.post("/v1/resize", body)["assetId"])
    keys = [render_key(origin.http.head(p).headers["etag"].strip('"')) for p in paths]
    deadline = time.monotonic() + 30
    while True:  # the renders reach the second tier behind the POST's answer
        try:
            for key in keys:
                read(key)
            break
        except (FileNotFoundError, httpx.HTTPStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    hits, renders = _second_tier_hits(origin), _renders(origin)
    via_origin, direct = [], []
    for path, key in zip(paths, keys, strict=True):
        start = time.perf_counter()
        got = origin.http.get(path)
        via_origin.append(time.perf_counter() - start)
        start = time.perf_counter()
        raw = read(key)
        direct.append(time.perf_counter() - start)
        if got.status_code != 200 or len(got.content) > len(raw):
            raise RuntimeError(f"W5b {label}: {path} answered {got.status_code}")
    if _second_tier_hits(origin) - hits != len(paths) or _renders(origin) != renders:
        raise RuntimeError(f"W5b {label}: not every GET was a second-tier hit")
    return via_origin, direct


def run_w5b(suite: Suite) -> None:
    report = suite.report
    report.section(
        "W5b: GET of a second-tier hit vs a direct read of the same bytes from that store",
        "Origins with a 0-byte memory tier; one request at a time; httpx keep-alive client "
        "for both the origin and the S3 endpoint (moto_server).",
    )
    disk = DiskStore(suite.disk_cold_store)
    s3 = httpx.Client(base_url=f"{suite.moto.url}/{BUCKET}", timeout=10)

    def read_s3(key: str) -> bytes:
        answer = s3.get("/" + key)
        answer.raise_for_status()
        return answer.content

    rows = []
    for label, origin, read in (
        ("disk", suite.disk_cold, lambda key: disk.path_for(key).read_bytes()),
        ("S3 (moto_server)", suite.s3_cold, read_s3),
    ):
        via_origin, direct = _second_tier(suite, label, origin, read)
        added = 1000 * (statistics.median(via_origin) - statistics.median(direct))
        rows.append(
            (
                label,
                1000 * statistics.median(via_origin),
                1000 * percentile(via_origin, 99),
                1000 * statistics.median(direct),
                added,
                len(direct),
            )
        )
        report.target(
            f"W5b {label}", "adds <= 5 ms p50 over a direct read", f"{added:.2f} ms", added <= 5
        )
    s3.close()
    report.table(
        ("store", "origin GET p50 ms", "p99 ms", "direct read p50 ms", "added p50 ms", "n"), rows
    )
