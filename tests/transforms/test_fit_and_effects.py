from __future__ import annotations

import pytest

from tests.transforms.images import close, corpus, decode, mean_rgb, rgba_png, solid_png
from transforms import parse_spec, render

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
PHOTO = "photo-baseline-4000x2250-cc0.jpg"  # 16:9


@pytest.mark.parametrize(
    ("resize", "size"),
    [
        pytest.param({"width": 800}, (800, 450), id="width-only"),
        pytest.param({"height": 450}, (800, 450), id="height-only"),
        pytest.param({"width": 1200, "height": 630}, (1200, 630), id="cover-default"),
        pytest.param({"width": 500, "height": 500, "fit": "Contain"}, (500, 500), id="contain"),
        pytest.param(
            {"width": 1080, "height": 1920, "fit": "FitBlurBackground"}, (1080, 1920), id="blur"
        ),
        pytest.param(
            {"width": 1000, "height": 1000, "fit": "DownscaleOnly"}, (1000, 563), id="downscale"
        ),
        pytest.param(
            {"width": 8000, "height": 8000, "fit": "DownscaleOnly"}, (4000, 2250), id="no-enlarge"
        ),
        pytest.param({"width": 300, "height": 300, "gravity": "Smart"}, (300, 300), id="smart"),
        pytest.param({"width": 300, "height": 200, "gravity": "Entropy"}, (300, 200), id="entropy"),
    ],
)
def test_fit_modes_give_exact_sizes(resize: dict[str, object], size: tuple[int, int]) -> None:
    result = render(corpus(PHOTO), parse_spec({"resize": resize}))
    image = decode(result.data)
    assert (result.width, result.height) == size == (image.width, image.height)


HORIZONTAL = [
    ("Left", RED),
    ("TopLeft", RED),
    ("BottomLeft", RED),
    ("Center", GREEN),
    ("Top", GREEN),
    ("Right", BLUE),
    ("BottomRight", BLUE),
]


@pytest.mark.parametrize(("gravity", "colour"), HORIZONTAL)
def test_cover_gravity_on_a_wide_image(gravity: str, colour: tuple[int, int, int]) -> None:
    source = solid_png(300, 100, [RED, GREEN, BLUE])
    spec = {"resize": {"width": 50, "height": 50, "gravity": gravity}, "format": "Png"}
    assert close(mean_rgb(decode(render(source, parse_spec(spec)).data)), list(colour), 2)


VERTICAL = [
    ("Top", RED),
    ("TopRight", RED),
    ("Center", GREEN),
    ("Left", GREEN),
    ("Bottom", BLUE),
    ("BottomLeft", BLUE),
]


@pytest.mark.parametrize(("gravity", "colour"), VERTICAL)
def test_cover_gravity_on_a_tall_image(gravity: str, colour: tuple[int, int, int]) -> None:
    source = solid_png(100, 300, [RED, GREEN, BLUE], vertical=True)
    spec = {"resize": {"width": 50, "height": 50, "gravity": gravity}, "format": "Png"}
    assert close(mean_rgb(decode(render(source, parse_spec(spec)).data)), list(colour), 2)


def test_contain_pads_white_for_jpeg_and_transparent_for_png() -> None:
    source = solid_png(200, 100, [RED])
    jpeg = decode(
        render(
            source,
            parse_spec(
                {"resize": {"width": 100, "height": 100, "fit": "Contain"}, "format": "Jpeg"}
            ),
        ).data
    )
    assert close(mean_rgb(jpeg, 0, 0, 100, 20), [255, 255, 255], 3)  # the pad
    assert close(mean_rgb(jpeg, 0, 40, 100, 20), list(RED), 12)  # the image
    png = decode(
        render(
            source,
            parse_spec(
                {"resize": {"width": 100, "height": 100, "fit": "Contain"}, "format": "Png"}
            ),
        ).data
    )
    assert png.bands == 4
    assert mean_rgb(png, 0, 0, 100, 20)[3] == 0  # transparent pad
    assert mean_rgb(png, 0, 40, 100, 20)[3] == 255


def test_contain_uses_the_background_colour() -> None:
    source = solid_png(200, 100, [RED])
    spec = {
        "resize": {"width": 100, "height": 100, "fit": "Contain"},
        "format": "Png",
        "effects": {"backgroundColor": "#0000FF"},
    }
    image = decode(render(source, parse_spec(spec)).data)
    assert close(mean_rgb(image, 0, 0, 100, 20)[:3], list(BLUE), 1)


def test_blur_background_fills_the_box_with_the_image_itself() -> None:
    source = solid_png(200, 100, [GREEN])
    spec = {"resize": {"width": 100, "height": 200, "fit": "FitBlurBackground"}, "format": "Png"}
    image = decode(render(source, parse_spec(spec)).data)
    # Top band is blurred backdrop made of the (green) image, not a flat pad colour.
    assert close(mean_rgb(image, 0, 0, 100, 40)[:3], list(GREEN), 8)


@pytest.mark.parametrize(
    ("background", "expected"), [(None, [255, 255, 255]), ("#00FF00", [0, 255, 0])]
)
def test_alpha_is_flattened_for_jpeg(background: str | None, expected: list[int]) -> None:
    source = rgba_png(40, 40, (255, 0, 0, 0))  # fully transparent red
    spec: dict[str, object] = {"format": "Jpeg"}
    if background:
        spec["effects"] = {"backgroundColor": background}
    image = decode(render(source, parse_spec(spec)).data)
    assert image.bands == 3 and close(mean_rgb(image), [float(v) for v in expected], 3)


def test_alpha_is_kept_for_webp_png_avif() -> None:
    source = corpus("png-rgba-transparency.png")
    for fmt in ("Png", "Webp", "Avif"):
        image = decode(render(source, parse_spec({"format": fmt})).data)
        assert image.hasalpha(), fmt


def test_grayscale_blur_and_pad() -> None:
    source = solid_png(100, 100, [RED, BLUE])
    spec = {
        "format": "Png",
        "effects": {
            "grayscale": True,
            "blurRadius": 4,
            "pad": {"top": 10, "right": 5, "bottom": 0, "left": 7},
        },
    }
    result = render(source, parse_spec(spec))
    image = decode(result.data)
    assert (result.width, result.height) == (112, 110) == (image.width, image.height)
    # Grey: bands equal (or a single band); blurred: the red/blue edge is no longer a hard step.
    middle_row = image.crop(7, 60, 100, 1)
    values = [middle_row(x, 0)[0] for x in range(100)]
    assert len({round(v) for v in values[44:56]}) > 4
    # The pad is transparent (Png), the image opaque.
    assert image.hasalpha() and image(0, 0)[-1] == 0 and image(50, 50)[-1] == 255


def test_pad_on_jpeg_uses_white_then_the_background() -> None:
    source = solid_png(50, 50, [BLUE])
    white = decode(
        render(source, parse_spec({"format": "Jpeg", "effects": {"pad": {"left": 20}}})).data
    )
    assert close(mean_rgb(white, 0, 0, 16, 50), [255, 255, 255], 3)
    black = decode(
        render(
            source,
            parse_spec(
                {"format": "Jpeg", "effects": {"pad": {"left": 20}, "backgroundColor": "000"}}
            ),
        ).data
    )
    assert close(mean_rgb(black, 0, 0, 16, 50), [0, 0, 0], 3)


def test_extreme_panorama_contain() -> None:
    result = render(
        corpus("panorama-940x2.png"),
        parse_spec({"resize": {"width": 100, "height": 100, "fit": "Contain"}}),
    )
    assert (result.width, result.height) == (100, 100)


@pytest.mark.parametrize("sigma", [20.0, 60.0, 100.0])
def test_a_wide_blur_on_a_shrunk_copy_is_the_same_picture(sigma: float) -> None:
    """Past sigma 16 the blur runs at reduced scale (an enlarged 1x1 PNG at sigma 100 took 6 s
    at 2048 px and 112 s at 8192): it must look the same as libvips' blur at full size."""
    import pyvips

    from transforms import vips

    vips.configure()
    image = vips.thumbnail(corpus("Landscape_3.jpg"), 1501, 1000).copy_memory()
    ours = vips.gaussblur(image, sigma).copy_memory()
    exact = image.gaussblur(sigma).copy_memory()
    assert (ours.width, ours.height, ours.format) == (1501, 1000, "uchar")
    difference = (ours.cast("int") - exact.cast("int")).abs()
    inner = difference.crop(300, 300, 1501 - 600, 1000 - 600)  # libvips' edges differ a little
    seen = (difference.avg(), inner.avg(), inner.max())
    assert difference.avg() < 2.0 and inner.avg() < 1.5 and inner.max() <= 6, seen
    deep = pyvips.Image.black(400, 300).new_from_image([1000, 20000, 65535]).cast("ushort")
    assert vips.gaussblur(deep.copy(interpretation="rgb16"), sigma).format == "ushort"
