"""The Starlette app: routes, auth, asset tokens, source fetching, HTTP caching, CLI."""

from __future__ import annotations

from origin.app import create_app

__all__ = ["create_app"]
