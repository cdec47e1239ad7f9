"""Helpers for the engine tests: the corpus, synthetic images, and decoding what came out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyvips

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"

PHOTOS = (
    "photo-large-6000x4000-progressive.jpg",
    "photo-baseline-4000x2250-cc0.jpg",
    "photo-progressive-1944x2592.jpg",
    "photo-medium-1024x768-camera.jpg",
    "adobe-rgb-icc.jpg",
)


def corpus(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode(data: bytes) -> Any:
    """Decode output bytes fully (raises on anything undecodable)."""
    image = pyvips.Image.new_from_buffer(data, "", fail_on="error")
    return image.copy_memory()


def loader(data: bytes) -> str:
    name: str = pyvips.Image.new_from_buffer(data, "").get("vips-loader")
    return name


def solid_png(
    width: int, height: int, colours: list[tuple[int, int, int]], *, vertical: bool = False
) -> bytes:
    """Equal stripes of the given colours, left to right (or top to bottom), as PNG bytes."""
    stripes = []
    n = len(colours)
    for i, rgb in enumerate(colours):
        w = width if vertical else width // n + (width % n if i == n - 1 else 0)
        h = height // n + (height % n if i == n - 1 else 0) if vertical else height
        stripes.append(pyvips.Image.black(w, h).new_from_image(list(rgb)).cast("uchar"))
    image = pyvips.Image.arrayjoin(stripes, across=1 if vertical else n)
    data: bytes = image.copy(interpretation="srgb").pngsave_buffer()
    return data


def rgba_png(width: int, height: int, rgba: tuple[int, int, int, int]) -> bytes:
    image = pyvips.Image.black(width, height).new_from_image(list(rgba)).cast("uchar")
    data: bytes = image.copy(interpretation="srgb").pngsave_buffer()
    return data


def mean_rgb(
    image: Any, left: int = 0, top: int = 0, width: int = 0, height: int = 0
) -> list[float]:
    """Mean of each band in a region (the whole image by default)."""
    if width and height:
        image = image.crop(left, top, width, height)
    return [image[b].avg() for b in range(image.bands)]


def close(a: list[float], b: list[float], tolerance: float) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
