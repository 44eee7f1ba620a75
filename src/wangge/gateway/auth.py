"""Who is calling: users (argon2 passwords, roles, a region subtree), their expiring tokens, and edge tokens.

Tokens are random (256 bits), shown once and stored as SHA-256: a slow hash adds nothing to a secret
that cannot be guessed. Passwords, which can, are argon2id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wangge.gateway.cases.workflow import ROLES, Role

if TYPE_CHECKING:
    from wangge.gateway.db import Conn

_HASHER = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as one with a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


@dataclass(frozen=True)
class Principal:
    """A signed-in user, or an edge box. `scope` is the region path prefix it may see ('/' = all)."""

    name: str
    role: Role | None
    scope: str
    user_id: int | None = None
    edge_id: str | None = None

    @property
    def is_edge(self) -> bool:
        return self.edge_id is not None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "wg_" + secrets.token_urlsafe(32)


async def create_user(
    conn: Conn, username: str, password: str, role: str, region_code: str | None, display_name: str = ""
) -> int:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    region_id = None
    if region_code:
        region_id = await conn.fetchval("SELECT id FROM regions WHERE code = $1", region_code)
        if region_id is None:
            raise ValueError(f"no region with code {region_code!r}")
    user_id: int = await conn.fetchval(
        "INSERT INTO users (username, display_name, password_hash, role, region_id) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        username,
        display_name,
        hash_password(password),
        role,
        region_id,
    )
    return user_id


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


async def login(conn: Conn, username: str, password: str, now: datetime, hours: float, remote: str) -> str | None:
    """A new token for a correct password (audited either way), else None."""
    row = await conn.fetchrow(
        "SELECT id, password_hash FROM users WHERE username = $1 AND disabled_at IS NULL", username
    )
    ok = False
    try:
        ok = _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    await audit(conn, username, "login" if ok else "login_failed", None, remote)
    if not ok or row is None:
        return None
    if _HASHER.check_needs_rehash(row["password_hash"]):
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", row["id"], _HASHER.hash(password))
    return await issue_token(conn, f"login {username}", user_id=row["id"], expires_at=now + timedelta(hours=hours))


async def principal_for(conn: Conn | asyncpg.Pool, token: str, now: datetime) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT t.name, t.edge_id, u.id AS user_id, u.username, u.role, coalesce(r.path, '/') AS scope"
        " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id AND u.disabled_at IS NULL"
        " LEFT JOIN regions r ON r.id = u.region_id"
        " WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        hash_token(token),
        now,
    )
    if row is None:
        return None
    if row["edge_id"] is not None:
        return Principal(name=f"edge:{row['edge_id']}", role=None, scope="/", edge_id=row["edge_id"])
    if row["user_id"] is None:
        return None  # a user token whose user was disabled
    return Principal(name=row["username"], role=row["role"], scope=row["scope"], user_id=row["user_id"])


async def revoke(conn: Conn, token: str) -> None:
    await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_sha256 = $1", hash_token(token))


async def audit(
    conn: Conn, actor: str, kind: str, subject: str | None, remote: str | None, data: dict[str, Any] | None = None
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, kind, subject, remote, data) VALUES ($1, $2, $3, $4, $5)",
        actor,
        kind,
        subject,
        remote,
        data or {},
    )
