"""Geometry planning: pure arithmetic, computed once before any pixel is touched.

Given the displayed source size (after EXIF orientation) and the spec, ``plan_geometry`` says
what size the loader scales to, what is cropped, and where the image sits on the final canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transforms.spec import Downsize, Fit, Gravity, Resize

SMART_GRAVITIES = {Gravity.SMART: "attention", Gravity.ENTROPY: "entropy"}
# Where a Cover crop keeps the image: the share of the excess cut from the left and the top.
ANCHORS = {
    Gravity.CENTER: (0.5, 0.5),
    Gravity.TOP: (0.5, 0.0),
    Gravity.BOTTOM: (0.5, 1.0),
    Gravity.LEFT: (0.0, 0.5),
    Gravity.RIGHT: (1.0, 0.5),
    Gravity.TOP_LEFT: (0.0, 0.0),
    Gravity.TOP_RIGHT: (1.0, 0.0),
    Gravity.BOTTOM_LEFT: (0.0, 1.0),
    Gravity.BOTTOM_RIGHT: (1.0, 1.0),
}


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class SmartWindow:
    """A smart Cover that enlarges: the window libvips picks among the source's own pixels.

    The source is loaded at its own size (``source_*``), libvips' crop picks a ``width`` x
    ``height`` window of it, and only that window is enlarged to the box.
    """

    source_width: int
    source_height: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    # The loader's output size (shrink-on-load plus resize), aspect may differ by rounding only.
    scale_width: int
    scale_height: int
    # libvips' own crop ("attention", "entropy") when the loader crops to the box itself.
    smart_crop: str | None = None
    # With smart_crop, when the box is larger than the source would be at scale 1.
    smart_window: SmartWindow | None = None
    # A crop of the scaled image (Cover with a fixed gravity).
    crop: Box | None = None
    # The final canvas before padding; equal to the (cropped) image unless Contain/blur.
    canvas_width: int = 0
    canvas_height: int = 0
    offset_x: int = 0
    offset_y: int = 0
    blur_background: bool = False

    @property
    def width(self) -> int:
        return self.canvas_width

    @property
    def height(self) -> int:
        return self.canvas_height


def plan_geometry(
    width: int, height: int, resize: Resize | None = None, downsize: Downsize | None = None
) -> Plan:
    """Plan the scale, crop and canvas for a source of width x height."""
    if resize is not None:
        return _plan_resize(width, height, resize.normalised())
    if downsize is not None:
        cap_w = downsize.max_width or None
        cap_h = downsize.max_height or None
        if cap_w is None and cap_h is None:
            return _unchanged(width, height)
        return _plan_resize(width, height, Resize(cap_w, cap_h, Fit.DOWNSCALE_ONLY))
    return _unchanged(width, height)


def scale_to(width: int, height: int, factor: float) -> tuple[int, int]:
    """Both sides scaled by factor, rounded half up, never below one pixel."""
    return max(1, _half_up(width * factor)), max(1, _half_up(height * factor))


def _half_up(value: float) -> int:
    # Not round(): banker's rounding would make 562.5 -> 562 but 563.5 -> 564.
    return math.floor(value + 0.5)


def _unchanged(width: int, height: int) -> Plan:
    return Plan(width, height, canvas_width=width, canvas_height=height)


def _plan_resize(width: int, height: int, r: Resize) -> Plan:
    if r.width is None or r.height is None:
        factor = r.width / width if r.width is not None else (r.height or height) / height
        if r.fit is Fit.DOWNSCALE_ONLY:
            factor = min(factor, 1.0)
        w, h = scale_to(width, height, factor)
        if r.width is not None and r.fit is not Fit.DOWNSCALE_ONLY:
            w = r.width  # the side asked for is exact; the other follows the aspect
        if r.height is not None and r.fit is not Fit.DOWNSCALE_ONLY:
            h = r.height
        return Plan(w, h, canvas_width=w, canvas_height=h)
    box_w, box_h = r.width, r.height
    if r.fit is Fit.COVER:
        return _plan_cover(width, height, box_w, box_h, r.gravity)
    fit_factor = min(box_w / width, box_h / height)
    if r.fit is Fit.DOWNSCALE_ONLY:
        w, h = scale_to(width, height, min(fit_factor, 1.0))
        w, h = min(w, box_w), min(h, box_h)
        return Plan(w, h, canvas_width=w, canvas_height=h)
    w, h = scale_to(width, height, fit_factor)
    w, h = min(w, box_w), min(h, box_h)
    return Plan(
        w,
        h,
        canvas_width=box_w,
        canvas_height=box_h,
        offset_x=(box_w - w) // 2,
        offset_y=(box_h - h) // 2,
        blur_background=r.fit is Fit.FIT_BLUR_BACKGROUND,
    )


def _plan_cover(width: int, height: int, box_w: int, box_h: int, gravity: Gravity) -> Plan:
    factor = max(box_w / width, box_h / height)
    if gravity in SMART_GRAVITIES:
        window = None
        if factor > 1:
            # libvips would enlarge the whole image before looking for what is interesting in
            # it: a 940x2 strip becomes 634500x1350 for a 1080x1350 box (minutes, gigabytes).
            # Look among the source's own pixels instead and enlarge only the window.
            window = SmartWindow(
                width,
                height,
                min(width, max(1, _half_up(box_w / factor))),
                min(height, max(1, _half_up(box_h / factor))),
            )
        return Plan(
            box_w,
            box_h,
            smart_crop=SMART_GRAVITIES[gravity],
            smart_window=window,
            canvas_width=box_w,
            canvas_height=box_h,
        )
    w, h = scale_to(width, height, factor)
    w, h = max(w, box_w), max(h, box_h)
    share_x, share_y = ANCHORS[gravity]
    left, top = int((w - box_w) * share_x), int((h - box_h) * share_y)
    crop = None if (w, h) == (box_w, box_h) else Box(left, top, box_w, box_h)
    return Plan(w, h, crop=crop, canvas_width=box_w, canvas_height=box_h)
