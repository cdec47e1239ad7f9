"""A small keep-alive HTTP/1.1 client on asyncio.Protocol, for generating load.

httpx costs a few hundred microseconds of CPU per request; on a 2-core machine that is more than
a bare Starlette app needs to answer, so the client, not the server, would set the pace of the
cache-hit workloads. This client parses only what the servers under test send (Content-Length
or chunked bodies) and costs a few tens of microseconds per request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

HOST = "127.0.0.1"
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class ProtocolError(Exception):
    """The server sent something this client does not parse."""


class _Connection(asyncio.Protocol):
    """One TCP connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            response = _parse(self._buffer)
        except ProtocolError as exc:
            self._waiter.set_exception(exc)
            return
        if response is not None:
            if response.headers.get("connection", "").lower() == "close":
                self.closed = True
            self._waiter.set_result(response)

    async def send(self, raw: bytes) -> Response:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _parse(buffer: bytearray) -> Response | None:
    """A whole response taken off the front of buffer, or None if more bytes are needed."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + len(_HEAD_END)
    if "chunked" in headers.get("transfer-encoding", ""):
        parsed = _dechunk(buffer, start)
        if parsed is None:
            return None
        body, consumed = parsed
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if len(buffer) - start < length:
            return None
        body, consumed = bytes(buffer[start : start + length]), start + length
    elif status in (204, 304) or 100 <= status < 200:
        body, consumed = b"", start
    else:
        raise ProtocolError("a response without Content-Length or chunked encoding")
    del buffer[:consumed]
    return Response(status, headers, body)


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        if size == 0:
            # No trailers from the servers under test: the last chunk is followed by CRLF.
            return b"".join(parts), chunk_start + 2
        parts.append(bytes(buffer[chunk_start : chunk_start + size]))
        at = chunk_start + size + 2


class Client:
    """Connections to one server, reused; at most ``limit`` open at once."""

    def __init__(self, port: int, *, limit: int = 64, headers: dict[str, str] | None = None):
        self.port = port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._common = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._host = f"Host: {HOST}:{port}\r\n"

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Response:
        head = f"{method} {path} HTTP/1.1\r\n{self._host}{self._common}"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        if body or method in ("POST", "PUT"):
            head += f"Content-Length: {len(body)}\r\n"
        raw = head.encode("latin-1") + b"\r\n" + body
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                response = await connection.send(raw)
            except BaseException:
                connection.close()
                raise
            if connection.closed:
                connection.close()
            else:
                self._idle.append(connection)
            return response

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def post_json(self, path: str, body: bytes) -> Response:
        return await self.request("POST", path, body, "application/json")

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, HOST, self.port)
        return protocol

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
