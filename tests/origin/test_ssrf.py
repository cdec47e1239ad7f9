"""The SSRF guard's pure half: address classes, URL tricks, normalisation, the allow-list.

Nothing here opens a connection: public addresses are only ever checked, never reached.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.errors import InvalidRequest, SourceForbidden
from config.settings import SourceSettings
from origin.ssrf import MAX_URL_LENGTH, check_address, parse_source_url

STRICT = SourceSettings()
PRIVATE_OK = SourceSettings(allow_private_sources=True)

FORBIDDEN_ADDRESSES = [
    # IPv4
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.0.1",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    # IPv6
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:8.8.8.8",  # refused outright, even when public
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "64:ff9b::127.0.0.1",  # NAT64 of loopback
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata service
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::8.8.8.8",  # local-use NAT64
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:808:808::1",  # 6to4 of a public address: 6to4 is refused outright
    "3fff::1",
    "fc00::1",
    "fd12:3456:789a::1",
    "fe80::1",
    "febf:ffff::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
]

PUBLIC_ADDRESSES = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "223.255.255.254",
    "2606:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8: how an IPv6-only host reaches IPv4 sites
]


@pytest.mark.parametrize("text", FORBIDDEN_ADDRESSES)
def test_non_public_addresses_are_forbidden(text: str) -> None:
    with pytest.raises(SourceForbidden):
        check_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC_ADDRESSES)
def test_public_addresses_pass(text: str) -> None:
    check_address(ipaddress.ip_address(text))


FORBIDDEN_URLS = [
    ("loopback", "http://127.0.0.1/"),
    ("loopback-port", "http://127.0.0.1:8080/x.png"),
    ("this-network", "http://0.0.0.0/"),
    ("zero", "http://0/"),
    ("metadata", "http://169.254.169.254/latest/meta-data/"),
    ("private", "https://10.0.0.1/"),
    ("cgnat", "http://100.64.1.1/"),
    ("multicast", "http://224.0.0.1/"),
    ("broadcast", "http://255.255.255.255/"),
    ("decimal", "http://2130706433/"),
    ("decimal-metadata", "http://2852039166/"),
    ("octal", "http://0177.0.0.1/"),
    ("octal-whole", "http://017700000001/"),
    ("hex", "http://0x7f.1/"),
    ("hex-whole", "http://0x7f000001/"),
    ("hex-upper", "http://0X7F.0X0.0X0.0X1/"),
    ("hex-metadata", "http://0xa9fea9fe/"),
    ("short", "http://127.1/"),
    ("short-private", "http://10.1/"),
    ("three-part", "http://192.168.1/"),
    ("mixed-radix", "http://0x7f.0.00.1/"),
    ("trailing-dot", "http://127.0.0.1./"),
    ("fullwidth-digits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/"),
    ("ideographic-dots", "http://127\u30020\u30020\u30021/"),
    ("v6-loopback", "http://[::1]/"),
    ("v6-unspecified", "http://[::]/"),
    ("v6-mapped", "http://[::ffff:127.0.0.1]/"),
    ("v6-mapped-hex", "http://[::ffff:7f00:1]/"),
    ("v6-mapped-metadata", "http://[::ffff:a9fe:a9fe]/"),
    ("v6-compatible", "http://[::127.0.0.1]/"),
    ("v6-nat64", "http://[64:ff9b::7f00:1]/"),
    ("v6-6to4", "http://[2002:7f00:1::]/"),
    ("v6-teredo", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"),
    ("v6-ula", "http://[fd00::1]:8080/"),
    ("v6-link-local", "http://[fe80::1]/"),
    ("v6-expanded-loopback", "http://[0000:0000:0000:0000:0000:0000:0000:0001]/"),
    ("localhost", "http://localhost/"),
    ("localhost-dot", "http://localhost./"),
    ("localhost-upper", "http://LOCALHOST:8080/"),
    ("localhost-sub", "http://images.localhost/"),
    ("localhost-sub-dot", "http://a.b.localhost./"),
    ("userinfo-host-trick", "http://example.com@127.0.0.1/"),
    ("userinfo-password", "https://user:pass@example.com/a.png"),
    ("userinfo-empty", "http://@example.com/"),
    ("userinfo-backslash", "http://example.com\\@127.0.0.1/"),
    ("userinfo-v6", "http://x@[::1]/"),
    ("fragment-trick", "http://127.0.0.1#@example.com/"),
    ("query-trick", "http://127.0.0.1?@example.com/"),
    ("scheme-ftp", "ftp://example.com/a.png"),
    ("scheme-file", "file:///etc/passwd"),
    ("scheme-gopher", "gopher://127.0.0.1:6379/_INFO"),
    ("scheme-dict", "dict://example.com:11211/"),
]


@pytest.mark.parametrize(
    ("url"), [u for _, u in FORBIDDEN_URLS], ids=[i for i, _ in FORBIDDEN_URLS]
)
def test_forbidden_urls(url: str) -> None:
    with pytest.raises(SourceForbidden) as info:
        parse_source_url(url, STRICT)
    assert info.value.status == 400
    assert info.value.code == "SOURCE_FORBIDDEN"


INVALID_URLS = [
    ("empty", ""),
    ("words", "not a url"),
    ("no-scheme", "example.com/image.png"),
    ("scheme-relative", "//example.com/image.png"),
    ("one-slash", "http:/example.com/"),
    ("javascript", "javascript:alert(1)"),
    ("no-host", "http:///image.png"),
    ("bare-scheme", "http://"),
    ("port-zero", "http://example.com:0/"),
    ("port-too-big", "http://example.com:65536/"),
    ("port-words", "http://example.com:http/"),
    ("port-sign", "http://example.com:+80/"),
    ("two-ports", "http://example.com:80:80/"),
    ("unclosed-bracket", "http://[::1/"),
    ("v4-in-brackets", "http://[127.0.0.1]/"),
    ("zone-id", "http://[fe80::1%25eth0]/"),
    ("unbracketed-v6", "http://::1/"),
    ("junk-after-bracket", "http://[::1]x/"),
    ("five-parts", "http://1.2.3.4.5/"),
    ("octet-too-big", "http://256.0.0.1/"),
    ("tail-too-big", "http://1.2.3.0x100/"),
    ("over-32-bits", "http://4294967296/"),
    ("bad-octal", "http://08.0.0.1/"),
    ("numeric-tld", "http://example.123/"),
    ("hex-tld", "http://example.0x7f/"),
    ("space-in-host", "http://exa mple.com/"),
    ("empty-label", "http://a..b/"),
    ("two-trailing-dots", "http://example.com../"),
    ("percent-host", "http://%31%32%37.0.0.1/"),
    ("bang-host", "http://ex!ample.com/"),
    ("backslash-host", "http://127.0.0.1\\.example.com/"),
    ("long-label", "http://" + "a" * 64 + ".com/"),
    ("newline", "http://exa\nmple.com/"),
    ("tab", "http://example.com/\ta.png"),
    ("nul", "http://example.com/\x00"),
    ("too-long", "https://example.com/" + "a" * MAX_URL_LENGTH),
]


@pytest.mark.parametrize("url", [u for _, u in INVALID_URLS], ids=[i for i, _ in INVALID_URLS])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_source_url(url, STRICT)
    assert info.value.code == "INVALID_REQUEST"


def test_url_length_limit_is_inclusive() -> None:
    base = "https://example.com/"
    parse_source_url(base + "a" * (MAX_URL_LENGTH - len(base)), STRICT)
    with pytest.raises(InvalidRequest, match="maximum is 2048"):
        parse_source_url(base + "a" * (MAX_URL_LENGTH - len(base) + 1), STRICT)


NORMALISED = [
    # (url, host, port, target, normalised url)
    (
        "HTTPS://Images.Example.COM./a/b.png?x=1#frag",
        "images.example.com",
        443,
        "/a/b.png?x=1",
        "https://images.example.com/a/b.png?x=1",
    ),
    ("http://example.com", "example.com", 80, "/", "http://example.com/"),
    ("http://example.com:8080", "example.com", 8080, "/", "http://example.com:8080/"),
    ("https://example.com:443/x", "example.com", 443, "/x", "https://example.com/x"),
    ("http://example.com:443/x", "example.com", 443, "/x", "http://example.com:443/x"),
    (
        "http://b\u00fccher.example/\u00e4.png",
        "xn--bcher-kva.example",
        80,
        "/%C3%A4.png",
        "http://xn--bcher-kva.example/%C3%A4.png",
    ),
    ("http://example.com/a b.png", "example.com", 80, "/a%20b.png", "http://example.com/a%20b.png"),
    ("http://example.com/a%20b.png", "example.com", 80, "/a%20b.png", None),
    ("http://img_1.example.com/", "img_1.example.com", 80, "/", None),
    ("http://134744072/", "8.8.8.8", 80, "/", "http://8.8.8.8/"),
    ("http://0x08080808:81/", "8.8.8.8", 81, "/", "http://8.8.8.8:81/"),
    ("http://8.8.8.8./", "8.8.8.8", 80, "/", "http://8.8.8.8/"),
    ("http://[2606:4700:0::1111]:8443/x", "2606:4700::1111", 8443, "/x", None),
    ("  https://example.com/x  ", "example.com", 443, "/x", None),
]


@pytest.mark.parametrize(("url", "host", "port", "target", "normal"), NORMALISED)
def test_normalisation(url: str, host: str, port: int, target: str, normal: str | None) -> None:
    parsed = parse_source_url(url, STRICT)
    assert (parsed.host, parsed.port, parsed.target) == (host, port, target)
    if normal is not None:
        assert parsed.url == normal


def test_ip_literals_carry_their_address() -> None:
    v6 = parse_source_url("http://[2606:4700::1111]:8443/", STRICT)
    assert v6.address == ipaddress.ip_address("2606:4700::1111")
    assert v6.authority == "[2606:4700::1111]:8443"
    assert parse_source_url("http://example.com/", STRICT).address is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://localhost./",
        "http://[::1]/",
        "http://2130706433/",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
    ],
)
def test_allow_private_sources_lifts_address_checks(url: str) -> None:
    parse_source_url(url, PRIVATE_OK)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://user@127.0.0.1/", SourceForbidden),
        ("ftp://127.0.0.1/", SourceForbidden),
        ("http://127.0.0.1/" + "a" * MAX_URL_LENGTH, InvalidRequest),
        ("http://127.0.0.1:0/", InvalidRequest),
    ],
)
def test_allow_private_sources_keeps_the_other_checks(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_source_url(url, PRIVATE_OK)


ALLOWLIST = SourceSettings(source_allowlist=("images.example.com", "*.cdn.example.net"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://images.example.com/a.png", True),
        ("https://IMAGES.example.com./a.png", True),
        ("https://a.cdn.example.net/a.png", True),
        ("https://a.b.cdn.example.net/a.png", True),
        ("https://cdn.example.net/a.png", False),  # the pattern names subdomains only
        ("https://evilcdn.example.net/a.png", False),
        ("https://images.example.com.evil.net/a.png", False),
        ("https://other.example.com/a.png", False),
        ("https://8.8.8.8/a.png", False),
        ("https://[2606:4700::1111]/a.png", False),
    ],
)
def test_allowlist(url: str, allowed: bool) -> None:
    if allowed:
        parse_source_url(url, ALLOWLIST)
    else:
        with pytest.raises(SourceForbidden, match="allow-list"):
            parse_source_url(url, ALLOWLIST)


def test_allowlist_does_not_lift_the_address_check() -> None:
    with pytest.raises(SourceForbidden):
        parse_source_url("http://127.0.0.1/", SourceSettings(source_allowlist=("127.0.0.1",)))


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        check_address(ip)
    except SourceForbidden:
        return True
    return False


ipv4s = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@given(ipv4s, st.sampled_from(["{:d}", "0x{:x}", "0{:o}"]))
@settings(max_examples=300)
def test_numeric_hosts_mean_the_address_a_resolver_would_read(
    ip: ipaddress.IPv4Address, form: str
) -> None:
    url = "http://" + form.format(int(ip)) + "/"
    if _forbidden(ip):
        with pytest.raises(SourceForbidden):
            parse_source_url(url, STRICT)
    else:
        assert parse_source_url(url, STRICT).address == ip


@given(ipv4s)
@settings(max_examples=300)
def test_nat64_follows_the_embedded_address(ip: ipaddress.IPv4Address) -> None:
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    assert _forbidden(nat64) == _forbidden(ip)
    assert _forbidden(ipaddress.IPv6Address(f"::ffff:{ip}"))


@given(st.text(max_size=80) | st.from_regex(r"\Ahttps?://[\[\]0-9a-fx.:@%]{0,30}/?\Z"))
@settings(max_examples=400)
def test_any_text_is_parsed_or_refused_with_our_errors(text: str) -> None:
    try:
        parsed = parse_source_url(text, STRICT)
    except InvalidRequest:
        return
    assert parsed.scheme in ("http", "https")
    assert 1 <= parsed.port <= 65535
    if parsed.address is not None:
        check_address(parsed.address)


@given(st.text(st.sampled_from("0123456789abcdefxX.-_"), min_size=1, max_size=20))
@settings(max_examples=400)
def test_hosts_agree_with_inet_aton(host: str) -> None:
    """A host the C library would read as an address is read as that address; others are names."""
    try:
        parsed = parse_source_url(f"http://{host}/", PRIVATE_OK)
    except InvalidRequest:
        return
    if parsed.address is None:
        with pytest.raises(OSError):
            socket.inet_aton(parsed.host)
        return
    try:
        packed = socket.inet_aton(host.removesuffix("."))
    except OSError:
        return  # "0x" alone: we read 0.0.0.0 as browsers do, inet_aton refuses it
    assert packed == parsed.address.packed
