"""Embedded ICC profiles that are sRGB already, so loading can skip converting them to sRGB.

Most photos on the web carry an sRGB profile. Converting such an image to sRGB moves no pixel
a viewer could see, yet it is a colour transform of every output pixel on every render: ~4 ms
of CPU, 68.6 -> 64.3 ms for a 2048 px PNG to a 720 px Jpeg, 120.9 -> 116.8 for a 24 MP JPEG to
800 px.

A profile counts as sRGB when converting every grey and an 18-level colour cube through it, the
way thumbnail converts, moves no 8-bit value by more than one level: libvips' and LittleCMS's
own sRGB profiles pass, and so does the compact 524-byte "c2" many photos carry; Display P3 and
Adobe RGB move some colours by over 100. Only RGB profiles are tested, because libvips falls
back to its own sRGB for a profile that does not fit the image (a CMYK or grey one here), which
would look like a match. The verdict is kept per profile digest: each is tested once per process.
"""

from __future__ import annotations

import hashlib
import threading

from cachetools import LRUCache, cached

from transforms import vips

TOLERANCE = 1  # 8-bit levels
HEADER_BYTES = 128
RGB = b"RGB "  # the data colour space, bytes 16-19 of the profile header


def is_srgb(profile: bytes) -> bool:
    """True when profile is an RGB profile that maps the test colours onto themselves in sRGB."""
    if len(profile) < HEADER_BYTES or profile[16:20] != RGB:
        return False
    return _tested(profile)


@cached(
    LRUCache(maxsize=1024),
    key=lambda profile: hashlib.sha256(profile).digest(),
    lock=threading.Lock(),
)
def _tested(profile: bytes) -> bool:
    error = vips.srgb_error(profile)
    return error is not None and error <= TOLERANCE


def has_srgb_profile(image: vips.Image) -> bool:
    """True when an 8-bit RGB image's embedded profile is sRGB already (False without one)."""
    # 16-bit sources keep the transform: skipping it moved some values of the corpus' 16-bit
    # PNG, tagged sRGB, by two levels (its 16-to-8-bit step became libvips' instead of lcms').
    if image.bands < 3 or image.interpretation != "srgb" or image.format != "uchar":
        return False
    profile = vips.icc_profile(image)
    return profile is not None and is_srgb(profile)
