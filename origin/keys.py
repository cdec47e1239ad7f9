"""The hashed API-keys file (``IMGSTAX_API_KEYS_FILE``), edited by ``imgstax keys``.

Format, JSON, mode 0600::

    {"version": 1, "pepper": "<64 hex>",
     "keys": [{"id": "ci", "hash": "<64 hex>", "created": "2025-01-01T00:00:00Z",
               "revoked": null}]}

``hash`` is HMAC-SHA256(pepper, secret). The secrets are 32 random bytes, so a slow KDF would add
latency to every request and no protection: nobody brute-forces 256 bits. The random per-file
pepper means a leaked hash is useless against another installation. The file never holds a
secret.

A created secret reads ``isk_<id>_<64 hex>``: the id is in the secret, so verification is one
HMAC and one constant-time compare instead of a scan, and unknown ids cost the same as known ones.

Writers take an exclusive ``flock`` on ``<file>.lock``, re-read, and replace the file atomically
(temp file, fsync, rename, fsync of the directory). Readers never lock: they see the old file or
the new one. ``KeyFile.current()`` stats the file at most once per ``check_interval`` and re-reads
it when it changed. A file that turns corrupt while the origin runs is logged and the last good
keys stay in force: nobody is let in who wasn't, and nobody is locked out by a bad edit.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.errors import ImgstaxError

SECRET_PREFIX = "isk_"
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_log = logging.getLogger("imgstax.auth")


class KeyFileError(ImgstaxError):
    """The keys file is unreadable or malformed, or an edit of it is impossible."""


class UnknownKeyId(KeyFileError):
    """No key with that id exists in the keys file."""


@dataclass(frozen=True)
class KeyRecord:
    """One key as listed: never its secret or hash."""

    key_id: str
    created: datetime
    revoked: datetime | None = None


@dataclass(frozen=True)
class _Entry:
    record: KeyRecord
    digest: bytes = field(repr=False)


@dataclass(frozen=True)
class KeySet:
    """One parsed version of the keys file."""

    pepper: bytes = field(repr=False)
    entries: Mapping[str, _Entry] = field(repr=False)

    def records(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        return sorted((e.record for e in self.entries.values()), key=lambda r: r.created)

    def match(self, secret: bytes) -> str | None:
        """The id of the active key whose secret this is, else None; constant time."""
        key_id = secret_key_id(secret)
        entry = self.entries.get(key_id) if key_id else None
        active = entry is not None and entry.record.revoked is None
        # Always compute and compare, so a miss on the id costs what a wrong secret costs.
        expected = entry.digest if entry is not None else bytes(32)
        equal = hmac.compare_digest(_digest(self.pepper, secret), expected)
        return key_id if equal and active else None


def secret_key_id(secret: bytes) -> str | None:
    """The key id embedded in an ``isk_<id>_<hex>`` secret, or None if it isn't one."""
    if not secret.startswith(SECRET_PREFIX.encode()):
        return None
    # The random part is hex (no "_"), so the last "_" ends the id even if the id has one.
    key_id, sep, rest = secret[len(SECRET_PREFIX) :].rpartition(b"_")
    if not sep or len(rest) != 64:
        return None
    try:
        text = key_id.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if KEY_ID.match(text) else None


def _digest(pepper: bytes, secret: bytes) -> bytes:
    return hmac.new(pepper, secret, hashlib.sha256).digest()


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("a timestamp is not a string")
    return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _parse(raw: bytes) -> KeySet:
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError("not a version 1 imgstax keys file")
    pepper = doc.get("pepper")
    if not isinstance(pepper, str) or not _HEX.match(pepper):
        raise ValueError('"pepper" must be 64 hex digits')
    items = doc.get("keys")
    if not isinstance(items, list):
        raise ValueError('"keys" must be a list')
    entries: dict[str, _Entry] = {}
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("every key must be an object")
        key_id, digest = item.get("id"), item.get("hash")
        if not isinstance(key_id, str) or not KEY_ID.match(key_id) or key_id in entries:
            raise ValueError(f"key id {key_id!r} is invalid or repeated")
        if not isinstance(digest, str) or not _HEX.match(digest):
            raise ValueError(f"the hash of key {key_id!r} must be 64 hex digits")
        revoked = item.get("revoked")
        record = KeyRecord(
            key_id,
            _parse_time(item.get("created")),
            None if revoked is None else _parse_time(revoked),
        )
        entries[key_id] = _Entry(record, bytes.fromhex(digest))
    return KeySet(bytes.fromhex(pepper), entries)


def _serialize(keys: KeySet) -> bytes:
    items: list[dict[str, Any]] = [
        {
            "id": e.record.key_id,
            "hash": e.digest.hex(),
            "created": _timestamp(e.record.created),
            "revoked": None if e.record.revoked is None else _timestamp(e.record.revoked),
        }
        for e in keys.entries.values()
    ]
    doc = {"version": 1, "pepper": keys.pepper.hex(), "keys": items}
    return (json.dumps(doc, indent=2) + "\n").encode()


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyFile:
    """The keys file at ``path``: edits for the CLI, a cached reload for the origin."""

    def __init__(
        self,
        path: Path | str,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._check_interval = check_interval
        self._clock = clock
        self._wall_clock = wall_clock
        self._keys: KeySet | None = None
        self._signature: tuple[int, ...] | None = None
        self._checked_at = 0.0

    def __repr__(self) -> str:
        return f"KeyFile({str(self.path)!r})"

    def create(self, key_id: str | None = None) -> tuple[str, str]:
        """Add a key and return ``(key_id, secret)``; the secret is not stored and shown once."""
        if key_id is not None and not KEY_ID.match(key_id):
            raise KeyFileError("a key id is 1-64 letters, digits, '_', '.' or '-'")
        with self._editing() as keys:
            if key_id is None:
                key_id = "key-" + secrets.token_hex(4)
                while key_id in keys.entries:
                    key_id = "key-" + secrets.token_hex(4)
            elif key_id in keys.entries:
                raise KeyFileError(f"a key with id {key_id!r} already exists in {self.path}")
            secret = f"{SECRET_PREFIX}{key_id}_{secrets.token_hex(32)}"
            created = datetime.fromtimestamp(int(self._wall_clock()), UTC)
            entry = _Entry(KeyRecord(key_id, created), _digest(keys.pepper, secret.encode()))
            self._write(replace(keys, entries={**keys.entries, key_id: entry}))
        _log.info("created API key %s in %s", key_id, self.path)
        return key_id, secret

    def revoke(self, key_id: str) -> None:
        """Mark a key revoked (idempotent); an unknown id raises UnknownKeyId."""
        with self._editing() as keys:
            entry = keys.entries.get(key_id)
            if entry is None:
                raise UnknownKeyId(f"no key with id {key_id!r} in {self.path}")
            if entry.record.revoked is not None:
                return
            revoked = datetime.fromtimestamp(int(self._wall_clock()), UTC)
            entry = replace(entry, record=replace(entry.record, revoked=revoked))
            self._write(replace(keys, entries={**keys.entries, key_id: entry}))
        _log.info("revoked API key %s in %s", key_id, self.path)

    def list(self) -> list[KeyRecord]:
        """Every key in the file as it is now, oldest first."""
        return self._load()[0].records()

    def current(self) -> KeySet:
        """The keys in force: re-read when the file changed, checked at most once an interval."""
        now = self._clock()
        if self._keys is not None and now - self._checked_at < self._check_interval:
            return self._keys
        self._checked_at = now
        try:
            signature = _signature(os.stat(self.path))
        except FileNotFoundError:
            signature = None
        if self._keys is not None and signature == self._signature:
            return self._keys
        try:
            keys, signature = self._load()
        except KeyFileError as exc:
            if self._keys is None:
                raise
            # Keep the last good keys; remember the bad version so it is logged only once.
            self._signature = signature
            _log.error("%s; keeping the keys loaded before", exc.message)
            return self._keys
        if self._keys is not None:
            _log.info("reloaded %d API keys from %s", len(keys.entries), self.path)
        self._keys, self._signature = keys, signature
        return keys

    def _load(self) -> tuple[KeySet, tuple[int, ...] | None]:
        # A missing file is an empty one: the first `imgstax keys create` makes it.
        try:
            with open(self.path, "rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError:
            return KeySet(secrets.token_bytes(32), {}), None
        except OSError as exc:
            raise KeyFileError(f"cannot read the keys file {self.path}: {exc.strerror}") from exc
        try:
            return _parse(raw), signature
        except (ValueError, UnicodeDecodeError) as exc:
            message = f"the keys file {self.path} is corrupt ({exc}); fix or restore it"
            raise KeyFileError(message) from None

    @contextmanager
    def _editing(self) -> Iterator[KeySet]:
        # One writer at a time across processes; the lock file is never replaced, so every
        # writer locks the same inode.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield self._load()[0]
        finally:
            os.close(lock)

    def _write(self, keys: KeySet) -> None:
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(_serialize(keys))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)


def _signature(st: os.stat_result) -> tuple[int, ...]:
    # Every write is a rename of a new file: the inode changes even when size and mtime don't.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
