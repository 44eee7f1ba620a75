"""API bearer tokens: random, shown once, stored as SHA-256 (they carry 256 bits, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from wangge.gateway.db import Conn


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_token(conn: Conn, name: str, expires_at: datetime | None = None) -> str:
    token = "wg_" + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_tokens (name, token_sha256, expires_at) VALUES ($1, $2, $3)",
        name,
        hash_token(token),
        expires_at,
    )
    return token


async def token_name(conn: Conn | asyncpg.Pool, token: str) -> str | None:
    """The token's name if it is valid now (known, not revoked, not expired)."""
    name: str | None = await conn.fetchval(
        "SELECT name FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        hash_token(token),
    )
    return name
