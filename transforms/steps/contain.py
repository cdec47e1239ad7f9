"""Contain: place the fitted image in the middle of the box, padded with the background."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def contain(image: vips.Image, job: Job) -> vips.Image:
    plan = job.plan
    if plan.blur_background or (image.width, image.height) == (plan.width, plan.height):
        return image
    return vips.embed(image, plan.offset_x, plan.offset_y, plan.width, plan.height, job.background)
