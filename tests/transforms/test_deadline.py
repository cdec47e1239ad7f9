"""A render's time limit stops libvips mid-pipeline with a 503; renders within it are untouched."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import pyvips

from config.errors import RenderTimeout
from transforms import parse_spec, render, time_limit
from transforms.deadline import current

from .images import corpus, decode

# A 1x1 PNG enlarged to 8192 x 8192 and written as Png: ~5 s of libvips work here, every tile
# computed inside one pngsave call.
TINY_PNG: bytes = pyvips.Image.black(1, 1).copy(interpretation="b-w").pngsave_buffer()
HUGE_PNG = {"resize": {"width": 8192, "height": 8192, "fit": "Cover"}, "format": "Png"}
# The same source blurred and written as Jpeg under a size cap it cannot meet: a search of
# several encodes, ~4 s in all here (at 4096 px it was 1.9 s, too close to the bar below).
HUGE_CAPPED = {
    "resize": {"width": 6144, "height": 6144, "fit": "Cover"},
    "effects": {"blurRadius": 40},
    "format": {"type": "Jpeg", "targetFileSizeBytes": 20_000},
}


def stopped_after(body: dict[str, Any], seconds: float) -> tuple[RenderTimeout, float]:
    started = time.monotonic()
    with pytest.raises(RenderTimeout) as info, time_limit(seconds):
        render(TINY_PNG, parse_spec(body))
    return info.value, time.monotonic() - started


def test_a_render_past_its_limit_is_stopped_inside_the_encode_with_a_503() -> None:
    error, elapsed = stopped_after(HUGE_PNG, 0.3)
    assert elapsed < 1.5  # stopped within a tile or two, not after the ~5 s the encode takes
    assert (error.status, error.code, error.retry_after) == (503, "OVERLOADED", 1)
    assert "longer than the 0.3 s allowed" in error.message
    assert current() is None  # the thread is left without a limit


def test_a_size_search_past_its_limit_starts_no_further_encode() -> None:
    _, elapsed = stopped_after(HUGE_CAPPED, 0.5)
    assert elapsed < 2.0


def test_a_render_within_its_limit_is_untouched() -> None:
    spec = parse_spec({"resize": {"width": 800}, "format": "Jpeg"})
    with time_limit(20):
        result = render(corpus("photo-medium-1024x768-camera.jpg"), spec)
    assert decode(result.data).width == 800
    assert current() is None


def test_a_short_limit_set_after_a_long_one_still_expires_on_time() -> None:
    # The watchdog sleeps until its earliest limit; a new, earlier one must wake it.
    outcome: list[float] = []

    def long_render() -> None:
        with time_limit(30):
            render(corpus("photo-medium-1024x768-camera.jpg"), parse_spec({"format": "Png"}))

    background = threading.Thread(target=long_render)
    background.start()
    time.sleep(0.05)
    try:
        _, elapsed = stopped_after(HUGE_PNG, 0.3)
        outcome.append(elapsed)
    finally:
        background.join(30)
    assert outcome and outcome[0] < 1.5


def test_limits_nest_and_the_thread_gets_its_outer_limit_back() -> None:
    with time_limit(30):
        outer = current()
        with time_limit(10):
            assert current() is not outer
        assert current() is outer
    with time_limit(None):
        assert current() is None
