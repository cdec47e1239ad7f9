from __future__ import annotations

import json

import pytest

from config.errors import InvalidRequest
from transforms import (
    Color,
    Fit,
    FormatOptions,
    Gravity,
    ImageFormat,
    Priority,
    Resize,
    TransformSpec,
    parse_spec,
)

SAME_MEANING = [
    pytest.param(
        {"format": "jpeg"},
        {"format": {"type": "Jpeg", "quality": 90}},
        id="format-string-vs-object",
    ),
    pytest.param({"format": "JPG"}, {"format": "Jpeg"}, id="jpg-alias-and-casing"),
    pytest.param(
        {"format": {"type": "webp", "compressionPriority": "balanced"}},
        {"format": "Webp"},
        id="default-priority",
    ),
    pytest.param(
        {"resize": {"width": 800, "fit": "Contain", "gravity": "Left"}},
        {"resize": {"width": 800}},
        id="one-side-ignores-fit-and-gravity",
    ),
    pytest.param(
        {"resize": {"width": 800, "height": 600, "fit": "contain", "gravity": "TOP"}},
        {"resize": {"width": 800, "height": 600, "fit": "Contain"}},
        id="contain-ignores-gravity",
    ),
    pytest.param(
        {"format": {"type": "Png", "quality": 10}}, {"format": "png"}, id="png-ignores-quality"
    ),
    pytest.param(
        {"format": {"type": "Jpeg", "quality": 40, "targetFileSizeBytes": 5000}},
        {"format": {"type": "Jpeg", "targetFileSizeBytes": 5000}},
        id="target-size-ignores-quality",
    ),
    pytest.param(
        {"effects": {"grayscale": False, "blurRadius": 0, "pad": {"top": 0}}},
        {},
        id="no-op-effects",
    ),
    pytest.param(
        {"effects": {"backgroundColor": "fff"}},
        {"effects": {"backgroundColor": "#FFFFFF"}},
        id="colour-forms",
    ),
    pytest.param({"resize": {"width": 800.0}}, {"resize": {"width": 800}}, id="integral-float"),
]


@pytest.mark.parametrize(("a", "b"), SAME_MEANING)
def test_same_meaning_gives_same_canonical_string(
    a: dict[str, object], b: dict[str, object]
) -> None:
    assert parse_spec(a).canonical() == parse_spec(b).canonical()


DIFFERENT_MEANING = [
    pytest.param({"format": "Jpeg"}, {"format": "Webp"}, id="format"),
    pytest.param({"format": {"quality": 80}}, {"format": {"quality": 81}}, id="quality"),
    pytest.param(
        {"resize": {"width": 10, "height": 10}},
        {"resize": {"width": 10, "height": 10, "gravity": "Top"}},
        id="cover-gravity",
    ),
    pytest.param(
        {"resize": {"width": 10, "fit": "DownscaleOnly"}},
        {"resize": {"width": 10}},
        id="downscale-only",
    ),
    pytest.param({"downsize": {"maxWidth": 0}}, {}, id="downsize-present"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_MEANING)
def test_different_meaning_gives_different_canonical_string(
    a: dict[str, object], b: dict[str, object]
) -> None:
    assert parse_spec(a).canonical() != parse_spec(b).canonical()


def test_parse_reads_every_field() -> None:
    spec = parse_spec(
        {
            "resize": {
                "width": 3000,
                "height": 2000,
                "fit": "FitBlurBackground",
                "gravity": "Center",
            },
            "format": {
                "type": "Avif",
                "quality": 55,
                "compressionPriority": "Quality",
                "targetFileSizeBytes": 153600,
            },
            "effects": {
                "grayscale": True,
                "blurRadius": 2.5,
                "backgroundColor": "#10203080",
                "pad": {"top": 1, "right": 2, "bottom": 3, "left": 4},
            },
        }
    )
    assert spec.resize == Resize(3000, 2000, Fit.FIT_BLUR_BACKGROUND, Gravity.CENTER)
    assert spec.format == FormatOptions(ImageFormat.AVIF, 55, Priority.QUALITY, 153600)
    assert spec.effects.background == Color(0x10, 0x20, 0x30, 0x80)
    assert (spec.effects.pad.top, spec.effects.pad.left) == (1, 4)
    assert spec.effects.blur_radius == 2.5 and spec.effects.grayscale


def test_canonical_round_trips() -> None:
    spec = parse_spec(
        {
            "resize": {"width": 640, "height": 480, "gravity": "smart"},
            "format": {"type": "webp", "quality": 70},
            "effects": {"pad": {"left": 5}, "backgroundColor": "#000"},
            "maxSizeBytes": 100000,
        }
    )
    again = parse_spec(json.loads(spec.canonical()))
    assert again.canonical() == spec.canonical()
    assert again == TransformSpec(
        resize=spec.resize, format=spec.format, effects=spec.effects, max_bytes=100000
    )


def test_default_quality_can_be_set_by_the_endpoint() -> None:
    assert parse_spec({}, default_quality=80).format.quality == 80
    assert parse_spec({"format": {"quality": 30}}, default_quality=80).format.quality == 30


BAD = [
    pytest.param({"resize": {"width": 0}}, "resize.width", id="width-zero"),
    pytest.param({"resize": {"width": 8193}}, "resize.width", id="width-too-big"),
    pytest.param({"resize": {"width": "800"}}, "resize.width", id="width-string"),
    pytest.param({"resize": {"width": True}}, "resize.width", id="width-bool"),
    pytest.param({"resize": {"width": 10.5}}, "resize.width", id="width-fraction"),
    pytest.param({"resize": {}}, "'resize' needs", id="resize-empty"),
    pytest.param({"resize": {"width": 10, "fit": "Stretch"}}, "resize.fit", id="unknown-fit"),
    pytest.param(
        {"resize": {"width": 10, "gravity": "North"}}, "resize.gravity", id="unknown-gravity"
    ),
    pytest.param({"resize": {"width": 10, "crop": True}}, "resize.crop", id="unknown-field"),
    pytest.param({"format": "Gif"}, "'format'", id="unknown-format"),
    pytest.param({"format": {"quality": 0}}, "format.quality", id="quality-zero"),
    pytest.param({"format": {"quality": 101}}, "format.quality", id="quality-over"),
    pytest.param({"format": {"compressionPriority": "Max"}}, "compressionPriority", id="priority"),
    pytest.param(
        {"format": {"type": "Png", "targetFileSizeBytes": 5000}},
        "targetFileSizeBytes",
        id="png-target",
    ),
    pytest.param({"format": "Png", "maxSizeBytes": 5000}, "maxSizeBytes", id="png-cap"),
    pytest.param({"format": {"targetFileSizeBytes": 10}}, "targetFileSizeBytes", id="target-tiny"),
    pytest.param({"effects": {"blurRadius": 101}}, "effects.blurRadius", id="blur-over"),
    pytest.param({"effects": {"blurRadius": -1}}, "effects.blurRadius", id="blur-negative"),
    pytest.param({"effects": {"grayscale": "yes"}}, "effects.grayscale", id="grayscale-string"),
    pytest.param(
        {"effects": {"backgroundColor": "red"}}, "effects.backgroundColor", id="colour-name"
    ),
    pytest.param({"effects": {"pad": {"top": -1}}}, "effects.pad.top", id="pad-negative"),
    pytest.param({"effects": {"pad": 5}}, "effects.pad", id="pad-number"),
    pytest.param({"effects": {"sharpen": 1}}, "effects.sharpen", id="unknown-effect"),
    pytest.param(
        {"resize": {"width": 5}, "downsize": {"maxWidth": 5}}, "cannot be combined", id="both"
    ),
    pytest.param({"rotate": 90}, "'rotate'", id="unknown-top-level"),
]


@pytest.mark.parametrize(("body", "names"), BAD)
def test_bad_values_name_the_field(body: dict[str, object], names: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_spec(body)
    assert names in info.value.message
    assert info.value.status == 400 and info.value.code == "INVALID_REQUEST"
