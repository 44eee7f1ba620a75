"""The test city behind the real app for intake tests: a real PostgreSQL, a clock the test moves, and the
intake settings a test chooses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import ROUTES, TO_CLOSED, Clock
from tests.support import new_object_store
from wangge.gateway.cases.config import CasesConfig, RouteConfig
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.app import create_app
from wangge.gateway.intake.config import IntakeConfig
from wangge.gateway.media.objects import Media
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

START = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
METRE_LAT = 1 / 111_320  # degrees of latitude in a metre
__all__ = ["METRE_LAT", "START", "TO_CLOSED", "Clock", "Scenario", "run"]

INTAKE_ROUTES = [
    *ROUTES,
    RouteConfig(category="fire_safety", department="消防 大队", matter="big"),
    RouteConfig(category="environment", department="环卫 所", matter="small"),
]
Scenario = Callable[[TestClient[Any, Any], w.World, Any, Clock], Awaitable[None]]


def run(database_url: str, scenario: Scenario, intake: IntakeConfig | None = None, **cases: Any) -> None:
    rules = CaseRules.from_config(CasesConfig(routes=INTAKE_ROUTES, **cases))

    async def main() -> None:
        pool = await create_pool(database_url)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                world = await w.seed(conn)
            clock = Clock(START)
            media = Media(new_object_store(), pool)
            app = create_app(pool, {"broker": lambda: True}, rules, clock, intake=intake or IntakeConfig(), media=media)
            async with TestClient(TestServer(app)) as client:
                await scenario(client, world, pool, clock)
        finally:
            await pool.close()

    asyncio.run(main())
