"""Which addresses a webhook may reach: globally routable ones only, whatever form an IPv4 address hides in."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.gateway.webhooks.destinations import DestinationRefused, address_allowed, check_literal, parse_allowlist

REFUSED = [
    "0.0.0.0",
    "10.1.2.3",
    "100.64.0.1",  # carrier-grade NAT
    "127.0.0.1",
    "169.254.169.254",  # cloud metadata
    "172.16.0.1",
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.1",
    "192.88.99.1",  # 6to4 relay anycast
    "192.168.1.1",
    "198.18.0.1",
    "203.0.113.9",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fec0::1",
    "ff0e::1",
    "3fff::1",  # documentation (2024)
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::10.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_are_not_globally_routable_are_refused(address: str) -> None:
    assert address_allowed(address, []) is False


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_and_their_tunnelled_forms_are_allowed(address: str) -> None:
    assert address_allowed(address, []) is True


def test_an_allowlisted_range_is_allowed_and_nothing_else_with_it() -> None:
    allow = parse_allowlist(["127.0.0.1/32"])
    assert address_allowed("127.0.0.1", allow) and address_allowed("::ffff:127.0.0.1", allow)
    assert not address_allowed("127.0.0.2", allow)


def test_an_ip_literal_url_is_checked_before_aiohttp_skips_the_resolver() -> None:
    for url in ("http://127.0.0.1:8080/x", "https://[::ffff:169.254.169.254]/latest", "http://[64:ff9b::a00:1]/"):
        with pytest.raises(DestinationRefused):
            check_literal(url, [])
    check_literal("https://8.8.8.8/hook", [])
    check_literal("https://hooks.example.com/hook", [])  # names are checked by the resolver at connect time


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv6_form_of_an_ipv4_address_is_judged_as_that_address(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    verdict = address_allowed(str(v4), [])
    forms = [
        ipaddress.IPv6Address((0xFFFF << 32) | value),  # mapped
        ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1),  # 6to4
        ipaddress.IPv6Address((0x0064FF9B << 96) | value),  # NAT64 well-known prefix
    ]
    for form in forms:
        assert address_allowed(str(form), []) == verdict, (v4, form)
