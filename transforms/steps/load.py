"""Shrink-on-load: decode at the planned size, upright and in sRGB, in one libvips call.

libvips' thumbnail picks the JPEG/WebP/HEIF shrink-on-load factor, applies the EXIF orientation
and converts embedded ICC profiles (CMYK included) to sRGB, except one that is sRGB already
(profiles.py); a full-size decode never happens.
"""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def scale_on_load(data: bytes, job: Job) -> vips.Image:
    plan = job.plan
    window = plan.smart_window
    convert = not job.srgb_profile
    if window is None or plan.smart_crop is None:
        return vips.thumbnail(
            data, plan.scale_width, plan.scale_height, crop=plan.smart_crop, to_srgb=convert
        )
    # A smart crop that enlarges: pick the window at the source's own size, enlarge only it.
    # The crop reads the whole image in any order, so it is decoded to memory first.
    image = vips.thumbnail(data, window.source_width, window.source_height, to_srgb=convert)
    image = vips.copy_memory(image)
    image = vips.smartcrop(image, window.width, window.height, plan.smart_crop)
    return vips.resize_exact(image, plan.scale_width, plan.scale_height)
