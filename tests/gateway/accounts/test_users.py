"""Accounts that can be run for years: every role but admin works inside a region."""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.world import COMMUNITY_1, seed
from wangge.gateway.accounts.users import create_user
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool


@pytest.mark.parametrize("role", ["supervisor", "operator", "grid_worker"])
def test_every_role_but_admin_needs_a_region(database_url: str, role: str) -> None:
    async def run() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            await seed(conn)
            with pytest.raises(ValueError, match="needs a region"):
                await create_user(conn, f"new-{role}", "a-long-password", role, None)
            assert await create_user(conn, f"placed-{role}", "a-long-password", role, COMMUNITY_1) > 0
            assert await create_user(conn, f"admin-{role}", "a-long-password", "admin", None) > 0
        await pool.close()

    asyncio.run(run())


def test_a_password_hashed_with_older_parameters_is_rehashed_at_sign_in(database_url: str) -> None:
    """Hashes from before the one-lane profile (argon2-cffi's default: 3 passes, 64 MiB, 4 lanes) still sign
    in, and are replaced by the current profile then (46 MiB, 1 pass, 1 lane)."""
    from datetime import UTC, datetime

    from argon2 import PasswordHasher

    from wangge.gateway.accounts.users import login

    async def run() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            await create_user(conn, "old-admin", "a-long-password", "admin", None)
            await conn.execute(
                "UPDATE users SET password_hash = $1 WHERE username = 'old-admin'",
                PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("a-long-password"),
            )
            assert await login(pool, "old-admin", "a-long-password", datetime.now(UTC), 1, "test") is not None
            stored = await conn.fetchval("SELECT password_hash FROM users WHERE username = 'old-admin'")
            assert stored.startswith("$argon2id$v=19$m=47104,t=1,p=1$")
        await pool.close()

    asyncio.run(run())
