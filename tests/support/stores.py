"""Store helpers shared by tests: a controllable clock and started S3 stores on fresh buckets."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.session import AioSession

from cache import S3Credentials, S3Store
from cache.store import Clock
from tests.support.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

CREDENTIALS = S3Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
# Small bounds so that a fault costs a test a second or two, not the production defaults.
FAST_TIMEOUTS: dict[str, Any] = {
    "connect_timeout": 0.5,
    "read_timeout": 0.5,
    "max_attempts": 2,
    "operation_timeout": 1.5,
}


class FakeClock:
    """A wall clock (unix seconds) that moves only when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def open_s3_store(
    endpoint_url: str,
    session: AioSession,
    *,
    bucket: str | None = None,
    clock: Clock = time.time,
    create_bucket: bool = True,
    **options: Any,
) -> AsyncIterator[S3Store]:
    """A started S3Store (explicit dummy credentials) on a fresh bucket, closed on exit."""
    store = S3Store(
        bucket or f"imgstax-test-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint_url,
        region=REGION,
        credentials=CREDENTIALS,
        session=session,
        clock=clock,
        **{**FAST_TIMEOUTS, **options},
    )
    async with store:
        if create_bucket:
            await store.ensure_bucket()
        yield store
