"""The quick start `imgstax serve` prints with a dev key: a command that works as pasted."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from origin.cli import SAMPLE_KEY, _print_quick_start

from .conftest import FIXTURES, KEY_ALPHA, origin_environ

PHOTO = FIXTURES / "photo-medium-1024x768-camera.jpg"


def printed_body(capsys: pytest.CaptureFixture[str], sample: Path) -> tuple[str, dict[str, object]]:
    _print_quick_start("http://127.0.0.1:8080", KEY_ALPHA, sample)
    out = capsys.readouterr().out
    return out, json.loads(re.findall(r"-d '(\{.*\})'", out)[-1])


def test_with_the_sample_in_place_the_printed_resize_renders_it(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = data_dir / "storage" / SAMPLE_KEY
    sample.parent.mkdir(parents=True)
    shutil.copyfile(PHOTO, sample)
    out, body = printed_body(capsys, sample)
    assert f"X-API-Key: {KEY_ALPHA}" in out
    with TestClient(create_app(load_settings(origin_environ(data_dir)))) as client:
        answer = client.post("/v1/resize", json=body, headers={"X-API-Key": KEY_ALPHA})
    assert answer.status_code == 200 and answer.json()["width"] == 800


def test_without_the_sample_it_says_to_upload_first_and_the_steps_work(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, body = printed_body(capsys, data_dir / "storage" / SAMPLE_KEY)
    assert "sample" not in out.lower()
    assert "/v1/uploads" in out and "--data-binary @photo.jpg" in out
    headers = {"X-API-Key": KEY_ALPHA}
    with TestClient(create_app(load_settings(origin_environ(data_dir)))) as client:
        upload = client.post(
            "/v1/uploads",
            content=PHOTO.read_bytes(),
            headers={**headers, "Content-Type": "image/jpeg"},
        )
        body["source"] = {"uploadId": upload.json()["uploadId"]}
        answer = client.post("/v1/resize", json=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["width"] == 800
