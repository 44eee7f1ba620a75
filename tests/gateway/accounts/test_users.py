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
