"""Child process for the disk tests.

``python disk_writer.py kill ROOT ACKED_SIZE INFLIGHT_SIZE``: put one object, print "acked",
then keep putting a larger one until killed.
``python disk_writer.py race ROOT SEED COUNT SIZE``: put the shared key COUNT times.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import anyio

from cache import DiskStore

SHARED_KEY = "renders/shared"


def pattern(seed: int, size: int) -> bytes:
    """Deterministic bytes that differ in every 32-byte block from any other seed's."""
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


async def put_then_keep_writing(root: Path, acked_size: int, inflight_size: int) -> None:
    store = DiskStore(root)
    await store.put(
        "uploads/acked", pattern(0, acked_size), content_type="image/jpeg", expires_at=None
    )
    print("acked", flush=True)
    seed = 1
    while True:  # until SIGKILL, which lands in the middle of one of these puts
        data = pattern(seed, inflight_size)
        meta = {"seed": str(seed)}
        await store.put(
            "uploads/in-flight", data, content_type="image/jpeg", expires_at=None, metadata=meta
        )
        seed += 1


async def race(root: Path, seed: int, count: int, size: int) -> None:
    store = DiskStore(root)
    data = pattern(seed, size)
    for _ in range(count):
        await store.put(
            SHARED_KEY,
            data,
            content_type="image/jpeg",
            expires_at=None,
            metadata={"seed": str(seed)},
        )


if __name__ == "__main__":
    mode, root, *numbers = sys.argv[1:]
    n = [int(x) for x in numbers]
    if mode == "kill":
        anyio.run(put_then_keep_writing, Path(root), n[0], n[1])
    else:
        anyio.run(race, Path(root), n[0], n[1], n[2])
