"""From a source URL's host to the addresses that may be connected to.

The fetcher resolves each hop's host once, through a ``Resolver``, and every answer must pass
the address policy; the addresses returned are the only ones it connects to.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Protocol

import anyio

from config.errors import SourceForbidden, SourceTimeout, SourceUnreachable
from origin.ssrf import Address, AddressPolicy, ParsedURL


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[Address]: ...


class SystemResolver:
    """Looks names up with the system resolver, returning every A and AAAA answer."""

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Every address of host, in the resolver's order, without duplicates."""
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found: list[Address] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(sockaddr[0])
            if ip not in found:
                found.append(ip)
        return found


async def checked_addresses(
    parsed: ParsedURL, resolver: Resolver, policy: AddressPolicy, lookup_timeout: float
) -> list[Address]:
    """The addresses of the URL's host; SourceForbidden if any one fails the policy."""
    if parsed.address is not None:
        return [parsed.address]  # parse_source_url has checked it already
    try:
        with anyio.fail_after(lookup_timeout):
            addresses = await resolver.resolve(parsed.host, parsed.port)
    except TimeoutError as exc:
        raise SourceTimeout(
            f"The source host {parsed.host} could not be looked up within {lookup_timeout:g} s."
        ) from exc
    except (OSError, UnicodeError) as exc:
        raise SourceUnreachable(f"The source host {parsed.host} could not be found.") from exc
    if not addresses:
        raise SourceUnreachable(f"The source host {parsed.host} has no address.")
    for ip in addresses:
        try:
            policy(parsed.host, ip)
        except SourceForbidden as exc:
            # Say which host, never which address: it may describe our own network.
            raise SourceForbidden(
                f"The source host {parsed.host} resolves to an address that is not allowed: "
                "only public internet addresses can be fetched."
            ) from exc
    return addresses
