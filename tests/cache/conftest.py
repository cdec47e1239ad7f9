"""Fixtures for the cache tests: the three stores, a real moto_server, a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiobotocore.session import AioSession

from cache import ByteStore, DiskStore, MemoryStore, S3Store
from tests.support.moto import MotoServer, isolated_session, moto_server
from tests.support.stores import FakeClock, open_s3_store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log") as server:
        yield server


@pytest.fixture(scope="session")
def aws_session(tmp_path_factory: pytest.TempPathFactory) -> AioSession:
    return isolated_session(tmp_path_factory.mktemp("aws"))


@pytest.fixture
async def s3_store(
    moto: MotoServer, aws_session: AioSession, clock: FakeClock
) -> AsyncIterator[S3Store]:
    async with open_s3_store(moto.endpoint_url, aws_session, clock=clock) as store:
        yield store


@pytest.fixture(params=["memory", "disk", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[ByteStore]:
    """Each of the three stores in turn, sharing the fake clock."""
    if request.param == "memory":
        yield MemoryStore(64 * 1024 * 1024, clock=clock)
    elif request.param == "disk":
        disk = DiskStore(tmp_path / "store", clock=clock)
        await disk.start()
        yield disk
    else:
        server: MotoServer = request.getfixturevalue("moto")
        session: AioSession = request.getfixturevalue("aws_session")
        async with open_s3_store(server.endpoint_url, session, clock=clock) as s3:
            yield s3
