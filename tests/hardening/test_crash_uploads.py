"""SIGKILL of ``imgstax serve`` in the middle of concurrent uploads loses nothing acknowledged.

Threads upload corpus images as fast as the origin takes them; the origin is killed with
SIGKILL while uploads are in flight, then started again on the same data dir. Every upload id
that was answered before the kill must still work as a source: a downsize with no caps hands the
very bytes back (byte-for-byte equal to the file that was uploaded), and a resize renders at the
dimensions the upload reported. Two kill-and-restart rounds; each kill comes the instant an
acknowledgement arrives, with other uploads in flight.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import ALPHA, FIXTURES, KEY_ALPHA, SIGNING
from tests.support.origin_process import OriginProcess, start_origin
from tests.transforms.images import decode

pytestmark = pytest.mark.slow

FILES = [
    "photo-large-6000x4000-progressive.jpg",
    "photo-baseline-4000x2250-cc0.jpg",
    "photo-medium-1024x768-camera.jpg",
    "png-16bit-rgb.png",
    "png-rgba-transparency.png",
    "webp-lossless-alpha.webp",
    "grayscale-gray-icc.jpg",
    "tiny-1x1.png",
]
THREADS = 6


@dataclass(frozen=True)
class Acknowledged:
    upload_id: str
    name: str
    width: int
    height: int


def uploader(
    origin: OriginProcess, index: int, kill_at: int, stop: threading.Event, acks: list[Acknowledged]
) -> None:
    """Upload files in turn until stopped or the origin is gone; record every answer.

    The thread that receives acknowledgement number ``kill_at`` kills the origin at once: the
    worst moment for an upload that was acknowledged before it was really stored.
    """
    with httpx.Client(base_url=origin.url, headers=ALPHA, timeout=30) as http:
        turn = index
        while not stop.is_set():
            name = FILES[turn % len(FILES)]
            turn += 1
            try:
                if turn % 2:
                    response = http.post("/v1/uploads", content=(FIXTURES / name).read_bytes())
                else:
                    files = {"file": (name, (FIXTURES / name).read_bytes())}
                    response = http.post("/v1/uploads", files=files)
            except httpx.TransportError:
                return  # killed under us: this one was never acknowledged
            if response.status_code == 200:
                answer = response.json()
                acks.append(
                    Acknowledged(answer["uploadId"], name, answer["width"], answer["height"])
                )
                if len(acks) == kill_at:
                    os.kill(origin.process.pid, signal.SIGKILL)


def kill_during_uploads(origin: OriginProcess, kill_at: int) -> list[Acknowledged]:
    acks: list[Acknowledged] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=uploader, args=(origin, i, kill_at, stop, acks))
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    origin.process.wait(60)
    stop.set()
    for thread in threads:
        thread.join(30)
    return list(acks)


def check_intact(origin: OriginProcess, acks: list[Acknowledged]) -> None:
    with httpx.Client(base_url=origin.url, headers=ALPHA, timeout=60) as http:
        for ack in acks:
            source = {"uploadId": ack.upload_id}
            same = http.post(
                "/v1/downsize", json={"source": source, "maxWidth": 0, "maxSizeBytes": 1 << 30}
            )
            assert same.status_code == 200, (ack, same.text)
            data = http.get(same.json()["url"]).content
            assert data == (FIXTURES / ack.name).read_bytes(), ack
            resized = http.post("/v1/resize", json={"source": source, "width": 64})
            assert resized.status_code == 200, (ack, resized.text)
            image = decode(http.get(resized.json()["url"]).content)
            assert image.width == 64
            expected = max(1, round(64 * ack.height / ack.width))
            assert abs(image.height - expected) <= 1, ack


def test_every_acknowledged_upload_survives_sigkill(tmp_path: Path) -> None:
    environ = {
        "HOME": str(tmp_path),
        "IMGSTAX_API_KEYS": f"alpha:{KEY_ALPHA}",
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(tmp_path / "data"),
        "IMGSTAX_RENDER_WORKERS": "2",
        "IMGSTAX_RENDER_QUEUE": "16",
        "IMGSTAX_RATE_LIMIT_PER_MINUTE": "100000",
    }
    acknowledged: list[Acknowledged] = []
    for round_ in range(2):
        origin = start_origin(environ, tmp_path / f"round-{round_}")
        try:
            new = kill_during_uploads(origin, kill_at=40 + 37 * round_)
        finally:
            origin.stop()
        assert len(new) >= 40 + 37 * round_
        acknowledged += new
    origin = start_origin(environ, tmp_path / "after")
    try:
        check_intact(origin, acknowledged)
        leftovers = list((tmp_path / "data" / "store" / ".tmp").glob("*"))
    finally:
        origin.stop()
    # Writes cut short leave temp files at most; never a half object under an upload's key.
    assert all(path.name.endswith(".part") for path in leftovers)
