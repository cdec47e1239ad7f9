"""glibc malloc arenas for a process whose render threads decode large images.

glibc gives each thread that meets a locked arena an arena of its own, up to 8 per core, and
keeps the memory a render freed in that arena for the next one. With render threads, libvips
worker threads and the event loop each holding tens of MB that way, an origin that renders
24 MP photos on 2 workers peaked near 460 MB after a minute; two arenas keep it at 310-340 MB at
the same speed (measured in bench W7, recorded in docs/DECISIONS.md). A smaller fixed
``MALLOC_MMAP_THRESHOLD_`` took ~30 MB more off at ~8 % more CPU per render: an
operator may set it, and any ``MALLOC_*`` variable of their own wins over this default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import MutableMapping

ARENA_MAX = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h

log = logging.getLogger("imgstax.malloc")


def limit_arenas(environ: MutableMapping[str, str]) -> bool:
    """Cap glibc's arenas in this process and, through environ, in the workers it spawns.

    Returns whether this process was changed; False where the operator set MALLOC_ARENA_MAX
    (glibc read it at start) or the C library is not glibc.
    """
    if "MALLOC_ARENA_MAX" in environ:
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
