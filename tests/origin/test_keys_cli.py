"""``imgstax keys create|revoke|list`` through a parser built the way origin/cli.py builds it."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from origin.keys import KeyFile
from origin.keys_cli import add_keys_commands, keys_file_path


def run(argv: list[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="imgstax")
    commands = parser.add_subparsers(dest="command", required=True)
    add_keys_commands(commands, environ=environ)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"IMGSTAX_API_KEYS_FILE": str(tmp_path / "keys.json")}


def test_create_prints_id_and_secret_once(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["keys", "create", "--id", "ci"], env) == 0
    out = capsys.readouterr().out
    assert "cannot be shown again" in out
    secret = re.search(r"secret: (\S+)", out)
    assert secret is not None
    keys = KeyFile(env["IMGSTAX_API_KEYS_FILE"])
    assert keys.current().match(secret[1].encode()) == "ci"

    assert run(["keys", "list"], env) == 0
    listing = capsys.readouterr().out
    assert secret[1] not in listing and secret[1][-64:] not in listing


def test_create_without_id_makes_one(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["keys", "create"], env) == 0
    key_id = re.search(r"id: +(\S+)", capsys.readouterr().out)
    assert key_id is not None
    assert [r.key_id for r in KeyFile(env["IMGSTAX_API_KEYS_FILE"]).list()] == [key_id[1]]


def test_list_revoke_list(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["keys", "list"], env) == 0
    assert "No API keys" in capsys.readouterr().out
    for key_id in ("alpha", "a-much-longer-key-id"):
        assert run(["keys", "create", "--id", key_id], env) == 0
    assert run(["keys", "revoke", "alpha"], env) == 0
    assert "Revoked API key alpha" in capsys.readouterr().out
    assert run(["keys", "list"], env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "STATUS"]
    rows = {line.split()[0]: line.split()[2:] for line in lines[1:]}
    assert rows["a-much-longer-key-id"] == ["active"]
    assert rows["alpha"][0] == "revoked"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "revoke", "nobody"], "no key with id 'nobody'"),
        (["keys", "create", "--id", "taken"], "already exists"),
    ],
    ids=["revoke-unknown", "create-duplicate"],
)
def test_refused_edits_exit_1(
    argv: list[str], message: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["keys", "create", "--id", "taken"], env) == 0
    capsys.readouterr()
    assert run(argv, env) == 1
    assert message in capsys.readouterr().err


def test_corrupt_file_exits_1(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    Path(env["IMGSTAX_API_KEYS_FILE"]).write_text("{oops")
    assert run(["keys", "list"], env) == 1
    assert "is corrupt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["keys"], ["keys", "rotate"], ["keys", "revoke"], ["keys", "create", "--id", "a b"]],
    ids=["no-subcommand", "unknown-subcommand", "revoke-without-id", "bad-id"],
)
def test_usage_errors_exit_2(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        run(argv, env)
    assert caught.value.code == 2
    capsys.readouterr()


def test_file_option_wins(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    assert run(["keys", "create", "--id", "x", "--file", str(other)], env) == 0
    assert [r.key_id for r in KeyFile(other).list()] == ["x"]
    assert not Path(env["IMGSTAX_API_KEYS_FILE"]).exists()
    capsys.readouterr()


def test_default_is_under_the_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert run(["keys", "create"], {"IMGSTAX_DATA_DIR": str(data)}) == 0
    assert len(KeyFile(data / "api-keys.json").list()) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    ("file", "environ", "expected"),
    [
        ("f.json", {"IMGSTAX_API_KEYS_FILE": "e.json"}, "f.json"),
        (None, {"IMGSTAX_API_KEYS_FILE": "e.json", "IMGSTAX_DATA_DIR": "/d"}, "e.json"),
        (None, {"IMGSTAX_API_KEYS_FILE": "  ", "IMGSTAX_DATA_DIR": "/d"}, "/d/api-keys.json"),
        (None, {}, "var/api-keys.json"),
    ],
    ids=["option", "environment", "data-dir", "default"],
)
def test_keys_file_path(file: str | None, environ: dict[str, str], expected: str) -> None:
    assert keys_file_path(file, environ) == Path(expected)


def test_serve_reads_the_keys_file_keys_create_wrote_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's path: `imgstax keys create`, then `imgstax serve`, both on defaults."""
    from config import load_settings
    from origin.devdefaults import embedded_defaults

    environ = {"IMGSTAX_DATA_DIR": str(tmp_path)}
    before, dev_key = embedded_defaults(environ)
    assert dev_key is not None and "IMGSTAX_API_KEYS_FILE" not in before
    assert run(["keys", "create", "--id", "ops"], environ) == 0
    added, dev_key = embedded_defaults(environ)
    assert dev_key is None and "IMGSTAX_API_KEYS" not in added
    settings = load_settings({**environ, **added})
    assert settings.auth.api_keys_file == tmp_path / "api-keys.json"
