"""``make edge``: N origins and the nginx edge in front of them, on this machine, until Ctrl-C.

The origins are ordinary ``imgstax serve`` processes, one per port, sharing the second tier of
the environment: the data dir on local disk by default (``var``, as ``make run``), or the S3
bucket when ``IMGSTAX_S3_BUCKET`` is set. Every child runs in a session of its own, so a Ctrl-C
reaches this process alone, and it stops nginx first (no new requests), then the origins.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from nginx.render import EdgeConfig
from nginx.server import (
    INSTALL_HINT,
    EdgeError,
    EdgeServer,
    find_nginx,
    local_worker_user,
    start_edge,
)

HOST = "127.0.0.1"
# Written by the origin's embedded defaults when no API key is configured (see `make run`).
DEV_KEY_FILE = "dev-api-key"
SAMPLE_KEY = "sample.jpg"


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything and exit."""


@dataclass
class Origin:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_origin(port: int, environ: Mapping[str, str], run_dir: Path) -> Origin:
    """One ``imgstax serve`` on ``port``, returned once it answers /healthz."""
    log_path = run_dir / f"origin-{port}.log"
    command = [sys.executable, "-m", "origin", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=dict(environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    origin = Origin(port, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EdgeError(f"the origin on port {port} exited:\n{_tail(log_path)}")
        if _healthy(port):
            return origin
        time.sleep(0.1)
    origin.stop()
    origin.wait(10)
    raise EdgeError(f"the origin on port {port} did not answer within 60 s:\n{_tail(log_path)}")


def _nginx_version(binary: str) -> str:
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return result.stderr.strip().rpartition("/")[2] or "?"


def _summary(
    edge: EdgeServer,
    version: str,
    origins: Sequence[Origin],
    environ: Mapping[str, str],
    data_dir: Path,
) -> str:
    run_dir = edge.config_path.parent
    lines = [
        f"imgstax edge (nginx {version}) on {edge.url}, in front of {len(origins)} origins:",
        *(f"  origin {o.url}   log {o.log_path}" for o in origins),
    ]
    bucket = environ.get("IMGSTAX_S3_BUCKET", "").strip()
    tier = f"S3 bucket {bucket}" if bucket else f"local disk under {data_dir}"
    lines.append(f"  shared second tier: {tier}")
    lines.append(f"  edge cache {edge.config.resolved_cache_dir}, logs in {run_dir}")
    key_file = data_dir / DEV_KEY_FILE
    configured = environ.get("IMGSTAX_API_KEYS") or environ.get("IMGSTAX_API_KEYS_FILE")
    if not configured and key_file.exists() and (data_dir / "storage" / SAMPLE_KEY).exists():
        key = key_file.read_text().strip()
        body = '{"source": {"storageKey": "sample.jpg"}, "width": 800, "height": 600}'
        lines += [
            "Try it (dev API key, kept in the data dir):",
            f"  curl -s -X POST {edge.url}/v1/resize -H 'X-API-Key: {key}' "
            f"-H 'Content-Type: application/json' -d '{body}'",
            "  then curl -sI the answer's url twice: X-Cache-Status MISS, then HIT.",
        ]
    lines.append("Ctrl-C stops the edge and the origins.")
    return "\n".join(lines)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def serve(args: argparse.Namespace, binary: str) -> int:
    data_dir = Path(args.data_dir or os.environ.get("IMGSTAX_DATA_DIR", "").strip() or "var")
    run_dir = (args.run_dir or data_dir / "edge").absolute()
    first = args.origin_port or args.port + 1
    ports = [first + i for i in range(args.origins)]
    busy = [p for p in [args.port, *ports] if not _port_free(p)]
    if busy:
        print(
            f"port(s) {busy} on {HOST} are in use; choose others with --port and --origin-port "
            '(make edge EDGE_ARGS="--port 9000")',
            file=sys.stderr,
        )
        return 1
    run_dir.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, "IMGSTAX_DATA_DIR": str(data_dir)}
    origins: list[Origin] = []
    edge: EdgeServer | None = None
    try:
        # One at a time: the first origin creates the dev API key and the signing key in the
        # data dir, and the others then read the very same ones.
        for port in ports:
            origins.append(start_origin(port, environ, run_dir))
        config = EdgeConfig(
            origins=tuple(f"{HOST}:{p}" for p in ports),
            run_dir=run_dir,
            listen=f"{HOST}:{args.port}",
            worker_processes="2",
            user=local_worker_user(),
            upstream_header=True,
        )
        edge = start_edge(config, binary=binary)
        summary = _summary(edge, _nginx_version(binary), origins, environ, data_dir)
        print(summary, flush=True)
        while True:
            for origin in origins:
                if origin.process.poll() is not None:
                    print(f"origin {origin.url} stopped:\n{_tail(origin.log_path)}", flush=True)
                    return 1
            if not edge.running:
                print(f"nginx stopped:\n{edge.output()}", flush=True)
                return 1
            time.sleep(0.5)
    except EdgeError as exc:
        print(exc, file=sys.stderr)
        return 1
    except Stop:
        print("stopping the edge and the origins", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and orphan a child.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if edge is not None:
            edge.stop()
        for origin in origins:
            origin.stop()
        for origin in origins:
            origin.wait(15)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make edge", description="Run N imgstax origins behind the nginx edge, locally."
    )
    parser.add_argument("--origins", type=int, default=2, help="how many origins (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="the edge's port (default 8080)")
    parser.add_argument("--origin-port", type=int, help="the first origin's port (default +1)")
    parser.add_argument("--data-dir", help="the shared data dir (default $IMGSTAX_DATA_DIR or var)")
    parser.add_argument("--run-dir", type=Path, help="nginx files (default <data dir>/edge)")
    args = parser.parse_args(argv)
    if args.origins < 1:
        parser.error("--origins must be at least 1")
    binary = find_nginx()
    if binary is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    # Installed explicitly: a shell that starts this in the background may have left SIGINT
    # ignored, and SIGTERM should stop the children too rather than orphan them.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    return serve(args, binary)


if __name__ == "__main__":
    sys.exit(main())
