"""Typed settings and the exception tree, at the bottom of the import graph."""

from __future__ import annotations

from config.errors import ConfigError, ImgstaxError
from config.settings import (
    ApiKey,
    AuthSettings,
    RenderSettings,
    ServerSettings,
    Settings,
    SourceSettings,
    StorageSettings,
    describe,
    load_settings,
)

__all__ = [
    "ApiKey",
    "AuthSettings",
    "ConfigError",
    "ImgstaxError",
    "RenderSettings",
    "ServerSettings",
    "Settings",
    "SourceSettings",
    "StorageSettings",
    "describe",
    "load_settings",
]
