"""Users: argon2id passwords (they can be guessed, unlike tokens), roles and the region each one works in."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import ROLES, Principal
from wangge.gateway.accounts.tokens import issue_token, principal_for

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

# OWASP's argon2id profile (46 MiB, 1 pass, 1 lane): ~80 ms of ONE core. The library's default (4 lanes) spreads
# a check over four threads, so on a small gateway every guess briefly took all the cores ingest runs on
# (bench/login_flood.py). Hashes made with other parameters are re-made at their owner's next sign-in.
_HASHER = PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1)
# Verifying against this keeps a login for an unknown user as slow as one with a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")
# Off the event loop, on at most half the machine's cores (one of two), so a flood of guesses cannot take the
# cores ingest and the API run on (the throttle turns the rest away).
_VERIFIERS = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) // 2), thread_name_prefix="argon2")


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_new_password(password: str) -> None:
    if not 10 <= len(password) <= 1024:
        raise ValueError("a password needs 10 to 1024 characters")


async def hash_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_VERIFIERS, _HASHER.hash, password)


async def verify_off_loop(stored: str, password: str) -> bool:
    """argon2 in the bounded executor: the event loop keeps serving ingest and the live feed meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_VERIFIERS, _verify, stored, password)


def missing_region(role: str, region_code: str | None) -> str | None:
    """Why this role cannot be given without a region: a user's scope would be the whole city, which only an
    admin is meant to see."""
    if role != "admin" and not region_code:
        return f"a {role} needs a region: only an admin works without one"
    return None


async def region_of(conn: Conn, code: str) -> tuple[int, str] | None:
    """(id, path) of the region with this code, or None."""
    row = await conn.fetchrow("SELECT id, path FROM regions WHERE code = $1", code)
    return None if row is None else (row["id"], row["path"])


async def create_user(
    conn: Conn, username: str, password: str, role: str, region_code: str | None, display_name: str = ""
) -> int:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    check_new_password(password)
    if problem := missing_region(role, region_code):
        raise ValueError(problem)
    region_id = None
    if region_code:
        region = await region_of(conn, region_code)
        if region is None:
            raise ValueError(f"no region with code {region_code!r}")
        region_id = region[0]
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


async def login(
    pool: asyncpg.Pool, username: str, password: str, now: datetime, hours: float, remote: str
) -> tuple[str, Principal] | None:
    """A new token and its principal for a correct password (audited either way), else None. No database
    connection is held while the password is checked: guesses waiting for the checker cannot take the pool
    that everything else needs."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, password_hash FROM users WHERE username = $1 AND disabled_at IS NULL", username
        )
    stored = row["password_hash"] if row else _DUMMY_HASH
    ok = await verify_off_loop(stored, password) and row is not None
    rehashed = None
    if ok and row is not None and _HASHER.check_needs_rehash(row["password_hash"]):
        rehashed = await hash_off_loop(password)
    async with pool.acquire() as conn:
        await audit(conn, username, "login" if ok else "login_failed", None, remote)
        if not ok or row is None:
            return None
        if rehashed is not None:
            await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", row["id"], rehashed)
        token = await issue_token(conn, f"login {username}", user_id=row["id"], expires_at=now + timedelta(hours=hours))
        principal = await principal_for(conn, token, now)
    assert principal is not None
    return token, principal
