"""thumbor, the peer: installed into its own venv (bench/.thumbor-venv), never into .venv.

thumbor is optional: when it cannot be installed or started, the suite prints why and skips
its columns. It is configured for a fair fight: sources from local files (no HTTP loader),
no source or result storage (every request renders), its Pillow engine with a thread pool as
large as the origin's render pool.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.procs import HOST, Server, launch

VENV = Path(__file__).resolve().parent / ".thumbor-venv"
COMMAND = VENV / "bin" / "thumbor"
_CONFIG = """\
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
ENGINE = 'thumbor.engines.pil'
ENGINE_THREADPOOL_SIZE = {threads}
ALLOW_UNSAFE_URL = True
MAX_PIXELS = 100000000.0
"""


def ensure_installed(log_dir: Path) -> str | None:
    """None when the thumbor command is ready, else the reason it is not."""
    if COMMAND.exists():
        return None
    log = log_dir / "thumbor-install.log"
    print(f"installing thumbor into {VENV} (once; log in {log})", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "thumbor"],
    ]
    with log.open("ab") as out:
        for step in steps:
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"`{' '.join(step[-2:])}` failed: {exc}"
            if done.returncode != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                return f"`pip install thumbor` failed: {' / '.join(tail)}"
    return None if COMMAND.exists() else "the thumbor command is missing after install"


def version() -> str:
    """thumbor's version and its Pillow's, e.g. "Thumbor v7.8.0 (30-May-2026), Pillow 12.3.0"."""
    python = str(VENV / "bin" / "python")
    script = (
        "import thumbor, PIL; print(f'thumbor {thumbor.__version__}, Pillow {PIL.__version__}')"
    )
    try:
        done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "version unknown"
    return done.stdout.strip() if done.returncode == 0 else "version unknown"


def start(images: Path, log_dir: Path, port: int, threads: int) -> Server:
    """Launch thumbor (not waiting: pass it to procs.wait_ready)."""
    config = log_dir / "thumbor.conf"
    config.write_text(_CONFIG.format(root=str(images), threads=threads))
    command = [str(COMMAND), "-i", HOST, "-p", str(port), "-c", str(config), "-l", "warning"]
    return launch("thumbor", command, {}, log_dir, port=port, ready_path="/healthcheck")


def path(name: str, width: int, quality: int, fmt: str, *, flatten: bool = False) -> str:
    """The unsafe URL path of a resize to `width` encoded as `fmt` at `quality`."""
    filters = ["background_color(white)"] if flatten else []
    filters += [f"quality({quality})", f"format({fmt.lower()})"]
    return f"/unsafe/{width}x0/filters:{':'.join(filters)}/{name}"
