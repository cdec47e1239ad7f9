"""A real origin for tests: ``python -m origin serve`` in a subprocess on a loopback port.

The environment is the test's alone (plus PATH): nothing from the developer's shell or the CI
runner leaks into the origin. Output goes to ``<log_dir>/origin-<port>.log`` so a test can read
it, and a failed start raises with that log in the message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.moto import HOST, free_port


@dataclass
class OriginProcess:
    """One running ``imgstax serve``."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        """The origin's /metrics text (one process: start it with one worker to see it all)."""
        answer = httpx.get(f"{self.url}/metrics", timeout=5)
        answer.raise_for_status()
        return answer.text

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL after 15 s; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _spawn(
    environ: Mapping[str, str], log_dir: Path, port: int, args: Sequence[str], timeout: float
) -> OriginProcess | None:
    """The origin once it answers /healthz, or None if it exited (e.g. the port was taken)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ}
    command = [sys.executable, "-m", "origin", "serve", "--port", str(port), *args]
    log_path = log_dir / f"origin-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=log_dir,
        )
    origin = OriginProcess(port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(origin.url):
            return origin
        if process.poll() is not None:
            return None
        time.sleep(0.1)
    origin.stop()
    raise AssertionError(f"the origin did not answer within {timeout} s:\n{origin.log()}")


def start_origin(
    environ: Mapping[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    timeout: float = 30.0,
) -> OriginProcess:
    """Start an origin and return once it answers /healthz.

    Without ``port`` a free one is picked, and picked again should another process take it
    between the check and uvicorn's bind. ``environ`` should set HOME and every IMGSTAX_*
    variable the test relies on.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else 3
    for _attempt in range(attempts):
        chosen = port if port is not None else free_port()
        origin = _spawn(environ, log_dir, chosen, args, timeout)
        if origin is not None:
            return origin
    log = (log_dir / f"origin-{chosen}.log").read_text(errors="replace")
    raise AssertionError(f"the origin exited during startup:\n{log}")


@contextmanager
def running_origin(
    environ: Mapping[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
) -> Iterator[OriginProcess]:
    """An origin for the duration of the block, stopped afterwards."""
    origin = start_origin(environ, log_dir, port=port, args=args)
    try:
        yield origin
    finally:
        origin.stop()
