"""The hashed keys file: edits, format, atomicity across processes, reload on change."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from config.errors import Unauthorized
from config.settings import AuthSettings
from origin.auth import Authenticator
from origin.keys import KeyFile, KeyFileError, UnknownKeyId, secret_key_id

SECRET = re.compile(r"^isk_(?P<id>[A-Za-z0-9_.-]{1,64})_[0-9a-f]{64}$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_in_process(path: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter with ``keys`` a KeyFile on ``path``; its stdout."""
    script = f"from origin.keys import KeyFile\nkeys = KeyFile({str(path)!r})\n{code}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_create_list_revoke_round_trip(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    assert keys.list() == []
    first, _ = keys.create()
    second, _ = keys.create("ci-runner")
    assert second == "ci-runner"
    assert [r.key_id for r in keys.list()] == [first, "ci-runner"]
    assert all(r.revoked is None for r in keys.list())
    keys.revoke("ci-runner")
    by_id = {r.key_id: r for r in keys.list()}
    assert by_id[first].revoked is None
    revoked_at = by_id["ci-runner"].revoked
    assert revoked_at is not None and revoked_at >= by_id["ci-runner"].created
    keys.revoke("ci-runner")  # idempotent: the first revocation time stays
    assert {r.key_id: r for r in keys.list()}["ci-runner"].revoked == revoked_at


def test_secret_format_names_the_key_and_carries_256_random_bits(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    key_id, secret = keys.create("team_a.prod")
    match = SECRET.match(secret)
    assert match is not None and match["id"] == key_id
    assert secret_key_id(secret.encode()) == key_id
    assert keys.create()[1] != keys.create()[1]


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "isk_",
        "isk__" + "a" * 64,
        "isk_ci_" + "a" * 63,
        "isk_ci" + "a" * 64,
        "key_ci_" + "a" * 64,
        "isk_c/i_" + "a" * 64,
        "isk_" + "x" * 65 + "_" + "a" * 64,
    ],
    ids=["empty", "prefix", "no-id", "short", "no-separator", "prefix-typo", "bad-id", "long-id"],
)
def test_secret_key_id_refuses_what_is_not_a_created_secret(secret: str) -> None:
    assert secret_key_id(secret.encode()) is None


def test_file_holds_no_secret_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = KeyFile(path)
    secrets = [keys.create()[1] for _ in range(3)]
    keys.revoke(keys.list()[0].key_id)
    raw = path.read_bytes()
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret.rsplit("_", 1)[1].encode() not in raw  # not even the random part
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{path}.lock").stat().st_mode) == 0o600
    doc = json.loads(raw)
    assert doc["version"] == 1 and len(doc["keys"]) == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_revoked_key_is_refused(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json", check_interval=0)
    key_id, secret = keys.create()
    assert keys.current().match(secret.encode()) == key_id
    keys.revoke(key_id)
    assert keys.current().match(secret.encode()) is None


def test_edit_errors_are_clear(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    keys.create("ci")
    with pytest.raises(UnknownKeyId, match="no key with id 'nope'"):
        keys.revoke("nope")
    with pytest.raises(KeyFileError, match="already exists"):
        keys.create("ci")
    with pytest.raises(KeyFileError, match="a key id is"):
        keys.create("has space")
    assert [r.key_id for r in keys.list()] == ["ci"]


def test_key_from_another_process_accepted_then_revoked_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    clock = FakeClock()
    auth = Authenticator(AuthSettings(), KeyFile(path, clock=clock))
    key_id, secret = run_in_process(path, "print(*keys.create(), sep=':')").split(":")
    # Within the check interval the origin hasn't looked at the file yet.
    with pytest.raises(Unauthorized):
        auth.authenticate(secret)
    clock.now += 1.0
    assert auth.authenticate(secret) == key_id
    run_in_process(path, f"keys.revoke({key_id!r})")
    clock.now += 1.0
    with pytest.raises(Unauthorized):
        auth.authenticate(secret)


def test_revocation_reaches_a_running_authenticator_within_five_seconds(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_id, secret = KeyFile(path).create()
    auth = Authenticator(AuthSettings(), KeyFile(path))  # the real clock, the default interval
    assert auth.authenticate(secret) == key_id
    run_in_process(path, f"keys.revoke({key_id!r})")
    revoked_at = time.monotonic()
    while time.monotonic() - revoked_at < 5:
        try:
            auth.authenticate(secret)
        except Unauthorized:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the revoked key was still accepted 5 s later")


def test_concurrent_creates_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    script = "from origin.keys import KeyFile\nk = KeyFile(%r)\nfor _ in range(10): k.create()"
    procs = [
        subprocess.Popen([sys.executable, "-c", script % str(path)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert len({r.key_id for r in KeyFile(path).list()}) == 40


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"version": 2}', b'{"version": 1, "pepper": "00", "keys": []}'],
    ids=["empty", "not-json", "not-object", "version", "short-pepper"],
)
def test_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    keys = KeyFile(path)
    with pytest.raises(KeyFileError, match=f"keys file {re.escape(str(path))} is corrupt"):
        keys.list()
    with pytest.raises(KeyFileError, match="is corrupt"):
        keys.create()
    with pytest.raises(KeyFileError, match="is corrupt"):
        Authenticator(AuthSettings(), KeyFile(path))
    assert path.read_bytes() == content  # an edit never overwrites what it couldn't read


def test_corrupt_record_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KeyFile(path).create("ci")
    doc = json.loads(path.read_bytes())
    doc["keys"][0]["hash"] = "zz"
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="the hash of key 'ci'"):
        KeyFile(path).list()


def test_running_origin_keeps_last_good_keys_when_the_file_turns_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    clock = FakeClock()
    keys = KeyFile(path, clock=clock)
    key_id, secret = keys.create()
    auth = Authenticator(AuthSettings(), keys)
    good = path.read_bytes()
    path.write_bytes(b"{garbage")
    caplog.set_level(logging.ERROR, "imgstax.auth")
    for _ in range(3):
        clock.now += 1.0
        assert auth.authenticate(secret) == key_id
        with pytest.raises(Unauthorized):
            auth.authenticate("isk_other_" + "0" * 64)
    assert len([r for r in caplog.records if "is corrupt" in r.getMessage()]) == 1
    path.write_bytes(good)
    other_id, other = KeyFile(path).create()
    clock.now += 1.0
    assert auth.authenticate(other) == other_id


def test_missing_file_is_empty_and_created_keys_are_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    clock = FakeClock()
    keys = KeyFile(path, clock=clock)
    assert keys.current().records() == []
    key_id, secret = KeyFile(path).create()
    clock.now += 1.0
    assert keys.current().match(secret.encode()) == key_id


def test_stat_at_most_once_per_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = KeyFile(tmp_path / "keys.json", clock=(clock := FakeClock()))
    keys.create()
    keys.current()
    calls: list[object] = []
    real_stat = os.stat

    def counting_stat(*args: Any, **kwargs: Any) -> os.stat_result:
        calls.append(args)
        return real_stat(*args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(100):
        keys.current()
    assert calls == []
    clock.now += 1.0
    keys.current()
    assert len(calls) == 1
