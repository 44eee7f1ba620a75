"""Sign-in under a password-guessing flood: the guesses get 429 with Retry-After, the password checks run off
the event loop (other requests keep being answered while they run), and a throttled user is throttled however
right the next password is, until the window passes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.gateway.http.test_api import with_api
from tests.gateway.world import USERS


def test_a_login_flood_is_throttled_and_does_not_freeze_the_gateway(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        username = USERS[1][0]
        stalls: list[float] = []
        flooding = True

        async def meanwhile() -> None:
            """A signed-in operator's requests while the flood runs: each answered without waiting for it."""
            while flooding:
                started = time.perf_counter()
                resp = await client.get("/api/v1/me", headers=auth)
                assert resp.status == 200
                stalls.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

        async def guess(i: int) -> tuple[int, str | None]:
            resp = await client.post("/api/v1/auth/login", json={"username": username, "password": f"guess-{i}"})
            return resp.status, resp.headers.get("Retry-After")

        watcher = asyncio.create_task(meanwhile())
        results = await asyncio.gather(*(guess(i) for i in range(50)))
        flooding = False
        await watcher
        statuses = [s for s, _ in results]
        assert set(statuses) <= {401, 429} and statuses.count(429) >= 40, statuses
        assert 1 <= statuses.count(401) <= 8  # at most the checks that may run or wait at once
        assert all(int(after) >= 1 for s, after in results if s == 429 and after is not None)
        assert all(after is not None for s, after in results if s == 429)
        # 50 argon2 checks on the loop would hold it for seconds; off it, /me answers between them.
        assert len(stalls) >= 3 and max(stalls) < 1.0, stalls

        # Five failures lock the user for the window, the right password included (this address has also
        # spent its 30 attempts a minute by now).
        for _ in range(6):
            await client.post("/api/v1/auth/login", json={"username": username, "password": "still-wrong"})
        right = await client.post("/api/v1/auth/login", json={"username": username, "password": f"password-{username}"})
        assert right.status == 429 and int(right.headers["Retry-After"]) > 1
        other = await client.post(
            "/api/v1/auth/login", json={"username": USERS[2][0], "password": f"password-{USERS[2][0]}"}
        )
        assert other.status in (200, 429)  # the address has spent its attempts too, or not: never a 5xx

    with_api(database_url, scenario)
