"""effects.grayscale: luminance only (the alpha channel, if any, is kept)."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def grayscale(image: vips.Image, job: Job) -> vips.Image:
    if not job.spec.effects.grayscale:
        return image
    return vips.grayscale(image)
