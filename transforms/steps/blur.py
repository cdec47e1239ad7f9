"""effects.blurRadius: a Gaussian whose sigma is the radius in output pixels, as CSS blur()."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def blur(image: vips.Image, job: Job) -> vips.Image:
    radius = job.spec.effects.blur_radius
    if radius <= 0:
        return image
    return vips.gaussblur(image, radius)
