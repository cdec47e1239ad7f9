"""POST /v1/uploads: a multipart ``file`` field or a raw image body, stored durably.

The body is capped while it streams (Content-Length is not trusted), the image is inspected in
the render pool (format, size, pixel cap, then a full small-scale decode so that a truncated file
is refused now), and the upload is acknowledged only once the second tier holds it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from cache import StoredObject, TieredCache, upload_key
from config.errors import InvalidRequest, PayloadTooLarge, RequestTimeout
from origin.assets import iso8601
from origin.budget import SourceBudget, charge
from origin.pool import RenderPool
from origin.sources import sha256_hex
from transforms import SourceInfo, inspect

UPLOAD_TTL = 7 * 86_400
# Room for the multipart envelope around a file of the largest allowed size.
MULTIPART_SLACK = 64 * 1024
# The whole body must arrive in this time, or what came of it is given back to the source
# budget: a client trickling bytes cannot hold them for ever. 50 MiB in a minute is ~7 Mbit/s,
# and behind the edge nginx buffers the whole body before it reaches the origin.
UPLOAD_READ_SECONDS = 60.0
FORMAT_NAMES = {
    "jpeg": "Jpeg",
    "png": "Png",
    "webp": "Webp",
    "avif": "Avif",
    "gif": "Gif",
    "tiff": "Tiff",
    "svg": "Svg",
    "heic": "Heic",
}


async def capped_stream(
    request: Request, limit: int, what: str = "The upload", *, slack: int = 0
) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes limit (+ slack) bytes."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit + slack:
            raise PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes.")
        charge(len(chunk))
        yield chunk


async def read_upload(request: Request, limit: int) -> bytes:
    """The file bytes of a multipart (field ``file``) or raw upload."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        body = b"".join([chunk async for chunk in capped_stream(request, limit)])
        if not body:
            raise InvalidRequest("The upload is empty: send the image as the body or as 'file'.")
        return body
    parser = MultiPartParser(
        request.headers,
        capped_stream(request, limit, slack=MULTIPART_SLACK),
        max_files=1,
        max_fields=10,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"The multipart body could not be read: {exc.message}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidRequest("The multipart body has no 'file' field with the image.")
        data = await file.read()
    finally:
        await form.close()
    if len(data) > limit:
        raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
    return data


class Uploads:
    def __init__(
        self,
        cache: TieredCache,
        pool: RenderPool,
        *,
        max_bytes: int,
        max_pixels: int,
        budget: SourceBudget,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._pool = pool
        self._budget = budget
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels
        self._clock = clock

    async def accept(self, request: Request, key_id: str) -> dict[str, Any]:
        """Read, check and durably store an upload; the documented answer."""
        # Refused before the body is read when no render could start; its bytes count against
        # the source budget as they arrive, until it is stored.
        self._pool.refuse_if_full()
        with self._budget.account():
            return await self._accept(request, key_id)

    async def _accept(self, request: Request, key_id: str) -> dict[str, Any]:
        try:
            with anyio.fail_after(UPLOAD_READ_SECONDS):
                data = await read_upload(request, self._max_bytes)
        except TimeoutError:
            raise RequestTimeout(
                f"The upload did not arrive within {UPLOAD_READ_SECONDS:g} s; send it again "
                "over a faster connection, or as a source URL."
            ) from None
        info: SourceInfo = await self._pool.run(inspect, data, self._max_pixels)
        upload_id = "up_" + secrets.token_urlsafe(24)
        expires_at = int(self._clock()) + UPLOAD_TTL
        metadata = {
            "keyid": key_id,
            "sha256": await sha256_hex(data),
            "format": FORMAT_NAMES[info.kind],
            "width": str(info.width),
            "height": str(info.height),
        }
        obj = StoredObject(data, "application/octet-stream", float(expires_at), metadata)
        await self._cache.put(upload_key(upload_id), obj, durable=True, write_back=False)
        return {
            "uploadId": upload_id,
            "width": info.width,
            "height": info.height,
            "format": FORMAT_NAMES[info.kind],
            "sizeBytes": len(data),
            "expiresAt": iso8601(expires_at),
        }
