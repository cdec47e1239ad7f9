"""FitBlurBackground: the fitted image over a blurred copy of itself that fills the box.

The backdrop is blurred at an eighth of the box size and scaled up: the same look as a large
Gaussian at full size for a small fraction of the work.
"""

from __future__ import annotations

from transforms import vips
from transforms.job import Job

REDUCTION = 8


def blur_background(image: vips.Image, job: Job) -> vips.Image:
    plan = job.plan
    if not plan.blur_background:
        return image
    # The image is read twice, for the backdrop and for the front, in different row orders: a
    # sequentially decoded source fails with "out of order read". At box size it is small.
    image = vips.copy_memory(image)
    small_w = max(1, plan.width // REDUCTION)
    small_h = max(1, plan.height // REDUCTION)
    cover = max(small_w / image.width, small_h / image.height)
    backdrop = vips.scale(image, cover)
    left = max(0, (backdrop.width - small_w) // 2)
    top = max(0, (backdrop.height - small_h) // 2)
    small_w, small_h = min(small_w, backdrop.width), min(small_h, backdrop.height)
    backdrop = vips.extract(backdrop, left, top, small_w, small_h)
    backdrop = vips.gaussblur(backdrop, max(1.0, min(small_w, small_h) / 12))
    backdrop = vips.resize_exact(backdrop, plan.width, plan.height)
    return vips.over(backdrop, image, plan.offset_x, plan.offset_y)
