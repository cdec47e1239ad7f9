"""The one module that talks to pyvips: setup for untrusted input and the operations we use.

``pyvips.Error`` never escapes: decode failures become ``UnsupportedImage``. libvips evaluates
lazily, so a corrupt source usually fails inside ``encode``/``copy_memory`` rather than at load;
``translated()`` wraps the whole render for that reason.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyvips

from config.errors import UnsupportedImage
from transforms import deadline
from transforms.spec import Color

_log = logging.getLogger("imgstax.render")

Image = Any  # pyvips ships no type information; this names what the steps pass around
ICC_FIELD = "icc-profile-data"

# The loaders we accept; every other libvips loader (csv, matrix, raw, vips, ...) is blocked.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadHeif",
    "VipsForeignLoadTiff",
    "VipsForeignLoadSvg",
)


_configured = False
_configuring = threading.Lock()


def configure() -> None:
    """Set libvips up for untrusted input, once per process, before its first read.

    Under a lock: the loader block is set in several calls (block every loader, then allow
    ours), and a second thread setting it up again while the first had already begun to load
    found its loader blocked ("jpegload_source: operation is blocked", 1 in 25 bench smokes
    whose first two renders started together).
    """
    global _configured
    if _configured:
        return
    with _configuring:
        if _configured:
            return
        _configure()
        _configured = True


def _configure() -> None:
    pyvips.cache_set_max(0)  # no operation cache: every render is distinct, memory stays flat
    pyvips.concurrency_set(1)  # one thread per image; parallelism comes from the worker pool
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in ALLOWED_LOADERS:
        pyvips.operation_block_set(loader, False)


@contextmanager
def translated() -> Iterator[None]:
    """Turn a libvips failure into UnsupportedImage, or into RenderTimeout where the render's
    time limit stopped it.

    The message does not quote libvips. libvips keeps one error buffer for the whole process,
    which pyvips reads when it raises: under concurrent renders the text is often another
    thread's. A truncated JPEG's 400 read "unable to call jpegsave_buffer", or the XML parse
    error of another caller's SVG, tag names and all, in 42-45 of ~230 refusals beside one. The
    text goes to the debug log, for operators, as what it is.
    """
    try:
        yield
    except pyvips.Error as exc:
        limit = deadline.current()
        if limit is not None and limit.expired:
            raise limit.error() from exc
        _log.debug("libvips failed (its error buffer, maybe another render's): %s", _reason(exc))
        raise UnsupportedImage(
            "The image could not be decoded. It may be truncated or corrupt."
        ) from exc


def _reason(exc: pyvips.Error) -> str:
    lines = [line.strip() for line in str(exc.detail or exc.message).splitlines() if line.strip()]
    reason = lines[0] if lines else "unknown error"
    return reason[:160]


def _in_memory(data: bytes) -> Any:
    """A libvips source reading data where it lies.

    pyvips copies a ``bytes`` argument into a blob of libvips' own for every ``*_buffer`` call:
    for a 24 MP JPEG that is a second 2 MB per render in flight, kept until the image is freed.
    """
    configure()  # every read of a source comes here first, from whichever entry point
    return pyvips.Source.new_from_memory(data)


def _holding(image: Image, source: Any) -> Image:
    """image, made to keep source (and so the Python bytes it reads) alive while it lives.

    pyvips ties only input images to an operation's output; libvips holds the source object,
    but not the bytes behind it.
    """
    image._references.append(source)
    return image


def load_header(data: bytes, loader: str) -> Image:
    """Open the source with one named loader, reading its header only."""
    with translated():
        source = _in_memory(data)
        load = getattr(pyvips.Image, f"{loader}load_source")
        return _holding(load(source, access="sequential", fail_on="error"), source)


def thumbnail(
    data: bytes, width: int, height: int, *, crop: str | None = None, to_srgb: bool = True
) -> Image:
    """Shrink-on-load to width x height (exact unless crop), upright, and (with to_srgb) with
    its embedded ICC profile converted to sRGB."""
    # fail_on must reach the loader through option_string: thumbnail's own fail_on argument
    # is not passed on (a truncated JPEG rendered grey with it).
    options: dict[str, object] = {"height": height, "option_string": "fail_on=error"}
    if to_srgb:
        options["export_profile"] = "srgb"
    if crop is None:
        options["size"] = "force"
    else:
        options["crop"] = crop
    with translated():
        source = _in_memory(data)
        return _holding(pyvips.Image.thumbnail_source(source, width, **options), source)


def icc_profile(image: Image) -> bytes | None:
    """The image's embedded ICC profile, if it has one."""
    profile = get(image, ICC_FIELD)
    return profile if isinstance(profile, bytes) else None


@functools.cache
def _test_colours() -> Image:
    """Every grey and an 18-level RGB cube, as one row of 8-bit sRGB pixels."""
    levels = range(0, 256, 15)
    cube = [channel for rgb in itertools.product(levels, repeat=3) for channel in rgb]
    greys = [level for level in range(256) for _ in range(3)]
    pixels = bytes(cube + greys)
    row = pyvips.Image.new_from_memory(pixels, len(pixels) // 3, 1, 3, "uchar")
    return row.copy(interpretation="srgb").copy_memory()


def srgb_error(profile: bytes) -> int | None:
    """How far (in 8-bit levels) the test colours move when converted from profile to sRGB as
    thumbnail converts (relative intent, libvips' own sRGB); None if libvips refuses it."""
    colours = _test_colours()
    tagged = colours.copy()
    tagged.set_type(pyvips.GValue.blob_type, ICC_FIELD, profile)
    try:
        converted = tagged.icc_transform("srgb", embedded=True, intent="relative")
        return int((converted.cast("int") - colours.cast("int")).abs().max())
    except pyvips.Error:
        return None


def smartcrop(image: Image, width: int, height: int, interesting: str) -> Image:
    """The width x height window libvips finds most interesting ("attention", "entropy")."""
    with translated(), deadline.evaluating(image):
        return image.smartcrop(width, height, interesting=interesting)


def decodes_fully(data: bytes, *, every_frame: bool = False) -> None:
    """Decode every pixel (of the first frame, or of every frame) at a small scale where the
    codec can; raise UnsupportedImage if any is missing."""
    with translated():
        source = _in_memory(data)
        if every_frame:
            options = {"n": -1, "access": "sequential", "fail_on": "error"}
            image = pyvips.Image.new_from_source(source, "", **options)
        else:
            image = pyvips.Image.thumbnail_source(source, 64, option_string="fail_on=error")
        with deadline.evaluating(image):
            image.avg()


def decodes_a_pixel(image: Image) -> None:
    """Decode the first pixel only: proves the codec is there without decoding the image."""
    with translated():
        image.crop(0, 0, 1, 1).avg()


def fields(image: Image) -> list[str]:
    names: list[str] = image.get_fields()
    return names


def get(image: Image, name: str, default: object = None) -> object:
    return image.get(name) if name in fields(image) else default


def to_srgb(image: Image) -> Image:
    """8-bit sRGB (or 8-bit grey), whatever the source's colourspace and depth."""
    if image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def grayscale(image: Image) -> Image:
    return image.colourspace("b-w")


def with_background(image: Image, color: Color) -> tuple[Image, list[float]]:
    """The image in enough bands to hold color, and color as a pixel of that image."""
    if image.bands <= 2 and not color.is_gray:
        image = image.colourspace("srgb")
    if color.alpha < 255 and not image.hasalpha():
        image = image.addalpha()
    pixel = [float(color.red)] if image.bands <= 2 else [color.red, color.green, color.blue]
    if image.hasalpha():
        pixel = [*pixel, color.alpha]
    return image, [float(v) for v in pixel]


def embed(image: Image, x: int, y: int, width: int, height: int, color: Color) -> Image:
    image, pixel = with_background(image, color)
    return image.embed(x, y, width, height, extend="background", background=pixel)


def extract(image: Image, left: int, top: int, width: int, height: int) -> Image:
    return image.extract_area(left, top, width, height)


def scale(image: Image, factor: float) -> Image:
    return image.resize(factor)


def resize_exact(image: Image, width: int, height: int, *, kernel: str = "lanczos3") -> Image:
    return image.resize(width / image.width, vscale=height / image.height, kernel=kernel)


# A Gaussian wider than this runs on a copy shrunk so that its sigma is REDUCED_SIGMA, and is
# scaled back up: the same picture (about a level apart on average at sigma 20-100 on photos),
# and a cost that no longer grows with sigma. libvips' own blur pulls a margin of ~3 sigma
# around every tile, and an upstream with no cache (a 1x1 PNG enlarged to 2048x2048) was then
# computed over and over: 6.1 s at sigma 100, 0.55 s this way (112 s at 8192x8192, now 10 s).
LARGE_SIGMA = 16.0
REDUCED_SIGMA = 8.0


def gaussblur(image: Image, sigma: float) -> Image:
    if not image.hasalpha():
        return _gaussian(image, sigma)
    # Blur premultiplied so transparent pixels do not bleed their colour into the edges.
    return _gaussian(image.premultiply(), sigma).unpremultiply().cast("uchar")


def _gaussian(image: Image, sigma: float) -> Image:
    factor = sigma / REDUCED_SIGMA
    if sigma < LARGE_SIGMA or min(image.width, image.height) / factor < 16:
        return image.gaussblur(sigma)
    small = image.resize(1 / factor, kernel="linear")
    blurred = small.gaussblur(sigma * small.width / image.width)
    return resize_exact(blurred, image.width, image.height, kernel="linear").cast(image.format)


def over(background: Image, image: Image, x: int, y: int) -> Image:
    return background.composite2(image, "over", x=x, y=y).cast("uchar")


def flatten(image: Image, color: Color) -> Image:
    """Composite the image over an opaque color, dropping the alpha channel."""
    if not image.hasalpha():
        return image
    if image.bands == 2 and not color.is_gray:
        image = image.colourspace("srgb")
    pixel = [float(color.red)] if image.bands == 2 else [color.red, color.green, color.blue]
    return image.flatten(background=[float(v) for v in pixel])


def strip(image: Image) -> Image:
    """A copy without EXIF, XMP, IPTC, ICC or orientation: nothing personal leaves."""
    image = image.copy()
    for name in fields(image):
        if name.startswith(("exif-", "xmp-", "iptc-", "icc-", "orientation", "gif-", "heif-")):
            image.remove(name)
    return image


def copy_memory(image: Image) -> Image:
    with translated(), deadline.evaluating(image):
        return image.copy_memory()


def row_sample(image: Image, strips: int, rows: int) -> Image:
    """strips bands of rows, evenly spaced down the image, stacked; the whole image when it is
    less than twice that tall. The image must be in memory (the strips are read out of order)."""
    if image.height < 2 * strips * rows:
        return image
    step = image.height // strips
    with translated():
        parts = [
            image.crop(0, i * step + (step - rows) // 2, image.width, rows) for i in range(strips)
        ]
        return pyvips.Image.arrayjoin(parts, across=1)


def save(image: Image, saver: str, options: dict[str, object]) -> bytes:
    with translated(), deadline.evaluating(image):
        data: bytes = getattr(image, f"{saver}_buffer")(keep=pyvips.ForeignKeep.NONE, **options)
    return data
