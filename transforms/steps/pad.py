"""effects.pad: pixels added around the resized image, so the output grows by the pads."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def pad(image: vips.Image, job: Job) -> vips.Image:
    p = job.spec.effects.pad
    if p.empty:
        return image
    width = image.width + p.left + p.right
    height = image.height + p.top + p.bottom
    return vips.embed(image, p.left, p.top, width, height, job.background)
