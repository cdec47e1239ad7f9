"""Every image leaves as 8-bit sRGB (or 8-bit grey): 16-bit, CMYK and Lab sources included."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def to_srgb(image: vips.Image, job: Job) -> vips.Image:
    if image.interpretation in ("srgb", "b-w") and image.format == "uchar":
        return image
    return vips.to_srgb(image)
