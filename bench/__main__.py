"""`make bench`: the whole service over real HTTP, beside its references, as ratios.

`python -m bench` runs every workload (about 6 minutes) and writes bench/RESULTS.md;
`python -m bench --smoke` runs each one for a moment (about 10 s, thumbor skipped, no target
enforced) so that the suite cannot rot. `--only W1,W6` runs a subset (W6 needs W1's capacity
and runs W1 first); `--origin-env NAME=VALUE` passes a setting to the main origin, for
experiments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import ssim, thumbor
from bench.plan import FULL, SMOKE, WORKLOADS
from bench.report import Report
from bench.sources import PHOTO_24MP, QUALITIES, ParamSpace
from bench.suite import Suite, running_suite
from bench.w_cache import run_w5, run_w5b
from bench.w_overload import run_w6
from bench.w_quality import run_w8
from bench.w_render import run_w1_w7, run_w2, run_w4
from bench.w_size import run_w3
from origin.malloc import tuned_environment
from transforms import vips

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _spaces(suite: Suite) -> None:
    variants = len(suite.pngs)
    for fmt in ("Jpeg", "Webp", "Avif"):
        suite.spaces[f"photo-{fmt}"] = ParamSpace(range(790, 811), QUALITIES)
    suite.spaces["rgba-Jpeg"] = ParamSpace(range(710, 731), QUALITIES, variants)
    # Png has no quality: the distinct requests come from distinct sources and widths.
    suite.spaces["rgba-Png"] = ParamSpace(range(700, 741), range(80, 81), variants)


def run(suite: Suite, only: set[str]) -> None:
    scores = ssim.self_check(PHOTO_24MP.read_bytes())
    suite.report.note(
        "SSIM self-check: " + ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    )
    _spaces(suite)
    capacity = 0.0
    if only & {"W1", "W6"}:
        capacity = run_w1_w7(suite)
    if "W2" in only:
        run_w2(suite)
    if "W4" in only:
        run_w4(suite)
    if "W3" in only:
        run_w3(suite)
    if "W6" in only:
        run_w6(suite, capacity)
    if "W5" in only:
        run_w5(suite)
    if "W5b" in only:
        run_w5b(suite)
    if "W8" in only:
        run_w8(suite)


def _origin_tunables() -> str:
    """What `imgstax serve` adds to a clean environment (origin/malloc.py)."""
    tuned = tuned_environment({}) or {}
    return tuned.get("GLIBC_TUNABLES", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="every workload for a moment")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W1,W5")
    parser.add_argument("--no-thumbor", action="store_true", help="skip thumbor")
    parser.add_argument("--origin-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--output", type=Path, default=None, help="default: bench/RESULTS.md")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    if args.no_thumbor:
        plan = type(plan)(**{**plan.__dict__, "thumbor": False})
    only = {w.strip() for w in args.only.split(",") if w.strip()}
    unknown = only - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; known: {', '.join(WORKLOADS)}")
    extra = dict(item.split("=", 1) for item in args.origin_env)
    report = Report(
        "imgstax benchmark" + (" (smoke)" if plan.smoke else ""), enforce=not plan.smoke
    )
    vips.configure()  # the same libvips set-up in this process as in the origin's workers
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imgstax-bench-") as tmp:
        with running_suite(plan, report, Path(tmp), extra) as suite:
            report.note(
                f"Origins: `imgstax serve`, 1 process, IMGSTAX_RENDER_WORKERS={plan.workers}"
                + (f", {', '.join(args.origin_env)}" if extra else "")
                + f" (which runs under GLIBC_TUNABLES={_origin_tunables()}); "
                + "in-process rows: this process, glibc defaults; thumbor: "
                + (
                    suite.thumbor_reason
                    or f"{thumbor.version()}, Pillow engine, {plan.workers} "
                    "engine threads, file loader, no storage"
                )
            )
            run(suite, only)
            waited = suite.quiet.waited
    if waited:
        report.note(f"Waited {waited:.0f} s in all for other processes to leave the CPUs.")
    elapsed = time.perf_counter() - started
    report.note(f"Wall time: {elapsed:.0f} s.")
    output = args.output or (None if plan.smoke or only != set(WORKLOADS) else RESULTS)
    if output is not None:
        output.write_text(report.markdown())
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
