"""The in-process implementations of "resize to a width and encode", measured beside the origin.

- engine: ``transforms.render`` exactly as the origin's worker pool calls it (no HTTP);
- pyvips: the limit, raw pyvips doing the same libvips work (shrink-on-load thumbnail, converting
  the source's profile to sRGB unless it is sRGB already, the same encoder options, for Png the
  same row filter) with none of our Python around it;
- pillow: a naive pipeline (open, convert, resize LANCZOS, save), what a team writes first.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pyvips
from PIL import Image

from bench.sources import Params
from transforms import ImageFormat, parse_spec, probe, render
from transforms.encode import OPTIONS, png_filter
from transforms.rendering import DEFAULT_MAX_PIXELS
from transforms.spec import Priority

Job = Callable[[Params], bytes]
# thumbnail fits a box: a height no image reaches makes the width alone decide, as in the API.
ANY_HEIGHT = 10_000_000
_SAVERS = {
    ImageFormat.JPEG: "jpegsave_buffer",
    ImageFormat.WEBP: "webpsave_buffer",
    ImageFormat.AVIF: "heifsave_buffer",
    ImageFormat.PNG: "pngsave_buffer",
}
_PILLOW_FORMATS = {
    ImageFormat.JPEG: "JPEG",
    ImageFormat.WEBP: "WEBP",
    ImageFormat.AVIF: "AVIF",
    ImageFormat.PNG: "PNG",
}


def format_option(fmt: ImageFormat, quality: int) -> dict[str, object]:
    """The request's format object (Png takes no quality)."""
    if fmt is ImageFormat.PNG:
        return {"type": fmt.value}
    return {"type": fmt.value, "quality": quality}


def engine(sources: list[bytes], fmt: ImageFormat) -> Job:
    def run(p: Params) -> bytes:
        spec = parse_spec({"resize": {"width": p.width}, "format": format_option(fmt, p.quality)})
        return render(sources[p.variant], spec).data

    return run


def pyvips_job(
    sources: list[bytes], fmt: ImageFormat, priority: Priority = Priority.BALANCED
) -> Job:
    base = dict(OPTIONS[fmt][priority])
    # Decided once per source, outside the timed renders, as the origin's cache decides it.
    colour = [
        {} if probe(source, DEFAULT_MAX_PIXELS).srgb_profile else {"export_profile": "srgb"}
        for source in sources
    ]

    def run(p: Params) -> bytes:
        # A source over the bytes, not thumbnail_buffer: pyvips copies a buffer argument.
        image = pyvips.Image.thumbnail_source(
            pyvips.Source.new_from_memory(sources[p.variant]),
            p.width,
            height=ANY_HEIGHT,
            option_string="fail_on=error",
            **colour[p.variant],
        )
        if image.hasalpha() and not fmt.has_alpha:
            image = image.flatten(background=[255, 255, 255])
        options = {**base, "Q": p.quality} if fmt.lossy else base
        if fmt is ImageFormat.PNG:
            # The row filter is chosen per image, as the engine does on every render: the same
            # libvips calls (hold the image, encode a sample of rows both ways).
            image, way = png_filter(image, priority)
            options = {**options, **way}
        data: bytes = getattr(image, _SAVERS[fmt])(keep=pyvips.ForeignKeep.NONE, **options)
        return data

    return run


def pillow_job(sources: list[bytes], fmt: ImageFormat) -> Job:
    mode = "RGBA" if fmt.has_alpha else "RGB"

    def run(p: Params) -> bytes:
        with Image.open(io.BytesIO(sources[p.variant])) as im:
            converted = im.convert(mode)
            height = round(converted.height * p.width / converted.width)
            small = converted.resize((p.width, height), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            if fmt.lossy:
                small.save(out, _PILLOW_FORMATS[fmt], quality=p.quality)
            else:
                small.save(out, _PILLOW_FORMATS[fmt])
            return out.getvalue()

    return run
