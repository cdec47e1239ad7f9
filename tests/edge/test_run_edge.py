"""``make edge``: what it prints, that the printed commands work, and that Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nginx import run_edge
from tests.edge.conftest import PHOTO, requires_nginx
from tests.origin.conftest import FIXTURES
from tests.support.moto import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_without_nginx_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_edge, "find_nginx", lambda: None)
    assert run_edge.main(["--port", str(free_port())]) == 1
    assert "apt-get install nginx" in capsys.readouterr().err


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _attempt in range(50):
        first = free_port()
        if all(_free(first + i) for i in range(1, count)):
            return first
    raise AssertionError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_line(path: Path, marker: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = path.read_text()
        if marker in text:
            return text
        if process.poll() is not None:
            raise AssertionError(f"make edge exited early:\n{text}")
        time.sleep(0.1)
    raise AssertionError(f"make edge printed no {marker!r}:\n{path.read_text()}")


@requires_nginx
@pytest.mark.slow
def test_make_edge_prints_working_commands_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    (data_dir / "storage").mkdir(parents=True)
    shutil.copyfile(FIXTURES / PHOTO, data_dir / "storage" / "sample.jpg")
    edge_port, first_origin = free_port(), consecutive_free_ports(2)
    out = tmp_path / "make-edge.out"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "nginx.run_edge", "--data-dir", str(data_dir)]
    command += ["--port", str(edge_port), "--origin-port", str(first_origin)]
    with out.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    try:
        printed = wait_for_line(out, "Ctrl-C stops", process)
        edge = f"http://127.0.0.1:{edge_port}"
        assert f"on {edge}, in front of 2 origins" in printed
        for port in (first_origin, first_origin + 1):
            assert f"origin http://127.0.0.1:{port}" in printed
        assert f"shared second tier: local disk under {data_dir}" in printed

        # The printed curl, as pasted.
        key = re.search(r"X-API-Key: (\S+)'", printed)
        assert key is not None, printed
        body = {"source": {"storageKey": "sample.jpg"}, "width": 800, "height": 600}
        with httpx.Client(base_url=edge, timeout=30) as http:
            made = http.post("/v1/resize", json=body, headers={"X-API-Key": key.group(1)})
            assert made.status_code == 200, made.text
            url = made.json()["url"]
            assert url.startswith(edge)
            assert http.head(url).headers["x-cache-status"] == "MISS"
            assert http.head(url).headers["x-cache-status"] == "HIT"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, out.read_text()
    for port in (edge_port, first_origin, first_origin + 1):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
