"""Server processes under test: start, wait until they answer, measure their CPU and memory.

Every server listens on 127.0.0.1 only and writes its output to a log file in the run's temp
directory; a server that dies during start-up raises with the end of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """pid and all of its descendants (uvicorn or thumbor worker processes)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree so far."""
    total = 0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (steal included)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _status_kib(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_bytes(pid: int) -> int:
    """VmHWM summed over the process tree."""
    return 1024 * sum(_status_kib(member, "VmHWM") for member in process_tree(pid))


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a peak belongs to one workload."""
    try:
        for member in process_tree(pid):
            Path(f"/proc/{member}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_path: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 10 s; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stop_all(servers: Sequence[Server]) -> None:
    """SIGTERM every server at once, then wait for each (shutdowns overlap)."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server.stop()


def launch(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    port: int,
    ready_path: str = "/healthz",
) -> Server:
    """Start a server without waiting for it (start several, then wait_ready for all)."""
    log_path = log_dir / f"{name}.log"
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(log_dir), **env}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=log_dir,
        )
    return Server(name, port, process, log_path, ready_path)


def wait_ready(servers: Sequence[Server], timeout: float = 60.0) -> None:
    """Return once every server answers its ready path; raise if one exits or times out."""
    waiting = list(servers)
    deadline = time.monotonic() + timeout
    while waiting:
        for server in list(waiting):
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited during start-up:\n{server.log_tail()}")
            try:
                if httpx.get(server.url + server.ready_path, timeout=1).status_code < 500:
                    waiting.remove(server)
            except httpx.TransportError:
                pass
        if waiting and time.monotonic() > deadline:
            names = ", ".join(s.name for s in waiting)
            raise RuntimeError(f"{names} did not answer within {timeout} s")
        if waiting:
            time.sleep(0.05)


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


def moto_command(port: int) -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    return [str(beside), "-H", HOST, "-p", str(port)]
