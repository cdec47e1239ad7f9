"""glibc malloc tuned for a process whose render threads decode large images.

Two settings, both measured in bench W1/W7 and recorded in docs/DECISIONS.md:

- **One arena.** glibc gives each thread that meets a locked arena an arena of its own, up to
  8 per core, and keeps the memory a render freed in that arena for the next one. An origin
  rendering 24 MP photos on 2 workers peaked near 460 MB that way, 330 MB with two arenas and
  ~260 MB with one, at the same renders per second: libvips allocates in large blocks, so
  the render threads hardly meet on the arena's lock.
- **Transparent huge pages for malloc** (``glibc.malloc.hugetlb=1``). A progressive 24 MP JPEG
  needs 72 MB of DCT coefficients per decode, which glibc always maps fresh (it is over the
  32 MB mmap ceiling) and returns on free: 12,000 faults of 4 KB pages for that piece alone,
  ~22 ms of kernel time in a ~115 ms render. On 2 MB pages ~8 ms: W1 Jpeg renders 10-15 % more
  per second, for ~9 MB more peak RSS on one arena (none on two). The kernel must allow THP on
  request (``madvise`` or ``always`` in /sys/kernel/mm/transparent_hugepage/enabled); where it
  does not, glibc ignores the setting.

glibc reads its tunables only when a process starts, so ``imgstax serve`` re-executes itself
once with ``GLIBC_TUNABLES`` set (same pid, same arguments); worker processes inherit the
variable. Whatever the operator set wins: a tunable already named in ``GLIBC_TUNABLES``, or
``MALLOC_ARENA_MAX``, is left alone. Where the process cannot be re-executed, the arena cap is
still applied through mallopt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping

ARENA_MAX = 1
_M_ARENA_MAX = -8  # from glibc's malloc.h
HUGETLB = "glibc.malloc.hugetlb"
ARENAS = "glibc.malloc.arena_max"
TUNABLES = ((HUGETLB, "1"), (ARENAS, str(ARENA_MAX)))
# Set on the one re-execution: should a C library drop the tunables from the environment it
# passes on, the process carries on (arenas capped by mallopt) instead of re-executing again.
REEXECUTED = "_IMGSTAX_MALLOC_REEXECUTED"

log = logging.getLogger("imgstax.malloc")


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def _named(environ: Mapping[str, str]) -> set[str]:
    """The tunables GLIBC_TUNABLES already names (``a.b.c=v:d.e.f=w``)."""
    items = environ.get("GLIBC_TUNABLES", "").split(":")
    return {item.split("=", 1)[0].strip() for item in items if item.strip()}


def tuned_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """environ with our tunables added, or None when there is nothing to add."""
    named = _named(environ)
    missing = [
        f"{name}={value}"
        for name, value in TUNABLES
        if name not in named and not (name == ARENAS and "MALLOC_ARENA_MAX" in environ)
    ]
    if not missing:
        return None
    current = environ.get("GLIBC_TUNABLES", "").strip(":")
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [current, *missing]))}


def tune_malloc(environ: MutableMapping[str, str]) -> None:
    """serve's first step: re-execute under the tunables; where that cannot be, cap arenas.

    Call it before any thread or socket exists: on success it does not return.
    """
    if not is_glibc():
        return
    tuned = tuned_environment(environ)
    if tuned is None:
        return
    argv = getattr(sys, "orig_argv", None)
    if sys.executable and argv and REEXECUTED not in environ:
        try:
            os.execve(sys.executable, [sys.executable, *argv[1:]], {**tuned, REEXECUTED: "1"})
        except OSError as exc:
            log.warning("could not restart with GLIBC_TUNABLES (%s); arenas capped only", exc)
    limit_arenas(environ)


def limit_arenas(environ: MutableMapping[str, str]) -> bool:
    """Cap glibc's arenas in this process and, through environ, in the workers it spawns.

    Returns whether this process was changed; False where the operator set MALLOC_ARENA_MAX or
    the arena tunable (glibc read it at start) or the C library is not glibc.
    """
    if "MALLOC_ARENA_MAX" in environ or ARENAS in _named(environ):
        return False
    # Worker processes (uvicorn --workers) start new interpreters: glibc reads this there.
    environ["MALLOC_ARENA_MAX"] = str(ARENA_MAX)
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # musl and other C libraries have no mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    changed = bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not changed:
        log.warning("mallopt(M_ARENA_MAX, %d) was refused; memory may grow per thread", ARENA_MAX)
    return changed
