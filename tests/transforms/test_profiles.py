"""Sources whose ICC profile is sRGB already load without a colour transform, and look the same."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import pyvips
from PIL import ImageCms

from tests.transforms.images import corpus, decode
from transforms import parse_spec, probe, profiles, render, vips

C2_SRGB = "photo-progressive-1944x2592.jpg"  # carries the compact 524-byte "c2" sRGB profile


def _profile(name: str) -> bytes:
    image = pyvips.Image.new_from_buffer(corpus(name), "", access="sequential")
    profile = vips.icc_profile(image)
    assert profile is not None
    return profile


def _libvips_srgb() -> bytes:
    """The sRGB profile libvips attaches to what it converts to sRGB."""
    grey = (pyvips.Image.black(4, 4, bands=3) + 128).cast("uchar").copy(interpretation="srgb")
    profile = vips.icc_profile(grey.icc_transform("srgb", input_profile="srgb"))
    assert profile is not None
    return profile


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (C2_SRGB, True),
        ("adobe-rgb-icc.jpg", False),
        ("iphone-12mp-display-p3-orientation6-gps.jpg", False),
        ("photo-medium-1024x768-camera.jpg", False),
        ("cmyk-swop-icc.jpg", False),  # libvips would fall back to sRGB for it: not tested
        ("grayscale-gray-icc.jpg", False),
    ],
)
def test_only_profiles_that_keep_every_colour_count_as_srgb(name: str, expected: bool) -> None:
    assert profiles.is_srgb(_profile(name)) is expected
    assert probe(corpus(name), 10**9).srgb_profile is expected


def test_libvips_and_littlecms_own_srgb_profiles_count_as_srgb() -> None:
    littlecms = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert profiles.is_srgb(_libvips_srgb()) and profiles.is_srgb(littlecms)


def test_wide_gamut_profiles_move_colours_far() -> None:
    """The test is not lenient: Display P3 and Adobe RGB move some colour by tens of levels."""
    for name in ("adobe-rgb-icc.jpg", "iphone-12mp-display-p3-orientation6-gps.jpg"):
        error = vips.srgb_error(_profile(name))
        assert error is not None and error > 50


def _render_both_ways(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    spec = parse_spec({"format": "Png", "resize": {"width": 500}})
    skipped = decode(render(data, spec).data)
    with monkeypatch.context() as patch:
        patch.setattr(profiles, "has_srgb_profile", lambda image: False)
        converted = decode(render(data, spec).data)
    return skipped, converted


def test_skipping_the_transform_changes_no_pixel_by_more_than_a_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = corpus(C2_SRGB)
    assert probe(data, 10**9).srgb_profile
    skipped, converted = _render_both_ways(data, monkeypatch)
    assert (skipped.width, skipped.height) == (converted.width, converted.height) == (500, 667)
    assert (skipped.cast("int") - converted.cast("int")).abs().max() <= 1


def test_a_sixteen_bit_source_tagged_srgb_renders_as_converted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = pyvips.Image.new_from_buffer(corpus("png-16bit-rgb.png"), "")
    assert source.format == "ushort"
    tagged = source.copy()
    tagged.set_type(pyvips.GValue.blob_type, vips.ICC_FIELD, _libvips_srgb())
    data: bytes = tagged.pngsave_buffer(keep=pyvips.ForeignKeep.ICC)
    skipped, converted = _render_both_ways(data, monkeypatch)
    assert (skipped.cast("int") - converted.cast("int")).abs().max() <= 1


def _jpeg_with_profile(profile: bytes) -> bytes:
    """A small JPEG carrying profile in an APP2 ICC_PROFILE marker, as cameras write it."""
    gradient = pyvips.Image.xyz(64, 48)[0] * 4
    image = gradient.bandjoin([gradient, 255 - gradient]).cast("uchar").copy(interpretation="srgb")
    plain: bytes = image.jpegsave_buffer(keep=pyvips.ForeignKeep.NONE)
    payload = b"ICC_PROFILE\x00\x01\x01" + profile
    marker = b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload
    return plain[:2] + marker + plain[2:]


def test_a_broken_rgb_profile_renders_as_it_did_with_the_transform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libvips falls back to sRGB for a profile it cannot read, so both paths agree."""
    data = _jpeg_with_profile(bytes(16) + b"RGB " + bytes(300))
    skipped, converted = _render_both_ways(data, monkeypatch)
    assert (skipped.cast("int") - converted.cast("int")).abs().max() <= 1


def test_each_profile_is_tested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    measure = vips.srgb_error

    def counted(profile: bytes) -> int | None:
        calls.append(len(profile))
        return measure(profile)

    monkeypatch.setattr(vips, "srgb_error", counted)
    # The same colours under a digest no other test has seen: one byte of padding more.
    fresh = _libvips_srgb() + b"\x00"
    assert profiles.is_srgb(fresh) and profiles.is_srgb(fresh)
    assert len(calls) == 1
