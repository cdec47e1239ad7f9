"""The quality search along each encoder's own quantiser axis, on synthetic size curves."""

from __future__ import annotations

import pytest

from transforms.target_size import (
    JPEG_AXIS,
    WEBP_AXIS,
    quality_at,
    quality_axis,
    search_quality,
    webp_axis,
    webp_quality_at,
)

CAP = 153_600
# Webp sizes of the 24 MP photo at 1590 px, as shares of the cap (measured): q89 fits at
# 0.925 and q90 is over at 1.086; nothing in between exists.
WEBP_1590 = {85: 0.639, 86: 0.723, 87: 0.78, 88: 0.86, 89: 0.925, 90: 1.086, 91: 1.17, 92: 1.357}


@pytest.mark.parametrize("quality", range(1, 101))
def test_each_axis_inverts_exactly(quality: int) -> None:
    assert webp_quality_at(webp_axis(quality)) == pytest.approx(quality)
    if quality < 100:  # libjpeg's scale is 0 at q100, clamped to 0.5 on the axis
        assert quality_at(quality_axis(quality)) == pytest.approx(quality)


def test_webp_axis_steps_grow_at_high_quality_as_libwebps_quantiser_does() -> None:
    step = [webp_axis(q + 1) - webp_axis(q) for q in (50, 80, 89, 95)]
    assert step == sorted(step)


def _encoder(table: dict[int, float], tried: list[int]) -> object:
    def encode(quality: int) -> bytes:
        tried.append(quality)
        share = table.get(quality, 0.3 if quality < min(table) else 5.0)
        return b"x" * int(share * CAP)

    return encode


def test_a_bracket_that_predicts_the_next_quality_over_the_cap_ends_the_search() -> None:
    tried: list[int] = []
    state = search_quality(
        _encoder(WEBP_1590, tried),  # type: ignore[arg-type]
        CAP,
        first=85,
        slope=1.081,
        axis=WEBP_AXIS,
    )
    assert state.best is not None and state.best[0] == 89
    assert 90 not in tried  # predicted ~1.03 x the cap from the 89..91 bracket
    assert len(tried) <= 3


def test_a_bracket_that_leaves_room_still_tries_the_next_quality() -> None:
    # A smooth curve: one step is ~3 %, so 0.90 of the cap is not the best to be had.
    table = {q: 0.90 * 1.03 ** (q - 80) for q in range(60, 100)}
    tried: list[int] = []
    state = search_quality(
        _encoder(table, tried),  # type: ignore[arg-type]
        CAP,
        first=80,
        slope=0.62,
        axis=JPEG_AXIS,
    )
    assert state.best is not None
    assert len(state.best[1]) >= 0.95 * CAP
