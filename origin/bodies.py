"""Request bodies of the processing endpoints, mapped onto one TransformSpec.

Every quick endpoint is a thin mapping onto the spec that /v1/process takes; packs are named
specs. Unknown fields are errors, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from config.errors import InvalidRequest
from transforms import (
    FormatOptions,
    ImageFormat,
    TransformSpec,
    get_pack,
    parse_int,
    parse_spec,
    reject_unknown,
)

DEFAULT_TTL = 86_400
MIN_TTL = 60
MAX_TTL = 2_592_000
MAX_METADATA_KEYS = 20
MAX_METADATA_BYTES = 1024
MAX_IDEMPOTENCY_KEY = 255
_COMMON = ("source", "output", "metadata")


@dataclass(frozen=True)
class Source:
    kind: str  # "url", "uploadId" or "storageKey"
    value: str


@dataclass(frozen=True)
class Output:
    ttl_seconds: int = DEFAULT_TTL
    public: bool = True
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Job:
    """What one POST asks for: where the image is, what to make of it, how to answer."""

    source: Source
    spec: TransformSpec
    output: Output = Output()
    metadata: dict[str, str] = field(default_factory=dict)


def _only(body: Mapping[str, Any], allowed: tuple[str, ...], path: str = "") -> None:
    reject_unknown(body, path, allowed)


def _source(body: Mapping[str, Any]) -> Source:
    value = body.get("source")
    if not isinstance(value, Mapping):
        raise InvalidRequest(
            "'source' is required: an object with exactly one of url, uploadId or storageKey."
        )
    _only(value, ("url", "uploadId", "storageKey"), "source")
    given = [(k, v) for k, v in value.items() if v is not None]
    if len(given) != 1:
        raise InvalidRequest("'source' needs exactly one of url, uploadId or storageKey.")
    kind, text = given[0]
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"'source.{kind}' must be a non-empty string.")
    return Source(kind, text.strip())


def _output(body: Mapping[str, Any]) -> Output:
    value = body.get("output")
    if value is None:
        return Output()
    if not isinstance(value, Mapping):
        raise InvalidRequest("'output' must be an object.")
    _only(value, ("ttlSeconds", "public", "idempotencyKey"), "output")
    ttl = DEFAULT_TTL
    if value.get("ttlSeconds") is not None:
        ttl = parse_int(value["ttlSeconds"], "output.ttlSeconds", MIN_TTL, MAX_TTL)
    public = value.get("public")
    public = True if public is None else public
    if not isinstance(public, bool):
        raise InvalidRequest("'output.public' must be true or false.")
    key = value.get("idempotencyKey")
    if key is not None and (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY
        or not key.isprintable()
    ):
        raise InvalidRequest(
            f"'output.idempotencyKey' must be a printable string of 1 to {MAX_IDEMPOTENCY_KEY} "
            "characters."
        )
    return Output(ttl, public, key)


def _metadata(body: Mapping[str, Any]) -> dict[str, str]:
    value = body.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("'metadata' must be an object of string values.")
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"'metadata' may have at most {MAX_METADATA_KEYS} keys.")
    size = 0
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidRequest(f"'metadata.{key}' must be a string.")
        size += len(key.encode()) + len(item.encode())
    if size > MAX_METADATA_BYTES:
        raise InvalidRequest(f"'metadata' may hold at most {MAX_METADATA_BYTES} bytes in all.")
    return dict(value)


def _format(body: Mapping[str, Any], default: str) -> Any:
    """The request's format (string or object), with the endpoint's default type filled in."""
    fmt = body.get("format")
    if fmt is None:
        return default
    if isinstance(fmt, Mapping) and fmt.get("type") is None:
        return {**fmt, "type": default}
    return fmt


def _job(body: Mapping[str, Any], spec: TransformSpec) -> Job:
    return Job(_source(body), spec, _output(body), _metadata(body))


def _quality(body: Mapping[str, Any], default: int) -> int:
    value = body.get("quality")
    return default if value is None else parse_int(value, "quality", 1, 100)


def compress(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "quality", "format"))
    spec = parse_spec({"format": _format(body, "Jpeg")}, default_quality=_quality(body, 80))
    return _job(body, spec)


def convert(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "quality", "format"))
    fmt = body.get("format")
    if fmt is None or (isinstance(fmt, Mapping) and fmt.get("type") is None):
        raise InvalidRequest("'format' is required: Jpeg, Png, Webp or Avif.")
    spec = parse_spec({"format": body["format"]}, default_quality=_quality(body, 90))
    return _job(body, spec)


def compress_to_size(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "maxSizeBytes", "format"))
    if body.get("maxSizeBytes") is None:
        raise InvalidRequest("'maxSizeBytes' is required, e.g. 153600 for 150 KB.")
    cap = parse_int(body["maxSizeBytes"], "maxSizeBytes", 256, 1 << 30)
    fmt = _format(body, "Jpeg")
    if isinstance(fmt, str):
        fmt = {"type": fmt}
    if not isinstance(fmt, Mapping):
        raise InvalidRequest("'format' must be a format name such as \"Webp\" or an object.")
    if fmt.get("targetFileSizeBytes") is not None:
        raise InvalidRequest("Give the size as 'maxSizeBytes', not format.targetFileSizeBytes.")
    spec = parse_spec({"format": fmt})
    if spec.format.type is ImageFormat.PNG:
        raise InvalidRequest("'maxSizeBytes' needs format Jpeg, Webp or Avif; Png is lossless.")
    return _job(body, parse_spec({"format": {**fmt, "targetFileSizeBytes": cap}}))


def resize(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "width", "height", "fit", "gravity", "format"))
    if body.get("width") is None and body.get("height") is None:
        raise InvalidRequest("Give 'width' or 'height' (or both), in pixels from 1 to 8192.")
    sizes = {k: body[k] for k in ("width", "height", "fit", "gravity") if body.get(k) is not None}
    return _job(body, parse_spec({"resize": sizes, "format": body.get("format")}))


def downsize(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "maxWidth", "maxHeight", "maxSizeBytes", "format"))
    caps = {k: body[k] for k in ("maxWidth", "maxHeight") if body.get(k) is not None}
    spec = parse_spec(
        {"downsize": caps, "maxSizeBytes": body.get("maxSizeBytes"), "format": body.get("format")}
    )
    assert spec.downsize is not None
    if not (spec.downsize.max_width or spec.downsize.max_height or spec.max_bytes):
        raise InvalidRequest(
            "Give at least one cap: maxWidth, maxHeight (0 means no cap on that side) or "
            "maxSizeBytes."
        )
    return _job(body, spec)


def process(body: Mapping[str, Any]) -> Job:
    _only(body, (*_COMMON, "resize", "format", "effects"))
    spec = parse_spec({k: body[k] for k in ("resize", "format", "effects") if k in body})
    return _job(body, spec)


def pack(pack_id: str) -> Callable[[Mapping[str, Any]], Job]:
    """The mapper for one pack; an unknown pack id is NotFound before the body is read."""
    the_pack = get_pack(pack_id)

    def mapper(body: Mapping[str, Any]) -> Job:
        _only(body, (*_COMMON, "format"))
        options: FormatOptions | None = None
        if body.get("format") is not None:
            fmt = _format(body, ImageFormat.JPEG.value)
            options = parse_spec({"format": fmt}, default_quality=85).format
        return _job(body, the_pack.spec(options))

    return mapper


MAPPERS: dict[str, Callable[[Mapping[str, Any]], Job]] = {
    "compress": compress,
    "convert": convert,
    "compress-to-size": compress_to_size,
    "resize": resize,
    "downsize": downsize,
    "process": process,
}
