"""Shrink-on-load: decode at the planned size, upright and in sRGB, in one libvips call.

libvips' thumbnail picks the JPEG/WebP/HEIF shrink-on-load factor, applies the EXIF orientation
and converts embedded ICC profiles (CMYK included) to sRGB; a full-size decode never happens.
"""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def scale_on_load(data: bytes, job: Job) -> vips.Image:
    plan = job.plan
    return vips.thumbnail(data, plan.scale_width, plan.scale_height, crop=plan.smart_crop)
