"""A loopback HTTP/1.1 source server whose routes the test controls.

Each route is a handler that gets the parsed request and the raw socket, so a test can serve
bytes, redirect, stream forever, hang, trickle, lie about Content-Length or reset the
connection. One request per connection (answers say ``Connection: close``). The server counts
accepted connections, so a test can assert that nothing ever connected, and counts clients that
went away in the middle of an answer, so a test can assert that a download was really stopped.
A TLS ClientHello is recorded and the connection closed, which shows the SNI a client sent.

Threads, not asyncio: the server runs beside the test's event loop and cannot block it.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType

_POLL = 0.02


@dataclass
class Exchange:
    """One request: what the client asked, and the socket to answer it on."""

    sock: socket.socket
    server: HttpSource
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, data: bytes) -> bool:
        """Send every byte; False once the client is gone or the server is closing."""
        view = memoryview(data)
        while view:
            if self.server.closing:
                return False
            try:
                _, writable, _ = select.select([], [self.sock], [], _POLL)
                if writable:
                    view = view[self.sock.send(view) :]
            except BlockingIOError:
                continue
            except OSError:
                self.server.note_disconnect()
                return False
        return True

    def head(self, status: int, headers: dict[str, str]) -> bool:
        """Send the status line and headers."""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        lines += [f"{name}: {value}" for name, value in {**headers, "Connection": "close"}.items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def wait(self, seconds: float) -> bool:
        """Wait up to seconds; False as soon as the client closes or the server is closing."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.server.closing:
                return False
            try:
                readable, _, _ = select.select([self.sock], [], [], _POLL)
                if readable and not self.sock.recv(4096):
                    self.server.note_disconnect()
                    return False
            except OSError:
                self.server.note_disconnect()
                return False
        return True


Handler = Callable[[Exchange], None]


class HttpSource:
    """An HTTP server on host (loopback) and a free port, or the port given."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(_POLL)
        self.port = int(self._listener.getsockname()[1])
        self.routes: dict[str, Handler] = {}
        self.requests: list[Exchange] = []
        self.tls_hellos: list[bytes] = []
        self.accepted = 0
        self.disconnects = 0
        self.body_bytes_sent = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    @property
    def closing(self) -> bool:
        return self._closed.is_set()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        """Answer requests for path (the query is ignored) with handler."""
        self.routes[path] = handler

    def note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def note_body(self, count: int) -> None:
        with self._lock:
            self.body_bytes_sent += count

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll condition until it holds or timeout passes."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL)
        return True

    def close(self) -> None:
        """Stop listening, end every handler and join the threads."""
        self._closed.set()
        self._threads[0].join(timeout=5)
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.setblocking(False)
            # Small buffers, so a stopped client is noticed after little more than it read.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            exchange = self._read_request(conn)
            if exchange is None:
                return
            self.requests.append(exchange)
            handler = self.routes.get(exchange.target.split("?")[0], status(404))
            handler(exchange)

    def _read_request(self, conn: socket.socket) -> Exchange | None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536 and not self.closing:
            try:
                readable, _, _ = select.select([conn], [], [], _POLL)
                chunk = conn.recv(65536) if readable else b"-"
            except OSError:
                return None
            if not chunk:
                return None
            if chunk != b"-":
                data += chunk
            if data[:1] == b"\x16":  # a TLS handshake record: keep it and hang up
                self.tls_hellos.append(data)
                return None
        head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        method, target, _version = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Exchange(conn, self, method, target, headers)


def body(
    data: bytes, content_type: str = "image/png", extra: dict[str, str] | None = None
) -> Handler:
    """200 with data and a true Content-Length."""

    def handle(ex: Exchange) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
        if ex.head(200, {**headers, **(extra or {})}) and ex.send(data):
            ex.server.note_body(len(data))

    return handle


def redirect(location: str, code: int = 302) -> Handler:
    """A redirect to location (absolute or relative)."""

    def handle(ex: Exchange) -> None:
        ex.head(code, {"Location": location, "Content-Length": "0"})

    return handle


def status(code: int) -> Handler:
    """An error page with this status."""
    page = f"status {code}".encode()
    headers = {"Content-Type": "text/plain", "Content-Length": str(len(page))}

    def handle(ex: Exchange) -> None:
        if ex.head(code, headers):
            ex.send(page)

    return handle


def endless(chunk: int = 65536) -> Handler:
    """A chunked body that never ends, sent as fast as the client reads."""
    piece = f"{chunk:x}\r\n".encode() + b"\0" * chunk + b"\r\n"

    def handle(ex: Exchange) -> None:
        if ex.head(200, {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}):
            while ex.send(piece):
                ex.server.note_body(chunk)

    return handle


def declared(length: int, sent: int = 0) -> Handler:
    """Content-Length: length, then only sent bytes, then the connection closes."""

    def handle(ex: Exchange) -> None:
        if ex.head(200, {"Content-Type": "image/png", "Content-Length": str(length)}):
            ex.send(b"\0" * sent)

    return handle


def hang() -> Handler:
    """Read the request and never answer."""

    def handle(ex: Exchange) -> None:
        ex.wait(3600)

    return handle


def trickle(length: int, interval: float) -> Handler:
    """Declare length bytes, then send one every interval."""

    def handle(ex: Exchange) -> None:
        if not ex.head(200, {"Content-Type": "image/png", "Content-Length": str(length)}):
            return
        for _ in range(length):
            if not (ex.send(b"\0") and ex.wait(interval)):
                return
            ex.server.note_body(1)

    return handle


def reset() -> Handler:
    """Abort the connection with a TCP reset before answering."""

    def handle(ex: Exchange) -> None:
        ex.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return handle
