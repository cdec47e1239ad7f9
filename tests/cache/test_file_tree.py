"""The read-only storage/ namespace on local disk: a team's plain files."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from cache import FileTreeStore, ObjectInfo, StoredObject
from config.errors import InvalidRequest

pytestmark = pytest.mark.anyio


@pytest.fixture
def tree(tmp_path: Path) -> FileTreeStore:
    root = tmp_path / "storage"
    (root / "team").mkdir(parents=True)
    (root / "team" / "cat.jpg").write_bytes(b"\xff\xd8jpeg bytes")
    (root / "team" / "notes").write_bytes(b"?")
    (tmp_path / "secret.txt").write_text("outside the tree")
    os.symlink(tmp_path / "secret.txt", root / "team" / "escape.jpg")
    return FileTreeStore(root)


async def test_reads_plain_files_with_a_guessed_type(tree: FileTreeStore) -> None:
    assert await tree.get("storage/team/cat.jpg") == StoredObject(
        b"\xff\xd8jpeg bytes", "image/jpeg"
    )
    assert await tree.head("storage/team/cat.jpg") == ObjectInfo(12, "image/jpeg", None, {})
    notes = await tree.get("storage/team/notes")
    assert notes is not None and notes.content_type == "application/octet-stream"


@pytest.mark.parametrize(
    "key", ["storage/team/missing.jpg", "storage/team", "storage/team/cat.jpg/x"]
)
async def test_missing_files_and_directories_are_misses(tree: FileTreeStore, key: str) -> None:
    assert await tree.get(key) is None
    assert await tree.head(key) is None


async def test_a_symlink_out_of_the_tree_is_a_miss(tree: FileTreeStore) -> None:
    assert await tree.get("storage/team/escape.jpg") is None


@pytest.mark.parametrize("key", ["storage/../secret.txt", "storage/%2e%2e/secret.txt"])
async def test_traversal_is_a_400(tree: FileTreeStore, key: str) -> None:
    with pytest.raises(InvalidRequest):
        await tree.get(key)


async def test_only_storage_keys_are_served(tree: FileTreeStore) -> None:
    with pytest.raises(ValueError):
        await tree.get("renders/x")


async def test_a_missing_tree_is_a_miss(tmp_path: Path) -> None:
    assert await FileTreeStore(tmp_path / "absent").get("storage/a.jpg") is None


async def test_a_symlink_loop_and_a_fifo_are_misses_not_a_500_or_a_hang(
    tree: FileTreeStore,
) -> None:
    """Planted in storage/ by someone with the disk: the loop raised RuntimeError (a 500) and
    opening the FIFO blocked a thread for ever."""
    os.symlink(tree.root / "team" / "loop-b.jpg", tree.root / "team" / "loop-a.jpg")
    os.symlink(tree.root / "team" / "loop-a.jpg", tree.root / "team" / "loop-b.jpg")
    os.mkfifo(tree.root / "team" / "pipe.jpg")
    with anyio.fail_after(5):
        assert await tree.get("storage/team/loop-a.jpg") is None
        assert await tree.get("storage/team/pipe.jpg") is None
        assert await tree.head("storage/team/pipe.jpg") is None
