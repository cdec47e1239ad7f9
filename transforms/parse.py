"""Read a TransformSpec from the API's JSON vocabulary, rejecting anything it does not know.

Every message names the field and the allowed range, so a caller can fix the request from the
error alone. Enum values match case-insensitively (``jpeg``, ``JPEG``, ``jpg``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from config.errors import InvalidRequest
from transforms.spec import (
    DEFAULT_QUALITY,
    MAX_DIMENSION,
    Color,
    Downsize,
    Effects,
    Fit,
    FormatOptions,
    Gravity,
    ImageFormat,
    Padding,
    Priority,
    Resize,
    TransformSpec,
)

E = TypeVar("E", bound=StrEnum)

MIN_SIZE_BYTES = 256
MAX_SIZE_BYTES = 1 << 30
MAX_PAD = 4096
MAX_CAP = 65535
_ALIASES = {"jpg": "jpeg"}
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def parse_spec(
    data: Mapping[str, object], *, default_quality: int = DEFAULT_QUALITY
) -> TransformSpec:
    """Validate the mapping (resize, downsize, format, effects, maxSizeBytes) into a spec."""
    reject_unknown(data, "", ("resize", "downsize", "format", "effects", "maxSizeBytes"))
    resize = _resize(_object(data, "resize")) if data.get("resize") is not None else None
    downsize = _downsize(_object(data, "downsize")) if data.get("downsize") is not None else None
    if resize is not None and downsize is not None:
        raise InvalidRequest("'resize' and 'downsize' cannot be combined; use one of them.")
    fmt = _format(data.get("format"), default_quality)
    max_bytes = _optional_int(data, "maxSizeBytes", "maxSizeBytes", MIN_SIZE_BYTES, MAX_SIZE_BYTES)
    if max_bytes is not None and fmt.type is ImageFormat.PNG:
        raise InvalidRequest(
            "maxSizeBytes needs a lossy format (Jpeg, Webp or Avif); Png cannot be size-capped."
        )
    effects = _effects(_object(data, "effects")) if data.get("effects") is not None else Effects()
    return TransformSpec(resize, downsize, fmt, effects, max_bytes)


def parse_enum(kind: type[E], value: object, path: str) -> E:
    """Match an enum value case-insensitively, answering in the reference's casing."""
    if isinstance(value, str):
        wanted = value.strip().lower()
        wanted = _ALIASES.get(wanted, wanted) if kind is ImageFormat else wanted
        for member in kind:
            if member.value.lower() == wanted:
                return member
    allowed = ", ".join(m.value for m in kind)
    raise InvalidRequest(f"'{path}' must be one of {allowed}; got {value!r}.")


def parse_int(value: object, path: str, low: int, high: int) -> int:
    """A whole JSON number within [low, high]; booleans and fractions are refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"'{path}' must be a whole number from {low} to {high}.")
    if not low <= value <= high:
        raise InvalidRequest(f"'{path}' must be from {low} to {high}; got {value}.")
    return value


def reject_unknown(data: Mapping[str, object], path: str, allowed: tuple[str, ...]) -> None:
    """InvalidRequest naming the first field of data that is not in allowed."""
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise InvalidRequest(f"Unknown field {where!r}. Allowed here: {', '.join(allowed)}.")


def _object(data: Mapping[str, object], path: str) -> Mapping[str, object]:
    value = data.get(path.rsplit(".", 1)[-1])
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"'{path}' must be an object.")
    return value


def _optional_int(
    data: Mapping[str, object], key: str, path: str, low: int, high: int
) -> int | None:
    value = data.get(key)
    return None if value is None else parse_int(value, path, low, high)


def _resize(data: Mapping[str, object]) -> Resize:
    reject_unknown(data, "resize", ("width", "height", "fit", "gravity"))
    width = _optional_int(data, "width", "resize.width", 1, MAX_DIMENSION)
    height = _optional_int(data, "height", "resize.height", 1, MAX_DIMENSION)
    if width is None and height is None:
        raise InvalidRequest("'resize' needs 'width' or 'height' (or both).")
    fit = parse_enum(Fit, data["fit"], "resize.fit") if data.get("fit") is not None else Fit.COVER
    gravity = Gravity.CENTER
    if data.get("gravity") is not None:
        gravity = parse_enum(Gravity, data["gravity"], "resize.gravity")
    return Resize(width, height, fit, gravity)


def _downsize(data: Mapping[str, object]) -> Downsize:
    reject_unknown(data, "downsize", ("maxWidth", "maxHeight"))
    max_width = _optional_int(data, "maxWidth", "maxWidth", 0, MAX_CAP) or 0
    max_height = _optional_int(data, "maxHeight", "maxHeight", 0, MAX_CAP) or 0
    return Downsize(max_width, max_height)


def _format(value: object, default_quality: int) -> FormatOptions:
    if value is None:
        return FormatOptions(quality=default_quality)
    if isinstance(value, bool):
        raise InvalidRequest("'format' must be a format name such as \"Webp\" or an object.")
    if isinstance(value, str):
        return FormatOptions(type=parse_enum(ImageFormat, value, "format"), quality=default_quality)
    if not isinstance(value, Mapping):
        raise InvalidRequest("'format' must be a format name such as \"Webp\" or an object.")
    reject_unknown(
        value, "format", ("type", "quality", "compressionPriority", "targetFileSizeBytes")
    )
    kind = None
    if value.get("type") is not None:
        kind = parse_enum(ImageFormat, value["type"], "format.type")
    quality = _optional_int(value, "quality", "format.quality", 1, 100)
    priority = Priority.BALANCED
    if value.get("compressionPriority") is not None:
        priority = parse_enum(Priority, value["compressionPriority"], "format.compressionPriority")
    target = _optional_int(
        value, "targetFileSizeBytes", "format.targetFileSizeBytes", MIN_SIZE_BYTES, MAX_SIZE_BYTES
    )
    if target is not None and kind is ImageFormat.PNG:
        raise InvalidRequest(
            "'format.targetFileSizeBytes' needs Jpeg, Webp or Avif; Png is lossless and "
            "cannot be compressed to a size."
        )
    return FormatOptions(kind, default_quality if quality is None else quality, priority, target)


def _effects(data: Mapping[str, object]) -> Effects:
    reject_unknown(data, "effects", ("grayscale", "blurRadius", "backgroundColor", "pad"))
    grayscale = data.get("grayscale")
    grayscale = False if grayscale is None else grayscale
    if not isinstance(grayscale, bool):
        raise InvalidRequest("'effects.grayscale' must be true or false.")
    blur = data.get("blurRadius")
    blur = 0 if blur is None else blur
    if isinstance(blur, bool) or not isinstance(blur, int | float) or not 0 <= blur <= 100:
        raise InvalidRequest("'effects.blurRadius' must be a number from 0 to 100.")
    background = None
    if data.get("backgroundColor") is not None:
        background = parse_color(data["backgroundColor"], "effects.backgroundColor")
    pad = Padding()
    if data.get("pad") is not None:
        pad = _pad(_object(data, "effects.pad"))
    return Effects(grayscale, float(blur), background, pad)


def _pad(data: Mapping[str, object]) -> Padding:
    sides = ("top", "right", "bottom", "left")
    reject_unknown(data, "effects.pad", sides)
    values = [_optional_int(data, s, f"effects.pad.{s}", 0, MAX_PAD) or 0 for s in sides]
    return Padding(*values)


def parse_color(value: object, path: str) -> Color:
    """#RGB, #RGBA, #RRGGBB or #RRGGBBAA, with or without the '#'."""
    match = _HEX.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidRequest(f"'{path}' must be a hex colour such as \"#FFFFFF\"; got {value!r}.")
    digits = match.group(1)
    if len(digits) <= 4:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    return Color(*channels)
