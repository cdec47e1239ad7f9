"""W1, W2, W4: renders per second over HTTP against the references; W7: peak RSS during W1.

The origin gets POST /v1/resize with the source by uploadId (uploaded once) and a distinct
width/quality (or source variant) every time, 4 requests in flight for its 2 render workers.
The references do the same resizes in this process on 2 threads while the origin is idle.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bench import references, thumbor
from bench.httpclient import Response
from bench.load import Request, send_all
from bench.procs import peak_rss_bytes, reset_peak_rss
from bench.rounds import Implementation, InProcess, OverHttp, compare
from bench.sources import BYTES_QUALITY, Params, ParamSpace
from bench.stats import Summary
from bench.suite import Suite
from transforms import ImageFormat

MB = 1024 * 1024


def _sized(response: Response) -> int:
    return int(json.loads(response.body)["sizeBytes"])


def origin_request(uploads: list[str], fmt: ImageFormat) -> Callable[[Params], Request]:
    def request(p: Params) -> Request:
        body = {
            "source": {"uploadId": uploads[p.variant]},
            "width": p.width,
            "format": references.format_option(fmt, p.quality),
        }
        return Request("POST", "/v1/resize", json.dumps(body).encode(), "application/json")

    return request


def _thumbor_request(names: list[str], fmt: ImageFormat) -> Callable[[Params], Request]:
    flatten = not fmt.has_alpha and names[0].endswith(".png")

    def request(p: Params) -> Request:
        path = thumbor.path(names[p.variant], p.width, p.quality, fmt.value, flatten=flatten)
        return Request("GET", path)

    return request


def measure(
    suite: Suite,
    label: str,
    fmt: ImageFormat,
    sources: list[bytes],
    names: list[str],
    space: ParamSpace,
) -> dict[str, Summary]:
    """One workload: the origin, the engine in-process, raw pyvips, Pillow, thumbor."""
    plan, main = suite.plan, suite.main
    uploads = [suite.uploads[name.rsplit(".", 1)[0]] for name in names]
    impls: list[Implementation] = [
        OverHttp(
            "imgstax",
            main.server.pid,
            main.server.port,
            origin_request(uploads, fmt),
            _sized,
            space,
            plan.concurrency,
            main.headers,
        ),
        InProcess("engine", references.engine(sources, fmt), space.replay(), plan.workers),
        InProcess("pyvips", references.pyvips_job(sources, fmt), space.replay(), plan.workers),
        InProcess("pillow", references.pillow_job(sources, fmt), space.replay(), plan.workers),
    ]
    if suite.thumbor is not None:
        impls.append(
            OverHttp(
                "thumbor",
                suite.thumbor.pid,
                suite.thumbor.port,
                _thumbor_request(names, fmt),
                lambda r: len(r.body),
                space.replay(),
                plan.concurrency,
            )
        )
    results = compare(
        impls, rounds=plan.rounds, seconds=plan.seconds, warm_up=plan.warm_up, quiet=suite.quiet
    )
    _table(suite, label, results)
    return results


def _table(suite: Suite, label: str, results: dict[str, Summary]) -> None:
    ours, limit = results["imgstax"], results["pyvips"]
    rows = []
    for name, s in results.items():
        suite.report.saw_other_load(s.foreign_load)
        rows.append(
            (
                name,
                s.per_second,
                s.ms(50),
                s.ms(95),
                s.ms(99),
                s.cpu_ms_per_job,
                s.cpu_ms_per_job / limit.cpu_ms_per_job,
                s.mean_bytes / 1024,
                ours.per_second / s.per_second if s.per_second else float("nan"),
                s.count,
                s.foreign_load,
            )
        )
    suite.report.note(f"**{label}**")
    suite.report.table(
        (
            "implementation",
            "renders/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "CPU ms/render",
            "CPU ÷ pyvips",
            "mean KB",
            "imgstax ÷ this",
            "n",
            "other load",
        ),
        rows,
    )
    suite.report.note(
        f"Load generator CPU while imgstax ran: {100 * ours.client_cpu_share:.1f} % of one core. "
        "CPU ms/render: the server process for HTTP rows, this process for in-process rows. "
        "CPU is immune to other load where throughput is not. Other load: the busiest round's "
        "CPU used by other processes on the machine, in cores."
    )


def bytes_against_thumbor(suite: Suite, fmt: ImageFormat) -> float:
    """Our bytes / thumbor's for the W1 resize at quality 80, widths 790-810, same requests."""
    assert suite.thumbor is not None
    widths = range(790, 811) if not suite.plan.smoke else range(790, 792)
    params = [Params(width, BYTES_QUALITY) for width in widths]
    ours = origin_request([suite.uploads["photo"]], fmt)
    theirs = _thumbor_request(["photo.jpg"], fmt)
    totals = []
    for server, request_for, size_of in (
        (suite.main.server, ours, _sized),
        (suite.thumbor, theirs, lambda r: len(r.body)),
    ):
        requests = [request_for(p) for p in params]
        samples = send_all(server.port, requests, concurrency=4, headers=suite.main.headers)
        if any(s.response.status != 200 for s in samples):
            raise RuntimeError(f"W1 bytes at q{BYTES_QUALITY}: a request failed on {server.name}")
        totals.append(sum(size_of(s.response) for s in samples))
    return totals[0] / totals[1]


def targets(
    suite: Suite, workload: str, results: dict[str, Summary], thumbor_factor: float | None
) -> None:
    ours = results["imgstax"].per_second
    limit, pillow = results["pyvips"].per_second, results["pillow"].per_second
    report = suite.report
    report.target(workload, ">= 0.90 x raw pyvips", f"{ours / limit:.2f} x", ours >= 0.9 * limit)
    report.target(workload, ">= 2 x naive Pillow", f"{ours / pillow:.2f} x", ours >= 2 * pillow)
    if "thumbor" in results and thumbor_factor is not None:
        theirs = results["thumbor"]
        ratio = ours / theirs.per_second
        report.target(
            workload, f">= {thumbor_factor:g} x thumbor", f"{ratio:.2f} x", ratio >= thumbor_factor
        )
        if workload.startswith("W1"):
            size = bytes_against_thumbor(suite, ImageFormat(workload.split()[1]))
            goal = f"bytes <= thumbor's at q{BYTES_QUALITY}"
            report.target(workload, goal, f"{size:.2f} x", size <= 1)


def run_w1_w7(suite: Suite) -> float:
    """W1 (and W7 around it); returns the origin's Jpeg renders/s, the capacity W6 loads."""
    suite.report.section(
        f"W1: {suite.plan.photo_label} -> 800 px, source by uploadId",
        "Widths 790-810 and qualities 50-95, every request distinct; 4 in flight over HTTP, "
        "2 threads in-process.",
    )
    pid = suite.main.server.pid
    before = peak_rss_bytes(pid)
    reset = reset_peak_rss(pid)
    capacity = 0.0
    for fmt in (ImageFormat.JPEG, ImageFormat.WEBP):
        results = measure(
            suite,
            f"W1 {fmt.value}",
            fmt,
            [suite.photo],
            ["photo.jpg"],
            suite.spaces[f"photo-{fmt.value}"],
        )
        targets(suite, f"W1 {fmt.value}", results, 1.0)
        if fmt is ImageFormat.JPEG:
            capacity = results["imgstax"].per_second
    peak = peak_rss_bytes(pid)
    suite.report.section("W7: peak RSS of the origin during W1 (concurrency 4)")
    suite.report.note(
        f"VmHWM {peak / MB:.0f} MB"
        + (
            ""
            if reset
            else f" (could not reset the peak first: it includes start-up, {before / MB:.0f} MB)"
        )
    )
    suite.report.target("W7", "<= 250 MB", f"{peak / MB:.0f} MB", peak <= 250 * MB)
    return capacity


def run_w2(suite: Suite) -> None:
    suite.report.section(
        "W2: 2048 px RGBA PNG -> 720 px",
        f"{len(suite.pngs)} distinct PNG sources x widths 710-730 (x qualities 50-95 for Jpeg); "
        "Jpeg flattens onto white (thumbor: background_color(white)).",
    )
    names = [f"rgba-{i}.png" for i in range(len(suite.pngs))]
    for fmt in (ImageFormat.JPEG, ImageFormat.PNG):
        results = measure(
            suite, f"W2 {fmt.value}", fmt, suite.pngs, names, suite.spaces[f"rgba-{fmt.value}"]
        )
        targets(suite, f"W2 {fmt.value}", results, 1.5)


def run_w4(suite: Suite) -> None:
    suite.report.section(
        f"W4: {suite.plan.photo_label} -> 800 px Avif, default compressionPriority (Balanced)",
        "Widths 790-810 and qualities 50-95, as W1.",
    )
    results = measure(
        suite, "W4 Avif", ImageFormat.AVIF, [suite.photo], ["photo.jpg"], suite.spaces["photo-Avif"]
    )
    targets(suite, "W4 Avif", results, None)
