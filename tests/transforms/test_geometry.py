from __future__ import annotations

import pytest

from transforms.geometry import Box, plan_geometry
from transforms.spec import Downsize, Fit, Gravity, Resize

# (source w, h, resize) -> (scaled w, h, crop box or None, canvas w, h, offset x, y)
TABLE = [
    pytest.param(6000, 4000, Resize(800), (800, 533, None, 800, 533, 0, 0), id="width-only"),
    pytest.param(6000, 4000, Resize(None, 400), (600, 400, None, 600, 400, 0, 0), id="height-only"),
    pytest.param(100, 50, Resize(400), (400, 200, None, 400, 200, 0, 0), id="width-only-enlarges"),
    pytest.param(
        100,
        50,
        Resize(400, None, Fit.DOWNSCALE_ONLY),
        (100, 50, None, 100, 50, 0, 0),
        id="one-side-downscale-only",
    ),
    pytest.param(
        6000,
        4000,
        Resize(1200, 630),
        (1200, 800, Box(0, 85, 1200, 630), 1200, 630, 0, 0),
        id="cover-center",
    ),
    pytest.param(
        6000,
        4000,
        Resize(1200, 630, gravity=Gravity.TOP),
        (1200, 800, Box(0, 0, 1200, 630), 1200, 630, 0, 0),
        id="cover-top",
    ),
    pytest.param(
        6000,
        4000,
        Resize(1200, 630, gravity=Gravity.BOTTOM_RIGHT),
        (1200, 800, Box(0, 170, 1200, 630), 1200, 630, 0, 0),
        id="cover-bottom-right",
    ),
    pytest.param(
        6000,
        4000,
        Resize(400, 400, gravity=Gravity.LEFT),
        (600, 400, Box(0, 0, 400, 400), 400, 400, 0, 0),
        id="cover-left",
    ),
    pytest.param(
        6000,
        4000,
        Resize(400, 400, gravity=Gravity.RIGHT),
        (600, 400, Box(200, 0, 400, 400), 400, 400, 0, 0),
        id="cover-right",
    ),
    pytest.param(
        100,
        100,
        Resize(300, 150),
        (300, 300, Box(0, 75, 300, 150), 300, 150, 0, 0),
        id="cover-enlarges",
    ),
    pytest.param(
        800, 400, Resize(400, 200), (400, 200, None, 400, 200, 0, 0), id="cover-same-aspect"
    ),
    pytest.param(
        6000,
        4000,
        Resize(400, 400, Fit.CONTAIN),
        (400, 267, None, 400, 400, 0, 66),
        id="contain-pads-vertically",
    ),
    pytest.param(
        1000,
        4000,
        Resize(400, 400, Fit.CONTAIN),
        (100, 400, None, 400, 400, 150, 0),
        id="contain-pads-horizontally",
    ),
    pytest.param(
        6000,
        4000,
        Resize(1080, 1920, Fit.FIT_BLUR_BACKGROUND),
        (1080, 720, None, 1080, 1920, 0, 600),
        id="blur-background",
    ),
    pytest.param(
        6000,
        4000,
        Resize(1000, 1000, Fit.DOWNSCALE_ONLY),
        (1000, 667, None, 1000, 667, 0, 0),
        id="downscale-only-shrinks",
    ),
    pytest.param(
        600,
        400,
        Resize(1000, 1000, Fit.DOWNSCALE_ONLY),
        (600, 400, None, 600, 400, 0, 0),
        id="downscale-only-never-enlarges",
    ),
    pytest.param(
        940,
        2,
        Resize(100, 100, Fit.CONTAIN),
        (100, 1, None, 100, 100, 0, 49),
        id="panorama-contain-keeps-a-pixel",
    ),
]


@pytest.mark.parametrize(("width", "height", "resize", "expected"), TABLE)
def test_plan(width: int, height: int, resize: Resize, expected: tuple[object, ...]) -> None:
    plan = plan_geometry(width, height, resize)
    got = (
        plan.scale_width,
        plan.scale_height,
        plan.crop,
        plan.width,
        plan.height,
        plan.offset_x,
        plan.offset_y,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("gravity", "mode"), [(Gravity.SMART, "attention"), (Gravity.ENTROPY, "entropy")]
)
def test_smart_gravities_let_libvips_crop(gravity: Gravity, mode: str) -> None:
    plan = plan_geometry(6000, 4000, Resize(500, 500, Fit.COVER, gravity))
    assert (plan.scale_width, plan.scale_height, plan.smart_crop, plan.crop) == (
        500,
        500,
        mode,
        None,
    )


DOWNSIZE = [
    pytest.param(4000, 3000, Downsize(1920, 1080), (1440, 1080), id="both-caps"),
    pytest.param(4000, 3000, Downsize(1920, 0), (1920, 1440), id="width-cap"),
    pytest.param(4000, 3000, Downsize(0, 1000), (1333, 1000), id="height-cap"),
    pytest.param(1000, 800, Downsize(1920, 1080), (1000, 800), id="within"),
    pytest.param(4000, 3000, Downsize(0, 0), (4000, 3000), id="no-caps"),
]


@pytest.mark.parametrize(("width", "height", "caps", "expected"), DOWNSIZE)
def test_downsize_caps(width: int, height: int, caps: Downsize, expected: tuple[int, int]) -> None:
    plan = plan_geometry(width, height, downsize=caps)
    assert (plan.width, plan.height) == expected == (plan.scale_width, plan.scale_height)


def test_no_resize_keeps_size() -> None:
    plan = plan_geometry(123, 45)
    assert (plan.scale_width, plan.scale_height, plan.width, plan.height) == (123, 45, 123, 45)
