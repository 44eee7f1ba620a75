"""A small city for case-system tests: the demo district's regions, users of every role in different
places, and their tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.support import new_object_store
from wangge.gateway.accounts.tokens import issue_token
from wangge.gateway.accounts.users import create_user
from wangge.gateway.cases import registry
from wangge.gateway.cases.config import CasesConfig
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.app import create_app
from wangge.gateway.media.objects import Media
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

DISTRICT = "990101"
STREET_EAST = "990101001"
COMMUNITY_1 = "990101001001"  # east street
GRID_1 = "990101001001001"
COMMUNITY_2 = "990101002001"  # west street
GRID_2 = "990101002001001"
# Rules for scenarios that open several cases of one category at one place on purpose (statistics, clusters,
# webhooks): a report or alert joining an open case nearby is tested in tests/gateway/intake and
# tests/gateway/cases/test_duplicates.py.
SEPARATE_CASES = CaseRules.from_config(CasesConfig(duplicates={"enabled": False}))
# A point inside GRID_1 and one inside GRID_2 (see wangge/demo/regions.geojson).
POINT_GRID_1 = (113.91, 22.51)
POINT_GRID_2 = (113.95, 22.51)


@dataclass
class World:
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


USERS = [
    ("admin", "admin", None),
    ("district-supervisor", "supervisor", DISTRICT),
    ("street-supervisor", "supervisor", STREET_EAST),
    ("c1-operator", "operator", COMMUNITY_1),
    ("c1-worker", "grid_worker", GRID_1),
    ("c2-operator", "operator", COMMUNITY_2),
]


async def seed(conn: Any) -> World:
    files = resources.files("wangge.demo")
    await registry.import_regions(conn, files.joinpath("regions.geojson").read_text("utf-8"), "regions.geojson")
    await registry.import_devices(conn, files.joinpath("devices.csv").read_text("utf-8"))
    tokens = {}
    for username, role, region in USERS:
        user_id = await create_user(conn, username, "password-" + username, role, region)
        tokens[username] = await issue_token(conn, username, user_id=user_id)
    return World(tokens)


def run_api(database_url: str, scenario: Callable[[Any, World, Any], Awaitable[None]], **app: Any) -> None:
    """A migrated database with this city, the app (with `app` settings) behind aiohttp's test client, and the
    scenario run against them: `scenario(client, world, pool)`."""

    async def go() -> None:
        pool = await create_pool(database_url)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                world = await seed(conn)
            app.setdefault("media", Media(new_object_store(), pool))
            async with TestClient(TestServer(create_app(pool, {"broker": lambda: True}, **app))) as client:
                await scenario(client, world, pool)
        finally:
            await pool.close()

    asyncio.run(go())
