"""Run a test script in a fresh interpreter: for what a process sets up once (libvips' set-up,
its worker threads, peak memory), which an earlier test in this one would have done already."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_fresh(script: str, *args: str, timeout: float = 120) -> Any:
    """The JSON the script prints last, from `python -c script args` (from the repository)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
