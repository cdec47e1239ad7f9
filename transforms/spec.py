"""TransformSpec: the one typed, frozen description of a render.

It is the only thing that passes from the origin to the engine. ``canonical()`` is a compact JSON
string in which two specs that mean the same thing are equal: defaults are filled, enum casing
is normalised and settings that cannot change the output are dropped. The asset token, the render
key and the logs all use it; ``transforms.parse.parse_spec`` reads it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum


class ImageFormat(StrEnum):
    JPEG = "Jpeg"
    PNG = "Png"
    WEBP = "Webp"
    AVIF = "Avif"

    @property
    def mime_type(self) -> str:
        return _MIME[self]

    @property
    def has_alpha(self) -> bool:
        return self is not ImageFormat.JPEG

    @property
    def lossy(self) -> bool:
        return self is not ImageFormat.PNG

    @property
    def sizeable(self) -> bool:
        """Whether a byte cap can be met by searching quality."""
        return self.lossy

    @property
    def max_side(self) -> int:
        """The longest side this format's encoder writes, in pixels."""
        return _MAX_SIDE[self]


# What the bundled encoders accept (libjpeg 65500, libwebp 16383, libheif 16384; libpng more
# than any image we make).
_MAX_SIDE = {
    ImageFormat.JPEG: 65_500,
    ImageFormat.PNG: 1 << 31,
    ImageFormat.WEBP: 16_383,
    ImageFormat.AVIF: 16_384,
}
_MIME = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.AVIF: "image/avif",
}


class Fit(StrEnum):
    COVER = "Cover"
    CONTAIN = "Contain"
    FIT_BLUR_BACKGROUND = "FitBlurBackground"
    DOWNSCALE_ONLY = "DownscaleOnly"


class Gravity(StrEnum):
    CENTER = "Center"
    TOP = "Top"
    BOTTOM = "Bottom"
    LEFT = "Left"
    RIGHT = "Right"
    TOP_LEFT = "TopLeft"
    TOP_RIGHT = "TopRight"
    BOTTOM_LEFT = "BottomLeft"
    BOTTOM_RIGHT = "BottomRight"
    SMART = "Smart"
    ENTROPY = "Entropy"


class Priority(StrEnum):
    SPEED = "Speed"
    BALANCED = "Balanced"
    QUALITY = "Quality"


MAX_DIMENSION = 8192
DEFAULT_QUALITY = 90


@dataclass(frozen=True)
class Color:
    red: int
    green: int
    blue: int
    alpha: int = 255

    @property
    def hex(self) -> str:
        rgb = f"#{self.red:02X}{self.green:02X}{self.blue:02X}"
        return rgb if self.alpha == 255 else f"{rgb}{self.alpha:02X}"

    @property
    def is_gray(self) -> bool:
        return self.red == self.green == self.blue


WHITE = Color(255, 255, 255)
TRANSPARENT = Color(0, 0, 0, 0)


@dataclass(frozen=True)
class Resize:
    width: int | None = None
    height: int | None = None
    fit: Fit = Fit.COVER
    gravity: Gravity = Gravity.CENTER

    def normalised(self) -> Resize:
        """The same request with settings that cannot matter set to their defaults."""
        fit, gravity = self.fit, self.gravity
        one_side = self.width is None or self.height is None
        if one_side and fit is not Fit.DOWNSCALE_ONLY:
            fit = Fit.COVER  # a single side scales proportionally whatever the fit
        if one_side or fit is not Fit.COVER:
            gravity = Gravity.CENTER  # only a Cover crop has anything to place
        return Resize(self.width, self.height, fit, gravity)


@dataclass(frozen=True)
class Downsize:
    """Dimension caps of /v1/downsize; 0 means no cap on that side."""

    max_width: int = 0
    max_height: int = 0


@dataclass(frozen=True)
class Padding:
    top: int = 0
    right: int = 0
    bottom: int = 0
    left: int = 0

    @property
    def empty(self) -> bool:
        return not (self.top or self.right or self.bottom or self.left)


@dataclass(frozen=True)
class Effects:
    grayscale: bool = False
    blur_radius: float = 0.0
    background: Color | None = None
    pad: Padding = field(default_factory=Padding)


@dataclass(frozen=True)
class FormatOptions:
    # None: keep the source format when it is an output format, else Png with alpha or Jpeg.
    type: ImageFormat | None = None
    quality: int = DEFAULT_QUALITY
    priority: Priority = Priority.BALANCED
    # Aim as close under this as quality allows; the quality above is then ignored.
    target_size: int | None = None


@dataclass(frozen=True)
class TransformSpec:
    resize: Resize | None = None
    downsize: Downsize | None = None
    format: FormatOptions = field(default_factory=FormatOptions)
    effects: Effects = field(default_factory=Effects)
    # A cap, not a target: encode at the quality asked, lower it only if the result is larger.
    max_bytes: int | None = None

    @property
    def may_shrink_to_fit(self) -> bool:
        """A byte cap may shrink the dimensions unless the caller fixed them explicitly."""
        return self.resize is None

    def canonical(self) -> str:
        """Compact JSON in which equal meanings give equal strings."""
        return canonical_json(self.to_dict())

    def to_dict(self) -> dict[str, object]:
        """The normalised spec in the API's own vocabulary (parse_spec reads it back)."""
        out: dict[str, object] = {"format": _format_dict(self.format)}
        if self.resize is not None:
            r = self.resize.normalised()
            resize: dict[str, object] = {"fit": r.fit.value, "gravity": r.gravity.value}
            if r.width is not None:
                resize["width"] = r.width
            if r.height is not None:
                resize["height"] = r.height
            out["resize"] = resize
        if self.downsize is not None:
            out["downsize"] = {
                "maxWidth": self.downsize.max_width,
                "maxHeight": self.downsize.max_height,
            }
        if self.max_bytes is not None:
            out["maxSizeBytes"] = self.max_bytes
        effects = _effects_dict(self.effects)
        if effects:
            out["effects"] = effects
        return out


def canonical_json(spec: dict[str, object]) -> str:
    """The canonical string of a spec dict (to_dict's output, or one read back from a token)."""
    return json.dumps(spec, separators=(",", ":"), sort_keys=True)


def _format_dict(options: FormatOptions) -> dict[str, object]:
    out: dict[str, object] = {"compressionPriority": options.priority.value}
    if options.type is not None:
        out["type"] = options.type.value
    if options.target_size is not None:
        out["targetFileSizeBytes"] = options.target_size
    elif options.type is not ImageFormat.PNG:
        out["quality"] = options.quality
    return out


def _effects_dict(effects: Effects) -> dict[str, object]:
    out: dict[str, object] = {}
    if effects.grayscale:
        out["grayscale"] = True
    if effects.blur_radius:
        out["blurRadius"] = effects.blur_radius
    if effects.background is not None:
        out["backgroundColor"] = effects.background.hex
    if not effects.pad.empty:
        p = effects.pad
        out["pad"] = {"top": p.top, "right": p.right, "bottom": p.bottom, "left": p.left}
    return out
