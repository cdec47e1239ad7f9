"""Formats without alpha (Jpeg): composite onto the background colour, white by default."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def flatten(image: vips.Image, job: Job) -> vips.Image:
    if job.output.has_alpha or not image.hasalpha():
        return image
    return vips.flatten(image, job.matte)
