"""What every pipeline step sees: the spec, the planned geometry and the resolved output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transforms.geometry import Plan
from transforms.spec import TRANSPARENT, WHITE, Color, ImageFormat, TransformSpec
from transforms.vips import Image


@dataclass(frozen=True)
class Job:
    spec: TransformSpec
    plan: Plan
    output: ImageFormat
    srgb_profile: bool = False  # the source's ICC profile is sRGB already (see profiles.py)

    @property
    def background(self) -> Color:
        """Padding colour: the one asked for, else transparent where the format has alpha."""
        if self.spec.effects.background is not None:
            return self.spec.effects.background
        return TRANSPARENT if self.output.has_alpha else WHITE

    @property
    def matte(self) -> Color:
        """The opaque colour alpha is flattened onto for formats without alpha."""
        chosen = self.spec.effects.background or WHITE
        return Color(chosen.red, chosen.green, chosen.blue)


Step = Callable[[Image, Job], Image]
