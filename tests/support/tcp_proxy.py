"""A loopback TCP proxy the test controls: it forwards, or it stalls (accepts, forwards nothing).

Stalling is how a hung S3 endpoint looks to a client: the connection opens, the request is
sent, and no byte of an answer ever comes back.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from types import TracebackType

_POLL = 0.02


class StallingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target`` until ``stall()`` is called."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.port = int(self._listener.getsockname()[1])
        self._stalled = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self._spawn(self._accept_loop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stall(self) -> None:
        """Keep accepting connections, stop forwarding bytes either way."""
        self._stalled.set()

    def resume(self) -> None:
        """Forward again."""
        self._stalled.clear()

    def close(self) -> None:
        """Stop listening, close every connection and join the threads."""
        self._closed.set()
        # The accept loop first: once it is gone no new pump thread can appear.
        self._threads[0].join(timeout=5)
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
        self._listener.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._keep(client)
            if self._stalled.is_set():
                continue  # hold the connection open and never answer
            try:
                upstream = socket.create_connection(self._target, timeout=2)
            except OSError:
                client.close()
                continue
            self._keep(upstream)
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._closed.is_set():
            if self._stalled.is_set():
                self._closed.wait(_POLL)
                continue
            try:
                readable, _, _ = select.select([source], [], [], _POLL)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
