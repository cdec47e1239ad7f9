"""The hashed keys file end to end: the real CLI edits it, a running origin obeys it.

``python -m origin keys create`` makes a key that a running ``imgstax serve`` (started with only
IMGSTAX_API_KEYS_FILE) accepts within 5 s, without a restart; ``keys revoke`` makes the same
process refuse it within 5 s. The secret never appears in the origin's output (at DEBUG), in the
CLI's stderr, in the file, or in this process's log records.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from tests.hardening.conftest import SIGNING, put_in_storage
from tests.support.origin_process import running_origin

pytestmark = pytest.mark.slow

SECRET = re.compile(r"secret:\s+(isk_[A-Za-z0-9_.-]+_[0-9a-f]{64})")
LIMIT = 5.0


def keys_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "origin", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def status_with(url: str, key: str) -> int:
    return httpx.get(f"{url}/v1/packs", headers={"X-API-Key": key}, timeout=10).status_code


def wait_for_status(url: str, key: str, expected: int) -> float:
    """Seconds until GET /v1/packs with key answers expected (fails after LIMIT)."""
    started = time.monotonic()
    while status_with(url, key) != expected:
        assert time.monotonic() - started < LIMIT, f"still not {expected} after {LIMIT} s"
        time.sleep(0.1)
    return time.monotonic() - started


def near_miss(secret: str) -> str:
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


def test_create_accept_revoke_refuse_without_restart(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys" / "api-keys.json"
    data_dir = tmp_path / "data"
    put_in_storage(data_dir, "tiny-1x1.png", "tiny.png")
    environ = {
        "HOME": str(tmp_path),
        "IMGSTAX_API_KEYS_FILE": str(keys_file),
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_LOG_LEVEL": "DEBUG",
    }
    with running_origin(environ, tmp_path) as origin:
        pid = origin.process.pid
        created = keys_cli("create", "--file", str(keys_file), "--id", "e2e")
        found = SECRET.search(created.stdout)
        assert found is not None, created.stdout
        secret = found.group(1)
        assert secret.startswith("isk_e2e_")

        wait_for_status(origin.url, secret, 200)
        with httpx.Client(base_url=origin.url, headers={"X-API-Key": secret}, timeout=30) as http:
            answer = http.post(
                "/v1/resize", json={"source": {"storageKey": "tiny.png"}, "width": 9}
            )
            assert answer.status_code == 200, answer.text
            private = http.post(
                "/v1/resize",
                json={
                    "source": {"storageKey": "tiny.png"},
                    "width": 8,
                    "output": {"public": False},
                },
            ).json()
            assert http.get(private["url"]).status_code == 200
        assert status_with(origin.url, near_miss(secret)) == 401

        revoked = keys_cli("revoke", "e2e", "--file", str(keys_file))
        took = wait_for_status(origin.url, secret, 401)
        assert took < LIMIT
        assert httpx.get(private["url"], headers={"X-API-Key": secret}).status_code == 401
        listed = keys_cli("list", "--file", str(keys_file))
        assert re.search(r"^e2e\s+\S+\s+revoked ", listed.stdout, re.MULTILINE), listed.stdout
        assert origin.process.pid == pid and origin.running  # no restart

    hidden = secret.rsplit("_", 1)[1]  # the random part alone
    for where, text in [
        ("origin output", origin.log()),
        ("create stderr", created.stderr),
        ("revoke output", revoked.stdout + revoked.stderr),
        ("list output", listed.stdout + listed.stderr),
        ("keys file", keys_file.read_text()),
    ]:
        assert hidden not in text, f"the secret is in the {where}"
        assert near_miss(secret).rsplit("_", 1)[1] not in text
    assert "authenticated API key e2e" in origin.log()  # DEBUG was on: the id, only the id


def test_no_key_in_this_process_log_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys_file = tmp_path / "api-keys.json"
    created = keys_cli("create", "--file", str(keys_file), "--id", "local")
    found = SECRET.search(created.stdout)
    assert found is not None
    secret = found.group(1)
    environ = {
        "IMGSTAX_API_KEYS_FILE": str(keys_file),
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(tmp_path / "data"),
    }
    with caplog.at_level(logging.DEBUG), TestClient(create_app(load_settings(environ))) as client:
        assert client.get("/v1/packs", headers={"X-API-Key": secret}).status_code == 200
        assert client.get("/v1/packs", headers={"X-API-Key": near_miss(secret)}).status_code == 401
        keys_cli("revoke", "local", "--file", str(keys_file))
        wait = time.monotonic()
        while client.get("/v1/packs", headers={"X-API-Key": secret}).status_code != 401:
            assert time.monotonic() - wait < LIMIT
            time.sleep(0.1)
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    assert "local" in caplog.text
    assert secret.rsplit("_", 1)[1] not in caplog.text
    assert near_miss(secret).rsplit("_", 1)[1] not in caplog.text
