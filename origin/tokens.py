"""The asset token: the canonical transform, its source and its expiry, signed.

The asset id *is* the token: compact JSON, zlib-compressed when that is shorter, signed with
HMAC-SHA256 by itsdangerous. Signing keys come newest first; the newest signs and every key
verifies, so keys rotate without downtime. A bad signature, a malformed token and an expired
one all look the same to a caller (404), so the endpoint is no oracle.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from itsdangerous import BadData, URLSafeSerializer

from config.errors import NotFound

# Bump when the same spec and source would render differently: it is part of every render key.
RENDER_VERSION = 1
_SALT = "imgstax.asset.v1"
_NOT_FOUND = "Asset not found or expired."


@dataclass(frozen=True)
class SourceRef:
    kind: str  # "url", "upload" or "storage"
    ref: str  # the URL, upload id or storage key
    sha256: str  # of the ingested bytes


@dataclass(frozen=True)
class AssetToken:
    version: int
    source: SourceRef
    spec: dict[str, Any]  # TransformSpec.to_dict(), read back with parse_spec
    spec_canonical: str
    expires_at: int
    key_id: str
    public: bool

    @property
    def render_key(self) -> str:
        """sha256(render version, source sha256, canonical spec): shared by equal transforms."""
        return render_digest(self.version, self.source.sha256, self.spec_canonical)


def render_digest(version: int, source_sha256: str, canonical_spec: str) -> str:
    material = f"{version}\n{source_sha256}\n{canonical_spec}".encode()
    return hashlib.sha256(material).hexdigest()


class TokenSigner:
    """Mints and verifies asset tokens; remembers recent verifications (a hit skips JSON)."""

    def __init__(
        self,
        signing_keys: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
        remember: int = 10_000,
    ) -> None:
        if not signing_keys:
            raise ValueError("at least one signing key is needed")
        # itsdangerous signs with the last key and verifies with all; ours are newest first.
        self._serializer = URLSafeSerializer(
            list(reversed(signing_keys)),
            salt=_SALT,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self._clock = clock
        self._verified: LRUCache[str, AssetToken] = LRUCache(maxsize=remember)

    def mint(self, token: AssetToken) -> str:
        payload = [
            token.version,
            [token.source.kind, token.source.ref, token.source.sha256],
            token.spec,
            token.expires_at,
            token.key_id,
            1 if token.public else 0,
        ]
        asset_id: str = self._serializer.dumps(payload)
        return asset_id

    def verify(self, asset_id: str) -> AssetToken:
        """The token behind asset_id, or NotFound if it is forged, malformed or expired."""
        token = self._verified.get(asset_id)
        if token is None:
            token = self._decode(asset_id)
            self._verified[asset_id] = token
        if token.expires_at <= self._clock():
            raise NotFound(_NOT_FOUND)
        return token

    def _decode(self, asset_id: str) -> AssetToken:
        if len(asset_id) > 4096:
            raise NotFound(_NOT_FOUND)
        try:
            payload = self._serializer.loads(asset_id)
            version, (kind, ref, sha), spec, expires_at, key_id, public = payload
            canonical = json.dumps(spec, separators=(",", ":"), sort_keys=True)
            source = SourceRef(str(kind), str(ref), str(sha))
            return AssetToken(
                int(version),
                source,
                dict(spec),
                canonical,
                int(expires_at),
                str(key_id),
                public == 1,
            )
        except (BadData, ValueError, TypeError) as exc:
            raise NotFound(_NOT_FOUND) from exc
