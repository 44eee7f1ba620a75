"""Broker identities of edges and of the gateway, in the form Mosquitto's `password_file` reads.

An edge's username is its edge id; the shipped ACL (docker/mosquitto/acl) lets a username publish and read
only the topics that carry it, and only the gateway's identity read every edge's alerts and write confirms.
The hash is PBKDF2-HMAC-SHA512 written as Mosquitto 2 does (`$7$<iterations>$<salt>$<hash>`, base64), so the
file is produced here and checked by a real Mosquitto in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from wangge.alert_format import IDENT
from wangge.gateway.accounts.tokens import issue_token
from wangge.gateway.accounts.users import region_of

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

GATEWAY_USER = "wangge-gateway"


@dataclass(frozen=True)
class BrokerHooks:
    """What EMQX's HTTP hooks need: the secret it calls with, and the gateway identity's own password."""

    secret: str | None = None
    gateway_password: str | None = None


ITERATIONS = 101  # Mosquitto 2's own default for $7$
_SALT_BYTES = 12


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        expected = hash_password(password, base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected.rsplit("$", 1)[1], digest)


def new_password() -> str:
    return secrets.token_urlsafe(24)


async def provision_edge(
    conn: Conn, edge_id: str, region_code: str | None, now: datetime, token_lifetime: timedelta
) -> tuple[str, str]:
    """Register the edge (or give it new secrets) and return (broker password, HTTPS token), shown once.
    Its earlier broker password stops working at the next password-file export; earlier tokens are revoked."""
    if not IDENT.match(edge_id) or edge_id == GATEWAY_USER:
        raise ValueError(f"edge id {edge_id!r}: letters, digits, '_', '.', ':' or '-', at most 128, not {GATEWAY_USER}")
    region_id = None
    if region_code:
        region = await region_of(conn, region_code)
        if region is None:
            raise ValueError(f"no region with code {region_code!r}")
        region_id = region[0]
    password = new_password()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO edges (edge_id, state, last_seen, region_id, broker_password_hash, provisioned_at)"
            " VALUES ($1, 'unknown', $4, $2, $3, $4) ON CONFLICT (edge_id) DO UPDATE SET"
            " region_id = coalesce(EXCLUDED.region_id, edges.region_id),"
            " broker_password_hash = EXCLUDED.broker_password_hash, provisioned_at = EXCLUDED.provisioned_at",
            edge_id,
            region_id,
            hash_password(password),
            now,
        )
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE edge_id = $1 AND revoked_at IS NULL", edge_id, now
        )
        token = await issue_token(conn, f"edge {edge_id}", edge_id=edge_id, expires_at=now + token_lifetime)
    return password, token


async def edge_identities(conn: Conn) -> list[tuple[str, str]]:
    """(edge id, its `$7$` hash) of every provisioned edge, in edge id order."""
    rows = await conn.fetch(
        "SELECT edge_id, broker_password_hash FROM edges WHERE broker_password_hash IS NOT NULL ORDER BY edge_id"
    )
    return [(r["edge_id"], r["broker_password_hash"]) for r in rows if r["edge_id"] != GATEWAY_USER]


async def password_file(conn: Conn, gateway_password: str) -> str:
    """The broker's password file: the gateway's identity and every provisioned edge."""
    lines = [f"{GATEWAY_USER}:{hash_password(gateway_password)}"]
    lines += [f"{edge_id}:{stored}" for edge_id, stored in await edge_identities(conn)]
    return "\n".join(lines) + "\n"


def broker_may(username: str, action: str, topic: str) -> bool:
    """The shipped ACL (docker/mosquitto/acl) as a function, for brokers that ask over HTTP (EMQX): an edge
    publishes only its own alerts and status and reads only its own confirms and commands; the gateway reads
    every edge's alerts and status (also through a shared group) and writes confirms and commands. Only the
    gateway may name a shared group."""
    parts = topic.split("/")
    if parts[0] == "$share":
        if username != GATEWAY_USER or len(parts) < 3:
            return False
        parts = parts[2:]
    if len(parts) != 4 or parts[:2] != ["wangge", "edge"]:
        return False
    edge, leaf = parts[2], parts[3]
    if username == GATEWAY_USER:
        if action == "subscribe":
            return "#" not in edge and leaf in ("alerts", "status")
        return action == "publish" and "+" not in edge and "#" not in edge and leaf in ("confirms", "commands")
    if edge != username:
        return False
    return (
        leaf in ("alerts", "status")
        if action == "publish"
        else action == "subscribe" and leaf in ("confirms", "commands")
    )


async def broker_login(conn: Conn, username: str, password: str, gateway_password: str | None) -> bool:
    """Whether a broker login is one of ours: the gateway's identity, or a provisioned edge with its password."""
    if username == GATEWAY_USER:
        return gateway_password is not None and hmac.compare_digest(password.encode(), gateway_password.encode())
    stored = await conn.fetchval("SELECT broker_password_hash FROM edges WHERE edge_id = $1", username)
    return stored is not None and verify_password(password, stored)
