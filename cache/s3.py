"""The S3 second tier, through aiobotocore, against AWS or any S3-compatible endpoint.

One client lives from ``start()`` to ``close()``. Each operation is bounded three ways: the
connect timeout, the read timeout (per socket read) and an overall deadline, so a stalled
endpoint costs a caller a few seconds at most. The expiry travels as user metadata
(``x-amz-meta-expires-at``); an expired object is a miss, deleted later by a lifecycle rule.
``NoSuchKey`` is a miss; every other failure is ``StoreUnavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from cache.keys import require_writable, validate_key
from cache.store import (
    DEFAULT_CONTENT_TYPE,
    EXPIRES_AT_NAME,
    Clock,
    ObjectInfo,
    StoredObject,
    check_content_type,
    check_metadata,
)
from config.errors import StoreUnavailable

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class S3Credentials:
    """Explicit credentials; without them the standard AWS chain (env, profile, role) applies."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError (its ``response``), else ""."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _expiry(metadata: Mapping[str, str]) -> float | None:
    raw = metadata.get(EXPIRES_AT_NAME)
    if raw is None:
        return None  # objects a team put with `aws s3 cp` never expire for us
    try:
        return float(raw)
    except ValueError:
        return None


class S3Store:
    """Objects in one bucket of an S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        credentials: S3Credentials | None = None,
        session: AioSession | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 2,
        operation_timeout: float = 10.0,
        min_upload_rate: float = 4 * 1024 * 1024,
        max_connections: int = 64,
        clock: Clock = time.time,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = credentials
        self._session = session
        self._operation_timeout = operation_timeout
        self._min_upload_rate = min_upload_rate
        self._clock = clock
        # Imported here, not at the top: botocore costs an origin ~30 MB of RSS, which an
        # origin on local disk need not carry.
        from aiobotocore.config import AioConfig

        self._config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max_connections,
            # MinIO, Ceph and most S3-compatible stores want path-style URLs; AWS picks itself.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # Newer botocore adds CRC checksums to every request; several S3-compatible stores
            # reject them, and S3 does not require them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def start(self) -> None:
        """Open the one client this store uses until ``close()``; a second call does nothing."""
        if self._stack is not None:
            return
        from aiobotocore.session import get_session

        session = self._session or get_session()
        creds = self._credentials
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(
            session.create_client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=creds.access_key_id if creds else None,
                aws_secret_access_key=creds.secret_access_key if creds else None,
                aws_session_token=creds.session_token if creds else None,
                config=self._config,
            )
        )
        self._stack = stack

    async def close(self) -> None:
        """Close the client and its connection pool."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> S3Store:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _s3(self) -> Any:
        if self._client is None:
            raise RuntimeError("S3Store.start() was not called")
        return self._client

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests and local MinIO setups)."""
        s3 = self._s3()
        try:
            with anyio.fail_after(self._operation_timeout):
                try:
                    await s3.head_bucket(Bucket=self.bucket)
                    return
                except Exception as exc:
                    if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                        raise
                extra: dict[str, Any] = {}
                if self.region != "us-east-1":
                    extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                try:
                    await s3.create_bucket(Bucket=self.bucket, **extra)
                except Exception as exc:
                    if _error_code(exc) != "BucketAlreadyOwnedByYou":
                        raise
        except Exception as exc:
            raise self._unavailable("create bucket", exc) from exc

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the bucket answers."""
        try:
            with anyio.fail_after(self._operation_timeout):
                await self._s3().head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._unavailable("reach the bucket", exc) from exc

    async def get(self, key: str) -> StoredObject | None:
        """The object under ``key``, or None when missing or expired."""
        validate_key(key)
        s3 = self._s3()
        try:
            with anyio.fail_after(self._operation_timeout):
                response = await s3.get_object(Bucket=self.bucket, Key=key)
                # The body is a stream: closing it without reading drops the connection, which
                # is cheaper than downloading an expired object.
                async with response["Body"] as body:
                    metadata = dict(response.get("Metadata", {}))
                    expires_at = _expiry(metadata)
                    if expires_at is not None and expires_at <= self._clock():
                        return None
                    data = await body.read()
        except Exception as exc:
            if _error_code(exc) in _MISSING_CODES:
                return None
            raise self._unavailable(f"get {key}", exc) from exc
        metadata.pop(EXPIRES_AT_NAME, None)
        content_type = response.get("ContentType") or DEFAULT_CONTENT_TYPE
        return StoredObject(bytes(data), content_type, expires_at, metadata)

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's info from a HEAD request, or None."""
        validate_key(key)
        s3 = self._s3()
        try:
            with anyio.fail_after(self._operation_timeout):
                response = await s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in _MISSING_CODES:
                return None
            raise self._unavailable(f"head {key}", exc) from exc
        metadata = dict(response.get("Metadata", {}))
        expires_at = _expiry(metadata)
        if expires_at is not None and expires_at <= self._clock():
            return None
        metadata.pop(EXPIRES_AT_NAME, None)
        content_type = response.get("ContentType") or DEFAULT_CONTENT_TYPE
        return ObjectInfo(int(response["ContentLength"]), content_type, expires_at, metadata)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        expires_at: float | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Upload ``data``; returns once S3 acknowledged it (S3 writes are durable)."""
        require_writable(key)
        s3 = self._s3()
        meta = check_metadata(metadata)
        content_type = check_content_type(content_type)
        if expires_at is not None:
            meta[EXPIRES_AT_NAME] = repr(float(expires_at))
        # Large bodies get more time, at a rate any healthy link beats.
        deadline = self._operation_timeout + len(data) / self._min_upload_rate
        try:
            with anyio.fail_after(deadline):
                await s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    Metadata=meta,
                )
        except Exception as exc:
            raise self._unavailable(f"put {key}", exc) from exc

    async def delete(self, key: str) -> None:
        """Delete ``key``; S3 answers success for a missing key too."""
        require_writable(key)
        s3 = self._s3()
        try:
            with anyio.fail_after(self._operation_timeout):
                await s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._unavailable(f"delete {key}", exc) from exc

    def _unavailable(self, action: str, exc: Exception) -> StoreUnavailable:
        if isinstance(exc, StoreUnavailable):
            return exc
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        where = self.endpoint_url or "AWS S3"
        return StoreUnavailable(f"S3 bucket {self.bucket} at {where}: could not {action}: {reason}")
