"""Header probe: what the source is, checked before a single pixel is decoded.

The format is sniffed from magic bytes here (not by libvips), so a lying extension or an SVG
tag inside a WebP cannot route a file to the wrong loader. The pixel count over all frames is
checked against the cap from the header alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import ImageTooLarge, UnsupportedImage
from transforms import profiles, svg_embeds, vips
from transforms.spec import ImageFormat

SUPPORTED = "JPEG, PNG, WebP, GIF, AVIF, HEIF, TIFF or SVG"
MAX_BANDS = 5
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
}
_AVIF_BRANDS = {b"avif", b"avis"}
# Where the source's own format is an output format, keeping it is the default.
NATIVE_OUTPUT = {
    "jpeg": ImageFormat.JPEG,
    "png": ImageFormat.PNG,
    "webp": ImageFormat.WEBP,
    "avif": ImageFormat.AVIF,
}


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # jpeg, png, webp, gif, avif, heic, tiff, svg
    width: int  # as displayed, after EXIF orientation
    height: int
    pages: int
    has_alpha: bool
    srgb_profile: bool = False  # its embedded ICC profile is sRGB already: no transform on load

    @property
    def native_output(self) -> ImageFormat | None:
        return NATIVE_OUTPUT.get(self.kind)

    @property
    def default_output(self) -> ImageFormat:
        """The output format when the request names none."""
        native = self.native_output
        if native is not None:
            return native
        return ImageFormat.PNG if self.has_alpha else ImageFormat.JPEG


def sniff(data: bytes) -> str:
    """The loader for these bytes, from their magic numbers; UnsupportedImage otherwise."""
    if not data:
        raise UnsupportedImage("The source is empty (0 bytes); send an image file.")
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 32), 4)}
        if brands & (_HEIF_BRANDS | _AVIF_BRANDS):
            return "heif"
    if _looks_like_svg(data):
        return "svg"
    raise UnsupportedImage(f"The source is not a supported image; send {SUPPORTED}.")


def _looks_like_svg(data: bytes) -> bool:
    text = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in text


def probe(data: bytes, max_pixels: int) -> SourceInfo:
    """Sniff, read the header, refuse images over max_pixels, and name what it is."""
    loader = sniff(data)
    header = vips.load_header(data, loader)
    width, height = header.width, header.height
    pages = _pages(header)
    pixels = width * height * max(pages, 1)
    if header.bands > MAX_BANDS:
        # The pixel cap counts pixels, not the values each carries: 500x500 with 5000 bands
        # (a 1.2 MB TIFF) took 3.6 GB.
        raise UnsupportedImage(
            f"The image has {header.bands} channels per pixel; at most {MAX_BANDS} (CMYK with "
            "alpha) are supported."
        )
    if loader == "svg" and pixels <= max_pixels:
        hidden = svg_embeds.embedded_pixels(data, _raster_pixels)
        if pixels + hidden > max_pixels:
            raise ImageTooLarge(
                f"The SVG is {width}x{height} pixels but embeds images of {hidden:,} pixels "
                f"more ({pixels + hidden:,} in all); the limit is {max_pixels:,} pixels."
            )
    if pixels > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels"
            + (f" over {pages} frames" if pages > 1 else "")
            + f" ({pixels:,} in all); the limit is {max_pixels:,} pixels."
        )
    kind = loader
    if loader == "heif":
        kind = "avif" if vips.get(header, "heif-compression") == "av1" else "heic"
        if kind == "heic":
            _require_hevc(header)
    if int(str(vips.get(header, "orientation", 1))) in (5, 6, 7, 8):
        width, height = height, width
    return SourceInfo(
        kind, width, height, pages, bool(header.hasalpha()), profiles.has_srgb_profile(header)
    )


def _raster_pixels(data: bytes) -> int:
    """Pixels over all frames of a raster embedded in an SVG, from its header."""
    loader = sniff(data)
    if loader == "svg":
        raise UnsupportedImage("an SVG where a raster was expected")
    header = vips.load_header(data, loader)
    return int(header.width * header.height * max(_pages(header), 1))


def _pages(header: vips.Image) -> int:
    return int(str(vips.get(header, "n-pages", 1)))


def _require_hevc(header: vips.Image) -> None:
    try:
        vips.decodes_a_pixel(header)
    except UnsupportedImage as exc:
        raise UnsupportedImage(
            "HEIC images coded with HEVC cannot be decoded here: this server's libvips has no "
            "HEVC decoder. Convert the image to JPEG, PNG, WebP or AVIF and send that."
        ) from exc


def inspect(data: bytes, max_pixels: int) -> SourceInfo:
    """probe(), then decode every pixel at a small scale: a truncated file is refused here."""
    info = probe(data, max_pixels)
    vips.decodes_fully(data)
    return info
