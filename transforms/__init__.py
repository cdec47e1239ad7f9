"""Pure image work: specs, geometry, the libvips pipeline, encoders, target size, packs.

The only package that imports pyvips. No HTTP, no asyncio: ``render`` is a plain blocking call
that the origin runs in its worker pool.
"""

from __future__ import annotations

from transforms.deadline import time_limit
from transforms.packs import PACKS, Pack, get_pack
from transforms.parse import parse_enum, parse_int, parse_spec, reject_unknown
from transforms.probe import SourceInfo, inspect, probe
from transforms.rendering import RenderResult, render
from transforms.spec import (
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
    canonical_json,
)

__all__ = [
    "PACKS",
    "Color",
    "Downsize",
    "Effects",
    "Fit",
    "FormatOptions",
    "Gravity",
    "ImageFormat",
    "Pack",
    "Padding",
    "Priority",
    "RenderResult",
    "Resize",
    "SourceInfo",
    "TransformSpec",
    "canonical_json",
    "get_pack",
    "inspect",
    "parse_enum",
    "parse_int",
    "parse_spec",
    "probe",
    "reject_unknown",
    "render",
    "time_limit",
]
