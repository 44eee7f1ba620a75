"""Where webhooks may go: public addresses only, unless the gateway config allows a private range.

The check runs on every resolved address at connect time (a resolver wrapped around aiohttp's), so a name
that resolves to 127.0.0.1 or 169.254.169.254 is refused even if it looked public when subscribed.
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


def address_allowed(address: str, allow: list[Network]) -> bool:
    ip = ipaddress.ip_address(address)
    if any(ip in net for net in allow):
        return True
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (ip.version == 6 and ip.ipv4_mapped is not None and not address_allowed(str(ip.ipv4_mapped), allow))
    )


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
                f"{host} resolves to {', '.join(r['host'] for r in results)}: private, loopback or link-local"
                " addresses need the gateway's webhooks.allow_networks"
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()
