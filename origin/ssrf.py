"""The SSRF guard's pure half: which source URLs and which addresses may be fetched.

``parse_source_url`` validates and normalises a URL (scheme, credentials, host, port, length,
allow-list) and checks IP-literal hosts at once; ``check_address`` says whether an address is a
public internet address. An address passes only if Python calls it global *and* none of our own
deny ranges matches, and every IPv4 address embedded in an IPv6 one passes too. The explicit
list matters: ``ipaddress`` considers 224.0.0.0/4, fec0::/10 or 2002::/16 global on some Python
versions. Resolving names and connecting is ``origin.fetch``'s half.

Errors: a malformed URL is ``InvalidRequest``; a well-formed URL we refuse to fetch (another
scheme, credentials, a non-public address, ``localhost``, off the allow-list) is
``SourceForbidden``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from config.errors import InvalidRequest, SourceForbidden
from config.settings import SourceSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Called with the URL's normalised host and one address it stands for; raises SourceForbidden.
AddressPolicy = Callable[[str, Address], None]

MAX_URL_LENGTH = 2048

_DENIED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes the broadcast address
    )
)
_DENIED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form
        "::ffff:0:0/96",  # IPv4-mapped: judged as IPv4 by the kernel, refused outright here
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, includes Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 segment identifiers
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters a URL may not carry as they are; the path and query get them percent-encoded.
_PATH_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


@dataclass(frozen=True)
class ParsedURL:
    """A source URL that passed the checks, normalised."""

    scheme: str
    # ASCII, lowercase, no trailing dot; an IP literal in its canonical text, without brackets.
    host: str
    port: int
    # Path and query, as sent on the request line. The fragment is dropped.
    target: str
    # The host as an address when the URL names an IP literal.
    address: Address | None = None

    @property
    def authority(self) -> str:
        """The host (bracketed if IPv6) and the port unless it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL."""
        return f"{self.scheme}://{self.authority}{self.target}"


def check_address(ip: Address) -> None:
    """Raise SourceForbidden unless ip is a public internet address."""
    if not _is_public(ip):
        raise SourceForbidden(
            f"The address {ip} is not allowed as a source: only public internet addresses "
            "can be fetched."
        )


def public_only(host: str, ip: Address) -> None:
    """The default address policy: the host's addresses must all be public."""
    check_address(ip)


def allow_any(host: str, ip: Address) -> None:
    """The policy of IMGSTAX_ALLOW_PRIVATE_SOURCES=true: every address may be fetched."""


def policy_for(settings: SourceSettings, override: AddressPolicy | None = None) -> AddressPolicy:
    """The address policy in force: the override if given, else what the settings say."""
    if override is not None:
        return override
    return allow_any if settings.allow_private_sources else public_only


def parse_source_url(
    url: str, settings: SourceSettings, *, address_policy: AddressPolicy | None = None
) -> ParsedURL:
    """Validate and normalise a source URL; IP-literal hosts are checked here too."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(
            f"The source URL is {len(url)} characters long; the maximum is {MAX_URL_LENGTH}."
        )
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise InvalidRequest("The source URL contains control characters.")
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise InvalidRequest(f"The source URL is not a valid URL: {exc}.") from exc
    if not parts.scheme or not url.strip().lower().startswith(parts.scheme + "://"):
        raise InvalidRequest("The source URL must be an absolute URL such as https://host/image.")
    if parts.scheme not in ("http", "https"):
        raise SourceForbidden("Only http and https source URLs can be fetched.")
    if "@" in parts.netloc:
        raise SourceForbidden("Source URLs must not contain credentials (user:password@host).")
    host, address, port = _split_authority(parts.netloc, parts.scheme)
    if settings.source_allowlist and not _on_allowlist(host, settings.source_allowlist):
        raise SourceForbidden(f"The source host {host} is not on this server's allow-list.")
    if address is not None:
        policy_for(settings, address_policy)(host, address)
    elif not settings.allow_private_sources and (
        host == "localhost" or host.endswith(".localhost")
    ):
        raise SourceForbidden(f"The source host {host} is not allowed: it names this machine.")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = _STRAY_PERCENT.sub("%25", quote(target, safe=_PATH_SAFE))
    return ParsedURL(parts.scheme, host, port, target, address)


def _split_authority(netloc: str, scheme: str) -> tuple[str, Address | None, int]:
    address: Address | None
    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            raise InvalidRequest("The source URL has an unclosed [ in its host.")
        host_text, after = netloc[1:close], netloc[close + 1 :]
        host, address = _ipv6_literal(host_text)
    else:
        colon = netloc.find(":")
        host_text, after = (netloc, "") if colon < 0 else (netloc[:colon], netloc[colon:])
        host, address = _normalise_host(host_text)
    if after and not after.startswith(":"):
        raise InvalidRequest("The source URL's host is followed by something other than a port.")
    port_text = after[1:]
    if not port_text:
        return host, address, 443 if scheme == "https" else 80
    if not _PORT.match(port_text) or not 1 <= int(port_text) <= 65535:
        raise InvalidRequest("The source URL's port must be a number from 1 to 65535.")
    return host, address, int(port_text)


def _ipv6_literal(text: str) -> tuple[str, Address]:
    # Zone ids ("%eth0") only make sense for link-local addresses, which are refused anyway.
    if "%" in text:
        raise InvalidRequest("The source URL's IPv6 host must not carry a zone id.")
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise InvalidRequest("The source URL's bracketed host is not an IPv6 address.") from exc
    return str(ip), ip


def _normalise_host(text: str) -> tuple[str, Address | None]:
    if not text:
        raise InvalidRequest("The source URL has no host.")
    # Percent-encoded hosts are decoded by some parsers and not by others: refuse them.
    if "%" in text:
        raise InvalidRequest("The source URL's host must not be percent-encoded.")
    try:
        host = text.lower().encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidRequest("The source URL's host is not a valid host name.") from exc
    if host.endswith("."):
        host = host[:-1]
    # After IDNA on purpose: NFKC turns fullwidth digits into ASCII ones.
    address = _numeric_ipv4(host)
    if address is not None:
        return str(address), address
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidRequest("The source URL's host is not a valid host name.")
    return host, None


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read a host the way inet_aton does: 1 to 4 numbers, decimal, 0-octal or 0x-hex."""
    parts = host.split(".")
    # A name whose last label is a number means an address to resolvers (and to WHATWG URLs).
    if not _NUMBER.match(parts[-1]):
        return None
    invalid = InvalidRequest("The source URL's host is neither a host name nor an IPv4 address.")
    if len(parts) > 4 or not all(_NUMBER.match(part) for part in parts):
        raise invalid
    try:
        values = [_number(part) for part in parts]
    except ValueError as exc:
        raise invalid from exc
    *head, tail = values
    if any(value > 255 for value in head) or tail >= 256 ** (4 - len(head)):
        raise invalid
    packed = sum(value << (8 * (3 - index)) for index, value in enumerate(head))
    return ipaddress.IPv4Address(packed + tail)


def _number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def _on_allowlist(host: str, patterns: tuple[str, ...]) -> bool:
    # "*.example.com" matches every subdomain of example.com, not example.com itself.
    return any(
        host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern
        for pattern in patterns
    )


def _is_public(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not any(ip in net for net in _DENIED_V4)
    if not ip.is_global or any(ip in net for net in _DENIED_V6):
        return False
    return all(_is_public(embedded) for embedded in _embedded_ipv4(ip))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    # The deny list refuses most of these prefixes outright; checking what they embed as well
    # keeps the rule right should a prefix ever leave that list.
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found
