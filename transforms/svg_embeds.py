"""The pixels an SVG source hides in ``data:`` URIs, counted before librsvg decodes any of them.

librsvg draws an embedded raster (``<image href="data:image/png;base64,...">``) by decoding it
whole, at its own size, whatever box it is drawn into: a 95 KB SVG declared 100x100 holding four
12000x12000 PNGs took 3.2 GB. The header probe sees only the declared 100x100, so the embedded
images are counted here, from their own headers, against the same pixel cap. The XML is parsed
with expat (internal entities expanded, so a data URI cannot hide in one; nothing external is
fetched), and every data URI in an attribute or a style sheet is looked at: a raster is measured,
an embedded SVG is searched in turn, and anything this service cannot measure is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

from config.errors import UnsupportedImage

MAX_DEPTH = 3  # an SVG in an SVG in an SVG; deeper nesting is refused
_DATA_URI = re.compile(r"data:([^,]*?),([^\s\"')]*)", re.IGNORECASE)

# (bytes of an embedded raster) -> its pixels, all frames; raises UnsupportedImage if unreadable
Measure = Callable[[bytes], int]


def embedded_pixels(data: bytes, measure: Measure, depth: int = 0) -> int:
    """Pixels of every raster the SVG embeds (nested SVGs included)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UnsupportedImage(f"The SVG is not well-formed XML ({exc}).") from None
    return sum(_pixels_of(uri, strict, measure, depth) for uri, strict in _data_uris(root))


def _data_uris(root: ET.Element) -> Iterator[tuple[str, bool]]:
    """Every data URI, and whether it must be an image we can measure (an attribute's: any
    element that takes an href may draw it) or may be something else (a style sheet's font)."""
    for element in root.iter():
        for value in element.attrib.values():
            if value.lstrip().lower().startswith("data:"):
                yield "".join(value.split()), True  # base64 may be wrapped over lines
            elif "data:" in value.lower():
                yield from ((match.group(0), True) for match in _DATA_URI.finditer(value))
        if isinstance(element.tag, str) and element.tag.rsplit("}", 1)[-1].lower() == "style":
            text = element.text or ""
            yield from ((match.group(0), False) for match in _DATA_URI.finditer(text))


def _pixels_of(uri: str, strict: bool, measure: Measure, depth: int) -> int:
    header, _, payload = uri[len("data:") :].partition(",")
    try:
        if header.lower().endswith(";base64"):
            content = base64.b64decode(urllib.parse.unquote(payload) + "==", validate=False)
        else:
            content = urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise UnsupportedImage("The SVG embeds a data URI that cannot be decoded.") from None
    if not content:
        return 0
    if _is_xml(content):
        if depth + 1 >= MAX_DEPTH:
            raise UnsupportedImage(f"The SVG nests SVGs more than {MAX_DEPTH} deep.")
        return embedded_pixels(content, measure, depth + 1)
    try:
        return measure(content)
    except UnsupportedImage:
        if strict or header.lower().startswith("image/"):
            raise UnsupportedImage(
                "The SVG embeds an image this service cannot read, so cannot size it "
                f"({header.split(';')[0] or 'no media type'}); embed JPEG, PNG, WebP or GIF."
            ) from None
        return 0  # a font or a style sheet: librsvg draws no pixels from it


def _is_xml(content: bytes) -> bool:
    start = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype"))
