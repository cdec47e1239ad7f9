"""Soak test: a mixed workload for a set time, then a verdict on leaks, errors and slowdown.

    python -m bench.soak --minutes 10              # starts its own `imgstax serve`
    python -m bench.soak --seconds 20              # a quick run (the test suite does this)
    python -m bench.soak --url http://host:8080 --api-key KEY [--pid PID]

Without ``--url`` the script starts ``python -m origin serve`` itself on a free loopback port,
with a fresh data dir (the disk tier), one worker process, a generated API key and a 16 MiB
memory tier (small on purpose: it fills during the warm-up, so that the cache filling up is not
mistaken for a leak afterwards), and stops it at the end. With ``--url`` it drives that origin
instead; RSS is then measured only if ``--pid`` names the origin's process on this machine.

The workload, from ``--concurrency`` clients (default 4) without pause: photo renders (JPEG
sources, resized and encoded as Jpeg or Webp), PNG renders (PNG sources with alpha, to Png or
Webp), compress-to-size, hits (GETs of assets made earlier, answered from the memory tier),
10 % invalid requests (each kind answered 400) and a few bombs (a 268-megapixel PNG and an SVG
of 10^14 pixels as uploads, answered 400 IMAGE_TOO_LARGE). Every render asks for a transform
not asked before, so renders stay renders for the whole run instead of turning into hits.

Pass criteria, each printed with its figures; the exit status is 1 if any fails:

- RSS of the origin grows at most 10 % from the end of the warm-up (the first minute, or the
  first fifth of a run shorter than five minutes) to the end of the run: the median of the
  minute after the warm-up against the median of the last minute (RSS swings with the renders
  in flight; shorter runs use a third of what follows the warm-up);
- no answer in the 5xx range except 503 OVERLOADED (the bounded render queue, deliberate), and
  no transport error;
- every answer is the expected one (2xx for valid requests, 400 for the invalid ones and the
  bombs);
- p95 latency of the last minute is at most 1.2 times the p95 of the first minute (a third of
  the run for runs shorter than three minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "images"
PHOTOS = (
    "photo-medium-1024x768-camera.jpg",
    "photo-progressive-1944x2592.jpg",
    "Landscape_1.jpg",
    "Landscape_6.jpg",
    "adobe-rgb-icc.jpg",
)
PNGS = ("png-rgba-transparency.png", "png-16bit-rgb.png")
BOMBS = ("bomb-png-16383x16383.png", "bomb-svg-10000000x10000000.svg")
# Kind of request -> its share of the workload.
MIX = {
    "photo": 0.30,
    "png": 0.15,
    "compress-to-size": 0.10,
    "hit": 0.33,
    "invalid": 0.10,
    "bomb": 0.02,
}
INVALID_BODIES: tuple[dict[str, Any], ...] = (
    {},
    {"source": {"uploadId": "up_does_not_exist"}, "width": 100},
    {"source": {"storageKey": "../etc/passwd"}, "width": 100},
    {"width": 0},
    {"width": 100, "colour": "red"},
    {"width": 100, "format": "Bmp"},
)
MEMORY_TIER = 16 * 1024 * 1024
RSS_LIMIT = 0.10
P95_LIMIT = 1.2


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the start, when the answer arrived
    kind: str
    latency: float
    status: int  # 0 for a transport error
    expected: bool
    deliberate: bool = False  # a 503 OVERLOADED from the bounded queue


@dataclass
class Run:
    """Everything measured: the samples and the origin's RSS over time."""

    seconds: float
    samples: list[Sample] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)


class Workload:
    """The requests of the mix, against an origin that has our uploads."""

    def __init__(self, http: httpx.AsyncClient, uploads: dict[str, list[str]]) -> None:
        self.http = http
        self.uploads = uploads
        self.assets: list[str] = []
        self._counter = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _unique(self) -> tuple[int, int]:
        """A (width, quality) pair not used before in this run (55,200 of them)."""
        n = self._next()
        return 200 + n % 1200, 50 + (n // 1200) % 46

    async def one(self, kind: str) -> tuple[int, bool, bool]:
        """Send one request of this kind: (status, as expected, a deliberate 503)."""
        if kind == "hit":
            if not self.assets:
                kind = "photo"
            else:
                response = await self.http.get(random.choice(self.assets[-200:]))
                return self._judge(response, 200)
        if kind == "invalid":
            return await self._invalid()
        if kind == "bomb":
            bomb = (CORPUS / random.choice(BOMBS)).read_bytes()
            return self._judge(await self.http.post("/v1/uploads", content=bomb), 400)
        width, quality = self._unique()
        if kind == "photo":
            body: dict[str, Any] = {
                "source": {"uploadId": random.choice(self.uploads["photo"])},
                "width": width,
                "format": {"type": random.choice(("Jpeg", "Webp")), "quality": quality},
            }
            path = "/v1/resize"
        elif kind == "png":
            body = {
                "source": {"uploadId": random.choice(self.uploads["png"])},
                "resize": {"width": width // 2},
                "format": {"type": random.choice(("Png", "Webp")), "quality": quality},
            }
            path = "/v1/process"
        else:
            body = {
                "source": {"uploadId": random.choice(self.uploads["photo"])},
                "maxSizeBytes": 20_000 + 97 * width + quality,
            }
            path = "/v1/compress-to-size"
        response = await self.http.post(path, json=body)
        if response.status_code == 200:
            self.assets.append(response.json()["url"])
        return self._judge(response, 200)

    async def _invalid(self) -> tuple[int, bool, bool]:
        choice = random.randrange(len(INVALID_BODIES) + 1)
        if choice == len(INVALID_BODIES):
            response = await self.http.post(
                "/v1/resize", content=b"{not json", headers={"Content-Type": "application/json"}
            )
        else:
            response = await self.http.post("/v1/resize", json=INVALID_BODIES[choice])
        return self._judge(response, 400)

    @staticmethod
    def _judge(response: httpx.Response, expected: int) -> tuple[int, bool, bool]:
        status = response.status_code
        overloaded = status == 503 and _code(response) == "OVERLOADED"
        return status, status == expected or overloaded, overloaded


def _code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except ValueError:
        return None
    return code if isinstance(code, str) else None


def rss_of(pid: int) -> int | None:
    """Resident memory of a process on this machine, in bytes (None if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def upload_sources(http: httpx.AsyncClient) -> dict[str, list[str]]:
    uploads: dict[str, list[str]] = {"photo": [], "png": []}
    for kind, names in (("photo", PHOTOS), ("png", PNGS)):
        for name in names:
            response = await http.post("/v1/uploads", content=(CORPUS / name).read_bytes())
            response.raise_for_status()
            uploads[kind].append(response.json()["uploadId"])
    return uploads


async def drive(url: str, api_key: str, seconds: float, concurrency: int, pid: int | None) -> Run:
    run = Run(seconds)
    limits = httpx.Limits(max_connections=concurrency + 2)
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
        workload = Workload(http, await upload_sources(http))
        kinds, weights = list(MIX), list(MIX.values())
        start = time.monotonic()
        deadline = start + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                kind = random.choices(kinds, weights)[0]
                began = time.monotonic()
                try:
                    status, expected, deliberate = await workload.one(kind)
                except httpx.TransportError:
                    status, expected, deliberate = 0, False, False
                done = time.monotonic()
                run.samples.append(
                    Sample(done - start, kind, done - began, status, expected, deliberate)
                )

        async def sample_rss() -> None:
            while pid is not None and time.monotonic() < deadline:
                rss = rss_of(pid)
                if rss is not None:
                    run.rss.append((time.monotonic() - start, rss))
                await asyncio.sleep(1.0)

        await asyncio.gather(sample_rss(), *(client() for _ in range(concurrency)))
    return run


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    detail: str


def judge(run: Run) -> list[Verdict]:
    """The four pass criteria, each with the figures behind it."""
    verdicts = []
    seconds = run.seconds
    warm_up = 60.0 if seconds >= 300 else seconds / 5
    # RSS swings with the renders in flight (a 12 MP decode is tens of MiB), so each end is
    # the median over a minute (a third of what follows the warm-up, in shorter runs).
    span = min(60.0, (seconds - warm_up) / 3)
    early = [rss for t, rss in run.rss if warm_up <= t < warm_up + span]
    late = [rss for t, rss in run.rss if t >= seconds - span]
    if len(early) >= 3 and len(late) >= 3:
        begin, end = statistics.median(early), statistics.median(late)
        growth = end / begin - 1
        verdicts.append(
            Verdict(
                "RSS growth after warm-up",
                growth <= RSS_LIMIT,
                f"{begin / 2**20:.0f} MiB -> {end / 2**20:.0f} MiB ({growth:+.1%}, "
                f"limit +{RSS_LIMIT:.0%}; peak {max(rss for _, rss in run.rss) / 2**20:.0f} MiB)",
            )
        )
    else:
        verdicts.append(Verdict("RSS growth after warm-up", True, "not measured (no --pid)"))
    errors = [s for s in run.samples if (s.status >= 500 or s.status == 0) and not s.deliberate]
    deliberate = sum(s.deliberate for s in run.samples)
    verdicts.append(
        Verdict(
            "no 5xx but deliberate 503s",
            not errors,
            f"{len(errors)} server or transport errors, {deliberate} deliberate 503 OVERLOADED",
        )
    )
    unexpected = [s for s in run.samples if not s.expected]
    kinds = sorted({f"{s.kind}:{s.status}" for s in unexpected})
    verdicts.append(
        Verdict(
            "every answer as expected",
            not unexpected,
            f"{len(unexpected)} unexpected" + (f" ({', '.join(kinds[:6])})" if kinds else ""),
        )
    )
    window = 60.0 if seconds >= 180 else seconds / 3
    ok = [s for s in run.samples if s.expected and not s.deliberate]
    first = p95([s.latency for s in ok if s.at <= window])
    last = p95([s.latency for s in ok if s.at >= seconds - window])
    verdicts.append(
        Verdict(
            f"p95 of the last {window:.0f} s vs the first",
            last <= P95_LIMIT * first,
            f"{first * 1000:.0f} ms -> {last * 1000:.0f} ms ({last / first:.2f}x, "
            f"limit {P95_LIMIT}x)",
        )
    )
    return verdicts


def summary(run: Run, verdicts: list[Verdict], target: str) -> str:
    lines = [f"imgstax soak: {run.seconds:.0f} s against {target}"]
    total = len(run.samples)
    lines.append(f"  requests: {total} ({total / run.seconds:.1f}/s)")
    for kind in MIX:
        mine = [s for s in run.samples if s.kind == kind]
        if not mine:
            continue
        latencies = sorted(s.latency for s in mine)
        statuses = ", ".join(
            f"{status}: {count}" for status, count in sorted(_count(s.status for s in mine).items())
        )
        lines.append(
            f"  {kind:<17} {len(mine):>6}  p50 {statistics.median(latencies) * 1000:6.0f} ms"
            f"  p95 {p95(latencies) * 1000:6.0f} ms  [{statuses}]"
        )
    if run.rss:
        step = 60.0 if run.seconds >= 300 else run.seconds / 5
        marks = [
            statistics.median(rss for t, rss in run.rss if i * step <= t < (i + 1) * step)
            for i in range(int(run.seconds // step))
            if any(i * step <= t < (i + 1) * step for t, _ in run.rss)
        ]
        lines.append(
            f"  RSS, median of each {step:.0f} s (MiB): "
            + " ".join(f"{rss / 2**20:.0f}" for rss in marks)
        )
    for verdict in verdicts:
        mark = "PASS" if verdict.passed else "FAIL"
        lines.append(f"  {mark}  {verdict.name}: {verdict.detail}")
    lines.append("  result: " + ("PASS" if all(v.passed for v in verdicts) else "FAIL"))
    return "\n".join(lines)


def _count(values: Iterator[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def own_origin(log: Path | None) -> Iterator[tuple[str, str, int]]:
    """Start `python -m origin serve` on a fresh data dir: (url, api key, pid)."""
    home = Path(tempfile.mkdtemp(prefix="imgstax-soak-"))
    key = "soak_" + secrets.token_urlsafe(24)
    port = _free_port()
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "IMGSTAX_API_KEYS": f"soak:{key}",
        "IMGSTAX_SIGNING_KEYS": secrets.token_urlsafe(48),
        "IMGSTAX_DATA_DIR": str(home / "data"),
        "IMGSTAX_MEMORY_CACHE_BYTES": str(MEMORY_TIER),
        "IMGSTAX_RATE_LIMIT_PER_MINUTE": "1000000",
        "IMGSTAX_LOG_LEVEL": "WARNING",
        # An allocator setting from the shell reaches the origin, so that it can be soaked.
        **{k: v for k, v in os.environ.items() if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")},
    }
    output = open(log or home / "origin.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "origin", "serve", "--port", str(port)],
        env=environ,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the origin did not start; see {output.name}")
            time.sleep(0.1)
        yield url, key, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to run (default 10)")
    length.add_argument("--seconds", type=float, help="how long to run, in seconds")
    parser.add_argument("--url", help="an origin to drive instead of starting one")
    parser.add_argument("--api-key", help="the X-API-Key for --url")
    parser.add_argument("--pid", type=int, help="the --url origin's process, to measure RSS")
    parser.add_argument("--concurrency", type=int, default=4, help="clients at once (default 4)")
    parser.add_argument("--origin-log", type=Path, help="where the started origin's output goes")
    parser.add_argument("--seed", type=int, help="seed of the random mix, to repeat a run")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 10)
    random.seed(args.seed)
    if args.url:
        if not args.api_key:
            parser.error("--url needs --api-key")
        run = asyncio.run(drive(args.url, args.api_key, seconds, args.concurrency, args.pid))
        target = args.url
    else:
        with own_origin(args.origin_log) as (url, key, pid):
            run = asyncio.run(drive(url, key, seconds, args.concurrency, pid))
        target = f"its own imgstax serve ({url})"
    verdicts = judge(run)
    print(summary(run, verdicts, target), flush=True)
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
