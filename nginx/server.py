"""Running the edge: find the nginx binary, check the rendered config, start and stop nginx.

nginx runs in the foreground (``daemon off``) as a child of whoever starts it, with its prefix
at the run dir, so stopping it is stopping one process and nothing is left behind in /run or
/var. Its own output (before the config's error_log takes over) goes to ``<run_dir>/nginx.out``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nginx.render import EdgeConfig, write

# Debian and Ubuntu install nginx in /usr/sbin, which is not on an ordinary user's PATH.
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx")
INSTALL_HINT = (
    "nginx is not installed. Install it with `sudo apt-get install nginx` "
    "(Debian/Ubuntu) or `brew install nginx` (macOS)."
)


class EdgeError(RuntimeError):
    """nginx refused the config or did not start."""


def find_nginx() -> str | None:
    """The nginx binary's path, or None when it is not installed."""
    found = shutil.which("nginx")
    if found is not None:
        return found
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def local_worker_user() -> str | None:
    """The ``user`` for an edge run by hand or by tests: whoever runs it, if that is root.

    An nginx master started as root runs its workers as ``nobody``, who cannot write a cache
    under a user's checkout or a private temp dir.
    """
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(os.geteuid()).pw_name


def listen_address(listen: str) -> tuple[str, int]:
    """Where to connect to reach ``listen`` (a bare port listens on every address)."""
    host, _, port = listen.rpartition(":")
    return (host.strip("[]") or "127.0.0.1", int(port))


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def _pid_file_names(path: Path, pid: int) -> bool:
    try:
        return path.read_text().strip() == str(pid)
    except OSError:
        return False


@dataclass
class EdgeServer:
    """One running nginx edge."""

    config: EdgeConfig
    config_path: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> tuple[str, int]:
        return listen_address(self.config.listen)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """What nginx wrote to its output and its error log."""
        run_dir = self.config_path.parent
        return "\n".join(
            path.read_text(errors="replace")
            for path in (run_dir / "nginx.out", run_dir / "error.log")
            if path.exists()
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGTERM), SIGKILL if nginx lingers; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def check_config(binary: str, config_path: Path) -> None:
    """``nginx -t`` on the rendered file; EdgeError with nginx's complaint if it fails."""
    result = subprocess.run(
        [binary, "-t", "-q", "-p", str(config_path.parent), "-c", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EdgeError(f"nginx rejected {config_path}:\n{result.stderr.strip()}")


def start_edge(
    config: EdgeConfig, *, binary: str | None = None, timeout: float = 10.0
) -> EdgeServer:
    """Render, check and start nginx; return once it accepts connections."""
    found = binary or find_nginx()
    if found is None:
        raise EdgeError(INSTALL_HINT)
    config_path = write(config)
    check_config(found, config_path)
    run_dir = config_path.parent
    with (run_dir / "nginx.out").open("ab") as out:
        # A session of its own: a Ctrl-C in the terminal reaches whoever started the edge,
        # which then stops nginx in order, instead of every process at once.
        process = subprocess.Popen(
            [found, "-p", str(run_dir), "-c", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = EdgeServer(config, config_path, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EdgeError(f"nginx exited at startup:\n{server.output()}")
        # The pid file is written only once nginx holds its listening socket, so a port that
        # some other process answers on is not mistaken for ours.
        if _pid_file_names(run_dir / "nginx.pid", process.pid) and _accepts(server.address):
            return server
        time.sleep(0.05)
    server.stop()
    raise EdgeError(f"nginx did not listen on {config.listen} within {timeout} s")
