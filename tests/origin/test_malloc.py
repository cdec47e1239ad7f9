"""glibc arenas capped for the origin (bench W7): threads that contend share two arenas."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from origin.malloc import ARENA_MAX, limit_arenas

ROOT = Path(__file__).resolve().parents[2]

# Eight threads that malloc and free at once (ctypes drops the GIL around each call), then
# glibc's malloc_stats() names every arena on stderr.
CHURN = textwrap.dedent(
    """
    import ctypes, os, sys, threading
    from origin.malloc import limit_arenas
    if sys.argv[1] == "limit":
        limit_arenas(os.environ)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    def churn():
        for _ in range(20000):
            libc.free(libc.malloc(5000))
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()
    """
)

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (glibc reads MALLOC_* at start; modules load once)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _arenas(mode: str) -> int:
    done = _python(CHURN, mode)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@glibc_only
def test_threads_share_at_most_two_arenas_once_limited() -> None:
    assert _arenas("none") > ARENA_MAX  # the default this guards against
    assert _arenas("limit") <= ARENA_MAX


def test_the_limit_reaches_worker_processes_through_the_environment() -> None:
    environ: dict[str, str] = {}
    limit_arenas(environ)
    assert environ == {"MALLOC_ARENA_MAX": str(ARENA_MAX)}


def test_an_operators_own_setting_wins() -> None:
    environ = {"MALLOC_ARENA_MAX": "8"}
    assert limit_arenas(environ) is False
    assert environ == {"MALLOC_ARENA_MAX": "8"}


def test_an_origin_on_local_disk_does_not_load_botocore() -> None:
    """botocore costs ~30 MB of RSS; it is imported when an S3 store is made, not before."""
    probe = "import sys, origin.app, origin.cli; print('botocore' in sys.modules)"
    assert _python(probe).stdout.strip() == "False"
