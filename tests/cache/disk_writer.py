"""Run by the durability tests as a child process: put, say "acked", keep writing until killed.

usage: python disk_writer.py ROOT ACKED_SIZE INFLIGHT_SIZE
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import anyio

from cache import DiskStore


def pattern(seed: int, size: int) -> bytes:
    """Deterministic bytes that differ in every 32-byte block from any other seed's."""
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


async def main(root: Path, acked_size: int, inflight_size: int) -> None:
    store = DiskStore(root)
    await store.put(
        "uploads/acked", pattern(0, acked_size), content_type="image/jpeg", expires_at=None
    )
    print("acked", flush=True)
    seed = 1
    while True:  # until SIGKILL: the kill lands in the middle of one of these puts
        await store.put(
            "uploads/in-flight",
            pattern(seed, inflight_size),
            content_type="image/jpeg",
            expires_at=None,
            metadata={"seed": str(seed)},
        )
        seed += 1


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
