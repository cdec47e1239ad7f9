"""Encoders: format and compressionPriority to libvips save options.

Measured on a 24 MP photo scaled to 800 px (decode + shrink ~80 ms of ~100 on this kind of
machine): Jpeg optimised Huffman + progressive costs ~3 ms over bare; mozjpeg's trellis ~10 ms
more, small beside the decode, so Balanced has it; Quality adds deringing and scan optimisation
(~7 ms, ~2 %). The trellis runs on the Annex K table (quant_table 0): at equal luma SSIM it
takes 4-6 % fewer bytes than the ImageMagick table (3) at 600, 1000 and 1600 px on five corpus
photos (bench W8), though at one quality number table 3 is ~9 % smaller and ~0.004 SSIM worse.
Webp effort 2/4/6 and Avif effort 1/3/5 follow the same Speed/Balanced/Quality ladder.
Png's row filter and zlib level are chosen per image (png_filter, PNG_WAYS). Metadata is never
written.
"""

from __future__ import annotations

from transforms import vips
from transforms.spec import ImageFormat, Priority

# 4:2:0 at every quality, Jpeg and Avif: libvips' "auto" drops subsampling at Q >= 90, which
# nearly doubles the bytes between Q89 and Q90 (+17 % on an 800 px Avif, and +18 % encode time)
# and breaks the monotone size curve that target size relies on.
_JPEG_BASE: dict[str, object] = {"optimize_coding": True, "interlace": True, "subsample_mode": "on"}
_JPEG_TRELLIS: dict[str, object] = {**_JPEG_BASE, "trellis_quant": True, "quant_table": 0}
_AVIF_BASE: dict[str, object] = {"compression": "av1", "subsample_mode": "on"}
OPTIONS: dict[ImageFormat, dict[Priority, dict[str, object]]] = {
    ImageFormat.JPEG: {
        Priority.SPEED: _JPEG_BASE,
        Priority.BALANCED: _JPEG_TRELLIS,
        Priority.QUALITY: {**_JPEG_TRELLIS, "overshoot_deringing": True, "optimize_scans": True},
    },
    ImageFormat.WEBP: {
        Priority.SPEED: {"effort": 2},
        Priority.BALANCED: {"effort": 4},
        Priority.QUALITY: {"effort": 6, "smart_subsample": True},
    },
    ImageFormat.AVIF: {
        Priority.SPEED: {**_AVIF_BASE, "effort": 1},
        Priority.BALANCED: {**_AVIF_BASE, "effort": 3},
        Priority.QUALITY: {**_AVIF_BASE, "effort": 5},
    },
    ImageFormat.PNG: {p: {} for p in Priority},  # png_filter picks filter and level
}
# The two ways png_filter chooses between: rows unfiltered, or filtered for continuous tone; each
# with its zlib level. Filtered photo rows at level 6 take 75 % longer than at 4 for 2 % fewer
# bytes; unfiltered flat graphics compress fast, and level 6 saves 2-18 % over 4. "up" is as
# small as libpng's per-row choice ("all") on photos in 53-70 % of its time; Quality pays for
# "all".
PNG_WAYS: dict[Priority, tuple[tuple[str, int], tuple[str, int]]] = {
    Priority.SPEED: (("none", 2), ("up", 2)),
    Priority.BALANCED: (("none", 6), ("up", 4)),
    Priority.QUALITY: (("none", 9), ("all", 9)),
}
# Larger outputs are not held in memory for the trial; they are written unfiltered.
PNG_TRIAL_MAX_PIXELS = 16_000_000
# The trial encodes this many strips of this many rows, spread down the image, both ways.
PNG_SAMPLE_STRIPS = 6
PNG_SAMPLE_ROWS = 4
_SAVERS = {
    ImageFormat.JPEG: "jpegsave",
    ImageFormat.PNG: "pngsave",
    ImageFormat.WEBP: "webpsave",
    ImageFormat.AVIF: "heifsave",
}


def encode(image: vips.Image, fmt: ImageFormat, quality: int, priority: Priority) -> bytes:
    """Encode at quality (ignored for Png) with the effort that priority asks for."""
    options = dict(OPTIONS[fmt][priority])
    if fmt.lossy:
        options["Q"] = quality
    if fmt is ImageFormat.PNG:
        image, way = png_filter(image, priority)
        options.update(way)
    return vips.save(image, _SAVERS[fmt], options)


def png_filter(image: vips.Image, priority: Priority) -> tuple[vips.Image, dict[str, object]]:
    """The row filter and zlib level that make this image's Png smaller, and the image (held in
    memory when it was tried).

    Photos and cut-outs come out 19-59 % smaller with each row stored as its difference from the
    row above; text and flat graphics 6-32 % smaller unfiltered. Encoding a sample
    of rows both ways tells which (~3 ms of CPU at 720 px). A tie keeps the rows unfiltered.
    """
    ways = [{"filter": name, "compression": level} for name, level in PNG_WAYS[priority]]
    if image.width * image.height > PNG_TRIAL_MAX_PIXELS:
        return image, ways[0]
    image = vips.copy_memory(image)
    sample = vips.row_sample(image, PNG_SAMPLE_STRIPS, PNG_SAMPLE_ROWS)
    plain, filtered = (len(vips.save(sample, "pngsave", way)) for way in ways)
    return image, ways[1] if filtered < plain else ways[0]
