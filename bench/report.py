"""The report: tables per workload and one PASS/MISS line per target, as Markdown.

Sections are printed as soon as a workload finishes, so a long run shows progress, and the
whole report (with the machine it ran on) is written to bench/RESULTS.md at the end.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import PIL
import pyvips


@dataclass(frozen=True)
class Target:
    workload: str
    goal: str  # what is asked, e.g. ">= 0.90 x raw pyvips"
    figure: str  # what was measured
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"


@dataclass
class Report:
    title: str
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    enforce: bool = True  # the smoke prints targets as "(smoke)" instead of PASS/MISS
    other_load: float = 0.0  # the most CPU other processes used in any round, in cores
    _started: float = field(default_factory=time.perf_counter)

    def section(self, title: str, intro: str = "") -> None:
        now = time.perf_counter()
        print(f"[{now - self._started:.1f} s]", flush=True)
        self._emit(["", f"## {title}", ""] + ([intro, ""] if intro else []))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        out = [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
        ]
        out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
        self._emit(out + [""])

    def note(self, text: str) -> None:
        self._emit([text, ""])

    def target(self, workload: str, goal: str, figure: str, passed: bool) -> None:
        target = Target(workload, goal, figure, passed)
        self.targets.append(target)
        verdict = target.verdict if self.enforce else "(smoke)"
        print(f"  target {workload}: {goal}: {figure} -> {verdict}", flush=True)

    def _emit(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        print("\n".join(lines), flush=True)

    def saw_other_load(self, cores: float) -> None:
        self.other_load = max(self.other_load, cores)

    def markdown(self) -> str:
        head = [f"# {self.title}", "", *machine_lines()]
        if self.other_load >= 0.3:
            head.append(
                f"- other processes used up to {self.other_load:.1f} cores during some rounds "
                "(a shared machine): renders/s and latencies are disturbed there, ratios less "
                "so (interleaved rounds), CPU ms/render hardly"
            )
        head.append("")
        verdicts = ["", "## Targets", ""]
        rows = [
            (t.workload, t.goal, t.figure, t.verdict if self.enforce else "(smoke)")
            for t in self.targets
        ]
        table = ["| workload | target | measured | verdict |", "|---|---|---|---|"]
        verdicts += table + ["| " + " | ".join(row) + " |" for row in rows] + [""]
        return "\n".join(head + verdicts + self.lines).rstrip() + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: not measured
            return "–"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head or "unknown"


def machine_lines() -> list[str]:
    vips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- date: {now}; commit {_commit()}",
        f"- machine: {os.cpu_count()} cores, {_memory()}, CPU {_cpu_model()}, "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        f"- Python {platform.python_version()}, libvips {vips} (pyvips {pyvips.__version__}), "
        f"Pillow {PIL.__version__}",
    ]
