"""Open311 api keys: one per integrating system (a 12345 platform, a WeChat back end), issued and revoked by an
admin, scoped to a region, rate limited. The key is shown once and kept as its SHA-256."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.throttle import Window
from wangge.gateway.accounts.tokens import hash_token
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.registry import region_path
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

KEY_PREFIX = "o311_"


@dataclass(frozen=True)
class Open311Client:
    id: int
    name: str
    region_path: str
    per_minute: int


def _require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise CaseError(403, "only an admin issues and revokes Open311 keys")


async def issue_key(
    conn: Conn, principal: Principal, name: str, region: str | None, per_minute: int, address: str | None
) -> dict[str, Any]:
    """A new key for `name`, scoped to `region` (a region code; none: the whole gateway)."""
    _require_admin(principal)
    path = "/" if region is None else await region_path(conn, region)
    if path is None:
        raise CaseError(422, f"no region {region!r}", invalid_params=[{"name": "region", "reason": "unknown"}])
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    try:
        row = await conn.fetchrow(
            "INSERT INTO open311_keys (name, key_sha256, region_path, per_minute, created_by) VALUES ($1, $2, $3, $4,"
            " $5) RETURNING id, name, region_path, per_minute, created_by, created_at, revoked_at, last_used_at",
            name,
            hash_token(key),
            path,
            per_minute,
            principal.name,
        )
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == "23505":
            raise CaseError(409, f"a system named {name!r} has a key already: revoke it first") from None
        raise
    await audit(conn, principal.name, "open311.key_issued", name, address)
    assert row is not None  # INSERT ... RETURNING gives its row
    return {**dict(row), "api_key": key}


async def list_keys(conn: Conn, principal: Principal) -> list[dict[str, Any]]:
    _require_admin(principal)
    rows = await conn.fetch(
        "SELECT id, name, region_path, per_minute, created_by, created_at, revoked_at, last_used_at FROM open311_keys"
        " ORDER BY id"
    )
    return [dict(r) for r in rows]


async def revoke_key(conn: Conn, principal: Principal, key_id: int, now: datetime, address: str | None) -> None:
    _require_admin(principal)
    name = await conn.fetchval(
        "UPDATE open311_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING name", key_id, now
    )
    if name is None:
        raise CaseError(404, f"no Open311 key {key_id}")
    await audit(conn, principal.name, "open311.key_revoked", name, address)


class KeyRing:
    """Looks keys up and holds each key's request window (in the process, as the sign-in throttle does)."""

    def __init__(self) -> None:
        self.windows: dict[int, Window] = {}

    async def client(self, conn: Conn, key: str | None, now: datetime) -> Open311Client:
        """The system behind `key`; 401 when it is missing, unknown or revoked, 429 past its rate."""
        if not key:
            raise CaseError(401, "api_key is required")
        row = await conn.fetchrow(
            "UPDATE open311_keys SET last_used_at = $2 WHERE key_sha256 = $1 AND revoked_at IS NULL"
            " RETURNING id, name, region_path, per_minute",
            hash_token(key),
            now,
        )
        if row is None:
            raise CaseError(401, "api_key is unknown or revoked")
        client = Open311Client(row["id"], row["name"], row["region_path"], row["per_minute"])
        window = self.windows.get(client.id)
        if window is None or window.limit != client.per_minute:
            window = self.windows[client.id] = Window(client.per_minute, 60.0)
        mono = time.monotonic()
        wait = window.retry_after("key", mono)
        if wait is not None:
            raise CaseError(429, f"more than {client.per_minute} requests a minute", retry_after=round(wait, 1))
        window.record("key", mono)
        return client


def scope_like(client: Open311Client) -> str:
    return subtree(client.region_path)
