"""Encoders: format and compressionPriority to libvips save options.

Measured on a 24 MP photo scaled to 800 px (decode + shrink ~80 ms of ~100 on this kind of
machine): Jpeg optimised Huffman + progressive costs ~3 ms over bare; mozjpeg's trellis ~10 ms
more, small beside the decode, so Balanced has it; Quality adds deringing and scan optimisation
(~7 ms, ~2 %). The trellis runs on the Annex K table (quant_table 0): at equal luma SSIM it
takes 4-6 % fewer bytes than the ImageMagick table (3) at 600, 1000 and 1600 px on five corpus
photos (bench W8), though at one quality number table 3 is ~9 % smaller and ~0.004 SSIM worse.
Webp effort 2/4/6 and Avif effort 1/3/5 follow the same Speed/Balanced/Quality ladder.
Metadata is never written.
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
    ImageFormat.PNG: {
        Priority.SPEED: {"compression": 2},
        Priority.BALANCED: {"compression": 6},
        Priority.QUALITY: {"compression": 9},
    },
}
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
    return vips.save(image, _SAVERS[fmt], options)
