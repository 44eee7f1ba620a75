"""Bearer tokens of users and edges.

Tokens are random (256 bits), shown once and stored as SHA-256: a slow hash adds nothing to a secret
that cannot be guessed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from wangge.gateway.accounts.principal import Principal

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "wg_" + secrets.token_urlsafe(32)


async def issue_token(
    conn: Conn, name: str, *, user_id: int | None = None, edge_id: str | None = None, expires_at: datetime | None = None
) -> str:
    token = new_token()
    await conn.execute(
        "INSERT INTO api_tokens (name, token_sha256, expires_at, user_id, edge_id) VALUES ($1, $2, $3, $4, $5)",
        name,
        hash_token(token),
        expires_at,
        user_id,
        edge_id,
    )
    return token


async def principal_for(conn: Conn | asyncpg.Pool, token: str, now: datetime) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT t.id, t.expires_at, t.name, t.edge_id, u.id AS user_id, u.username, u.role,"
        " coalesce(r.path, '/') AS scope"
        " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id AND u.disabled_at IS NULL"
        " LEFT JOIN regions r ON r.id = u.region_id"
        " WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        hash_token(token),
        now,
    )
    if row is None:
        return None
    held = {"token_id": row["id"], "token_expires_at": row["expires_at"]}
    if row["edge_id"] is not None:
        return Principal(name=f"edge:{row['edge_id']}", role=None, scope="/", edge_id=row["edge_id"], **held)
    if row["user_id"] is None:
        return None  # a user token whose user was disabled
    return Principal(name=row["username"], role=row["role"], scope=row["scope"], user_id=row["user_id"], **held)


async def revoke(conn: Conn, token: str) -> None:
    await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_sha256 = $1", hash_token(token))


async def rotate_edge_token(
    conn: Conn, edge_id: str, now: datetime, lifetime: timedelta, grace: timedelta
) -> tuple[str, datetime, datetime]:
    """A new token for the edge; its earlier live tokens keep working for `grace`, so the edge (and every
    replica it talks to) switches over without a refused request. Returns (token, its expiry, grace end)."""
    until = now + grace
    async with conn.transaction():
        await conn.execute(
            "UPDATE api_tokens SET expires_at = $2 WHERE edge_id = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > $2)",
            edge_id,
            until,
        )
        token = await issue_token(conn, f"edge {edge_id}", edge_id=edge_id, expires_at=now + lifetime)
    return token, now + lifetime, until
