"""`make bench`: the engine against raw pyvips (the limit) and a naive Pillow pipeline.

`python -m bench --smoke` runs a few seconds of the same code so that it cannot rot.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import pyvips

from bench.runner import compare
from bench.workloads import engine_workloads
from transforms import vips

TARGET_VS_PYVIPS = 0.95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to check it runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per implementation per round")
    args = parser.parse_args(argv)
    rounds, seconds = (1, 0.3) if args.smoke else (args.rounds, args.seconds)
    vips.configure()  # the same libvips set-up for every implementation
    print(
        f"# imgstax engine benchmark: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, libvips {pyvips.version(0)}.{pyvips.version(1)}."
        f"{pyvips.version(2)}; {args.threads} threads, {rounds} rounds x {seconds}s"
    )
    columns = ("engine/s", "pyvips/s", "pillow/s", "vs pyvips", "vs pillow")
    print(f"{'workload':34} " + " ".join(f"{c:>10}" for c in columns))
    below = []
    for workload in engine_workloads():
        jobs = {
            "engine": workload.engine(),
            "pyvips": workload.pyvips(),
            "pillow": workload.pillow(),
        }
        m = compare(jobs, threads=args.threads, rounds=rounds, seconds=seconds)
        vs_vips = m["engine"].per_second / m["pyvips"].per_second
        vs_pillow = m["engine"].per_second / m["pillow"].per_second
        print(
            f"{workload.name:34} {m['engine'].per_second:10.2f} {m['pyvips'].per_second:10.2f} "
            f"{m['pillow'].per_second:10.2f} {vs_vips:10.3f} {vs_pillow:10.2f}"
        )
        if vs_vips < TARGET_VS_PYVIPS:
            below.append(workload.name)
    if below and not args.smoke:
        print(f"below the {TARGET_VS_PYVIPS} target against raw pyvips: {', '.join(below)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
