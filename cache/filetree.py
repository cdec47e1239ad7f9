"""The read-only ``storage/`` namespace on local disk: plain files a team's pipeline drops.

``storage/photos/cat.jpg`` is the file ``<root>/photos/cat.jpg``, bytes as they are (no
imgstax header), never expiring. The resolved path must stay inside the resolved root, so a
symlink inside the tree cannot lead a caller elsewhere on the machine.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from stat import S_ISREG

import anyio.to_thread

from cache.keys import STORAGE, namespace_of, validate_key
from cache.store import DEFAULT_CONTENT_TYPE, ObjectInfo, StoredObject
from config.errors import StoreUnavailable


class FileTreeStore:
    """Plain files under ``root``, read as the ``storage/`` namespace."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def start(self) -> None:
        """Nothing to open; the directory may appear later."""

    async def close(self) -> None:
        """Nothing to release."""

    def path_for(self, key: str) -> Path | None:
        """The file behind a ``storage/`` key, or None if it would resolve outside the root."""
        validate_key(key)
        if namespace_of(key) != STORAGE:
            raise ValueError(f"{key!r} is not in the storage/ namespace")
        root = self.root.resolve()
        try:
            path = (root / key.partition("/")[2]).resolve()
        except RuntimeError:  # a symlink loop: nothing a caller can read
            return None
        return path if path.is_relative_to(root) and path != root else None

    async def get(self, key: str) -> StoredObject | None:
        """The file's bytes, or None when there is no such file."""
        found = await self._run(key, want_data=True)
        return None if found is None else StoredObject(found[1], found[0].content_type)

    async def head(self, key: str) -> ObjectInfo | None:
        """The file's size and guessed content type, or None."""
        found = await self._run(key, want_data=False)
        return None if found is None else found[0]

    async def _run(self, key: str, *, want_data: bool) -> tuple[ObjectInfo, bytes] | None:
        validate_key(key)
        try:
            return await anyio.to_thread.run_sync(
                self._read, key, want_data, abandon_on_cancel=True
            )
        except OSError as exc:
            raise StoreUnavailable(f"storage directory {self.root}: {exc}") from exc

    def _read(self, key: str, want_data: bool) -> tuple[ObjectInfo, bytes] | None:
        path = self.path_for(key)
        if path is None:
            return None
        try:
            # Non-blocking, so a FIFO (or a device) opens at once and is then found not a file.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            stat = os.fstat(fd)
            if not S_ISREG(stat.st_mode):  # a directory, a FIFO, a device
                return None
            size = stat.st_size
            with open(fd, "rb", closefd=False) as f:
                data = f.read() if want_data else b""
        finally:
            os.close(fd)
        content_type = mimetypes.guess_type(path.name)[0] or DEFAULT_CONTENT_TYPE
        return ObjectInfo(size, content_type, None, {}), data
