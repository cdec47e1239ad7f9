"""A real S3 protocol endpoint for tests: a ``moto_server`` process on a free loopback port.

No in-process mocking: aiobotocore talks HTTP to the server exactly as it would to S3 or MinIO.
``isolated_session()`` builds an aiobotocore session that reads no AWS environment variable and
no ~/.aws file, and the dummy credentials are passed explicitly, so no credential chain (and no
instance-metadata lookup) ever runs.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aiobotocore.session import AioSession
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

HOST = "127.0.0.1"
ACCESS_KEY_ID = "testing-access-key"
SECRET_ACCESS_KEY = "testing-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _moto_server_command() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]'")
    return found


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class MotoServer:
    """One running moto_server process."""

    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server and wait for it (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def start_moto_server(log_path: Path, *, timeout: float = 30.0) -> MotoServer:
    """Start moto_server on a free loopback port and return once it answers HTTP."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    for _attempt in range(3):  # the port may be taken between free_port() and the bind
        port = free_port()
        log = open(log_path, "ab")
        process = subprocess.Popen(
            [_moto_server_command(), "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        server = MotoServer(port, process, log)
        deadline = time.monotonic() + timeout
        while server.running and time.monotonic() < deadline:
            if _answers(port):
                return server
            time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"moto_server did not start; see {log_path}")


@contextmanager
def moto_server(log_path: Path) -> Iterator[MotoServer]:
    """A running moto_server for the duration of the block."""
    server = start_moto_server(log_path)
    try:
        yield server
    finally:
        server.stop()


def isolated_session(config_dir: Path) -> AioSession:
    """An aiobotocore session blind to AWS_* variables and ~/.aws (config in ``config_dir``)."""
    config = config_dir / "aws-config"
    if not config.exists():
        config.write_text("[default]\n")
    # Every session variable keeps its config-file name and default but loses its environment
    # variable, so nothing on the developer's machine or the CI runner leaks in.
    variables = {
        name: (config_name, None, default, convert)
        for name, (config_name, _env, default, convert) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    session = AioSession(session_vars=variables)
    session.set_config_variable("config_file", str(config))
    session.set_config_variable("credentials_file", str(config))
    session.set_config_variable("profile", "default")
    return session


def s3_origin_environ(
    tmp: Path, moto: MotoServer, bucket: str, *, api_keys: str, signing_keys: str
) -> dict[str, str]:
    """The whole environment of an ``imgstax serve`` process on this server's ``bucket``.

    HOME and the AWS files point into ``tmp``, so no AWS configuration of the machine leaks in.
    """
    return {
        "HOME": str(tmp),
        "IMGSTAX_API_KEYS": api_keys,
        "IMGSTAX_SIGNING_KEYS": signing_keys,
        "IMGSTAX_DATA_DIR": str(tmp / "data"),
        "IMGSTAX_S3_BUCKET": bucket,
        "IMGSTAX_S3_ENDPOINT_URL": moto.endpoint_url,
        "IMGSTAX_S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
