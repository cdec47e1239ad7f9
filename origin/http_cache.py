"""HTTP caching of assets: validators and lifetimes a CDN or the nginx edge can obey.

The strong ETag is the render key, known from the token alone, so If-None-Match is answered
without touching any cache. max-age is the seconds left until the asset expires.
"""

from __future__ import annotations

import math
from email.utils import formatdate

from origin.tokens import AssetToken

API_HEADERS = {"Cache-Control": "private, no-store"}
_SAFE = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def etag(token: AssetToken) -> str:
    return f'"{token.render_key}"'


def cache_control(token: AssetToken, now: float) -> str:
    """The Cache-Control value: the only validator that changes as time passes."""
    # Rounded down: a cache must never be told the asset lives longer than it does.
    left = max(0, token.expires_at - math.ceil(now))
    scope = "public" if token.public else "private"
    return f"{scope}, max-age={left}, immutable"


def validators(token: AssetToken, now: float) -> dict[str, str]:
    """Cache-Control, Expires and ETag: the same on 200, 304 and HEAD."""
    headers = {
        "Cache-Control": cache_control(token, now),
        "Expires": formatdate(token.expires_at, usegmt=True),
        "ETag": etag(token),
        **_SAFE,
    }
    if token.public:
        # nginx keeps an entry through its last whole second; an absolute time one second
        # early ends it exactly at expiry. nginx never passes X-Accel-* headers on to clients.
        headers["X-Accel-Expires"] = f"@{token.expires_at - 1}"
    return headers


def matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match against our ETag, with the weak comparison RFC 9110 asks for."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == tag:
            return True
    return False
