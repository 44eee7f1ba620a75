"""Areas are region subtrees matched one way everywhere: '_' and '%' in a region code are literal, and moving a
region moves the scope of what belongs to it (tickets, their feed events, webhook subscriptions, users)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import Clock, open_ticket, run
from wangge.gateway.accounts.tokens import issue_token
from wangge.gateway.accounts.users import create_user
from wangge.gateway.cases import registry
from wangge.gateway.cases.rules import CaseRules

LOOKALIKES = (
    "code,name,level,parent_code,geometry\n"
    "Z_1,Underscore district,district,,\n"
    "ZX1,Lookalike district,district,,\n"
    "Z_1S,Underscore street,street,Z_1,\n"
    "ZX1S,Lookalike street,street,ZX1,\n"
)


def test_an_underscore_in_a_region_code_matches_only_itself(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        async with pool.acquire() as conn:
            await registry.import_regions(conn, LOOKALIKES, "lookalikes.csv")
            user = await create_user(conn, "z-sup", "password-z-sup", "supervisor", "Z_1")
            token = await issue_token(conn, "z", user_id=user)
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        await pool.execute("UPDATE tickets SET region_path = '/ZX1/ZX1S/' WHERE id = $1", ticket)
        auth = {"Authorization": f"Bearer {token}"}
        regions = await (await client.get("/api/v1/regions", headers=auth)).json()
        assert sorted(r["code"] for r in regions["items"]) == ["Z_1", "Z_1S"]
        assert (await (await client.get("/api/v1/tickets", headers=auth)).json())["items"] == []
        summary = await (await client.get("/api/v1/stats/summary", headers=auth)).json()
        assert summary["by_state"] == {}
        assert (await client.get(f"/api/v1/tickets/{ticket}", headers=auth)).status == 404
        assert (await client.get("/api/v1/regions?region=ZX1S", headers=auth)).status == 400

    run(database_url, scenario)


def test_moving_a_community_to_another_street_moves_its_tickets_feed_and_subscriptions(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        admin = world.auth("admin")
        resp = await client.post(
            "/api/v1/webhooks/subscriptions",
            json={"name": "c1", "url": "https://hooks.example.com/c1", "region": w.COMMUNITY_1},
            headers=admin,
        )
        assert resp.status == 201, await resp.text()
        east = world.auth("street-supervisor")
        assert [t["id"] for t in (await (await client.get("/api/v1/tickets", headers=east)).json())["items"]] == [
            ticket
        ]
        west_street = "990101002"
        async with pool.acquire() as conn:
            name = await conn.fetchval("SELECT name FROM regions WHERE code = $1", w.COMMUNITY_1)
            moved = f"code,name,level,parent_code,geometry\n{w.COMMUNITY_1},{name},community,{west_street},\n"
            await registry.import_regions(conn, moved, "move.csv")
        new_path = f"/{w.DISTRICT}/{west_street}/{w.COMMUNITY_1}/"
        grid = await pool.fetchval("SELECT path FROM regions WHERE code = $1", w.GRID_1)
        assert grid == new_path + w.GRID_1 + "/"  # the ticket's grid, under the moved community
        assert await pool.fetchval("SELECT region_path FROM tickets WHERE id = $1", ticket) == grid
        paths = {
            r["region_path"]
            for r in await pool.fetch("SELECT region_path FROM outbox_events WHERE ticket_id = $1", ticket)
        }
        assert paths == {grid}
        assert await pool.fetchval("SELECT region_path FROM webhook_subscriptions") == new_path
        # East street's supervisor no longer sees it; the community's own operator and worker still do.
        assert (await (await client.get("/api/v1/tickets", headers=east)).json())["items"] == []
        assert (await client.get(f"/api/v1/tickets/{ticket}", headers=east)).status == 404
        for who in ("c1-operator", "c1-worker", "district-supervisor"):
            body = await (await client.get("/api/v1/tickets", headers=world.auth(who))).json()
            assert [t["id"] for t in body["items"]] == [ticket], who
        me = await (await client.get("/api/v1/me", headers=world.auth("c1-operator"))).json()
        assert me["scope"] == new_path
        subs = await (await client.get("/api/v1/webhooks/subscriptions", headers=east)).json()
        assert subs["items"] == []

    run(database_url, scenario)
