"""glibc malloc tuned for the origin (bench W1, W7): one arena, and huge pages for its heap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from origin import malloc
from origin.malloc import ARENA_MAX, REEXECUTED, limit_arenas, tune_malloc, tuned_environment
from tests.support.origin_process import running_origin

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


BARE = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


def _python(code: str, *args: str, env: dict[str, str] = BARE) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (glibc reads MALLOC_* at start; modules load once)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _arenas(mode: str, env: dict[str, str] = BARE) -> int:
    done = _python(CHURN, mode, env=env)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@glibc_only
def test_threads_share_one_arena_once_limited() -> None:
    assert _arenas("none") > ARENA_MAX  # the default this guards against
    assert _arenas("limit") <= ARENA_MAX


@glibc_only
def test_the_tuned_environment_caps_arenas_at_start() -> None:
    tuned = tuned_environment(BARE)
    assert tuned is not None
    assert _arenas("none", env=tuned) <= ARENA_MAX


def test_the_tunables_are_added_once() -> None:
    tuned = tuned_environment({"PATH": "/bin"})
    assert tuned == {
        "PATH": "/bin",
        "GLIBC_TUNABLES": f"glibc.malloc.hugetlb=1:glibc.malloc.arena_max={ARENA_MAX}",
    }
    assert tuned_environment(tuned) is None  # what serve checks after re-executing: no loop


def test_tunables_the_operator_named_win() -> None:
    tuned = tuned_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0:glibc.cpu.x86_ibt=on"})
    assert tuned is not None
    assert tuned["GLIBC_TUNABLES"] == (
        f"glibc.malloc.hugetlb=0:glibc.cpu.x86_ibt=on:glibc.malloc.arena_max={ARENA_MAX}"
    )
    assert tuned_environment({"MALLOC_ARENA_MAX": "8"}) == {
        "MALLOC_ARENA_MAX": "8",
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
    }
    complete = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.malloc.hugetlb=0"}
    assert tuned_environment(complete) is None
    assert limit_arenas(dict(complete)) is False


@glibc_only
def test_serve_re_executes_at_most_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, str]] = []

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append(env)

    monkeypatch.setattr(malloc.os, "execve", execve)
    monkeypatch.setattr(malloc, "limit_arenas", lambda environ: True)
    tune_malloc({"PATH": "/bin"})
    assert calls and calls[0][REEXECUTED] == "1"
    # Restarted, but the C library passed the tunables on without ours: no second restart.
    tune_malloc({"PATH": "/bin", REEXECUTED: "1"})
    assert len(calls) == 1


def _thp_mode() -> str:
    """The kernel's transparent huge page mode: always, madvise, never (or none)."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "none"
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else "none"


def _huge_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


@glibc_only
@pytest.mark.skipif(_thp_mode() in ("never", "none"), reason="the kernel has THP off")
def test_serve_restarts_itself_with_its_heap_on_huge_pages(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "IMGSTAX_DATA_DIR": str(tmp_path / "data")}
    with running_origin(environ, tmp_path / "default") as origin:
        # The same process, restarted under the tunables; /proc shows its environment as glibc
        # left it after parsing, cut after the first tunable.
        start = Path(f"/proc/{origin.process.pid}/environ").read_bytes()
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in start
        assert _huge_kb(origin.process.pid) > 0
    if _thp_mode() != "madvise":
        return  # under "always" every process has huge pages: the opt-out cannot show
    opted_out = {**environ, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    with running_origin(opted_out, tmp_path / "opted-out") as origin:
        assert _huge_kb(origin.process.pid) == 0


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
