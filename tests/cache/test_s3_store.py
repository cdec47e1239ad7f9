"""The S3 store beyond the contract, against a real moto_server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiobotocore.session import AioSession

from cache import S3Store, StoredObject
from tests.support.moto import MotoServer, isolated_session
from tests.support.stores import CREDENTIALS, FakeClock, open_s3_store

pytestmark = pytest.mark.anyio


async def test_expiry_travels_as_user_metadata(s3_store: S3Store, clock: FakeClock) -> None:
    await s3_store.put(
        "renders/m", b"x", content_type="image/jpeg", expires_at=clock.now + 60, metadata={"w": "1"}
    )
    raw = await s3_store._s3().head_object(Bucket=s3_store.bucket, Key="renders/m")
    assert raw["Metadata"] == {"expires-at": repr(clock.now + 60), "w": "1"}
    assert raw["ContentType"] == "image/jpeg"


async def test_objects_a_team_copied_into_storage_are_readable_and_never_expire(
    s3_store: S3Store, clock: FakeClock
) -> None:
    # What `aws s3 cp cat.jpg s3://bucket/storage/team/cat.jpg` leaves: no imgstax metadata.
    await s3_store._s3().put_object(
        Bucket=s3_store.bucket,
        Key="storage/team/cat.jpg",
        Body=b"\xff\xd8jpeg",
        ContentType="image/jpeg",
    )
    clock.advance(10 * 365 * 86400)
    got = await s3_store.get("storage/team/cat.jpg")
    assert got == StoredObject(b"\xff\xd8jpeg", "image/jpeg", None, {})
    info = await s3_store.head("storage/team/cat.jpg")
    assert info is not None and info.size == 6


async def test_an_unreadable_expiry_is_treated_as_none(s3_store: S3Store) -> None:
    await s3_store._s3().put_object(
        Bucket=s3_store.bucket, Key="renders/odd", Body=b"b", Metadata={"expires-at": "soon"}
    )
    got = await s3_store.get("renders/odd")
    assert got is not None and got.expires_at is None and got.metadata == {}


async def test_lifecycle_start_close_and_bucket_setup_are_idempotent(
    moto: MotoServer, aws_session: AioSession
) -> None:
    store = S3Store(
        "imgstax-lifecycle",
        endpoint_url=moto.endpoint_url,
        credentials=CREDENTIALS,
        session=aws_session,
    )
    with pytest.raises(RuntimeError, match="start"):
        await store.get("renders/x")
    await store.start()
    await store.start()
    await store.ensure_bucket()
    await store.ensure_bucket()
    await store.ping()
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.head("renders/x")


async def test_a_bucket_outside_us_east_1_is_created_with_its_region(
    moto: MotoServer, aws_session: AioSession
) -> None:
    async with open_s3_store(moto.endpoint_url, aws_session) as store:
        pass
    eu = S3Store(
        store.bucket + "-eu",
        endpoint_url=moto.endpoint_url,
        region="eu-west-1",
        credentials=CREDENTIALS,
        session=aws_session,
    )
    async with eu:
        await eu.ensure_bucket()
        location = await eu._s3().get_bucket_location(Bucket=eu.bucket)
        assert location["LocationConstraint"] == "eu-west-1"
        await eu.put("renders/r", b"eu", content_type="image/png", expires_at=None)
        got = await eu.get("renders/r")
        assert got is not None and got.data == b"eu"


def test_credentials_never_show_their_secret() -> None:
    assert "testing-secret" not in repr(CREDENTIALS)


async def test_the_test_session_ignores_the_machines_aws_setup(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hostile environment: a missing profile, unreadable config files, and an instance
    # metadata endpoint that counts every connection it is offered.
    with socket.create_server(("127.0.0.1", 0)) as metadata:
        metadata.setblocking(False)
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "machine-key-that-must-not-be-used")
        port = metadata.getsockname()[1]
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}/")
        session = isolated_session(tmp_path)
        async with open_s3_store(moto.endpoint_url, session) as store:
            await store.put("renders/iso", b"isolated", content_type="image/png", expires_at=None)
            got = await store.get("renders/iso")
        assert got is not None and got.data == b"isolated"
        with pytest.raises(BlockingIOError):
            metadata.accept()  # nobody knocked
