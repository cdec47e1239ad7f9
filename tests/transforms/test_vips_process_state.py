"""What libvips keeps per process, not per render: its set-up for untrusted input (applied
before any read, once, whoever reads first; each case in a fresh interpreter) and its one error
buffer (no render's message may carry another's text)."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from config.errors import UnsupportedImage
from tests.support.fresh import run_fresh
from tests.transforms.images import FIXTURES
from transforms import parse_spec, render

RACE = """
import json, sys, threading, time
import pyvips
from transforms import parse_spec, render

data = open(sys.argv[1], "rb").read()
spec = parse_spec({"resize": {"width": 64}, "format": "Jpeg"})
real_block_set = pyvips.operation_block_set
second_started = threading.Event()
second_blocked = threading.Event()
calls = {"first": 0}


def block_set(name, state):
    # The first render's set-up, on its last call, lets the second render begin and waits for
    # it to block the loaders again (it never does when the second waits for the first); the
    # second then holds them blocked while the first goes on to load.
    real_block_set(name, state)
    if threading.current_thread().name == "first":
        calls["first"] += 1
        if name != "VipsForeignLoad" and calls["first"] == EXPECTED:
            second_started.set()
            second_blocked.wait(1.0)
    elif name == "VipsForeignLoad" and state:
        second_blocked.set()
        time.sleep(0.5)


pyvips.operation_block_set = block_set
EXPECTED = 1 + len(__import__("transforms.vips", fromlist=["x"]).ALLOWED_LOADERS)
results = {}


def run(name):
    if name == "second":
        second_started.wait(5.0)
    try:
        results[name] = render(data, spec).width
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc}"


threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("first", "second")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


def test_two_first_renders_at_once_both_render() -> None:
    """The second set-up must not block the loaders again under a render that began."""
    photo = str(FIXTURES / "photo-progressive-1944x2592.jpg")
    assert run_fresh(RACE, photo) == {"first": 64, "second": 64}


UPLOAD_CHECK_FIRST = """
import json, sys
import pyvips
from transforms import inspect

info = inspect(open(sys.argv[1], "rb").read(), 100_000_000)
try:
    pyvips.Image.matrixload_source(pyvips.Source.new_from_memory(b"2 2\\n1 2\\n3 4\\n"))
    matrix = "loaded"
except pyvips.Error as exc:
    matrix = str(exc)
print(json.dumps({"width": info.width, "matrix": matrix, "cache": pyvips.cache_get_max()}))
"""


def test_an_upload_check_as_the_first_read_runs_under_the_set_up() -> None:
    """An origin's first libvips read may be an upload's check, not a render."""
    report = run_fresh(UPLOAD_CHECK_FIRST, str(FIXTURES / "Landscape_1.jpg"))
    assert report["width"] == 1800
    assert "blocked" in report["matrix"], report  # loaders outside our list are refused
    assert report["cache"] == 0  # and renders share no libvips operation cache


# An SVG whose parse error would name tags only its sender knows.
SECRET_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b"<tenantSecretTag></tenantOtherTag></svg>"
)


def _messages(data: bytes, seconds: float, seen: collections.Counter[str]) -> None:
    spec = parse_spec({"resize": {"width": 200}, "format": "Jpeg"})
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        with pytest.raises(UnsupportedImage) as refused:
            render(data, spec)
        seen[refused.value.message] += 1


def test_a_refusal_never_quotes_another_renders_libvips_error() -> None:
    """libvips has one error buffer per process: quoting it gave a truncated JPEG's caller the
    XML parse error of another caller's SVG (45 of 243 refusals beside one)."""
    photo = (FIXTURES / "photo-medium-1024x768-camera.jpg").read_bytes()
    truncated = photo[: len(photo) * 2 // 3]
    jpeg_seen: collections.Counter[str] = collections.Counter()
    svg_seen: collections.Counter[str] = collections.Counter()
    other = threading.Thread(target=_messages, args=(SECRET_SVG, 1.5, svg_seen))
    other.start()
    _messages(truncated, 1.5, jpeg_seen)
    other.join()
    assert sum(jpeg_seen.values()) > 20 and sum(svg_seen.values()) > 20
    assert not [m for m in jpeg_seen if "tenant" in m.lower()], jpeg_seen
    # One message whatever ran beside it: the caller learns what failed, not libvips' noise.
    assert list(jpeg_seen) == ["The image could not be decoded. It may be truncated or corrupt."]
