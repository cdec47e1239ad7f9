"""GET /openapi.json: the whole API as OpenAPI 3.0, kept true by a test against the routes."""

from __future__ import annotations

from typing import Any

from transforms import PACKS, Fit, Gravity, ImageFormat, Priority

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _enum(values: list[str], description: str) -> Schema:
    return {"type": "string", "enum": values, "description": description + " Case-insensitive."}


def _int(low: int, high: int, description: str, default: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": low, "maximum": high}
    schema["description"] = description
    if default is not None:
        schema["default"] = default
    return schema


def _object(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return schema


_FORMATS = [f.value for f in ImageFormat]
_COMMON = {"source": _ref("Source"), "output": _ref("Output"), "metadata": _ref("Metadata")}
_QUALITY = "Quality 1-100 for Jpeg, Webp and Avif."

SCHEMAS: dict[str, Schema] = {
    "Source": {
        **_object(
            {
                "url": {"type": "string", "format": "uri", "maxLength": 2048},
                "uploadId": {"type": "string", "description": "From POST /v1/uploads."},
                "storageKey": {"type": "string", "description": "A key in the storage/ namespace."},
            }
        ),
        "description": "Exactly one of url, uploadId or storageKey.",
        "minProperties": 1,
        "maxProperties": 1,
    },
    "Output": _object(
        {
            "ttlSeconds": _int(60, 2_592_000, "How long the asset URL is valid.", 86_400),
            "public": {"type": "boolean", "default": True},
            "idempotencyKey": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ),
    "Metadata": {
        "type": "object",
        "maxProperties": 20,
        "additionalProperties": {"type": "string"},
        "description": "Echoed back; string values, at most 1 KiB in all.",
    },
    "FormatName": _enum(_FORMATS, "Output format (jpg is accepted for Jpeg)."),
    "FormatOptions": _object(
        {
            "type": _ref("FormatName"),
            "quality": _int(1, 100, _QUALITY, 90),
            "compressionPriority": _enum([p.value for p in Priority], "Encoder effort."),
            "targetFileSizeBytes": _int(256, 1 << 30, "Compress to at most this many bytes."),
        }
    ),
    "Format": {"oneOf": [_ref("FormatName"), _ref("FormatOptions")]},
    "Fit": _enum([f.value for f in Fit], "Resize mode."),
    "Gravity": _enum([g.value for g in Gravity], "Where a Cover crop keeps the image."),
    "Resize": {
        **_object(
            {
                "width": _int(1, 8192, "Target width in pixels."),
                "height": _int(1, 8192, "Target height in pixels."),
                "fit": _ref("Fit"),
                "gravity": _ref("Gravity"),
            }
        ),
        "minProperties": 1,
    },
    "Pad": _object(
        {side: _int(0, 4096, f"{side} padding") for side in ("top", "right", "bottom", "left")}
    ),
    "Effects": _object(
        {
            "grayscale": {"type": "boolean", "default": False},
            "blurRadius": {"type": "number", "minimum": 0, "maximum": 100},
            "backgroundColor": {
                "type": "string",
                "pattern": "^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
            },
            "pad": _ref("Pad"),
        }
    ),
    "CompressRequest": _object(
        {**_COMMON, "quality": _int(1, 100, _QUALITY, 80), "format": _ref("Format")}, ["source"]
    ),
    "ConvertRequest": _object(
        {**_COMMON, "quality": _int(1, 100, _QUALITY, 90), "format": _ref("Format")},
        ["source", "format"],
    ),
    "CompressToSizeRequest": _object(
        {**_COMMON, "maxSizeBytes": _int(256, 1 << 30, "Byte cap."), "format": _ref("Format")},
        ["source", "maxSizeBytes"],
    ),
    "ResizeRequest": _object(
        {
            **_COMMON,
            "width": _int(1, 8192, "Target width."),
            "height": _int(1, 8192, "Target height."),
            "fit": _ref("Fit"),
            "gravity": _ref("Gravity"),
            "format": _ref("Format"),
        },
        ["source"],
    ),
    "DownsizeRequest": _object(
        {
            **_COMMON,
            "maxWidth": _int(0, 65535, "0 means no cap on this side."),
            "maxHeight": _int(0, 65535, "0 means no cap on this side."),
            "maxSizeBytes": _int(256, 1 << 30, "Byte cap."),
            "format": _ref("Format"),
        },
        ["source"],
    ),
    "ProcessRequest": _object(
        {**_COMMON, "resize": _ref("Resize"), "format": _ref("Format"), "effects": _ref("Effects")},
        ["source"],
    ),
    "PackRequest": _object({**_COMMON, "format": _ref("Format")}, ["source"]),
    "Asset": _object(
        {
            "assetId": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "sizeBytes": {"type": "integer"},
            "format": _ref("FormatName"),
            "mimeType": {"type": "string"},
            "expiresAt": {"type": "string", "format": "date-time"},
            "metadata": _ref("Metadata"),
        },
        [
            "assetId",
            "url",
            "width",
            "height",
            "sizeBytes",
            "format",
            "mimeType",
            "expiresAt",
            "metadata",
        ],
    ),
    "Upload": _object(
        {
            "uploadId": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "format": {"type": "string"},
            "sizeBytes": {"type": "integer"},
            "expiresAt": {"type": "string", "format": "date-time"},
        },
        ["uploadId", "width", "height", "format", "sizeBytes", "expiresAt"],
    ),
    "Pack": _object(
        {
            "id": {"type": "string", "enum": sorted(PACKS)},
            "title": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "fit": _enum([f.value for f in Fit], "How the image fits the box."),
            "gravity": _enum([g.value for g in Gravity], "Which part a crop keeps."),
            "format": _enum([f.value for f in ImageFormat], "Output format."),
            "quality": {"type": "integer"},
            "maxSizeBytes": {"type": "integer", "nullable": True},
        },
        ["id", "title", "width", "height", "fit", "gravity", "format", "quality", "maxSizeBytes"],
    ),
    "PackList": _object({"packs": {"type": "array", "items": _ref("Pack")}}, ["packs"]),
    "Error": _object(
        {"error": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
        ["error", "message", "code"],
    ),
}

_ERRORS = {
    "400": "Invalid request, unsupported or too large image, forbidden or missing source",
    "401": "Missing or invalid API key",
    "404": "Asset or pack not found, or expired",
    "408": "The upload's body did not arrive in time",
    "409": "Idempotency key reused with a different body",
    "413": "Body too large",
    "429": "Rate limited (Retry-After)",
    "500": "Server error",
    "502": "Source unreachable",
    "503": "Overloaded, render time limit passed, or storage unavailable (Retry-After)",
    "504": "Source timed out",
}


_INTEGER = {"schema": {"type": "integer"}}
# On every answer to an authenticated request (the contract's rate-limit headers).
RATE_HEADERS: dict[str, Schema] = {
    "X-RateLimit-Limit": {"description": "Requests allowed per minute", **_INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in this minute", **_INTEGER},
    "X-RateLimit-Reset": {"description": "When the minute ends (unix seconds)", **_INTEGER},
}
_ERROR_HEADERS: dict[str, dict[str, Schema]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "The scheme: the key goes in the X-API-Key header",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": {"Retry-After": {"description": "Seconds to wait", "required": True, **_INTEGER}},
    "503": {"Retry-After": {"description": "Seconds to wait", "required": True, **_INTEGER}},
}


def _errors(*statuses: str) -> dict[str, Schema]:
    return {
        s: {
            "description": _ERRORS[s],
            "headers": {**RATE_HEADERS, **_ERROR_HEADERS.get(s, {})},
            "content": {JSON: {"schema": _ref("Error")}},
        }
        for s in statuses
    }


def _ok(description: str, schema: str) -> Schema:
    return {
        "description": description,
        "headers": RATE_HEADERS,
        "content": {JSON: {"schema": _ref(schema)}},
    }


def _post(summary: str, request: str, *more_errors: str) -> Schema:
    statuses = sorted({"400", "401", "409", "413", "429", "500", "502", "503", "504", *more_errors})
    return {
        "post": {
            "summary": summary,
            "security": [{"ApiKey": []}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref(request)}}},
            "responses": {
                "200": _ok("OK", "Asset"),
                **_errors(*statuses),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every route the app serves."""
    image = {
        "description": "The image bytes",
        "headers": {
            **{h: {"schema": {"type": "string"}} for h in ("ETag", "Cache-Control", "Expires")},
            **RATE_HEADERS,
        },
        "content": {
            f.mime_type: {"schema": {"type": "string", "format": "binary"}} for f in ImageFormat
        },
    }
    asset_parameters = [
        {"name": "assetId", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
    ]
    asset_responses = {
        "200": image,
        "304": {"description": "Not modified"},
        **_errors("401", "404", "429", "500", "502", "503", "504"),
    }
    simple = {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}
    paths: dict[str, Schema] = {
        "/v1/compress": _post("Compress (same dimensions)", "CompressRequest"),
        "/v1/convert": _post("Change format", "ConvertRequest"),
        "/v1/compress-to-size": _post("Compress to at most a size", "CompressToSizeRequest"),
        "/v1/resize": _post("Resize", "ResizeRequest"),
        "/v1/downsize": _post("Shrink only if larger than caps", "DownsizeRequest"),
        "/v1/process": _post("Resize, format and effects in one call", "ProcessRequest"),
        "/v1/packs/{packId}": {
            # An unknown pack id is 404 NOT_FOUND.
            **_post("Process with a platform pack", "PackRequest", "404"),
            "parameters": [
                {
                    "name": "packId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": sorted(PACKS)},
                }
            ],
        },
        "/v1/packs": {
            "get": {
                "summary": "List the packs",
                "security": [{"ApiKey": []}],
                "responses": {
                    "200": _ok("OK", "PackList"),
                    **_errors("401", "429"),
                },
            }
        },
        "/v1/uploads": {
            "post": {
                "summary": "Upload an original (multipart field 'file' or a raw image body)",
                "security": [{"ApiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                            }
                        },
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                "responses": {
                    "200": _ok("Stored", "Upload"),
                    **_errors("400", "401", "408", "413", "429", "500", "503"),
                },
            }
        },
        "/v1/assets/{assetId}": {
            "parameters": asset_parameters,
            # Public assets need no key; a private one needs the key of whoever made it.
            "get": {
                "summary": "The processed image",
                "security": [{}, {"ApiKey": []}],
                "responses": asset_responses,
            },
            "head": {
                "summary": "The processed image's headers",
                "security": [{}, {"ApiKey": []}],
                "responses": asset_responses,
            },
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": simple}}},
        "/readyz": {"get": {"summary": "Readiness", "responses": {"200": simple, "503": simple}}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": simple}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "imgstax",
            "version": "1",
            "description": "Image processing origin. Errors are {error, message, code} with the "
            "status of the code; a method a path does not list answers 405 METHOD_NOT_ALLOWED "
            "in that shape.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
