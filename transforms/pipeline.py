"""The order of the render, declared as data.

Load (shrink-on-load, autorotate, ICC to sRGB) happens before these steps; encoding after.
"""

from __future__ import annotations

from transforms.job import Job, Step
from transforms.steps.blur import blur
from transforms.steps.blur_background import blur_background
from transforms.steps.colour import to_srgb
from transforms.steps.contain import contain
from transforms.steps.crop import crop
from transforms.steps.flatten import flatten
from transforms.steps.grayscale import grayscale
from transforms.steps.load import scale_on_load
from transforms.steps.pad import pad
from transforms.steps.strip import strip
from transforms.vips import Image

PIPELINE: tuple[Step, ...] = (
    to_srgb,
    crop,
    contain,
    blur_background,
    grayscale,
    blur,
    pad,
    flatten,
    strip,
)


def build_image(data: bytes, job: Job) -> Image:
    """Decode at the planned size and run every step; the result is still lazy."""
    image = scale_on_load(data, job)
    for step in PIPELINE:
        image = step(image, job)
    return image
