"""Quality search under a byte cap: decode once, encode a few times.

Each encoder turns quality into a quantiser, and ln(size) is close to linear in -ln(quantiser)
where it is nearly curved in plain quality. libjpeg's scale is 5000/q below 50 and 200 - 2q
above (Avif follows it closely enough); libwebp's quantiser index is 127 * (1 - c^(1/3)) with c
= 2q/100 - 1 above 75, a step that grows fast at high quality (Webp q89 -> q90 is +17 % bytes
on a photo). On the corpus photos the residual of a straight line is 0.15 along libjpeg's axis
and 0.05 along libwebp's own for Webp. The search works along the format's axis: the first guess
comes from a prior on bits per pixel, the second steps from the first measurement along the
prior slope, and later ones interpolate between the two measurements that bracket the target.
The search never returns bytes over the cap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from transforms.spec import ImageFormat

# Aim a little under the cap so a step usually lands inside the accepted window.
AIM = 0.975
# A result at or above this share of the cap is good enough to stop searching.
ACCEPT = 0.95
MAX_ENCODES = 8
# The search stops once the next quality up is predicted this far over the cap.
PREDICTED_OVER = 1.02


def quality_axis(quality: float) -> float:
    """-ln(libjpeg's quantiser scale) for a quality."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return -math.log(max(scale, 0.5))


def quality_at(axis: float) -> float:
    """The inverse of quality_axis."""
    scale = math.exp(-axis)
    return 5000 / scale if scale > 100 else (200 - scale) / 2


# libwebp's quantiser index runs 0..127; the offset keeps the step finite near q100 (fitted).
_WEBP_INDEX = 127
_WEBP_OFFSET = 4.0


def webp_axis(quality: float) -> float:
    """-ln(libwebp's quantiser index + offset) for a quality (its QualityToCompression)."""
    c = min(max(quality, 0.0), 100.0) / 100
    linear = c * 2 / 3 if c < 0.75 else 2 * c - 1
    return -math.log(_WEBP_INDEX * (1 - linear ** (1 / 3)) + _WEBP_OFFSET)


def webp_quality_at(axis: float) -> float:
    """The inverse of webp_axis."""
    index = min(max(math.exp(-axis) - _WEBP_OFFSET, 0.0), float(_WEBP_INDEX))
    linear = (1 - index / _WEBP_INDEX) ** 3
    c = (linear + 1) / 2 if linear >= 0.5 else linear * 3 / 2
    return 100 * c


@dataclass(frozen=True)
class Axis:
    """A quality axis and its inverse."""

    of: Callable[[float], float]
    quality_at: Callable[[float], float]


JPEG_AXIS = Axis(quality_axis, quality_at)
WEBP_AXIS = Axis(webp_axis, webp_quality_at)


@dataclass(frozen=True)
class Prior:
    """ln(bits per pixel) = intercept + slope * axis(q), fitted on the corpus photos."""

    intercept: float
    slope: float
    axis: Axis = JPEG_AXIS

    def quality_for(self, bits_per_pixel: float) -> float:
        return self.axis.quality_at((math.log(bits_per_pixel) - self.intercept) / self.slope)


# Webp: five corpus photos at 800 and 1600 px, q40-95 (docs/DECISIONS.md, target size).
# Jpeg: moved up by ln(1.09) when Balanced's trellis went to the Annex K table (+9 % bytes).
PRIORS = {
    ImageFormat.JPEG: Prior(1.745, 0.62),
    ImageFormat.WEBP: Prior(2.778, 1.081, WEBP_AXIS),
    ImageFormat.AVIF: Prior(3.10, 0.95),
}


@dataclass
class Search:
    """The state of one search: every quality tried and its size."""

    cap: int
    low: int
    high: int
    sizes: dict[int, int] = field(default_factory=dict)
    best: tuple[int, bytes] | None = None
    axis: Axis = JPEG_AXIS

    @property
    def fits_at(self) -> int:
        """Highest quality known to fit (low - 1 if none)."""
        return max((q for q, s in self.sizes.items() if s <= self.cap), default=self.low - 1)

    @property
    def fails_at(self) -> int:
        """Lowest quality known to be too large (high + 1 if none)."""
        return min((q for q, s in self.sizes.items() if s > self.cap), default=self.high + 1)

    def record(self, quality: int, data: bytes) -> None:
        self.sizes[quality] = len(data)
        if len(data) <= self.cap and (self.best is None or quality > self.best[0]):
            self.best = (quality, data)

    @property
    def done(self) -> bool:
        if self.best is not None and len(self.best[1]) >= ACCEPT * self.cap:
            return True
        if self.fits_at >= self.high or self.fails_at <= self.low:
            return True
        if self.fails_at - self.fits_at <= 1 or len(self.sizes) >= MAX_ENCODES:
            return True
        return self._next_predicted_over()

    def _next_predicted_over(self) -> bool:
        """Whether the bracket says one quality above the best is clearly over the cap.

        Near the top of libwebp's range one quality step is 10-17 % of bytes: a best at 0.93 of
        the cap is then as close as the encoder gets, and trying the next would only confirm it.
        """
        lo, hi = self.fits_at, self.fails_at
        if lo not in self.sizes or hi not in self.sizes:
            return False
        x_lo, x_hi, x_next = self.axis.of(lo), self.axis.of(hi), self.axis.of(lo + 1)
        ln_lo, ln_hi = math.log(self.sizes[lo]), math.log(self.sizes[hi])
        predicted = ln_lo + (ln_hi - ln_lo) * (x_next - x_lo) / max(x_hi - x_lo, 1e-9)
        return predicted > math.log(self.cap * PREDICTED_OVER)


def search_quality(
    encode: Callable[[int], bytes],
    cap: int,
    *,
    first: int,
    slope: float,
    low: int = 1,
    high: int = 100,
    axis: Axis = JPEG_AXIS,
) -> Search:
    """Find the highest quality in [low, high] whose encoding is at most cap bytes.

    When nothing fits, ``low`` has always been tried: the caller shrinks from its size.
    """
    state = Search(cap, low, high, axis=axis)
    quality = min(max(first, low), high)
    while True:
        state.record(quality, encode(quality))
        if state.done:
            if state.best is None and low not in state.sizes:
                # Out of encodes before reaching the floor (sizes that barely follow quality,
                # such as a tiny image's headers): the floor is the last thing worth trying.
                state.record(low, encode(low))
            return state
        quality = _next_guess(state, math.log(cap * AIM), slope, axis)


def _next_guess(state: Search, target: float, slope: float, axis: Axis) -> int:
    lo, hi = state.fits_at, state.fails_at
    if lo in state.sizes and hi in state.sizes:
        # A bracket: interpolate between its ends on the quality axis.
        x_lo, x_hi = axis.of(lo), axis.of(hi)
        ln_lo, ln_hi = math.log(state.sizes[lo]), math.log(state.sizes[hi])
        at = x_lo + (target - ln_lo) * (x_hi - x_lo) / max(ln_hi - ln_lo, 1e-9)
    else:
        # One side only: step from the nearest measurement along the prior slope.
        q1, s1 = min(state.sizes.items(), key=lambda item: abs(math.log(item[1]) - target))
        at = axis.of(q1) + (target - math.log(s1)) / slope
    quality = min(max(round(axis.quality_at(at)), lo + 1), hi - 1)
    while quality in state.sizes and quality < hi - 1:
        quality += 1
    while quality in state.sizes and quality > lo + 1:
        quality -= 1
    return quality


def first_guess(fmt: ImageFormat, cap: int, pixels: int) -> int:
    """A quality predicted to land near cap for an image of this many pixels."""
    bits_per_pixel = max(cap * 8 * AIM / max(pixels, 1), 1e-4)
    return max(1, min(100, round(PRIORS[fmt].quality_for(bits_per_pixel))))
