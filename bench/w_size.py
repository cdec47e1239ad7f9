"""W3: compress-to-size, 150 KB from the 24 MP photo at 1600 px, Jpeg and Webp.

Expressed as POST /v1/process with resize.width 1600 (1590-1610, distinct per request) and
format.targetFileSizeBytes 153600. Requests go one at a time, and the origin's /metrics is read
before and after each, so imgstax_encodes_total's increase is that request's own encode count.
"""

from __future__ import annotations

import re
import statistics
import time

from bench.stats import percentile
from bench.suite import Suite

CAP = 153_600


def _counter(metrics: str, name: str, fmt: str) -> float:
    found = re.search(rf'^{name}{{format="{fmt}"}} ([0-9.e+]+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def run_w3(suite: Suite) -> None:
    main, report = suite.main, suite.report
    report.section(
        f"W3: compress-to-size 150 KB (153,600 bytes) from the {suite.plan.photo_label} at 1600 px",
        "POST /v1/process {resize: {width: 1590-1610}, format: {type, targetFileSizeBytes: "
        "153600}}, one request at a time; encodes per request from /metrics "
        "(imgstax_encodes_total).",
    )
    rows = []
    for fmt in ("Jpeg", "Webp"):
        encodes: list[int] = []
        ratios: list[float] = []
        latencies: list[float] = []
        for width in range(1590, 1590 + suite.plan.size_requests):
            before = main.metrics()
            body = {
                "source": {"uploadId": suite.uploads["photo"]},
                "resize": {"width": width},
                "format": {"type": fmt, "targetFileSizeBytes": CAP},
            }
            start = time.perf_counter()
            answer = main.post("/v1/process", body)
            latencies.append(time.perf_counter() - start)
            after = main.metrics()
            renders = _counter(after, "imgstax_renders_total", fmt)
            if renders - _counter(before, "imgstax_renders_total", fmt) != 1:
                raise RuntimeError(f"W3 {fmt} {width}: not exactly one render")
            encoded = _counter(after, "imgstax_encodes_total", fmt)
            encodes.append(round(encoded - _counter(before, "imgstax_encodes_total", fmt)))
            ratios.append(answer["sizeBytes"] / CAP)
        under = sum(r <= 1 for r in ratios) / len(ratios)
        rows.append(
            (
                fmt,
                len(encodes),
                statistics.fmean(encodes),
                percentile(encodes, 90),
                max(encodes),
                min(ratios),
                statistics.median(ratios),
                f"{100 * under:.0f} %",
                1000 * statistics.median(latencies),
            )
        )
        name = f"W3 {fmt}"
        mean, worst = statistics.fmean(encodes), max(encodes)
        report.target(name, "mean encodes <= 3.5", f"{mean:.2f}", mean <= 3.5)
        report.target(name, "max encodes <= 6", f"{worst}", worst <= 6)
        report.target(name, "100 % <= cap", f"{100 * under:.0f} %", under == 1)
        median = statistics.median(ratios)
        report.target(name, "median size >= 0.95 x cap", f"{median:.3f}", median >= 0.95)
    report.table(
        (
            "format",
            "n",
            "encodes mean",
            "p90",
            "max",
            "size/cap min",
            "median",
            "<= cap",
            "p50 ms",
        ),
        rows,
    )
