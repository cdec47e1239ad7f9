"""Download source images through the SSRF guard.

Every hop (the URL and each redirect, at most ``max_redirects``) is parsed and checked by
``origin.ssrf``; its host is resolved once, here, and every answer must pass the address policy.
The request then goes to the checked address itself, with the name carried in the Host header
and in TLS SNI (so the certificate is still verified against the name): the HTTP client never
looks the name up again, and DNS rebinding has nothing left to rebind. Connections are never
kept alive: a TLS connection verified for one name is never reused for another name that
resolves to the same address.

One deadline covers the whole fetch (lookups, every hop, headers and body); the body is capped
while it streams. httpx is imported, and its transport (with its TLS context) made, on the first
fetch, on a worker thread: an origin that never fetches a URL does not carry them (~5-8 MB,
bench W7). httpx errors are translated here, at the boundary:

    malformed URL, body over the cap      400 INVALID_REQUEST
    refused by ssrf (scheme, address...)  400 SOURCE_FORBIDDEN
    404 or 410 from the source            400 SOURCE_NOT_FOUND
    other 4xx/5xx, network, TLS, DNS,
    truncated body, too many redirects    502 SOURCE_UNREACHABLE
    connect timeout, total deadline       504 SOURCE_TIMEOUT
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import anyio
import anyio.to_thread

from config.errors import (
    InvalidRequest,
    SourceForbidden,
    SourceNotFound,
    SourceTimeout,
    SourceUnreachable,
)
from config.settings import SourceSettings
from origin import ssrf
from origin.budget import charge
from origin.fetch_resolve import Resolver, SystemResolver, checked_addresses
from origin.ssrf import AddressPolicy, ParsedURL

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchedSource", "Resolver", "SourceFetcher", "SystemResolver"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_CONNECTIONS = 64
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class FetchedSource:
    data: bytes
    content_type: str | None
    final_url: str


class SourceFetcher:
    """Fetches source URLs; one connection pool for its lifetime, closed by ``aclose``."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        resolver: Resolver | None = None,
        address_policy: AddressPolicy | None = None,
        user_agent: str = "imgstax/0.1",
    ) -> None:
        self._settings = settings
        self._resolver = resolver if resolver is not None else SystemResolver()
        self._policy = ssrf.policy_for(settings, address_policy)
        # Reads, writes and pool waits are bounded by the one deadline around the whole fetch
        # (the shape of httpx.Timeout(None, connect=...).as_dict(), which httpcore reads).
        self._timeout: dict[str, float | None] = {
            "connect": settings.connect_timeout,
            "read": None,
            "write": None,
            "pool": None,
        }
        self._headers = {
            "User-Agent": user_agent,
            "Accept": "image/*",
            # Raw bytes only: the cap then bounds what arrives, not what a decompressor makes.
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._opening = anyio.Lock()

    async def _opened_transport(self) -> httpx.AsyncHTTPTransport:
        """The connection pool, made on the first fetch, on a worker thread."""
        async with self._opening:
            if self._transport is None:
                self._transport = await anyio.to_thread.run_sync(_new_transport)
            return self._transport

    async def __aenter__(self) -> SourceFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport and its connections (a later fetch opens a new one)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    async def fetch(self, url: str) -> FetchedSource:
        """Download url, following redirects, within the deadline and the size cap."""
        total = self._settings.total_timeout
        try:
            with anyio.fail_after(total):
                return await self._follow(url)
        except TimeoutError as exc:
            raise SourceTimeout(
                f"The source did not deliver the image within {total:g} s; "
                "try again later or use a faster host."
            ) from exc

    async def _follow(self, url: str) -> FetchedSource:
        parsed = ssrf.parse_source_url(url, self._settings, address_policy=self._policy)
        for hop in range(self._settings.max_redirects + 1):
            response = await self._open(parsed)
            try:
                if response.status_code not in _REDIRECTS:
                    return await self._receive(parsed, response)
                location = response.headers.get("location")
            finally:
                # Shielded: a cancelled fetch must still close its connection.
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            if location is None:
                raise SourceUnreachable(
                    f"The source at {parsed.host} answered {response.status_code} "
                    "without a Location header."
                )
            if hop == self._settings.max_redirects:
                break
            parsed = self._redirect_target(urljoin(parsed.url, location))
        raise SourceUnreachable(
            f"The source redirected more than {self._settings.max_redirects} times; "
            "use the final URL of the image."
        )

    def _redirect_target(self, url: str) -> ParsedURL:
        try:
            return ssrf.parse_source_url(url, self._settings, address_policy=self._policy)
        except SourceForbidden as exc:
            raise SourceForbidden(
                f"The source redirected to a URL that is not allowed. {exc}"
            ) from exc
        except InvalidRequest as exc:
            raise SourceUnreachable(f"The source redirected to an invalid URL. {exc}") from exc

    async def _open(self, parsed: ParsedURL) -> httpx.Response:
        """Send the request to the first checked address that accepts a connection."""
        import httpx

        transport = await self._opened_transport()
        addresses = await checked_addresses(
            parsed, self._resolver, self._policy, self._settings.connect_timeout
        )
        for index, ip in enumerate(addresses):
            host = f"[{ip}]" if ip.version == 6 else str(ip)
            extensions: dict[str, object] = {"timeout": self._timeout}
            if parsed.scheme == "https":
                extensions["sni_hostname"] = parsed.host
            request = httpx.Request(
                "GET",
                f"{parsed.scheme}://{host}:{parsed.port}{parsed.target}",
                headers={"Host": parsed.authority, **self._headers},
                extensions=extensions,
            )
            try:
                return await transport.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent yet, so the next address may be tried.
                if index == len(addresses) - 1:
                    raise _translate(exc, parsed) from exc
            except httpx.TransportError as exc:
                raise _translate(exc, parsed) from exc
        raise AssertionError("checked_addresses never returns an empty list")

    async def _receive(self, parsed: ParsedURL, response: httpx.Response) -> FetchedSource:
        import httpx

        status = response.status_code
        # The standard phrase, not the source's: no text of the source's choosing in messages.
        answer = f"{status} {httpx.codes.get_reason_phrase(status)}".strip()
        if status in (404, 410):
            raise SourceNotFound(
                f"The source at {parsed.host} answered {answer}: there is no image at that URL."
            )
        if not 200 <= status < 300:
            raise SourceUnreachable(f"The source at {parsed.host} answered {answer}.")
        try:
            data = await self._read_capped(response)
        except httpx.TransportError as exc:
            raise _translate(exc, parsed) from exc
        return FetchedSource(data, response.headers.get("content-type"), parsed.url)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self._settings.max_source_bytes
        declared = response.headers.get("content-length", "")
        # Content-Length is only trusted to fail early; the stream is counted regardless.
        if _DIGITS.match(declared) and int(declared) > cap:
            raise InvalidRequest(
                f"Source image size ({int(declared)} bytes) exceeds maximum allowed size "
                f"({cap} bytes)"
            )
        body = bytearray()
        async for chunk in response.aiter_raw():
            charge(len(chunk))
            body += chunk
            if len(body) > cap:
                raise InvalidRequest(
                    f"Source image size exceeds maximum allowed size ({cap} bytes)"
                )
        return bytes(body)


def _new_transport() -> httpx.AsyncHTTPTransport:
    """httpx's transport; importing httpx and building the TLS context take ~90 ms, so the
    first fetch does this on a worker thread rather than stall the event loop."""
    import httpx

    # The transport, not an AsyncClient: a client would parse Location headers with its own
    # rules (and fail on some before we could refuse them), keep a cookie jar and read proxy
    # variables. Here there are no redirects, no cookies and no environment at all.
    return httpx.AsyncHTTPTransport(
        trust_env=False,
        limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=0),
    )


def _translate(exc: httpx.TransportError, parsed: ParsedURL) -> Exception:
    """The imgstax error for an httpx transport error; messages never carry addresses."""
    import httpx

    host = parsed.host
    if isinstance(exc, httpx.ConnectTimeout):
        return SourceTimeout(f"Could not connect to the source host {host} in time.")
    if isinstance(exc, httpx.TimeoutException):
        return SourceTimeout(f"The source host {host} did not answer in time.")
    if isinstance(exc, httpx.ConnectError):
        return SourceUnreachable(
            f"Could not connect to the source host {host}: {_connect_failure(exc)}."
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return SourceUnreachable(
            f"The source host {host} closed the connection early or sent an invalid HTTP answer."
        )
    return SourceUnreachable(f"The connection to the source host {host} failed.")


def _connect_failure(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "its TLS certificate could not be verified"
        if isinstance(cause, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused"
        cause = cause.__cause__ or cause.__context__
    return "the connection failed"
