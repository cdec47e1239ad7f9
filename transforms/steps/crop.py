"""Cover with a fixed gravity: cut the planned box out of the scaled image."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def crop(image: vips.Image, job: Job) -> vips.Image:
    box = job.plan.crop
    if box is None:
        return image
    return vips.extract(image, box.left, box.top, box.width, box.height)
