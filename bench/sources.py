"""The images the suite renders, and the parameter sequences that keep every request distinct.

The origin answers a repeated transform from its memory tier, so a request that repeats an
earlier one would be a cache hit, not a render. Each workload therefore draws its parameters
(source variant, width, quality) from a shuffled space without replacement; a workload that
runs out of distinct parameters stops instead of repeating one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyvips

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "images"
PHOTO_24MP = FIXTURES / "photo-large-6000x4000-progressive.jpg"
# W8: five corpus photos, all upright (orientation 1) so that thumbor, which ignores EXIF
# orientation by default, renders the same picture. The smallest first: the smoke takes one.
QUALITY_PHOTOS = (
    "Landscape_1.jpg",
    "adobe-rgb-icc.jpg",
    "photo-progressive-1944x2592.jpg",
    "photo-baseline-4000x2250-cc0.jpg",
    "photo-large-6000x4000-progressive.jpg",
)


# Quality 80 is kept out of the throughput spaces: W1 renders it afterwards to compare bytes
# with thumbor at one quality setting, and those renders must not turn later requests into
# cache hits.
BYTES_QUALITY = 80
QUALITIES = [q for q in range(50, 96) if q != BYTES_QUALITY]


@dataclass(frozen=True)
class Params:
    width: int
    quality: int
    variant: int = 0  # which of several distinct sources (PNG output has no quality to vary)


class ParamSpace:
    """Every combination once, in a fixed shuffled order; forks replay the same order."""

    def __init__(
        self, widths: Sequence[int], qualities: Sequence[int], variants: int = 1, *, seed: int = 6
    ) -> None:
        combos = [Params(w, q, v) for v in range(variants) for w in widths for q in qualities]
        random.Random(seed).shuffle(combos)
        self._combos = combos
        self._next = 0
        self._cyclic = False

    def __len__(self) -> int:
        return len(self._combos) - self._next

    def take(self) -> Params | None:
        """The next unused combination, or None when all are used (never, for a replay)."""
        if self._next >= len(self._combos):
            if not self._cyclic:
                return None
            self._next = 0
        self._next += 1
        return self._combos[self._next - 1]

    def replay(self) -> ParamSpace:
        """A new cursor over the same order that starts again when it reaches the end.

        For the references, which cache nothing: they see the same distribution of widths
        and qualities as the origin, and a repeat costs them a full render like any other.
        """
        copy = ParamSpace.__new__(ParamSpace)
        copy._combos = self._combos
        copy._next = 0
        copy._cyclic = True
        return copy


def rgba_png_2048(variant: int = 0) -> bytes:
    """A 2048 px RGBA PNG made from the 24 MP photo, with an alpha ramp that differs by variant.

    Distinct variants are distinct sources (distinct render keys), so a PNG output workload
    can vary its source where it cannot vary a quality.
    """
    photo = pyvips.Image.thumbnail(str(PHOTO_24MP), 2048)
    x = pyvips.Image.xyz(photo.width, photo.height)[0]
    ramp = ((x + variant * 97) % photo.width * (255 / photo.width)).cast("uchar")
    data: bytes = photo.bandjoin(ramp).pngsave_buffer(compression=6)
    return data
