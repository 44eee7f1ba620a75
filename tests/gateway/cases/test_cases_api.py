"""The case system through its HTTP API, on a real PostgreSQL, with a clock the test moves."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.images import png_base64
from tests.support import new_object_store
from tests.test_alert_format import alert
from wangge.gateway.cases.config import CasesConfig, RouteConfig
from wangge.gateway.cases.escalation import run_escalations
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.app import create_app
from wangge.gateway.media.objects import Media
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_1730 = datetime(2026, 9, 18, 17, 30, tzinfo=SH)
PNG = png_base64()
ROUTES = [
    RouteConfig(category="public_facilities", department="城管 市政设施科", matter="big"),
    RouteConfig(category="public_facilities", region=w.COMMUNITY_2, department="西街道 物业", matter="small"),
    RouteConfig(category="emergencies", department="应急管理", matter="big"),
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


Scenario = Callable[[TestClient[Any, Any], w.World, Any, Clock, CaseRules], Awaitable[None]]


# Who takes a community ticket from reported to closed, step by step.
TO_CLOSED = (
    ("c1-operator", "register"),
    ("c1-operator", "dispatch"),
    ("c1-worker", "accept"),
    ("c1-worker", "handle"),
    ("c1-operator", "verify"),
    ("c1-operator", "close"),
)


def run(
    database_url: str, scenario: Scenario, config: CasesConfig | None = None, start: datetime = FRIDAY_1730
) -> None:
    # These scenarios open several cases of one category from one device on purpose (see w.SEPARATE_CASES).
    rules = CaseRules.from_config(config or CasesConfig(routes=ROUTES, duplicates={"enabled": False}))

    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
        clock = Clock(start)
        app = create_app(pool, {"broker": lambda: True}, rules, clock, media=Media(new_object_store(), pool))
        async with TestClient(TestServer(app)) as client:
            await scenario(client, world, pool, clock, rules)
        await pool.close()

    asyncio.run(main())


async def open_ticket(pool: Any, rules: CaseRules, now: datetime, **changes: Any) -> int:
    import json

    from wangge.gateway.ingest.batch import Incoming, prepare
    from wangge.gateway.ingest.store import store

    message = alert(edge_id="demo-estate", source={"kind": "sensor", "device_id": "underpass-gauge-1"}, **changes)
    async with pool.acquire() as conn:
        await store(
            conn,
            prepare([Incoming(1, 1, 1, "wangge/edge/demo-estate/alerts", json.dumps(message).encode())]),
            rules,
            now,
        )
        ticket: int = await conn.fetchval("SELECT max(id) FROM tickets")
    return ticket


async def act(
    client: TestClient[Any, Any], world: w.World, who: str, ticket: int, action: str, **body: Any
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/tickets/{ticket}/actions", json={"action": action, **body}, headers=world.auth(who)
    )
    return resp.status, await resp.json()


def test_a_ticket_walks_the_whole_workflow_with_audit_photos_and_refusals(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(
            pool, rules, clock.now, category="public_facilities.manhole_cover", rule_id="manhole-cover-open"
        )
        resp = await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))
        body = await resp.json()
        assert (body["state"], body["region_code"], body["handling_region_code"]) == (
            "reported",
            w.GRID_1,
            w.COMMUNITY_1,
        )
        assert (body["department"], body["matter"], body["stage"]) == ("城管 市政设施科", "big", "register")
        assert body["allowed_actions"] == ["register", "false_alarm", "comment"]

        status, problem = await act(client, world, "c1-worker", ticket, "register")
        assert status == 403
        status, problem = await act(client, world, "c1-operator", ticket, "close")
        assert status == 409 and problem["allowed_actions"] == ["register", "false_alarm", "comment"]
        status, problem = await act(client, world, "c1-operator", ticket, "false_alarm")
        assert status == 422

        steps = [
            ("c1-operator", "register", "registered"),
            ("c1-operator", "dispatch", "dispatched"),
            ("c1-worker", "accept", "accepted"),
            ("c1-worker", "start", "in_progress"),
            ("c1-worker", "handle", "handled"),
            ("c1-operator", "rework", "in_progress"),
            ("c1-worker", "handle", "handled"),
            ("c1-operator", "verify", "verified"),
            ("c1-operator", "close", "closed"),
        ]
        for who, action, state in steps:
            clock.now += timedelta(minutes=5)
            extra: dict[str, Any] = {"note": "cover replaced"} if action in ("handle", "rework") else {}
            if action == "handle":
                extra["photos"] = [{"content_type": "image/png", "data_base64": PNG}]
            status, body = await act(client, world, who, ticket, action, **extra)
            assert status == 200, body
            assert body["state"] == state
        assert body["closed_at"] is not None and body["stage"] is None and body["light"] == "none"

        detail = await (await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))).json()
        transitions = [(e["actor"], e["from_state"], e["to_state"]) for e in detail["events"] if e["to_state"]]
        assert transitions[0] == ("edge:demo-estate", None, "reported")
        assert transitions[-1] == ("c1-operator", "verified", "closed")
        assert len(transitions) == 1 + len(steps)
        [first, _second] = detail["attachments"]
        photo = await client.get(f"/api/v1/attachments/{first['id']}", headers=world.auth("c1-operator"))
        assert photo.status == 200 and photo.content_type == "image/png"
        assert await photo.read() == base64.b64decode(PNG)
        views = await pool.fetch("SELECT actor, subject FROM audit_log WHERE kind = 'attachment.view'")
        assert [(v["actor"], v["subject"]) for v in views] == [("c1-operator", f"attachment:{first['id']}")]
        events = [
            r["event_type"]
            for r in await pool.fetch("SELECT event_type FROM outbox_events WHERE ticket_id = $1 ORDER BY id", ticket)
        ]
        assert events[:2] == ["ticket.created", "alert.received"] and events[-1] == "ticket.closed"
        assert events.count("ticket.updated") == len(steps) - 1

        # Closed: a supervisor may reopen with a reason; an operator only comments.
        status, problem = await act(client, world, "c1-operator", ticket, "reopen", note="not fixed")
        assert status == 403
        status, body = await act(client, world, "street-supervisor", ticket, "reopen", note="not fixed")
        assert status == 200 and body["state"] == "reopened" and body["stage"] == "dispatch"

    run(database_url, scenario)


def test_sla_lights_across_a_weekend_and_a_holiday_then_escalation_up_the_hierarchy(database_url: str) -> None:
    monday = date(2026, 9, 21)
    config = CasesConfig(routes=ROUTES, holidays=[monday])

    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        # Register: 1 working hour. Friday 17:30 leaves 30 minutes; Monday is a holiday; due Tuesday 09:30.
        row = await pool.fetchrow("SELECT due_at, yellow_at FROM tickets WHERE id = $1", ticket)
        assert row["due_at"] == datetime(2026, 9, 22, 9, 30, tzinfo=SH)
        assert row["yellow_at"] == datetime(2026, 9, 22, 9, 18, tzinfo=SH)  # 48 of 60 minutes

        async def light_at(when: datetime) -> str:
            clock.now = when
            body = await (await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))).json()
            return str(body["light"])

        assert await light_at(datetime(2026, 9, 21, 17, 0, tzinfo=SH)) == "green"  # the holiday
        assert await light_at(datetime(2026, 9, 22, 9, 20, tzinfo=SH)) == "yellow"
        assert await light_at(datetime(2026, 9, 22, 9, 31, tzinfo=SH)) == "red"
        resp = await client.get("/api/v1/tickets?light=red", headers=world.auth("c1-operator"))
        assert [t["id"] for t in (await resp.json())["items"]] == [ticket]

        async with pool.acquire() as conn:
            assert await run_escalations(conn, rules, clock.now) == 1
            assert await run_escalations(conn, rules, clock.now) == 0  # nothing twice
        body = await (await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))).json()
        assert (body["escalation_level"], body["handling_region_code"], body["light"]) == (1, w.STREET_EAST, "green")
        assert body["was_overdue"] is True
        # Still not registered an hour later: red again, and up to the district.
        clock.now = datetime(2026, 9, 22, 10, 45, tzinfo=SH)
        async with pool.acquire() as conn:
            assert await run_escalations(conn, rules, clock.now) == 1
            clock.now += timedelta(hours=5)
            assert await run_escalations(conn, rules, clock.now) == 1  # overdue again, noted once
            assert await run_escalations(conn, rules, clock.now) == 0  # the district is the top
        body = await (await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))).json()
        assert (body["escalation_level"], body["handling_region_code"]) == (2, w.DISTRICT)
        kinds = [e["kind"] for e in body["events"]]
        assert kinds.count("ticket.escalated") == 2 and kinds.count("ticket.overdue") == 3
        outbox = [
            r["event_type"]
            for r in await pool.fetch("SELECT event_type FROM outbox_events WHERE ticket_id = $1", ticket)
        ]
        assert outbox.count("ticket.escalated") == 2 and outbox.count("ticket.overdue") == 3
        status, _ = await act(client, world, "c1-operator", ticket, "supervise")
        assert status == 403
        status, body = await act(client, world, "district-supervisor", ticket, "supervise")
        assert status == 200 and body["supervised"] is True

    run(database_url, scenario, config)


def test_emergencies_run_on_the_wall_clock(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(pool, rules, clock.now, category="emergencies.elevator_entrapment")
        row = await pool.fetchrow("SELECT due_at, department FROM tickets WHERE id = $1", ticket)
        assert row["due_at"] == FRIDAY_1730 + timedelta(minutes=10) and row["department"] == "应急管理"

    run(database_url, scenario)


def test_another_communitys_ticket_is_invisible_through_every_endpoint(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        attachment = await pool.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by)"
            " VALUES ($1, 'image/png', '\\x00', 1, '\\x00', 'x') RETURNING id",
            ticket,
        )
        outsider = world.auth("c2-operator")
        for url in (
            "/api/v1/tickets",
            "/api/v1/tickets?state=open",
            "/api/v1/tickets?q=Water",
            "/api/v1/tickets?sort=newest&light=green",
        ):
            body = await (await client.get(url, headers=outsider)).json()
            assert body["items"] == [], url
        assert (await client.get(f"/api/v1/tickets/{ticket}", headers=outsider)).status == 404
        assert (await client.get(f"/api/v1/attachments/{attachment}", headers=outsider)).status == 404
        status, _ = await act(client, world, "c2-operator", ticket, "comment", note="mine?")
        assert status == 404
        resp = await client.get(f"/api/v1/tickets?region={w.COMMUNITY_1}", headers=outsider)
        assert resp.status == 400
        hot = await (await client.get("/api/v1/stats/hotspots", headers=outsider)).json()
        assert hot["items"] == []
        summary = await (await client.get("/api/v1/stats/summary", headers=outsider)).json()
        assert summary["by_state"] == {} and summary["open_by_light"] == {}
        regions = await (await client.get("/api/v1/regions", headers=outsider)).json()
        assert {r["code"] for r in regions["items"]} == {w.COMMUNITY_2, w.COMMUNITY_2 + "001", w.COMMUNITY_2 + "002"}
        geo = await (await client.get("/api/v1/regions.geojson", headers=outsider)).json()
        assert len(geo["features"]) == 3
        devices = await (await client.get("/api/v1/devices", headers=outsider)).json()
        assert devices["items"] == []
        # The ticket's own community, its street and its district all see it.
        for who in ("c1-operator", "c1-worker", "street-supervisor", "district-supervisor", "admin"):
            body = await (await client.get("/api/v1/tickets", headers=world.auth(who))).json()
            assert [t["id"] for t in body["items"]] == [ticket], who
        assert (await client.get("/api/v1/dead-letters", headers=world.auth("c1-operator"))).status == 403

    run(database_url, scenario)


def test_one_tap_report_progress_link_and_the_residents_rating(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        worker = world.auth("c1-worker")
        report = {
            "category": "public_facilities.manhole_cover",
            "text": "井盖破损 Broken manhole cover\nnear gate 3",
            "lon": w.POINT_GRID_1[0],
            "lat": w.POINT_GRID_1[1],
            "photos": [{"content_type": "image/png", "data_base64": PNG}],
        }
        resp = await client.post("/api/v1/reports", json=report, headers=worker)
        assert resp.status == 201
        created = await resp.json()
        assert (created["source"], created["region_code"], created["title"]) == (
            "report",
            w.GRID_1,
            "井盖破损 Broken manhole cover",
        )
        token = created["progress_token"]
        resp = await client.post("/api/v1/reports", json={**report, "lon": w.POINT_GRID_2[0]}, headers=worker)
        assert resp.status == 403
        resp = await client.post("/api/v1/reports", json={"category": "x", "lat": 99}, headers=worker)
        body = await resp.json()
        assert resp.status == 422 and {p["name"] for p in body["invalid_params"]} == {"text", "lat", "lon"}
        resp = await client.post("/api/v1/reports", data=b"[]", headers={**worker, "Content-Type": "application/json"})
        assert resp.status == 400

        page = await (await client.get(f"/api/v1/progress/{token}")).json()
        assert page["state"] == "reported" and page["can_rate"] is False
        assert "reported_by" not in page and all("actor" not in h for h in page["history"])
        assert (await client.post(f"/api/v1/progress/{token}/rating", json={"rating": "satisfied"})).status == 409
        assert (await client.get("/api/v1/progress/not-a-token")).status == 404

        ticket = created["id"]
        for who, action in TO_CLOSED:
            status, body = await act(client, world, who, ticket, action, note="ok")
            assert status == 200, body
        resp = await client.post(f"/api/v1/progress/{token}/rating", json={"rating": "meh"})
        assert resp.status == 422
        # Within a week of the closure only (cases.rating_window_h, 168 by default).
        clock.now += timedelta(hours=168, seconds=1)
        assert (await (await client.get(f"/api/v1/progress/{token}")).json())["can_rate"] is False
        late = await client.post(f"/api/v1/progress/{token}/rating", json={"rating": "satisfied"})
        assert late.status == 409 and "passed" in (await late.json())["detail"]
        clock.now -= timedelta(hours=2)
        assert (await (await client.get(f"/api/v1/progress/{token}")).json())["can_rate"] is True
        resp = await client.post(
            f"/api/v1/progress/{token}/rating", json={"rating": "not_satisfied", "comment": "still broken"}
        )
        assert resp.status == 200 and (await resp.json())["state"] == "reopened"
        page = await (await client.get(f"/api/v1/progress/{token}")).json()
        assert page["state"] == "reopened" and page["rating"] == "not_satisfied"
        assert [h["to_state"] for h in page["history"] if h["to_state"]][-2:] == ["closed", "reopened"]
        # Closed again: this closure can be rated, once.
        for who, action in TO_CLOSED[1:]:
            status, body = await act(client, world, who, ticket, action, note="fixed")
            assert status == 200, body
        assert (await (await client.get(f"/api/v1/progress/{token}")).json())["can_rate"] is True
        assert (await client.post(f"/api/v1/progress/{token}/rating", json={"rating": "satisfied"})).status == 200
        again = await client.post(f"/api/v1/progress/{token}/rating", json={"rating": "not_satisfied"})
        assert again.status == 409 and "rated already" in (await again.json())["detail"]
        page = await (await client.get(f"/api/v1/progress/{token}")).json()
        assert (page["state"], page["rating"], page["can_rate"]) == ("closed", "satisfied", False)

    run(database_url, scenario)


def test_recurring_cases_are_linked_and_routing_can_be_overridden_only_by_a_supervisor(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ids = []
        for day in range(3):
            clock.now = FRIDAY_1730 + timedelta(days=day * 5)
            ids.append(
                await open_ticket(
                    pool, rules, clock.now, category="public_facilities.manhole_cover", rule_id=f"rule-{day}"
                )
            )
        rows = await pool.fetch("SELECT id, recurring_of FROM tickets ORDER BY id")
        assert [r["recurring_of"] for r in rows] == [None, None, ids[0]]
        status, _ = await act(client, world, "c1-operator", ids[2], "register")
        assert status == 200
        status, _ = await act(client, world, "c1-operator", ids[2], "dispatch", department="水务")
        assert status == 403
        status, _ = await act(client, world, "street-supervisor", ids[2], "dispatch", department="水务")
        assert status == 422
        status, body = await act(
            client,
            world,
            "street-supervisor",
            ids[2],
            "dispatch",
            department="水务",
            note="the cover is on a water main",
        )
        assert status == 200 and body["department"] == "水务"

    run(database_url, scenario)


def test_sign_in_is_audited_tokens_expire_and_sign_out_revokes(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        bad = await client.post("/api/v1/auth/login", json={"username": "c1-operator", "password": "wrong"})
        assert bad.status == 401
        unknown = await client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
        assert unknown.status == 401
        ok = await client.post(
            "/api/v1/auth/login", json={"username": "c1-operator", "password": "password-c1-operator"}
        )
        assert ok.status == 200
        token = (await ok.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        me = await (await client.get("/api/v1/me", headers=headers)).json()
        assert (me["name"], me["role"]) == ("c1-operator", "operator")
        audit = [(r["actor"], r["kind"]) for r in await pool.fetch("SELECT actor, kind FROM audit_log ORDER BY id")]
        assert audit == [("c1-operator", "login_failed"), ("nobody", "login_failed"), ("c1-operator", "login")]
        clock.now += timedelta(hours=12, seconds=1)
        assert (await client.get("/api/v1/me", headers=headers)).status == 401
        clock.now -= timedelta(hours=1)
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status == 204
        assert (await client.get("/api/v1/me", headers=headers)).status == 401

    run(database_url, scenario)


def test_edges_post_alerts_for_their_own_devices_only(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        from wangge.gateway.accounts.tokens import issue_token

        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO devices (device_id, edge_id, kind) VALUES ('other-cam', 'other-edge', 'camera')"
            )
            token = await issue_token(conn, "edge", edge_id="demo-estate")
        headers = {"Authorization": f"Bearer {token}"}
        mine = alert(edge_id="demo-estate", source={"kind": "sensor", "device_id": "elevator-b2"})
        resp = await client.post("/api/v1/edges/demo-estate/alerts", json=mine, headers=headers)
        assert resp.status == 200 and (await resp.json())["stored"] == [f"{mine['alert_id']}:0"]
        theirs = alert(edge_id="demo-estate", source={"kind": "camera", "device_id": "other-cam"})
        resp = await client.post("/api/v1/edges/demo-estate/alerts", json={"alerts": [theirs]}, headers=headers)
        body = await resp.json()
        assert resp.status == 207 and body["problems"][0]["reason"] == "foreign_device"
        assert (await client.post("/api/v1/edges/other-edge/alerts", json=mine, headers=headers)).status == 403
        assert (await client.get("/api/v1/tickets", headers=headers)).status == 403
        assert await pool.fetchval("SELECT count(*) FROM alerts") == 1

    run(database_url, scenario)


def test_hotspots_and_summary_figures(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        now = clock.now
        for days_ago, category, n in (
            (10, "public_facilities.manhole_cover", 1),
            (10, "emergencies.water_logging", 3),
            (2, "public_facilities.manhole_cover", 3),
            (1, "emergencies.water_logging", 1),
        ):
            for i in range(n):
                opened = now - timedelta(days=days_ago)
                ticket = await open_ticket(
                    pool, rules, opened, category=category, rule_id=f"r{days_ago}-{i}-{category}"
                )
                await pool.execute("UPDATE tickets SET opened_at = $2 WHERE id = $1", ticket, opened)
        hot = await (await client.get("/api/v1/stats/hotspots", headers=world.auth("district-supervisor"))).json()
        assert [(h["rank"], h["category"], h["count"], h["share"], h["previous_share"]) for h in hot["items"]] == [
            (1, "public_facilities.manhole_cover", 3, 0.75, 0.25),
            (2, "emergencies.water_logging", 1, 0.25, 0.75),
        ]
        assert hot["items"][0]["share_change"] == 0.5
        one = await pool.fetchval("SELECT min(id) FROM tickets")
        for who, action in TO_CLOSED:
            clock.now += timedelta(minutes=1)
            status, _ = await act(client, world, who, one, action, note="ok")
            assert status == 200
        two = await pool.fetchval("SELECT max(id) FROM tickets")
        status, _ = await act(client, world, "c1-operator", two, "false_alarm", note="gauge fouled by leaves")
        assert status == 200
        summary = await (
            await client.get(
                "/api/v1/stats/summary?since=2026-09-01T00:00:00Z", headers=world.auth("district-supervisor")
            )
        ).json()
        assert summary["by_state"] == {"reported": 6, "closed": 1, "cancelled": 1}
        [street] = summary["by_region"]
        assert (street["region"], street["created"], street["closed"], street["closure_rate"]) == (
            w.STREET_EAST,
            8,
            1,
            0.125,
        )
        assert summary["stage_seconds"]["registered"]["mean"] == 60.0
        fouled = [f for f in summary["false_alarms"] if f["false_alarms"]]
        assert len(fouled) == 1 and fouled[0]["rate"] == 1.0

    run(database_url, scenario)


def test_registry_lists_filter_and_page_within_the_callers_area(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        street = world.auth("street-supervisor")
        grids = await (await client.get("/api/v1/regions?level=grid&limit=2", headers=street)).json()
        assert [r["level"] for r in grids["items"]] == ["grid", "grid"] and grids["next_cursor"]
        rest = await (
            await client.get(f"/api/v1/regions?level=grid&cursor={grids['next_cursor']}", headers=street)
        ).json()
        codes = [r["code"] for r in grids["items"] + rest["items"]]
        assert len(codes) == 4 and len(set(codes)) == 4 and all(c.startswith(w.STREET_EAST) for c in codes)
        sensors = await (await client.get("/api/v1/devices?kind=sensor&q=elevator", headers=street)).json()
        assert [(d["device_id"], d["building_code"]) for d in sensors["items"]] == [("elevator-b2", "demo-b2")]
        page = await (await client.get("/api/v1/devices?limit=1", headers=street)).json()
        assert len(page["items"]) == 1 and page["next_cursor"] == page["items"][0]["device_id"]
        assert (await client.get(f"/api/v1/devices?region={w.COMMUNITY_2}", headers=street)).status == 400
        assert (await client.get("/api/v1/devices?kind=robot", headers=street)).status == 400
        edges = await (await client.get("/api/v1/edges?state=unknown", headers=street)).json()
        assert [e["edge_id"] for e in edges["items"]] == ["demo-estate"]
        await pool.execute(
            "INSERT INTO dead_letters (source, reason, detail, payload) VALUES ('t', 'schema', 'x', '\\x00'),"
            " ('t', 'not_json', 'y', '\\x01'), ('t', 'schema', 'z', '\\x02')"
        )
        admin = world.auth("admin")
        first = await (await client.get("/api/v1/dead-letters?reason=schema&limit=1", headers=admin)).json()
        assert [d["detail"] for d in first["items"]] == ["z"]
        second = await (
            await client.get(f"/api/v1/dead-letters?reason=schema&cursor={first['next_cursor']}", headers=admin)
        ).json()
        assert [d["detail"] for d in second["items"]] == ["x"] and second["next_cursor"] is None

    run(database_url, scenario)
