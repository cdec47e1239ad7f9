"""SourceFetcher against real loopback servers.

No connection ever leaves the loopback interface: public-looking names map to 127.0.0.1 through
a fake resolver, and where the address policy must refuse loopback (the SSRF cases) the test
proves it by counting the connections the loopback servers accepted.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from config.errors import ImgstaxError, SourceForbidden
from config.settings import SourceSettings
from origin.fetch import FetchedSource, Resolver, SourceFetcher, SystemResolver
from origin.ssrf import Address, AddressPolicy, public_only
from tests.support import http_source as routes
from tests.support.http_source import Exchange, HttpSource

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CAP = 1024 * 1024
LOCAL = SourceSettings(
    allow_private_sources=True, connect_timeout=0.5, total_timeout=1.5, max_source_bytes=CAP
)
STRICT = SourceSettings(connect_timeout=0.5, total_timeout=1.5, max_source_bytes=CAP)
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def source() -> Iterator[HttpSource]:
    with HttpSource() as server:
        yield server


@pytest.fixture
def victim() -> Iterator[HttpSource]:
    """A second server that no test may ever reach."""
    with HttpSource() as server:
        yield server


class FakeResolver:
    """Answers from a table: name -> one answer per call, the last one repeating."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[Address]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        sequence = self.answers[host]
        answer = sequence[min(self.calls.count(host), len(sequence)) - 1]
        return [ipaddress.ip_address(text) for text in answer]


class HangingResolver:
    async def resolve(self, host: str, port: int) -> list[Address]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def allowing(host: str, ip: Address = LOOPBACK) -> AddressPolicy:
    """The default policy, except that exactly (host, ip) is allowed."""

    def policy(name: str, address: Address) -> None:
        if (name, address) != (host, ip):
            public_only(name, address)

    return policy


async def fetch(
    url: str,
    settings: SourceSettings = LOCAL,
    *,
    resolver: Resolver | None = None,
    address_policy: AddressPolicy | None = None,
) -> FetchedSource:
    async with SourceFetcher(settings, resolver=resolver, address_policy=address_policy) as fetcher:
        return await fetcher.fetch(url)


async def fails(
    code: str,
    url: str,
    settings: SourceSettings = LOCAL,
    *,
    resolver: Resolver | None = None,
    address_policy: AddressPolicy | None = None,
) -> str:
    """Fetch url, expect the error with this code, return its message."""
    with pytest.raises(ImgstaxError) as info:
        await fetch(url, settings, resolver=resolver, address_policy=address_policy)
    assert info.value.code == code, info.value.message
    assert "Traceback" not in info.value.message
    return info.value.message


# -- the happy path ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fetches_the_bytes(source: HttpSource) -> None:
    source.route("/img.png", routes.body(PNG))
    got = await fetch(source.url("/img.png?v=1"))
    assert got == FetchedSource(PNG, "image/png", source.url("/img.png?v=1"))
    headers = source.requests[0].headers
    assert headers["accept"] == "image/*"
    assert headers["user-agent"] == "imgstax/0.1"
    assert headers["accept-encoding"] == "identity"
    assert headers["host"] == f"127.0.0.1:{source.port}"


@pytest.mark.anyio
async def test_a_body_of_exactly_the_cap_is_accepted(source: HttpSource) -> None:
    source.route("/big", routes.body(b"\0" * CAP))
    assert len((await fetch(source.url("/big"))).data) == CAP


@pytest.mark.anyio
async def test_the_name_is_resolved_once_and_kept_in_host(source: HttpSource) -> None:
    source.route("/img.png", routes.body(PNG))
    resolver = FakeResolver({"images.example.test": [["127.0.0.1"]]})
    url = f"http://images.example.test:{source.port}/img.png"
    # Had the HTTP client looked the .test name up itself, the system resolver would fail.
    got = await fetch(url, resolver=resolver)
    assert got.data == PNG and got.final_url == url
    assert resolver.calls == ["images.example.test"]
    assert source.requests[0].headers["host"] == f"images.example.test:{source.port}"


@pytest.mark.anyio
async def test_idna_host_and_unicode_path(source: HttpSource) -> None:
    source.route("/%C3%A4.png", routes.body(PNG))
    resolver = FakeResolver({"xn--bcher-kva.example.test": [["127.0.0.1"]]})
    got = await fetch(
        f"http://B\u00fccher.example.test:{source.port}/\u00e4.png", resolver=resolver
    )
    assert got.data == PNG
    assert source.requests[0].headers["host"] == f"xn--bcher-kva.example.test:{source.port}"


@pytest.mark.anyio
async def test_the_next_address_is_tried_when_one_refuses(source: HttpSource) -> None:
    source.route("/img.png", routes.body(PNG))
    # Nothing listens on 127.0.0.3: it refuses at once, and 127.0.0.1 answers.
    resolver = FakeResolver({"two.example.test": [["127.0.0.3", "127.0.0.1"]]})
    got = await fetch(f"http://two.example.test:{source.port}/img.png", resolver=resolver)
    assert got.data == PNG


@pytest.mark.anyio
async def test_the_system_resolver_on_localhost(source: HttpSource) -> None:
    addresses = await SystemResolver().resolve("localhost", source.port)
    assert addresses and all(ip.is_loopback for ip in addresses)
    assert len(set(addresses)) == len(addresses)
    source.route("/img.png", routes.body(PNG))
    # localhost may answer ::1 first; the server is on 127.0.0.1 only, which is tried next.
    assert (await fetch(f"http://localhost:{source.port}/img.png")).data == PNG


@pytest.mark.anyio
async def test_concurrent_fetches_share_one_fetcher(source: HttpSource) -> None:
    source.route("/img.png", routes.body(PNG))
    results: list[bytes] = []

    async def one(fetcher: SourceFetcher) -> None:
        results.append((await fetcher.fetch(source.url("/img.png"))).data)

    async with SourceFetcher(LOCAL) as fetcher, anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(one, fetcher)
    assert results == [PNG] * 10
    assert source.accepted == 10


@pytest.mark.anyio
async def test_a_closed_fetcher_opens_a_new_transport(source: HttpSource) -> None:
    source.route("/img.png", routes.body(PNG))
    fetcher = SourceFetcher(LOCAL)
    await fetcher.aclose()  # before any fetch: nothing was opened
    assert (await fetcher.fetch(source.url("/img.png"))).data == PNG
    await fetcher.aclose()
    assert (await fetcher.fetch(source.url("/img.png"))).data == PNG
    await fetcher.aclose()
    assert source.accepted == 2


def test_the_origin_loads_httpx_only_to_fetch(tmp_path: Path) -> None:
    """An origin that never fetches a URL never imports httpx (5-8 MB of RSS, bench W7)."""
    script = """
import sys, anyio
from origin.app import app_from_environ
from origin.fetch import SourceFetcher
from config.errors import ImgstaxError
from config.settings import SourceSettings
app_from_environ()
print("httpx" in sys.modules)
async def main():
    async with SourceFetcher(SourceSettings(allow_private_sources=True)) as fetcher:
        try:
            await fetcher.fetch("http://127.0.0.1:9/none.png")  # nothing listens there
        except ImgstaxError as exc:
            print(exc.code)
anyio.run(main)
print("httpx" in sys.modules)
"""
    env = {
        **os.environ,
        "IMGSTAX_DATA_DIR": str(tmp_path),
        "IMGSTAX_API_KEYS": "ci:k_" + "a" * 32,
        "IMGSTAX_SIGNING_KEYS": "s" * 48,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "SOURCE_UNREACHABLE", "True"]


@pytest.mark.anyio
async def test_cookies_are_not_kept(source: HttpSource) -> None:
    source.route("/a", routes.body(PNG, extra={"Set-Cookie": "session=secret; Path=/"}))
    source.route("/b", routes.body(PNG))
    async with SourceFetcher(LOCAL) as fetcher:
        await fetcher.fetch(source.url("/a"))
        await fetcher.fetch(source.url("/b"))
    assert "cookie" not in source.requests[1].headers


@pytest.mark.anyio
async def test_proxy_variables_are_ignored(
    source: HttpSource, victim: HttpSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, victim.url())
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    source.route("/img.png", routes.body(PNG))
    assert (await fetch(source.url("/img.png"))).data == PNG
    assert victim.accepted == 0


@pytest.mark.anyio
async def test_https_sends_the_host_name_as_sni(source: HttpSource) -> None:
    resolver = FakeResolver({"images.example.test": [["127.0.0.1"]]})
    url = f"https://images.example.test:{source.port}/img.png"
    # The server speaks no TLS: the handshake fails, but the ClientHello shows the SNI.
    message = await fails("SOURCE_UNREACHABLE", url, resolver=resolver)
    assert "images.example.test" in message
    assert b"images.example.test" in source.tls_hellos[0]


# -- the SSRF guard ---------------------------------------------------------------------------


def forbidden_targets(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://localhost:{port}/",
        f"http://localhost.:{port}/",
        f"http://victim.example.test:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        f"http://example.com@127.0.0.1:{port}/",
        f"gopher://127.0.0.1:{port}/_GET",
    ]


@pytest.mark.anyio
async def test_forbidden_targets_are_never_connected(victim: HttpSource) -> None:
    resolver = FakeResolver({"victim.example.test": [["127.0.0.1"]]})
    for url in forbidden_targets(victim.port):
        message = await fails("SOURCE_FORBIDDEN", url, STRICT, resolver=resolver)
        if "victim.example.test" in url:
            assert "127.0.0.1" not in message  # the resolved address stays ours
    assert victim.accepted == 0


@pytest.mark.anyio
async def test_one_forbidden_answer_forbids_the_host(source: HttpSource) -> None:
    resolver = FakeResolver({"mixed.example.test": [["127.0.0.1", "10.1.2.3"]]})
    policy = allowing("mixed.example.test")
    url = f"http://mixed.example.test:{source.port}/"
    message = await fails("SOURCE_FORBIDDEN", url, STRICT, resolver=resolver, address_policy=policy)
    assert "10.1.2.3" not in message and "127.0.0.1" not in message
    assert source.accepted == 0


def servers_on_one_port(*hosts: str) -> list[HttpSource]:
    """Servers on the same port of several loopback addresses (skip where they cannot bind)."""
    for _ in range(20):
        first = HttpSource(hosts[0])
        servers = [first]
        try:
            servers += [HttpSource(host, first.port) for host in hosts[1:]]
            return servers
        except OSError as exc:
            for server in servers:
                server.close()
            if exc.errno != errno.EADDRINUSE:
                pytest.skip(f"cannot listen on {hosts[1:]}: {exc}")
    pytest.skip("no port free on every loopback address")


@pytest.mark.anyio
async def test_dns_rebinding_cannot_move_the_connection() -> None:
    checked, rebound = servers_on_one_port("127.0.0.1", "127.0.0.2")
    try:
        checked.route("/img.png", routes.body(PNG))
        rebound.route("/img.png", routes.body(b"secret"))
        # The first answer passes the policy; every later answer points somewhere forbidden.
        resolver = FakeResolver({"rebind.example.test": [["127.0.0.1"], ["127.0.0.2"]]})
        url = f"http://rebind.example.test:{checked.port}/img.png"
        async with SourceFetcher(
            STRICT, resolver=resolver, address_policy=allowing("rebind.example.test")
        ) as fetcher:
            assert (await fetcher.fetch(url)).data == PNG
            assert resolver.calls == ["rebind.example.test"]
            with pytest.raises(SourceForbidden):
                await fetcher.fetch(url)
        assert checked.accepted == 1
        assert rebound.accepted == 0
    finally:
        checked.close()
        rebound.close()


@pytest.mark.anyio
async def test_redirects_to_forbidden_targets_are_refused(
    source: HttpSource, victim: HttpSource
) -> None:
    resolver = FakeResolver(
        {"redirector.example.test": [["127.0.0.1"]], "victim.example.test": [["127.0.0.1"]]}
    )
    policy = allowing("redirector.example.test")
    for index, target in enumerate(forbidden_targets(victim.port)):
        source.route(f"/r{index}", routes.redirect(target))
        url = f"http://redirector.example.test:{source.port}/r{index}"
        await fails("SOURCE_FORBIDDEN", url, STRICT, resolver=resolver, address_policy=policy)
        assert source.accepted == index + 1
    assert victim.accepted == 0


@pytest.mark.anyio
async def test_every_hop_is_resolved_and_checked_again(source: HttpSource) -> None:
    source.route("/a", routes.redirect("/b"))
    source.route("/b", routes.body(PNG))
    resolver = FakeResolver({"redirector.example.test": [["127.0.0.1"], ["169.254.169.254"]]})
    policy = allowing("redirector.example.test")
    url = f"http://redirector.example.test:{source.port}/a"
    await fails("SOURCE_FORBIDDEN", url, STRICT, resolver=resolver, address_policy=policy)
    assert resolver.calls == ["redirector.example.test"] * 2
    assert source.accepted == 1


# -- redirects --------------------------------------------------------------------------------


def chain(server: HttpSource, redirects: int) -> str:
    for hop in range(redirects):
        server.route(f"/hop{hop}", routes.redirect(f"/hop{hop + 1}"))
    server.route(f"/hop{redirects}", routes.body(PNG))
    return server.url("/hop0")


@pytest.mark.anyio
async def test_five_redirects_are_followed(source: HttpSource) -> None:
    got = await fetch(chain(source, 5))
    assert got.data == PNG and got.final_url == source.url("/hop5")


@pytest.mark.anyio
async def test_a_sixth_redirect_is_refused(source: HttpSource) -> None:
    message = await fails("SOURCE_UNREACHABLE", chain(source, 6))
    assert "more than 5" in message
    assert [ex.target for ex in source.requests] == [f"/hop{hop}" for hop in range(6)]


@pytest.mark.anyio
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_codes(source: HttpSource, code: int) -> None:
    source.route("/old", routes.redirect("/new.png", code))
    source.route("/new.png", routes.body(PNG))
    assert (await fetch(source.url("/old"))).data == PNG


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("location", "final"),
    [
        ("b.png", "/dir/b.png"),
        ("../up.png", "/up.png"),
        ("?v=2", "/dir/a?v=2"),
        ("//127.0.0.1:{port}/abs.png", "/abs.png"),
        ("http://127.0.0.1:{port}/full.png", "/full.png"),
    ],
)
async def test_relative_locations(source: HttpSource, location: str, final: str) -> None:
    redirect = routes.redirect(location.format(port=source.port))

    def first_hop(exchange: Exchange) -> None:
        # "?v=2" comes back to /dir/a itself: answer that second request with the image.
        (routes.body(PNG) if "?" in exchange.target else redirect)(exchange)

    source.route("/dir/a", first_hop)
    if not final.startswith("/dir/a"):
        source.route(final, routes.body(PNG))
    got = await fetch(source.url("/dir/a"))
    assert got.final_url == source.url(final)


@pytest.mark.anyio
async def test_a_redirect_without_location(source: HttpSource) -> None:

    def no_location(exchange: Exchange) -> None:
        exchange.head(302, {"Content-Length": "0"})

    source.route("/r", no_location)
    assert "Location" in await fails("SOURCE_UNREACHABLE", source.url("/r"))


@pytest.mark.anyio
async def test_a_redirect_to_an_invalid_url(source: HttpSource) -> None:
    source.route("/r", routes.redirect("http://exa mple.com/"))
    await fails("SOURCE_UNREACHABLE", source.url("/r"))


# -- what the source answers ------------------------------------------------------------------

ANSWERS: list[tuple[str, Callable[[], routes.Handler], str]] = [
    ("404", lambda: routes.status(404), "SOURCE_NOT_FOUND"),
    ("410", lambda: routes.status(410), "SOURCE_NOT_FOUND"),
    ("403", lambda: routes.status(403), "SOURCE_UNREACHABLE"),
    ("500", lambda: routes.status(500), "SOURCE_UNREACHABLE"),
    ("503", lambda: routes.status(503), "SOURCE_UNREACHABLE"),
    ("reset", routes.reset, "SOURCE_UNREACHABLE"),
    ("truncated", lambda: routes.declared(1000, sent=500), "SOURCE_UNREACHABLE"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("handler", "code"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
async def test_source_answers(
    source: HttpSource, handler: Callable[[], routes.Handler], code: str
) -> None:
    source.route("/x", handler())
    message = await fails(code, source.url("/x"))
    assert "127.0.0.1" in message  # the caller's own host, named back


@pytest.mark.anyio
async def test_the_status_is_named(source: HttpSource) -> None:
    source.route("/x", routes.status(500))
    assert "500 Internal Server Error" in await fails("SOURCE_UNREACHABLE", source.url("/x"))


@pytest.mark.anyio
async def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as spare:
        port = spare.getsockname()[1]
    message = await fails("SOURCE_UNREACHABLE", f"http://127.0.0.1:{port}/")
    assert "refused" in message


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [[], None], ids=["no-address", "unknown-name"])
async def test_names_that_do_not_resolve(answer: list[str] | None) -> None:
    resolver = FakeResolver({} if answer is None else {"gone.example.test": [answer]})
    await fails("SOURCE_UNREACHABLE", "http://gone.example.test/", resolver=resolver)


# -- size and time ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_content_length_over_the_cap_fails_before_the_body(source: HttpSource) -> None:
    source.route("/huge", routes.declared(60_000_000, sent=0))
    message = await fails(
        "INVALID_REQUEST", source.url("/huge"), SourceSettings(allow_private_sources=True)
    )
    assert message == (
        "Source image size (60000000 bytes) exceeds maximum allowed size (52428800 bytes)"
    )


@pytest.mark.anyio
async def test_a_true_length_one_over_the_cap(source: HttpSource) -> None:
    source.route("/big", routes.body(b"\0" * (CAP + 1)))
    message = await fails("INVALID_REQUEST", source.url("/big"))
    assert (
        message == f"Source image size ({CAP + 1} bytes) exceeds maximum allowed size ({CAP} bytes)"
    )


@pytest.mark.anyio
async def test_an_endless_body_stops_at_the_cap(source: HttpSource) -> None:
    source.route("/endless", routes.endless())
    message = await fails("INVALID_REQUEST", source.url("/endless"))
    assert message == f"Source image size exceeds maximum allowed size ({CAP} bytes)"
    assert source.wait_for(lambda: source.disconnects == 1)
    # What the kernel buffers held when the fetcher hung up; nowhere near "endless".
    assert source.body_bytes_sent < CAP + 8 * 1024 * 1024


@pytest.mark.anyio
@pytest.mark.parametrize(
    "handler", [routes.hang(), routes.trickle(1000, 0.1)], ids=["hang", "trickle"]
)
async def test_the_total_deadline(source: HttpSource, handler: routes.Handler) -> None:
    source.route("/slow", handler)
    started = time.monotonic()
    message = await fails("SOURCE_TIMEOUT", source.url("/slow"))
    assert LOCAL.total_timeout <= time.monotonic() - started < LOCAL.total_timeout + 1
    assert "1.5 s" in message
    assert source.wait_for(lambda: source.disconnects == 1)


@pytest.mark.anyio
async def test_a_hung_resolver_times_out_at_the_connect_timeout() -> None:
    started = time.monotonic()
    await fails("SOURCE_TIMEOUT", "http://slow.example.test/", resolver=HangingResolver())
    assert time.monotonic() - started < LOCAL.connect_timeout + 0.5


@pytest.mark.anyio
async def test_cancelling_the_caller_stops_the_download(source: HttpSource) -> None:
    source.route("/slow", routes.trickle(1000, 0.05))
    async with SourceFetcher(SourceSettings(allow_private_sources=True)) as fetcher:
        async with anyio.create_task_group() as group:
            group.start_soon(fetcher.fetch, source.url("/slow"))
            while source.body_bytes_sent < 3:
                await anyio.sleep(0.02)
            group.cancel_scope.cancel()
        assert await anyio.to_thread.run_sync(
            lambda: source.wait_for(lambda: source.disconnects > 0)
        )
    assert source.body_bytes_sent < 100
