"""IMGSTAX_RENDER_TIMEOUT: a render that runs too long is stopped and answered 503, and the
worker it held is free for the next request."""

from __future__ import annotations

import time
from pathlib import Path

import pyvips
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app

from .conftest import KEY_ALPHA, origin_environ, put_in_storage

ALPHA = {"X-API-Key": KEY_ALPHA}


def test_a_render_past_the_time_limit_answers_503_and_frees_its_worker(data_dir: Path) -> None:
    tiny = data_dir / "storage" / "tiny.png"
    tiny.parent.mkdir(parents=True)
    tiny.write_bytes(pyvips.Image.black(1, 1).copy(interpretation="b-w").pngsave_buffer())
    photo = put_in_storage(data_dir, "photo-medium-1024x768-camera.jpg")
    environ = origin_environ(data_dir, render_workers="1", render_queue="0", render_timeout="1")
    with TestClient(create_app(load_settings(environ))) as client:
        started = time.monotonic()
        # ~5 s of work: a 1x1 PNG enlarged to 8192 x 8192 and written as Png.
        stopped = client.post(
            "/v1/process",
            json={
                "source": {"storageKey": "tiny.png"},
                "resize": {"width": 8192, "height": 8192, "fit": "Cover"},
                "format": "Png",
            },
            headers=ALPHA,
        )
        elapsed = time.monotonic() - started
        after = client.post(
            "/v1/resize", json={"source": {"storageKey": photo}, "width": 200}, headers=ALPHA
        )
    assert stopped.status_code == 503
    assert stopped.json()["code"] == "OVERLOADED"
    assert "longer than the 1 s allowed" in stopped.json()["message"]
    assert stopped.headers["retry-after"] == "1"
    assert stopped.headers["cache-control"] == "no-store"
    assert elapsed < 3.5
    assert after.status_code == 200 and after.json()["width"] == 200
