"""X-API-Key authentication: one answer for every failure, both key sources, no secret leaks."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

import pytest

from config.errors import Unauthorized
from config.settings import ApiKey, AuthSettings
from origin.auth import MESSAGE, Authenticator
from origin.keys import KeyFile

ENV_SECRET = "env-secret-0123456789abcdef"
OTHER_SECRET = "other-secret-0123456789abcdef"


@pytest.fixture
def keys(tmp_path: Path) -> KeyFile:
    return KeyFile(tmp_path / "keys.json", check_interval=0)


@pytest.fixture
def settings() -> AuthSettings:
    return AuthSettings(api_keys=(ApiKey("other", OTHER_SECRET), ApiKey("env", ENV_SECRET)))


def test_right_keys_give_their_ids(settings: AuthSettings, keys: KeyFile) -> None:
    file_id, file_secret = keys.create("from-file")
    auth = Authenticator(settings, keys)
    assert auth.authenticate(ENV_SECRET) == "env"
    assert auth.authenticate(OTHER_SECRET) == "other"
    assert auth.authenticate(file_secret) == file_id
    assert auth.authenticate(f" {ENV_SECRET} ") == "env"  # surrounding blanks are not the key


def test_from_settings_reads_the_configured_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_id, secret = KeyFile(path).create()
    auth = Authenticator.from_settings(AuthSettings(api_keys_file=path))
    assert auth.authenticate(secret) == key_id
    with pytest.raises(Unauthorized):
        Authenticator.from_settings(AuthSettings()).authenticate(secret)


BAD_HEADERS = {
    "missing": None,
    "empty": "",
    "blank": "   ",
    "wrong": "not-a-key-at-all",
    "prefix-of-env-key": ENV_SECRET[:-1],
    "env-key-plus-one": ENV_SECRET + "x",
    "case-changed": ENV_SECRET.upper(),
    "very-long": "k" * 100_000,
    "long-with-env-key": ENV_SECRET * 100,
    "non-ascii": "ключ-" + "x" * 20,
    "lone-surrogate": "\udcff" * 20,
    "unknown-file-id": "isk_nobody_" + "0" * 64,
    "file-id-wrong-random": "REPLACED",
    "revoked-file-key": "REPLACED",
}


@pytest.mark.parametrize("case", BAD_HEADERS, ids=list(BAD_HEADERS))
def test_every_failure_gives_the_same_401(case: str, settings: AuthSettings, keys: KeyFile) -> None:
    _, live = keys.create("live")
    _, revoked = keys.create("gone")
    keys.revoke("gone")
    header = BAD_HEADERS[case]
    if case == "file-id-wrong-random":
        header = live[:-64] + "0" * 64
    elif case == "revoked-file-key":
        header = revoked
    auth = Authenticator(settings, keys)
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate(header)
    assert caught.value.message == MESSAGE
    assert str(caught.value) == MESSAGE
    assert (caught.value.status, caught.value.code) == (401, "UNAUTHORIZED")


def test_no_keys_configured_refuses_everything() -> None:
    with pytest.raises(Unauthorized, match="X-API-Key"):
        Authenticator(AuthSettings(), None).authenticate(ENV_SECRET)


@pytest.mark.parametrize("secret", [OTHER_SECRET, ENV_SECRET, "wrong-key-0123456789"])
def test_every_env_key_is_compared_whichever_matches(
    secret: str, settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    auth = Authenticator(settings, None)
    try:
        auth.authenticate(secret)
    except Unauthorized:
        pass
    # One fixed-length digest compare per configured key: no early exit, no length oracle.
    assert len(calls) == len(settings.api_keys)
    assert {(len(a), len(b)) for a, b in calls} == {(32, 32)}


def test_no_secret_in_logs_or_reprs(
    settings: AuthSettings, keys: KeyFile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_id, secret = keys.create()
    auth = Authenticator(settings, keys)
    auth.authenticate(secret)
    auth.authenticate(ENV_SECRET)
    near_miss = secret[:-1] + ("1" if secret.endswith("0") else "0")
    for wrong in (near_miss, ENV_SECRET + "x", None):
        with pytest.raises(Unauthorized):
            auth.authenticate(wrong)
    keys.revoke(key_id)
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate(secret)
    assert any(key_id in r.getMessage() for r in caplog.records)  # ids are logged, secrets not
    objects: list[object] = [auth, keys, keys.current(), keys.list(), settings, caught.value]
    texts = [r.getMessage() for r in caplog.records] + [repr(o) for o in objects]
    texts += [str(r.args) for r in caplog.records]
    for text in texts:
        for leaked in (secret, secret[-64:], ENV_SECRET, OTHER_SECRET):
            assert leaked not in text
