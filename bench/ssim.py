"""SSIM on luminance (Wang, Bovik, Sheikh and Simoncelli, 2004), with pyvips arithmetic.

Luma is Rec. 601 Y' of the 8-bit sRGB pixels. Local means, variances and the covariance are
Gaussian-weighted (sigma 1.5, an 11 x 11 window), the constants are C1 = (0.01 L)^2 and
C2 = (0.03 L)^2 with L = 255, and the index is the mean of the SSIM map over the pixels whose
window lies wholly inside the image (no padded edges). No downsampling first: the score is of
the image at the size it is served.
"""

from __future__ import annotations

from typing import Any

import pyvips

L = 255.0
C1 = (0.01 * L) ** 2
C2 = (0.03 * L) ** 2
SIGMA = 1.5
RADIUS = 5
# exp(-r^2 / 2 sigma^2) is 0.0039 at r = 5 and 0.0003 at r = 6: this keeps an 11-tap window.
_MIN_AMPLITUDE = 0.003

Image = Any  # pyvips has no type information


def luma(image: Image) -> Image:
    """Y' = 0.299 R + 0.587 G + 0.114 B of an 8-bit image, as float; alpha flattened on white."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands == 1:
        return image.cast("float")
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    return image[0:3].recomb([[0.299, 0.587, 0.114]]).cast("float")


def decode(data: bytes) -> Image:
    """An encoded image, decoded and upright, for scoring."""
    return pyvips.Image.new_from_buffer(data, "").autorot()


def _window() -> Image:
    mask = pyvips.Image.gaussmat(SIGMA, _MIN_AMPLITUDE, separable=True, precision="float")
    assert mask.width == 2 * RADIUS + 1, mask.width
    return mask


def ssim(reference: Image, test: Image) -> float:
    """Mean SSIM of the luma of two images of the same size."""
    if (reference.width, reference.height) != (test.width, test.height):
        raise ValueError(
            f"sizes differ: {reference.width}x{reference.height} vs {test.width}x{test.height}"
        )
    window = _window()

    def mean(image: Image) -> Image:
        return image.convsep(window, precision="float")

    x, y = luma(reference), luma(test)
    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x * mu_x
    var_y = mean(y * y) - mu_y * mu_y
    covariance = mean(x * y) - mu_x * mu_y
    numerator = (mu_x * mu_y * 2 + C1) * (covariance * 2 + C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + C1) * (var_x + var_y + C2)
    index = numerator / denominator
    inner = index.crop(RADIUS, RADIUS, index.width - 2 * RADIUS, index.height - 2 * RADIUS)
    return float(inner.avg())


def self_check(photo: bytes) -> dict[str, float]:
    """The properties any SSIM must have, checked on a real photo; raises if one fails.

    (Checked once against a direct per-pixel evaluation of the formula on a 64 px image:
    equal to 6 decimals.)
    """
    image = pyvips.Image.thumbnail_buffer(photo, 400).copy_memory()
    scores = {
        "identical": ssim(image, image),
        "jpeg q95": ssim(image, decode(image.jpegsave_buffer(Q=95))),
        "jpeg q30": ssim(image, decode(image.jpegsave_buffer(Q=30))),
        "blur sigma 3": ssim(image, image.gaussblur(3).cast("uchar")),
    }
    problems = []
    if abs(scores["identical"] - 1.0) > 1e-6:
        problems.append("identical images must score 1.0")
    if not 1.0 > scores["jpeg q95"] > scores["jpeg q30"] > scores["blur sigma 3"]:
        problems.append("scores must fall as the copy degrades (q95 > q30 > blur)")
    if scores["blur sigma 3"] > 0.95:
        problems.append("a blurred copy must score clearly lower")
    if abs(ssim(image, image.gaussblur(1).cast("uchar")) - ssim(image.gaussblur(1), image)) > 1e-3:
        problems.append("SSIM must be symmetric")
    if problems:
        raise AssertionError(f"SSIM self-check failed: {'; '.join(problems)} ({scores})")
    return scores
