"""The asset token: the canonical transform, its source and its expiry, signed.

The asset id *is* the token: compact JSON, zlib-compressed when that is shorter, signed with
HMAC-SHA256 by itsdangerous. Signing keys come newest first; the newest signs and every key
verifies, so keys rotate without downtime. A bad signature, a malformed token and an expired
one all look the same to a caller (404), so the endpoint is no oracle.

Asset URLs are embedded in public pages, so what the token says about its source (a URL that
may carry a presigned signature, a storage path) and the API key id is sealed with AES-GCM
under a key derived from the signing key; only the render's own inputs are readable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cachetools import LRUCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadData, URLSafeSerializer

from config.errors import InvalidRequest, NotFound
from transforms import canonical_json

# Bump when the same spec and source would render differently: it is part of every render key.
RENDER_VERSION = 1
_SALT = "imgstax.asset.v1"
_SEAL_INFO = b"imgstax asset source seal v1"
_NOT_FOUND = "Asset not found or expired."
# The longest asset id: URLs past ~8 KB break CDNs and browsers, and verify reads no further.
MAX_ASSET_ID = 4096
_LAST_EXPIRY = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant an Expires can name


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

    @cached_property
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
        self._seals = [_seal_key(key) for key in signing_keys]
        self._clock = clock
        self._verified: LRUCache[str, AssetToken] = LRUCache(maxsize=remember)

    def mint(self, token: AssetToken) -> str:
        # UTF-8, not \uXXXX escapes: a non-ASCII character of a URL costs 2-4 bytes, not 6-12.
        secret = json.dumps(
            [token.source.kind, token.source.ref, token.key_id],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(12)
        sealed = nonce + self._seals[0].encrypt(nonce, secret, token.source.sha256.encode())
        payload = [
            token.version,
            token.source.sha256,
            token.spec,
            token.expires_at,
            1 if token.public else 0,
            base64.urlsafe_b64encode(sealed).decode().rstrip("="),
        ]
        asset_id: str = self._serializer.dumps(payload)
        if len(asset_id) > MAX_ASSET_ID:
            # Answered before anyone is handed a URL that verify would never open.
            raise InvalidRequest(
                f"The asset URL for this source would be {len(asset_id)} characters; the limit "
                f"is {MAX_ASSET_ID}. Use a shorter source URL or storage key (or upload it)."
            )
        return asset_id

    def _unseal(self, sealed: str, sha256: str) -> list[Any]:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        for seal in self._seals:
            try:
                opened: list[Any] = json.loads(seal.decrypt(raw[:12], raw[12:], sha256.encode()))
                return opened
            except InvalidTag:
                continue
        raise ValueError("no signing key opens this token")

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
        if len(asset_id) > MAX_ASSET_ID:
            raise NotFound(_NOT_FOUND)
        try:
            payload = self._serializer.loads(asset_id)
            version, sha, spec, expires_at, public, sealed = payload
            kind, ref, key_id = self._unseal(str(sealed), str(sha))
            source = SourceRef(str(kind), str(ref), str(sha))
            expires = int(expires_at)
            if not 0 <= expires <= _LAST_EXPIRY:
                # Only a minter gone wrong signs such a time; HTTP dates cannot even carry it.
                raise ValueError("the expiry is not a time an asset can have")
            return AssetToken(
                int(version),
                source,
                dict(spec),
                canonical_json(spec),
                expires,
                str(key_id),
                public == 1,
            )
        except (BadData, ValueError, TypeError, OverflowError) as exc:
            raise NotFound(_NOT_FOUND) from exc


def _seal_key(signing_key: str) -> AESGCM:
    """An AES-256-GCM key of its own for each signing key (HKDF, so neither reveals the other)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO)
    return AESGCM(derived.derive(signing_key.encode()))
