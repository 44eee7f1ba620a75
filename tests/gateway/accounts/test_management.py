"""Running accounts through the API on a real PostgreSQL: who may manage whom, disabling, moving, password
resets, token lists and revocation, edge-token rotation with an overlap; every change audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.test_alert_format import alert
from wangge.gateway.accounts.broker import provision_edge
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Scenario = Callable[[TestClient[Any, Any], w.World, Any, "Clock"], Awaitable[None]]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def run(database_url: str, scenario: Scenario, accounts: AccountsConfig | None = None) -> None:
    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
        clock = Clock()
        # Sign-ins here come faster than the default budget of password checks (tested in test_login_throttle).
        config = accounts or AccountsConfig(password_checks_per_s=1000)
        app = create_app(pool, {"broker": lambda: True}, clock=clock, accounts=config)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, world, pool, clock)
        await pool.close()

    asyncio.run(main())


async def login(client: TestClient[Any, Any], username: str, password: str) -> tuple[int, str | None]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    body = await resp.json()
    return resp.status, body.get("token")


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_supervisor_manages_only_operators_and_grid_workers_inside_their_area(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        listed = await (await client.get("/api/v1/users", headers=world.auth("street-supervisor"))).json()
        # East street: community 1's operator and grid worker; not the supervisors, not west street's operator.
        assert [u["username"] for u in listed["items"]] == ["c1-operator", "c1-worker"]
        everyone = await (await client.get("/api/v1/users?limit=2", headers=world.auth("admin"))).json()
        assert len(everyone["items"]) == 2 and everyone["next_cursor"] is not None
        rest = await client.get(f"/api/v1/users?cursor={everyone['next_cursor']}", headers=world.auth("admin"))
        names = [u["username"] for u in everyone["items"] + (await rest.json())["items"]]
        assert sorted(names) == sorted(u for u, _, _ in w.USERS)
        assert "password_hash" not in listed["items"][0]

        sup = world.auth("street-supervisor")
        assert (await client.get("/api/v1/users/c2-operator", headers=sup)).status == 404
        assert (await client.get("/api/v1/users/admin", headers=sup)).status == 404
        new = {"username": "g1-new", "password": "long-enough-1", "role": "grid_worker", "region": w.GRID_1}
        resp = await client.post("/api/v1/users", json=new, headers=sup)
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["scope"].endswith(f"/{w.GRID_1}/")
        assert (await client.post("/api/v1/users", json=new, headers=sup)).status == 409
        for refused in (
            {**new, "username": "x1", "role": "supervisor"},
            {**new, "username": "x2", "region": w.COMMUNITY_2},
            {**new, "username": "x3", "role": "admin", "region": None},
        ):
            assert (await client.post("/api/v1/users", json=refused, headers=sup)).status == 403, refused
        # Nor can a supervisor move one of theirs out of their area, or promote them.
        move = await client.patch("/api/v1/users/c1-worker", json={"region": w.GRID_2}, headers=sup)
        assert move.status == 403
        promote = await client.patch("/api/v1/users/c1-worker", json={"role": "supervisor"}, headers=sup)
        assert promote.status == 403
        assert (await login(client, "g1-new", "long-enough-1"))[0] == 200
        for who in ("c1-operator", "c1-worker"):
            for url in ("/api/v1/users", "/api/v1/tokens", "/api/v1/users/c1-worker"):
                assert (await client.get(url, headers=world.auth(who))).status == 403, (who, url)
        for missing_region in ({**new, "username": "x4", "region": None}, {**new, "username": "x5", "region": "77"}):
            assert (await client.post("/api/v1/users", json=missing_region, headers=world.auth("admin"))).status == 422
        short = await client.post(
            "/api/v1/users", json={**new, "username": "x6", "password": "short"}, headers=world.auth("admin")
        )
        assert short.status == 422

    run(database_url, scenario)


def test_disabling_moving_and_password_resets_end_every_session_they_should(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        admin = world.auth("admin")
        status, session = await login(client, "c1-operator", "password-c1-operator")
        assert status == 200
        resp = await client.patch("/api/v1/users/c1-operator", json={"disabled": True}, headers=admin)
        assert resp.status == 200 and (await resp.json())["disabled_at"] is not None
        for token in (session, world.tokens["c1-operator"]):
            assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401
        assert (await login(client, "c1-operator", "password-c1-operator"))[0] == 401
        await client.patch("/api/v1/users/c1-operator", json={"disabled": False}, headers=admin)
        status, session = await login(client, "c1-operator", "password-c1-operator")
        assert status == 200

        # Moved to west street's community: the old session goes; a new one sees the new area only.
        resp = await client.patch("/api/v1/users/c1-operator", json={"region": w.COMMUNITY_2}, headers=admin)
        assert (await resp.json())["region_code"] == w.COMMUNITY_2
        assert (await client.get("/api/v1/me", headers=bearer(session))).status == 401
        status, session = await login(client, "c1-operator", "password-c1-operator")
        me = await (await client.get("/api/v1/me", headers=bearer(session))).json()
        assert me["scope"].endswith(f"/{w.COMMUNITY_2}/") and w.COMMUNITY_1 not in me["scope"]

        # A reset by an admin: old password and sessions gone.
        resp = await client.post(
            "/api/v1/users/c1-operator/password", json={"password": "new-password-1"}, headers=admin
        )
        assert resp.status == 204
        assert (await client.get("/api/v1/me", headers=bearer(session))).status == 401
        assert (await login(client, "c1-operator", "password-c1-operator"))[0] == 401
        status, first = await login(client, "c1-operator", "new-password-1")
        status, second = await login(client, "c1-operator", "new-password-1")
        # Changing one's own: the current password is needed; the session in use survives, the others end.
        own = "/api/v1/users/c1-operator/password"
        wrong = await client.post(
            own, json={"password": "newer-password-2", "current_password": "nope"}, headers=bearer(first)
        )
        assert wrong.status == 403
        ok = await client.post(
            own, json={"password": "newer-password-2", "current_password": "new-password-1"}, headers=bearer(first)
        )
        assert ok.status == 204
        assert (await client.get("/api/v1/me", headers=bearer(first))).status == 200
        assert (await client.get("/api/v1/me", headers=bearer(second))).status == 401

        # An admin cannot lock themself out.
        assert (await client.patch("/api/v1/users/admin", json={"disabled": True}, headers=admin)).status == 409
        assert (
            await client.patch("/api/v1/users/admin", json={"role": "operator", "region": w.COMMUNITY_1}, headers=admin)
        ).status == 409
        kinds = [
            r["kind"]
            for r in await pool.fetch(
                "SELECT kind FROM audit_log WHERE subject = 'c1-operator' AND kind LIKE 'user.%' ORDER BY id"
            )
        ]
        assert kinds == ["user.updated"] * 3 + ["user.password_reset", "user.password_changed"]

    run(database_url, scenario)


def test_tokens_are_listed_without_secrets_and_revoked_by_id(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        admin = world.auth("admin")
        _, session = await login(client, "c1-worker", "password-c1-worker")
        page = await (await client.get("/api/v1/tokens?user=c1-worker&active=true", headers=admin)).json()
        assert len(page["items"]) == 2
        assert all(
            set(t) == {"id", "name", "username", "edge_id", "created_at", "expires_at", "revoked_at", "last_used_at"}
            for t in page["items"]
        )
        login_token = next(t for t in page["items"] if t["name"] == "login c1-worker")
        assert login_token["expires_at"] is not None
        # A supervisor sees and revokes the tokens of their own grid worker, not an admin's.
        sup = world.auth("street-supervisor")
        theirs = await (await client.get("/api/v1/tokens", headers=sup)).json()
        assert {t["username"] for t in theirs["items"]} == {"c1-operator", "c1-worker"}
        admin_token = (await (await client.get("/api/v1/tokens?user=admin", headers=admin)).json())["items"][0]
        assert (await client.delete(f"/api/v1/tokens/{admin_token['id']}", headers=sup)).status == 404
        assert (await client.delete(f"/api/v1/tokens/{login_token['id']}", headers=sup)).status == 204
        assert (await client.get("/api/v1/me", headers=bearer(session))).status == 401
        assert (await client.get("/api/v1/me", headers=world.auth("c1-worker"))).status == 200
        after = await (await client.get("/api/v1/tokens?user=c1-worker&active=true", headers=admin)).json()
        assert [t["name"] for t in after["items"]] == ["c1-worker"]
        audited = await pool.fetchval("SELECT actor FROM audit_log WHERE kind = 'token.revoked'")
        assert audited == "street-supervisor"

    run(database_url, scenario)


def test_an_edge_token_expires_and_rotates_with_an_overlap(database_url: str) -> None:
    config = AccountsConfig(edge_token_days=30, edge_token_grace_h=2, password_checks_per_s=1000)

    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        async with pool.acquire() as conn:
            _, old = await provision_edge(conn, "estate-9", w.COMMUNITY_1, clock.now, config.edge_token_lifetime)
        url = "/api/v1/edges/estate-9/token"
        at = START.isoformat().replace("+00:00", "Z")
        event = alert(edge_id="estate-9", started_at=at, at=at, emitted_at=at)
        resp = await client.post("/api/v1/edges/estate-9/alerts", json=event, headers=bearer(old))
        assert resp.status == 200, await resp.text()
        expires = datetime.fromisoformat(resp.headers["Wangge-Token-Expires"])
        assert expires == START + timedelta(days=30)
        # A fresh token rotated at once is refused (an edge in a loop would fill the table).
        assert (await client.post(url, headers=bearer(old))).status == 429
        # Another edge, or an operator, cannot rotate it.
        assert (await client.post(url, headers=world.auth("c1-operator"))).status == 403
        clock.now = START + timedelta(days=25)
        resp = await client.post(url, headers=bearer(old))
        assert resp.status == 201
        body = await resp.json()
        assert datetime.fromisoformat(body["expires_at"]) == clock.now + timedelta(days=30)
        assert datetime.fromisoformat(body["previous_valid_until"]) == clock.now + timedelta(hours=2)
        new = body["token"]

        async def probe(token: str) -> int:
            """400 (an empty batch) for a token that works, 401 for one that does not."""
            return (
                await client.post("/api/v1/edges/estate-9/alerts", json={"alerts": []}, headers=bearer(token))
            ).status

        clock.now += timedelta(hours=1)
        assert await probe(old) == 400
        assert await probe(new) == 400
        clock.now += timedelta(hours=1, seconds=1)
        assert await probe(old) == 401
        assert await probe(new) == 400
        clock.now = START + timedelta(days=25 + 30, seconds=1)
        assert await probe(new) == 401
        # An admin can still give the edge a new one.
        resp = await client.post(url, headers=world.auth("admin"))
        assert resp.status == 201
        assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE kind = 'edge.token_rotated'") == 2

    run(database_url, scenario, config)
