"""The engine workloads and the three implementations measured on each.

- engine: ``transforms.render`` exactly as the origin calls it;
- pyvips: the limit, raw pyvips doing the same libvips work (thumbnail + the same save options)
  with none of our Python around it;
- pillow: a naive pipeline (open, convert, resize LANCZOS, save), what a team writes first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips
from PIL import Image

from transforms import ImageFormat, parse_spec, render
from transforms.encode import OPTIONS
from transforms.spec import Priority

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "images"
PHOTO_24MP = FIXTURES / "photo-large-6000x4000-progressive.jpg"
QUALITY = 80


@dataclass(frozen=True)
class Workload:
    name: str
    source: bytes
    width: int
    fmt: ImageFormat

    def engine(self) -> Callable[[], bytes]:
        spec = parse_spec(
            {
                "resize": {"width": self.width},
                "format": {"type": self.fmt.value, "quality": QUALITY},
            }
        )
        return lambda: render(self.source, spec).data

    def pyvips(self) -> Callable[[], bytes]:
        saver = {ImageFormat.JPEG: "jpegsave_buffer", ImageFormat.WEBP: "webpsave_buffer"}[self.fmt]
        options = {
            **OPTIONS[self.fmt][Priority.BALANCED],
            "Q": QUALITY,
            "keep": pyvips.ForeignKeep.NONE,
        }

        def run() -> bytes:
            image = pyvips.Image.thumbnail_buffer(
                self.source, self.width, export_profile="srgb", option_string="fail_on=error"
            )
            if image.hasalpha() and self.fmt is ImageFormat.JPEG:
                image = image.flatten(background=[255, 255, 255])
            data: bytes = getattr(image, saver)(**options)
            return data

        return run

    def pillow(self) -> Callable[[], bytes]:
        pil_format = {ImageFormat.JPEG: "JPEG", ImageFormat.WEBP: "WEBP"}[self.fmt]

        def run() -> bytes:
            with Image.open(io.BytesIO(self.source)) as im:
                rgb = im.convert("RGB")
                height = round(rgb.height * self.width / rgb.width)
                small = rgb.resize((self.width, height), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                small.save(out, pil_format, quality=QUALITY)
                return out.getvalue()

        return run


def rgba_png_2048() -> bytes:
    """A 2048 px RGBA PNG made from a corpus photo with a diagonal alpha ramp."""
    photo = pyvips.Image.thumbnail_buffer(PHOTO_24MP.read_bytes(), 2048)
    ramp = (pyvips.Image.xyz(photo.width, photo.height)[0] * (255 / photo.width)).cast("uchar")
    data: bytes = photo.bandjoin(ramp).pngsave_buffer(compression=6)
    return data


def engine_workloads() -> list[Workload]:
    photo = PHOTO_24MP.read_bytes()
    png = rgba_png_2048()
    return [
        Workload("24MP JPEG -> 800px Jpeg", photo, 800, ImageFormat.JPEG),
        Workload("24MP JPEG -> 800px Webp", photo, 800, ImageFormat.WEBP),
        Workload("2048px RGBA PNG -> 720px Jpeg", png, 720, ImageFormat.JPEG),
    ]
