from __future__ import annotations

import pytest

from config.errors import ImageTooLarge, NotFound, UnsupportedImage
from tests.support.fresh import run_fresh
from tests.transforms.images import FIXTURES, corpus, decode
from transforms import PACKS, get_pack, parse_spec, render

PACK_SIZES = {
    "instagram-feed": (1080, 1350),
    "instagram-story": (1080, 1920),
    "tiktok": (1080, 1920),
    "youtube-thumbnail": (1280, 720),
    "twitter-post": (1600, 900),
    "linkedin-post": (1200, 627),
    "pinterest-pin": (1000, 1500),
}


def test_the_seven_packs_are_registered() -> None:
    assert set(PACKS) == set(PACK_SIZES)
    assert get_pack("youtube-thumbnail").max_bytes == 2 * 1024 * 1024


@pytest.mark.parametrize("pack_id", sorted(PACK_SIZES))
def test_pack_renders_to_its_size(pack_id: str) -> None:
    pack = get_pack(pack_id)
    result = render(corpus("photo-progressive-1944x2592.jpg"), pack.spec())
    assert (result.width, result.height) == PACK_SIZES[pack_id]
    assert result.format.value == "Jpeg" and result.quality == 85
    if pack.max_bytes:
        assert len(result.data) <= pack.max_bytes


def test_unknown_pack_is_not_found() -> None:
    with pytest.raises(NotFound) as info:
        get_pack("myspace-banner")
    assert info.value.status == 404 and "instagram-feed" in info.value.message


HOSTILE = [
    pytest.param("empty.jpg", UnsupportedImage, "empty", id="empty"),
    pytest.param("truncated.jpg", UnsupportedImage, "truncated", id="truncated"),
    pytest.param("heic-iphone-p3.heic", UnsupportedImage, "HEVC", id="heic-without-decoder"),
    pytest.param("bomb-png-16383x16383.png", ImageTooLarge, "16383x16383", id="png-bomb"),
    pytest.param(
        "bomb-svg-10000000x10000000.svg", ImageTooLarge, "10000000x10000000", id="svg-bomb"
    ),
]


@pytest.mark.parametrize(("name", "error", "words"), HOSTILE)
def test_hostile_files_give_their_documented_error(
    name: str, error: type[Exception], words: str
) -> None:
    from transforms import parse_spec

    with pytest.raises(error) as info:
        render(corpus(name), parse_spec({"resize": {"width": 100}}))
    assert words in str(info.value)


def test_unknown_bytes_are_unsupported() -> None:
    from transforms import parse_spec

    for junk in (b"hello world, not an image", b"%PDF-1.7\n", b"\x00" * 100, b'{"json": true}'):
        with pytest.raises(UnsupportedImage):
            render(junk, parse_spec({}))


def test_lying_extension_and_svg_lookalike_use_the_right_loader() -> None:
    from transforms import parse_spec, probe

    assert probe(corpus("png-with-jpg-extension.jpg"), 10**8).kind == "png"
    assert probe(corpus("looks-like-svg.webp"), 10**8).kind == "webp"
    result = render(corpus("looks-like-svg.webp"), parse_spec({}))
    assert result.format.value == "Webp" and (result.width, result.height) == (256, 256)


def test_script_laden_svg_renders_to_pixels() -> None:
    from transforms import parse_spec

    result = render(corpus("svg-with-scripts.svg"), parse_spec({"format": "Png"}))
    assert (result.width, result.height) == (200, 100)
    assert b"<script" not in result.data and decode(result.data).bands == 4


def test_pixel_cap_counts_every_frame() -> None:
    from transforms import parse_spec

    with pytest.raises(ImageTooLarge) as info:
        render(corpus("gif-animated.gif"), parse_spec({}), max_pixels=80 * 80 * 10)
    assert "30 frames" in info.value.message
    assert render(corpus("gif-animated.gif"), parse_spec({}), max_pixels=80 * 80 * 30).width == 80


def test_the_output_obeys_the_pixel_cap_too() -> None:
    """A 1x1 PNG resized to 8192x8192 and padded by 4096 a side would be 268 MP."""
    from config.errors import InvalidRequest

    spec = {
        "resize": {"width": 8192, "height": 8192},
        "effects": {"pad": {"top": 4096, "right": 4096, "bottom": 4096, "left": 4096}},
        "format": "Jpeg",
    }
    with pytest.raises(InvalidRequest) as info:
        render(corpus("tiny-1x1.png"), parse_spec(spec))
    assert "16384x16384" in info.value.message
    spec["resize"] = {"width": 40, "height": 30}
    spec["effects"] = {"pad": {"top": 5, "right": 5, "bottom": 5, "left": 5}}
    small = render(corpus("tiny-1x1.png"), parse_spec(spec), max_pixels=50 * 40)
    assert (small.width, small.height) == (50, 40)
    with pytest.raises(InvalidRequest):
        render(corpus("tiny-1x1.png"), parse_spec(spec), max_pixels=50 * 40 - 1)


def test_tiny_images() -> None:
    from transforms import parse_spec

    assert (
        render(corpus("tiny-1x1.png"), parse_spec({"resize": {"width": 100, "height": 50}})).width
        == 100
    )
    assert render(corpus("tiny-1x1.png"), parse_spec({"format": "Jpeg"})).height == 1


BIG_JPEG = """
import json, resource, sys
from transforms import parse_spec, render
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = render(data, parse_spec({"resize": {"width": 1200}, "format": "Webp"}))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"width": result.width, "height": result.height, "grew_kib": after - before}))
"""


def test_a_99_megapixel_jpeg_renders_with_bounded_memory() -> None:
    """Shrink-on-load: the 299 MB of decoded pixels are never all in memory at once."""
    report = run_fresh(BIG_JPEG, str(FIXTURES / "bomb-jpeg-9643x10328.jpg"))
    assert (report["width"], report["height"]) == (1200, 1285)
    assert report["grew_kib"] < 120 * 1024, report


def _blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height, compressed to a few KB."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = (b"\x00" + b"\x00" * ((width + 7) // 8)) * height
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(rows, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _svg_embedding(*images: bytes, media: str = "image/png", via_entity: bool = False) -> bytes:
    """An SVG declared 100x100 drawing each image from a data URI; with via_entity the URIs'
    "data:" is spelled by an internal entity, so it appears in the file only once expanded."""
    import base64

    prefix = "&d;" if via_entity else f"data:{media};base64,"
    doctype = f'<!DOCTYPE svg [<!ENTITY d "data:{media};base64,">]>' if via_entity else ""
    tags = "".join(
        f'<image width="10" height="10" href="{prefix}{base64.b64encode(i).decode()}"/>'
        for i in images
    )
    return (
        f'{doctype}<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{tags}</svg>'
    ).encode()


@pytest.mark.parametrize("via_entity", [False, True], ids=["attribute", "entity"])
def test_pixels_an_svg_embeds_count_against_the_cap(via_entity: bool) -> None:
    """Declared 100x100, holding two 8000x8000 PNGs: librsvg would decode 128 MP (a 95 KB SVG
    with four 12000x12000 PNGs took 3.2 GB)."""
    svg = _svg_embedding(_blank_png(8000, 8000), _blank_png(8000, 8000), via_entity=via_entity)
    assert len(svg) < 100_000
    with pytest.raises(ImageTooLarge) as info:
        render(svg, parse_spec({"format": "Png"}))
    assert "128,000,000" in info.value.message
    small = render(_svg_embedding(_blank_png(40, 40)), parse_spec({"format": "Png"}))
    assert (small.width, small.height) == (100, 100)


def test_an_svg_embedding_an_image_that_cannot_be_sized_is_refused() -> None:
    bmp = b"BM" + b"\x00" * 60
    with pytest.raises(UnsupportedImage) as info:
        render(_svg_embedding(bmp, media="image/bmp"), parse_spec({"format": "Png"}))
    assert "cannot read" in info.value.message


def test_a_tiff_of_many_channels_is_refused_before_decoding() -> None:
    """The pixel cap counts pixels: 500x500 with 5000 bands (a 1.2 MB TIFF) took 3.6 GB."""
    import pyvips

    many = pyvips.Image.black(10, 10, bands=6).tiffsave_buffer()
    with pytest.raises(UnsupportedImage) as info:
        render(many, parse_spec({"format": "Png"}))
    assert "6 channels" in info.value.message
    cmyk_alpha = pyvips.Image.black(10, 10, bands=5).copy(interpretation="cmyk").tiffsave_buffer()
    assert render(cmyk_alpha, parse_spec({"format": "Png"})).width == 10


@pytest.mark.parametrize(("width", "height"), [(1, 300_000), (1, 10_000), (2, 100_000)])
def test_a_strip_too_thin_to_cover_a_box_is_a_400_saying_so(width: int, height: int) -> None:
    """Cover scales the whole strip before cropping: 1x300000 to 8192x8192 overflowed a C int
    (a 500); thinner cases failed inside libvips as if the PNG were corrupt."""
    import pyvips

    from config.errors import InvalidRequest

    strip = pyvips.Image.black(width, height).pngsave_buffer()
    with pytest.raises(InvalidRequest) as info:
        render(strip, parse_spec({"resize": {"width": 8192, "height": 8192}}))
    assert "fit Contain" in info.value.message
