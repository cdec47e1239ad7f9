from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageCms, ImageStat

from tests.transforms.images import close, corpus, decode, mean_rgb
from transforms import parse_spec, render

LOSSLESS = {"format": "Png", "resize": {"width": 300}}


def _upright(name: str) -> object:
    return decode(render(corpus(name), parse_spec(LOSSLESS)).data)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_renders_upright(orientation: int) -> None:
    reference = _upright("Landscape_1.jpg")
    rotated = _upright(f"Landscape_{orientation}.jpg")
    assert (rotated.width, rotated.height) == (reference.width, reference.height) == (300, 200)
    # Mean absolute pixel difference against orientation 1, on a 0-255 scale.
    assert (rotated - reference).abs().avg() < 6


def test_mirrored_orientation_is_not_mistaken_for_upright() -> None:
    """The comparison above can fail: a plain mirror differs clearly from the upright image."""
    reference = _upright("Landscape_1.jpg")
    assert (reference.fliphor() - reference).abs().avg() > 20


def test_iphone_photo_comes_out_portrait() -> None:
    result = render(
        corpus("iphone-12mp-display-p3-orientation6-gps.jpg"),
        parse_spec({"resize": {"width": 600}}),
    )
    assert (result.width, result.height) == (600, 800)
    assert (decode(result.data).width, decode(result.data).height) == (600, 800)


def test_output_carries_no_metadata_and_no_gps() -> None:
    source = corpus("iphone-12mp-display-p3-orientation6-gps.jpg")
    assert b"Exif" in source[:200]
    out = render(source, parse_spec({"resize": {"width": 400}})).data
    image = decode(out)
    names = image.get_fields()
    assert not [n for n in names if n.startswith(("exif-", "xmp-", "iptc-", "icc-"))]
    assert b"Exif" not in out and b"GPS" not in out and b"ICC_PROFILE" not in out


def _pillow_srgb(name: str, size: tuple[int, int]) -> list[float]:
    """Pillow + LittleCMS reference: the embedded profile to sRGB, band means."""
    with PILImage.open(io.BytesIO(corpus(name))) as im:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(im, profile, srgb, outputMode="RGB")
        assert converted is not None
        small = converted.resize(size, PILImage.Resampling.BOX)
        return [float(v) for v in ImageStat.Stat(small).mean]


@pytest.mark.parametrize(
    "name",
    ["cmyk-swop-icc.jpg", "adobe-rgb-icc.jpg", "iphone-12mp-display-p3-orientation6-gps.jpg"],
)
def test_embedded_profiles_are_converted_to_srgb_like_littlecms(name: str) -> None:
    result = render(corpus(name), parse_spec({"format": "Png", "resize": {"width": 200}}))
    ours = mean_rgb(decode(result.data))
    expected = _pillow_srgb(name, (result.width, result.height))
    assert close(ours, expected, 4.0), (ours, expected)


def test_adobe_rgb_is_not_passed_through_unconverted() -> None:
    """Unconverted Adobe RGB reads ~6 levels redder; the LittleCMS comparison must see that."""
    with PILImage.open(io.BytesIO(corpus("adobe-rgb-icc.jpg"))) as im:
        raw = [float(v) for v in ImageStat.Stat(im.convert("RGB")).mean]
    converted = _pillow_srgb("adobe-rgb-icc.jpg", (200, 133))
    assert not close(raw, converted, 4.0)


def test_cmyk_without_profile_is_not_inverted() -> None:
    result = render(corpus("cmyk-photo-no-icc.jpg"), parse_spec({"format": "Png"}))
    ours = decode(result.data)
    with PILImage.open(io.BytesIO(corpus("cmyk-photo-no-icc.jpg"))) as im:
        naive_mean = ImageStat.Stat(im.convert("RGB").convert("L")).mean[0]
    assert ours.bands == 3 and ours.interpretation == "srgb"
    assert abs(ours.colourspace("b-w").avg() - naive_mean) < 30


def test_sixteen_bit_png_becomes_eight_bit() -> None:
    result = render(corpus("png-16bit-rgb.png"), parse_spec({}))
    image = decode(result.data)
    assert result.format.value == "Png" and image.format == "uchar" and image.bands == 3
    assert (image.width, image.height) == (290, 442)


def test_grayscale_source_keeps_its_tones() -> None:
    result = render(corpus("grayscale-gray-icc.jpg"), parse_spec({"format": "Png"}))
    image = decode(result.data)
    r, g, b = mean_rgb(image)[:3] if image.bands >= 3 else [image.avg()] * 3
    assert abs(r - g) < 1 and abs(g - b) < 1
