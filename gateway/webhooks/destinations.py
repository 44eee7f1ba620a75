"""Where webhooks may go: globally routable addresses only, unless the gateway config allows a range.

The check runs at connect time on every resolved address (a resolver wrapped around aiohttp's), so a name that
resolves to 127.0.0.1 or 169.254.169.254 is refused even if it looked public when subscribed; an IP literal in
the URL, which aiohttp connects to without asking the resolver, is checked before the request. An IPv6 address
that carries an IPv4 one (mapped, compatible, 6to4, Teredo, NAT64) is allowed only if that one is too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(Exception):
    pass


def parse_allowlist(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Not globally reachable per IANA's special-purpose registries, but missing from `is_global` in some Python
# versions: IETF protocol assignments, the 6to4 relay anycast, IPv6 documentation, SRv6 SIDs, the dummy prefix
# and deprecated site-local addresses.
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "192.88.99.0/24", "3fff::/20", "5f00::/16", "100:0:0:1::/64", "fec0::/10")
)
_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address tunnels or translates to."""
    found = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)  # (server, client)
    if any(ip in net for net in _NAT64) or (ip in _COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_allowed(address: str, allow: list[Network]) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_allowed(str(ip.ipv4_mapped), allow)  # the socket connects to the IPv4 address itself
    if any(ip in net for net in allow):
        return True
    if not ip.is_global or ip.is_multicast or any(ip in net for net in _NOT_GLOBAL):
        return False
    return isinstance(ip, ipaddress.IPv4Address) or all(address_allowed(str(v4), allow) for v4 in embedded_ipv4(ip))


def check_literal(url: str, allow: list[Network]) -> None:
    """Refuse a URL whose host is an IP address the rules do not allow (aiohttp skips the resolver for it)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if not address_allowed(host, allow):
        raise DestinationRefused(f"{host} is not a globally routable address (webhooks.allow_networks)")


def check_url(url: str) -> str | None:
    """Why a subscription URL is unusable, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the URL must be http:// or https://"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials do not belong in the URL"
    return None


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp, then drops every address the allowlist does not permit."""

    def __init__(self, allow: list[Network]) -> None:
        self._inner = DefaultResolver()
        self._allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(r["host"], self._allow)]
        if not allowed:
            raise DestinationRefused(
                f"{host} resolves to {', '.join(r['host'] for r in results)}: addresses that are not globally"
                " routable need the gateway's webhooks.allow_networks"
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()
