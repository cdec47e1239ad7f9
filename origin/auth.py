"""X-API-Key authentication against ``IMGSTAX_API_KEYS`` and the hashed keys file.

Every failure — no header, an empty one, a wrong key, a revoked key, a megabyte of junk — raises
the same ``Unauthorized`` with the same message, so an answer never tells a caller which part was
wrong or which key ids exist. Secrets are compared as SHA-256 digests with
``hmac.compare_digest`` against every configured key without stopping at a match, so neither the
length nor the position of a key shows in the timing. Only key ids are ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from config.errors import Unauthorized
from config.settings import AuthSettings
from origin.keys import KeyFile

HEADER = "X-API-Key"
MESSAGE = f"Missing or invalid API key. Send your key in the {HEADER} header."
# Longer than any real key by far; refusing before hashing keeps junk headers cheap.
MAX_KEY_LENGTH = 1024
_log = logging.getLogger("imgstax.auth")


class Authenticator:
    """Turns an X-API-Key header value into the key id it belongs to."""

    def __init__(self, settings: AuthSettings, keys_file: KeyFile | None) -> None:
        self._env_keys = tuple(
            (key.key_id, hashlib.sha256(key.secret.encode()).digest()) for key in settings.api_keys
        )
        self._keys_file = keys_file
        if keys_file is not None:
            # Load now so a corrupt file stops the origin at startup with a clear error.
            keys_file.current()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> Authenticator:
        """An authenticator over the env keys and, if configured, the keys file."""
        path = settings.api_keys_file
        return cls(settings, KeyFile(path) if path is not None else None)

    def __repr__(self) -> str:
        ids = ", ".join(key_id for key_id, _ in self._env_keys)
        return f"Authenticator(env_keys=[{ids}], keys_file={self._keys_file!r})"

    def authenticate(self, header_value: str | None) -> str:
        """The key id for this header value, or raise Unauthorized."""
        key_id = self._match(header_value)
        if key_id is None:
            _log.debug("refused a request with a missing or invalid API key")
            raise Unauthorized(MESSAGE)
        _log.debug("authenticated API key %s", key_id)
        return key_id

    def _match(self, header_value: str | None) -> str | None:
        if header_value is None:
            return None
        presented = header_value.strip()
        if not presented or len(presented) > MAX_KEY_LENGTH:
            return None
        # surrogatepass: any str a server hands us encodes; it just won't match.
        secret = presented.encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(secret).digest()
        found: str | None = None
        for key_id, expected in self._env_keys:
            # No break: every configured key is compared whichever one matches.
            if hmac.compare_digest(digest, expected) and found is None:
                found = key_id
        if self._keys_file is not None:
            from_file = self._keys_file.current().match(secret)
            if found is None:
                found = from_file
        return found
