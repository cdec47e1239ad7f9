"""bench/soak.py cannot rot: a short real run, and its verdicts on made-up runs.

The real run is ~15 s against the origin the script starts: it must finish, print every
criterion, and see no server error and no unexpected answer (those do not depend on the
machine's load). RSS growth and p95 drift over 15 s say little, so their verdicts are checked
on synthetic runs instead, where the right answer is known.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak import Run, Sample, judge

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_soak_runs_and_judges(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--seconds",
            "15",
            "--seed",
            "7",
            "--origin-log",
            str(tmp_path / "origin.log"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode in (0, 1), done.stderr
    assert "imgstax soak: 15 s" in out
    for kind in ("photo", "png", "compress-to-size", "hit", "invalid"):
        assert f"\n  {kind} " in out, out
    assert "PASS  no 5xx but deliberate 503s: 0 server or transport errors" in out, out
    assert "PASS  every answer as expected: 0 unexpected" in out, out
    assert "RSS growth after warm-up:" in out and "not measured" not in out
    assert "p95 of the last 5 s vs the first" in out
    assert out.rstrip().endswith(("result: PASS", "result: FAIL"))
    assert done.returncode == (0 if out.rstrip().endswith("PASS") else 1)
    assert "Traceback" not in (tmp_path / "origin.log").read_text()


def steady(seconds: float = 600, *, slow_end: float = 1.0, status: int = 200) -> Run:
    """Ten requests a second, 100 ms each (slow_end times that in the last minute)."""
    run = Run(seconds)
    for tick in range(int(seconds * 10)):
        at = tick / 10
        latency = 0.1 * (slow_end if at >= seconds - 60 else 1.0)
        run.samples.append(Sample(at, "photo", latency, status, status == 200))
    return run


def verdict(run: Run, name: str) -> bool:
    return next(v.passed for v in judge(run) if v.name.startswith(name))


def test_a_steady_run_passes() -> None:
    run = steady()
    run.rss = [(float(t), 500 * 2**20 + t * 1000) for t in range(600)]
    assert all(v.passed for v in judge(run))


def test_rss_growth_past_ten_percent_after_warm_up_fails() -> None:
    run = steady()
    # Growing during the warm-up is fine; 20 % more after it is a leak.
    run.rss = [(float(t), (300 if t < 60 else 500 + t // 6) * 2**20) for t in range(600)]
    assert not verdict(run, "RSS growth")
    run.rss = [(float(t), (300 if t < 60 else 500) * 2**20) for t in range(600)]
    assert verdict(run, "RSS growth")


def test_a_slower_last_minute_fails() -> None:
    assert verdict(steady(slow_end=1.15), "p95")
    assert not verdict(steady(slow_end=1.3), "p95")


def test_server_errors_fail_but_deliberate_503s_do_not() -> None:
    run = steady()
    run.samples.append(Sample(5, "photo", 0.1, 503, True, deliberate=True))
    assert verdict(run, "no 5xx")
    run.samples.append(Sample(6, "photo", 0.1, 500, False))
    assert not verdict(run, "no 5xx") and not verdict(run, "every answer")
    run = steady()
    run.samples.append(Sample(7, "photo", 0.1, 0, False))  # a transport error
    assert not verdict(run, "no 5xx")


def test_unexpected_answers_fail() -> None:
    run = steady()
    run.samples.append(Sample(8, "invalid", 0.01, 200, False))
    assert not verdict(run, "every answer")
