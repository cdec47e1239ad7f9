"""Drop EXIF (GPS included), XMP, IPTC and profiles: the pixels are already upright sRGB."""

from __future__ import annotations

from transforms import vips
from transforms.job import Job


def strip(image: vips.Image, job: Job) -> vips.Image:
    return vips.strip(image)
