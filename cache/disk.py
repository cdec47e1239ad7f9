"""The local-disk second tier: the embedded default, shared by every worker of one machine.

One object is one file ``<root>/<namespace>/<h[:2]>/<h>`` where ``h`` is the sha256 of the key,
so no key can name a path outside the root and no directory grows past a few thousand entries.
The file is a length-prefixed JSON header (key, content type, expiry, metadata, size) followed
by the bytes. Writes go to ``<root>/.tmp``, are fsynced, renamed into place and the directory
fsynced: a reader in any process sees the old object, the new one or nothing, never a part.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio.to_thread

from cache.keys import require_writable, validate_key
from cache.store import Clock, ObjectInfo, StoredObject, check_content_type, check_metadata
from config.errors import StoreUnavailable

MAGIC = b"IMGSTAX1"
_LENGTH = struct.Struct(">I")
_PREFIX_SIZE = len(MAGIC) + _LENGTH.size
_MAX_HEADER = 64 * 1024
TEMP_DIR = ".tmp"
T = TypeVar("T")


class CorruptObject(ValueError):
    """A file in the store that imgstax did not write whole (or at all)."""


@dataclass(frozen=True)
class SweepResult:
    expired: int
    stale_temps: int


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    _ensure_dir(directory.parent)
    try:
        directory.mkdir()
    except FileExistsError:  # another worker won the race; its mkdir is as good as ours
        return
    _fsync_dir(directory.parent)


def _read_header(f: IO[bytes]) -> dict[str, Any]:
    prefix = f.read(_PREFIX_SIZE)
    if len(prefix) != _PREFIX_SIZE or not prefix.startswith(MAGIC):
        raise CorruptObject("not an imgstax object")
    (length,) = _LENGTH.unpack_from(prefix, len(MAGIC))
    if length > _MAX_HEADER:
        raise CorruptObject("header too long")
    header = json.loads(f.read(length))
    if not isinstance(header, dict):
        raise CorruptObject("header is not an object")
    return header


def _parse_header(header: dict[str, Any], key: str, path: Path) -> ObjectInfo:
    if header.get("key") != key:
        raise CorruptObject(f"{path} holds another key")
    try:
        expires_at = header["expires_at"]
        return ObjectInfo(
            size=int(header["size"]),
            content_type=str(header["content_type"]),
            expires_at=None if expires_at is None else float(expires_at),
            metadata={str(k): str(v) for k, v in header["metadata"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise CorruptObject(f"{path} has a malformed header") from exc


def _unlink_quietly(path: Path) -> None:
    with suppress(FileNotFoundError, NotADirectoryError):
        os.unlink(path)


def _encode_header(key: str, obj: StoredObject) -> bytes:
    header = {
        "key": key,
        "content_type": obj.content_type,
        "expires_at": obj.expires_at,
        "metadata": obj.metadata,
        "size": len(obj.data),
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + _LENGTH.pack(len(raw)) + raw


def _remove_if_same(path: Path, opened: os.stat_result, temp: Path) -> bool:
    """Remove the file at path if it is still the one opened (judged expired); True if it was.

    Another thread or process may rename a fresh object into place at any moment, so the file
    is first taken out of place in one atomic rename, and only then compared: a check by name
    and an unlink by name could delete a fresh object renamed in between. A fresh one taken by
    mistake is linked back (unless a newer one has arrived meanwhile, which wins).
    """
    _ensure_dir(temp)
    taken = temp / f"{os.getpid()}.{secrets.token_hex(8)}.expired"
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return False
    try:
        now = os.stat(taken)
        if (now.st_ino, now.st_dev) == (opened.st_ino, opened.st_dev):
            return True
        with suppress(FileExistsError):
            os.link(taken, path)
        return False
    except FileNotFoundError:  # a sweep of old temp files took it (it keeps the object's mtime)
        return False
    finally:
        with suppress(FileNotFoundError):
            os.unlink(taken)


class DiskStore:
    """Objects as files under ``root``, safe for several processes sharing the directory."""

    def __init__(
        self, root: Path, *, clock: Clock = time.time, stale_temp_after: float = 900.0
    ) -> None:
        self.root = root
        self._temp = root / TEMP_DIR
        self._clock = clock
        self._stale_temp_after = stale_temp_after

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``; always inside the root."""
        validate_key(key)
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / key.partition("/")[0] / digest[:2] / digest

    async def start(self) -> None:
        """Create the root and its temp directory."""
        await self._run(_ensure_dir, self._temp)

    async def close(self) -> None:
        """Nothing to release; present so every second tier has the same lifecycle."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the root is a writable directory."""
        await self.start()
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"local store {self.root} is not writable")

    async def get(self, key: str) -> StoredObject | None:
        """The object under ``key``; an expired one is removed and is a miss."""
        found = await self._run(self._read, self.path_for(key), key, True, abandon=True)
        if found is None:
            return None
        info, data = found
        return StoredObject(data, info.content_type, info.expires_at, info.metadata)

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's info, read from its header only."""
        found = await self._run(self._read, self.path_for(key), key, False, abandon=True)
        return None if found is None else found[0]

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        expires_at: float | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write atomically and durably; returns once the object survives a crash."""
        require_writable(key)
        obj = StoredObject(
            data, check_content_type(content_type), expires_at, check_metadata(metadata)
        )
        await self._run(self._write, self.path_for(key), _encode_header(key, obj), data)

    async def delete(self, key: str) -> None:
        """Remove the object's file, if any."""
        require_writable(key)
        await self._run(_unlink_quietly, self.path_for(key))

    async def sweep(self) -> SweepResult:
        """Remove expired objects and temp files left by writers that died mid-put."""
        return await self._run(self._sweep)

    async def _run(self, func: Callable[..., T], *args: Any, abandon: bool = False) -> T:
        try:
            return await anyio.to_thread.run_sync(func, *args, abandon_on_cancel=abandon)
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"local store {self.root}: {exc}") from exc

    def _read(self, path: Path, key: str, want_data: bool) -> tuple[ObjectInfo, bytes] | None:
        try:
            f = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None
        with f:
            info = _parse_header(_read_header(f), key, path)
            if info.expires_at is not None and info.expires_at <= self._clock():
                _remove_if_same(path, os.fstat(f.fileno()), self._temp)
                return None
            if not want_data:
                return info, b""
            data = f.read()
        if len(data) != info.size:
            raise CorruptObject(f"{path} holds {len(data)} bytes, its header says {info.size}")
        return info, data

    def _write(self, path: Path, header: bytes, data: bytes) -> None:
        _ensure_dir(self._temp)
        fd, temp = tempfile.mkstemp(dir=self._temp, prefix=f"{os.getpid()}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _ensure_dir(path.parent)
            os.replace(temp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(path.parent)

    def _sweep(self) -> SweepResult:
        expired = stale = 0
        if not self.root.is_dir():
            return SweepResult(0, 0)
        now = self._clock()
        namespaces = (p for p in self.root.iterdir() if p.is_dir() and p.name != TEMP_DIR)
        for namespace in sorted(namespaces):
            for directory, _subdirs, files in os.walk(namespace):
                for name in files:
                    expired += self._sweep_one(Path(directory, name), now)
        # Temp files are judged by real age: a put in flight is younger than any sane bound.
        cutoff = time.time() - self._stale_temp_after
        with suppress(FileNotFoundError), os.scandir(self._temp) as entries:
            for entry in entries:
                with suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        stale += 1
        return SweepResult(expired, stale)

    def _sweep_one(self, path: Path, now: float) -> int:
        try:
            with open(path, "rb") as f:
                expires_at = _read_header(f).get("expires_at")
                stat = os.fstat(f.fileno())
        except (OSError, ValueError):
            return 0  # vanished, or not ours: sweeping never deletes what it cannot read
        if expires_at is not None and expires_at <= now:
            return int(_remove_if_same(path, stat, self._temp))
        return 0
