"""SSRF through the POST endpoints: zero connections to a forbidden address, whatever the trick.

tests/origin/test_ssrf.py checks the guard's tables and tests/origin/test_fetch.py the fetcher;
this drives the same attacks through the API with the default policy (no private sources). A
victim server listens on 127.0.0.1 and another on [::1]; each must accept nothing. Addresses
beyond loopback are refused by the package's network fence, so a broken guard fails the test
instead of sending a packet. Names resolve through a table, never through DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import load_settings
from config.errors import SourceForbidden
from origin.ssrf import Address, public_only
from tests.hardening.conftest import ALPHA, FIXTURES, LoopbackResolver, hardening_environ
from tests.support.http_source import HttpSource, body, redirect

TINY = (FIXTURES / "tiny-1x1.png").read_bytes()
ENDPOINTS = {
    "compress": {},
    "convert": {"format": "Png"},
    "compress-to-size": {"maxSizeBytes": 100_000},
    "resize": {"width": 10},
    "downsize": {"maxWidth": 10},
    "process": {"resize": {"width": 10}},
    "packs/tiktok": {},
}
NAMES = {
    "internal.test": [["10.0.0.5"]],
    "metadata.test": [["169.254.169.254"]],
    "loopback.test": [["127.0.0.1"]],
    "mixed.test": [["93.184.216.34", "127.0.0.1"]],  # one bad answer forbids the name
    "v6-loopback.test": [["::1"]],
    "v6-mapped.test": [["::ffff:127.0.0.1"]],
    "nat64.test": [["64:ff9b::7f00:1"]],
    "ula.test": [["fd00::1"]],
}
F, BAD = "SOURCE_FORBIDDEN", "INVALID_REQUEST"
# (url with {p} = the IPv4 victim's port and {q} = the IPv6 victim's, the code expected)
ATTACKS = {
    # address classes
    "loopback": ("http://127.0.0.1:{p}/x.png", F),
    "loopback-other": ("http://127.9.8.7:{p}/x.png", F),
    "this-network": ("http://0.0.0.0:{p}/x.png", F),
    "this-network-short": ("http://0:{p}/x.png", F),
    "private-10": ("http://10.0.0.1/x.png", F),
    "private-172": ("http://172.16.0.1/x.png", F),
    "private-192": ("http://192.168.0.1/x.png", F),
    "cgnat": ("http://100.64.0.1/x.png", F),
    "link-local": ("http://169.254.1.1/x.png", F),
    "metadata": ("http://169.254.169.254/latest/meta-data/", F),
    "metadata-gce": ("http://169.254.169.254/computeMetadata/v1/", F),
    "multicast": ("http://224.0.0.1/x.png", F),
    "reserved": ("http://240.0.0.1/x.png", F),
    "broadcast": ("http://255.255.255.255/x.png", F),
    "benchmarking": ("http://198.18.0.1/x.png", F),
    "documentation": ("http://192.0.2.1/x.png", F),
    "v6-loopback": ("http://[::1]:{q}/x.png", F),
    "v6-unspecified": ("http://[::]:{q}/x.png", F),
    "v6-ula": ("http://[fd00::1]/x.png", F),
    "v6-link-local": ("http://[fe80::1]/x.png", F),
    "v6-multicast": ("http://[ff02::1]/x.png", F),
    "v6-site-local": ("http://[fec0::1]/x.png", F),
    "v4-mapped": ("http://[::ffff:127.0.0.1]:{p}/x.png", F),
    "v4-mapped-hex": ("http://[::ffff:7f00:1]:{p}/x.png", F),
    "v4-mapped-long": ("http://[0:0:0:0:0:ffff:7f00:1]:{p}/x.png", F),
    "v4-mapped-metadata": ("http://[::ffff:169.254.169.254]/x.png", F),
    "v4-compatible": ("http://[::127.0.0.1]:{p}/x.png", F),
    "v4-translated": ("http://[::ffff:0:127.0.0.1]:{p}/x.png", F),
    "nat64-loopback": ("http://[64:ff9b::127.0.0.1]:{p}/x.png", F),
    "nat64-metadata": ("http://[64:ff9b::a9fe:a9fe]/x.png", F),
    "nat64-local-use": ("http://[64:ff9b:1::808:808]/x.png", F),
    "6to4-loopback": ("http://[2002:7f00:1::1]:{p}/x.png", F),
    "teredo": ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x.png", F),
    # numeric tricks
    "decimal": ("http://2130706433:{p}/x.png", F),
    "hex": ("http://0x7f000001:{p}/x.png", F),
    "octal": ("http://0177.0.0.1:{p}/x.png", F),
    "octal-whole": ("http://017700000001:{p}/x.png", F),
    "mixed-radix": ("http://0x7f.0.0.01:{p}/x.png", F),
    "short-form": ("http://127.1:{p}/x.png", F),
    "short-hex": ("http://0x7f.1:{p}/x.png", F),
    "decimal-metadata": ("http://2852039166/latest/meta-data/", F),
    "trailing-dot": ("http://127.0.0.1.:{p}/x.png", F),
    "fullwidth-digits": ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/x.png", F),
    "localhost": ("http://localhost:{p}/x.png", F),
    "localhost-dot": ("http://localhost.:{p}/x.png", F),
    "localhost-upper": ("http://LOCALHOST:{p}/x.png", F),
    "localhost-sub": ("http://a.b.localhost:{p}/x.png", F),
    "ipv4-overflow": ("http://127.0.0.256:{p}/x.png", BAD),
    "five-parts": ("http://127.0.0.0.1:{p}/x.png", BAD),
    "percent-encoded-host": ("http://127.0.0.%31:{p}/x.png", BAD),
    # userinfo and brackets
    "userinfo-public-at-loopback": ("http://images.example.com@127.0.0.1:{p}/x.png", F),
    "userinfo-loopback-at-public": ("http://127.0.0.1:{p}@images.example.com/x.png", F),
    "userinfo-password": ("http://user:pass@images.example.com/x.png", F),
    "userinfo-backslash": ("http://127.0.0.1:{p}\\@images.example.com/x.png", F),
    "userinfo-empty": ("http://@127.0.0.1:{p}/x.png", F),
    "bracketed-v4": ("http://[127.0.0.1]:{p}/x.png", BAD),
    "unclosed-bracket": ("http://[::1:{q}/x.png", BAD),
    "zone-id": ("http://[fe80::1%25lo]:{q}/x.png", BAD),
    "junk-after-bracket": ("http://[::1]junk:{q}/x.png", BAD),
    # names that resolve to forbidden addresses
    "name-private": ("http://internal.test/x.png", F),
    "name-metadata": ("http://metadata.test/latest/meta-data/", F),
    "name-loopback": ("http://loopback.test:{p}/x.png", F),
    "name-one-bad-answer": ("http://mixed.test:{p}/x.png", F),
    "name-v6-loopback": ("http://v6-loopback.test:{q}/x.png", F),
    "name-v4-mapped": ("http://v6-mapped.test:{p}/x.png", F),
    "name-nat64": ("http://nat64.test:{p}/x.png", F),
    "name-ula": ("http://ula.test/x.png", F),
    # schemes
    "file": ("file:///etc/passwd", F),
    "gopher": ("gopher://127.0.0.1:{p}/_x", F),
    "dict": ("dict://127.0.0.1:{p}/", F),
    "ftp": ("ftp://127.0.0.1:{p}/x.png", F),
    "scheme-relative": ("//127.0.0.1:{p}/x.png", BAD),
    "one-slash": ("http:/127.0.0.1:{p}/x.png", BAD),
}


@pytest.fixture
def victim() -> Iterator[HttpSource]:
    with HttpSource("127.0.0.1") as server:
        server.route("/x.png", body(TINY))
        yield server


@pytest.fixture
def victim6() -> Iterator[HttpSource]:
    with HttpSource("::1") as server:
        server.route("/x.png", body(TINY))
        yield server


@pytest.fixture
def guarded(make_client: Callable[..., TestClient], data_dir: Path) -> TestClient:
    """The default policy: only public addresses; names resolve through NAMES."""
    settings = load_settings(hardening_environ(data_dir, render_workers="2", render_queue="8"))
    return make_client(settings, resolver=LoopbackResolver(NAMES))


def attack(client: TestClient, endpoint: str, url: str) -> tuple[int, str]:
    response = client.post(
        f"/v1/{endpoint}", json={"source": {"url": url}, **ENDPOINTS[endpoint]}, headers=ALPHA
    )
    answer = response.json()
    assert set(answer) == {"error", "message", "code"}, answer
    for secret in ("127.0.0.1", "169.254", "::1"):
        if secret not in url:
            continue
        # Messages name the host as given at most, never what a name resolved to.
        assert f"resolves to {secret}" not in answer["message"]
    return response.status_code, answer["code"]


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_trick_is_refused_without_a_connection(
    guarded: TestClient, victim: HttpSource, victim6: HttpSource, name: str
) -> None:
    template, code = ATTACKS[name]
    url = template.format(p=victim.port, q=victim6.port)
    assert attack(guarded, "process", url) == (400, code)
    assert victim.accepted == 0 and victim6.accepted == 0


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_is_guarded(
    guarded: TestClient, victim: HttpSource, victim6: HttpSource, endpoint: str
) -> None:
    for name in ("metadata", "decimal", "v4-mapped", "localhost-dot", "name-one-bad-answer"):
        template, code = ATTACKS[name]
        url = template.format(p=victim.port, q=victim6.port)
        assert attack(guarded, endpoint, url) == (400, code), name
    assert victim.accepted == 0 and victim6.accepted == 0


def only(host: str, ip: str) -> Callable[[str, Address], None]:
    """The default policy, except that exactly (host, ip) is allowed: a stand-in public site."""
    allowed = (host, ipaddress.ip_address(ip))

    def policy(name: str, address: Address) -> None:
        if (name, address) != allowed:
            public_only(name, address)

    return policy


def use_policy(client: TestClient, policy: Callable[[str, Address], None]) -> None:
    fetcher = client.app.state.services.assets._sources._fetcher  # type: ignore[attr-defined]
    fetcher._policy = policy


@pytest.fixture
def site() -> Iterator[HttpSource]:
    """The stand-in public site, on 127.0.0.1, reached as images.test."""
    with HttpSource("127.0.0.1") as server:
        server.route("/img.png", body(TINY))
        yield server


REDIRECT_TARGETS = {
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "loopback-literal": "http://127.0.0.1:{p}/x.png",
    "decimal": "http://2130706433:{p}/x.png",
    "v6-loopback": "http://[::1]:{q}/x.png",
    "v4-mapped": "http://[::ffff:127.0.0.1]:{p}/x.png",
    "localhost": "http://localhost:{p}/x.png",
    "name-private": "http://internal.test/x.png",
    "name-loopback": "http://loopback.test:{p}/x.png",
    "scheme-relative": "//127.0.0.1:{p}/x.png",
    "file": "file:///etc/passwd",
    "userinfo": "http://images.test@127.0.0.1:{p}/x.png",
}


@pytest.mark.parametrize("target", list(REDIRECT_TARGETS))
def test_a_redirect_chain_ending_at_a_forbidden_address(
    make_client: Callable[..., TestClient],
    data_dir: Path,
    site: HttpSource,
    victim: HttpSource,
    victim6: HttpSource,
    target: str,
) -> None:
    """Three allowed hops on the public site, then a forbidden one: refused, never reached."""
    resolver = LoopbackResolver({**NAMES, "images.test": [["127.0.0.1"]]})
    client = make_client(load_settings(hardening_environ(data_dir)), resolver=resolver)
    use_policy(client, only("images.test", "127.0.0.1"))
    base = f"http://images.test:{site.port}"
    site.route("/a", redirect(f"{base}/b", 301))
    site.route("/b", redirect("/c", 307))  # relative
    site.route("/c", redirect(REDIRECT_TARGETS[target].format(p=victim.port, q=victim6.port)))
    assert attack(client, "resize", f"{base}/a") == (400, "SOURCE_FORBIDDEN")
    assert site.accepted == 3
    assert victim.accepted == 0 and victim6.accepted == 0


def test_a_chain_of_allowed_hops_is_followed_to_the_image_and_no_further(
    make_client: Callable[..., TestClient], data_dir: Path, site: HttpSource
) -> None:
    """Control for the above: five allowed hops render; a sixth is refused."""
    resolver = LoopbackResolver({"images.test": [["127.0.0.1"]]})
    client = make_client(load_settings(hardening_environ(data_dir)), resolver=resolver)
    use_policy(client, only("images.test", "127.0.0.1"))
    for hop in range(6):
        site.route(f"/{hop}", redirect(f"/{hop + 1}"))
    site.route("/6", body(TINY))
    base = f"http://images.test:{site.port}"
    response = client.post("/v1/compress", json={"source": {"url": f"{base}/1"}}, headers=ALPHA)
    assert response.status_code == 200, response.text
    assert attack(client, "compress", f"{base}/0") == (502, "SOURCE_UNREACHABLE")


@pytest.fixture
def rebound(site: HttpSource) -> Iterator[HttpSource]:
    """A second server on 127.0.0.2 at the site's port: where a re-resolved name would go."""
    with HttpSource("127.0.0.2", site.port) as server:
        server.route("/img.png", body(TINY))
        yield server


def test_dns_rebinding_cannot_move_a_connection(
    make_client: Callable[..., TestClient],
    data_dir: Path,
    site: HttpSource,
    rebound: HttpSource,
) -> None:
    """The name answers an allowed address once, then a forbidden one on every later lookup."""
    resolver = LoopbackResolver({"images.test": [["127.0.0.1"], ["127.0.0.2"]]})
    client = make_client(load_settings(hardening_environ(data_dir)), resolver=resolver)
    use_policy(client, only("images.test", "127.0.0.1"))
    url = f"http://images.test:{site.port}/img.png"
    # First lookup: allowed, and the connection goes to the checked address, never looked up
    # again by the HTTP client.
    response = client.post("/v1/compress", json={"source": {"url": url}}, headers=ALPHA)
    assert response.status_code == 200, response.text
    assert (site.accepted, rebound.accepted) == (1, 0)
    # Every later lookup rebinds: refused, on a fresh POST and on a redirect's second hop.
    assert attack(client, "compress", url) == (400, "SOURCE_FORBIDDEN")
    assert resolver.lookups == ["images.test", "images.test"]
    assert rebound.accepted == 0


def test_a_redirect_to_the_same_name_is_looked_up_and_checked_again(
    make_client: Callable[..., TestClient],
    data_dir: Path,
    site: HttpSource,
    rebound: HttpSource,
) -> None:
    resolver = LoopbackResolver({"images.test": [["127.0.0.1"], ["127.0.0.2"]]})
    client = make_client(load_settings(hardening_environ(data_dir)), resolver=resolver)
    use_policy(client, only("images.test", "127.0.0.1"))
    site.route("/hop", redirect(f"http://images.test:{site.port}/img.png"))
    url = f"http://images.test:{site.port}/hop"
    assert attack(client, "compress", url) == (400, "SOURCE_FORBIDDEN")
    assert (site.accepted, rebound.accepted) == (1, 0)


def test_the_policy_in_these_tests_refuses_what_it_should() -> None:
    """The stand-in policy lets exactly one (name, address) pair through."""
    policy = only("images.test", "127.0.0.1")
    policy("images.test", ipaddress.ip_address("127.0.0.1"))
    for name, ip in [("images.test", "127.0.0.2"), ("other.test", "127.0.0.1")]:
        with pytest.raises(SourceForbidden):
            policy(name, ipaddress.ip_address(ip))
