"""Quality search under a byte cap: decode once, encode a few times.

libjpeg turns quality into a quantiser scale (5000/q below 50, 200 - 2q above), and ln(size)
is close to linear in -ln(scale): on the corpus photos the residual of a straight line is 0.14
in that space against 0.35 in plain quality (Webp and Avif behave alike). The search works in
that space: the first guess comes from a prior on bits per pixel, the second steps from the
first measurement along the prior slope, and later ones interpolate between the two
measurements that bracket the target. The search never returns bytes over the cap.
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


def quality_axis(quality: float) -> float:
    """-ln(quantiser scale) for a quality: the axis ln(size) is nearly straight along."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return -math.log(max(scale, 0.5))


def quality_at(axis: float) -> float:
    """The inverse of quality_axis."""
    scale = math.exp(-axis)
    return 5000 / scale if scale > 100 else (200 - scale) / 2


@dataclass(frozen=True)
class Prior:
    """ln(bits per pixel) = intercept + slope * quality_axis(q), fitted on the corpus photos."""

    intercept: float
    slope: float

    def quality_for(self, bits_per_pixel: float) -> float:
        return quality_at((math.log(bits_per_pixel) - self.intercept) / self.slope)


PRIORS = {
    ImageFormat.JPEG: Prior(1.66, 0.62),
    ImageFormat.WEBP: Prior(1.19, 0.556),
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
        return self.fails_at - self.fits_at <= 1 or len(self.sizes) >= MAX_ENCODES


def search_quality(
    encode: Callable[[int], bytes],
    cap: int,
    *,
    first: int,
    slope: float,
    low: int = 1,
    high: int = 100,
) -> Search:
    """Find the highest quality in [low, high] whose encoding is at most cap bytes.

    When nothing fits, ``low`` has always been tried: the caller shrinks from its size.
    """
    state = Search(cap, low, high)
    quality = min(max(first, low), high)
    while True:
        state.record(quality, encode(quality))
        if state.done:
            if state.best is None and low not in state.sizes:
                # Out of encodes before reaching the floor (sizes that barely follow quality,
                # such as a tiny image's headers): the floor is the last thing worth trying.
                state.record(low, encode(low))
            return state
        quality = _next_guess(state, math.log(cap * AIM), slope)


def _next_guess(state: Search, target: float, slope: float) -> int:
    lo, hi = state.fits_at, state.fails_at
    if lo in state.sizes and hi in state.sizes:
        # A bracket: interpolate between its ends on the quality axis.
        x_lo, x_hi = quality_axis(lo), quality_axis(hi)
        ln_lo, ln_hi = math.log(state.sizes[lo]), math.log(state.sizes[hi])
        axis = x_lo + (target - ln_lo) * (x_hi - x_lo) / max(ln_hi - ln_lo, 1e-9)
    else:
        # One side only: step from the nearest measurement along the prior slope.
        q1, s1 = min(state.sizes.items(), key=lambda item: abs(math.log(item[1]) - target))
        axis = quality_axis(q1) + (target - math.log(s1)) / slope
    quality = min(max(round(quality_at(axis)), lo + 1), hi - 1)
    while quality in state.sizes and quality < hi - 1:
        quality += 1
    while quality in state.sizes and quality > lo + 1:
        quality -= 1
    return quality


def first_guess(fmt: ImageFormat, cap: int, pixels: int) -> int:
    """A quality predicted to land near cap for an image of this many pixels."""
    bits_per_pixel = max(cap * 8 * AIM / max(pixels, 1), 1e-4)
    return max(1, min(100, round(PRIORS[fmt].quality_for(bits_per_pixel))))


def expected_size(fmt: ImageFormat, measured: int, at: int, quality: int) -> float:
    """Bytes at quality, extrapolated from bytes measured at another quality."""
    slope = PRIORS[fmt].slope
    return measured * math.exp(slope * (quality_axis(quality) - quality_axis(at)))
