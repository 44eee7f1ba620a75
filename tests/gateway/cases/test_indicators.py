"""The indicators on a hand-made history driven through the HTTP API with a clock the test moves: every
expected figure is counted below from the story of each ticket, not from the implementation.

SLA (wall clock, one policy): register 1 h, dispatch 1 h, accept 1 h, handle 4 h, verify 1 h, close 1 h. The
current period is the week from Monday 2026-11-09 00:00 UTC, the previous one the week before. Current tickets
open at o = 11-09 01:00, previous ones at p = 11-02 01:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway import world as w
from wangge.gateway.cases.config import CasesConfig, RouteConfig, SlaConfig
from wangge.gateway.cases.escalation import run_escalations
from wangge.gateway.cases.rules import CaseRules

T0 = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
P = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
CATEGORY = "public_facilities.manhole_cover"
LIMITS = {"register": "1h", "dispatch": "1h", "accept": "1h", "handle": "4h", "verify": "1h", "close": "1h"}
RULES = CaseRules.from_config(
    CasesConfig(
        sla=[SlaConfig(category="", clock="wall", limits=LIMITS)],
        routes=[
            RouteConfig(category="public_facilities", department="城管 市政设施科", matter="big"),
            RouteConfig(category="public_facilities", region=w.COMMUNITY_2, department="西街道 物业", matter="small"),
        ],
        rating_window_h=72,
        # This history is of separate cases at one place; a report joining an open one is tested in
        # tests/gateway/intake.
        duplicates={"enabled": False},
    )
)
WEEK = "since=2026-11-09T00:00:00Z&until=2026-11-16T00:00:00Z"


class Clock:
    def __init__(self) -> None:
        self.now = P

    def __call__(self) -> datetime:
        return self.now


def h(hours: float, base: datetime = T0) -> datetime:
    return base + timedelta(hours=hours)


def test_indicators_of_a_hand_made_history_per_region_department_and_against_the_week_before(
    database_url: str,
) -> None:
    clock = Clock()

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        async def report(who: str, point: tuple[float, float], name: str) -> tuple[int, str]:
            resp = await client.post(
                "/api/v1/reports",
                json={"category": CATEGORY, "text": name, "lon": point[0], "lat": point[1]},
                headers=world.auth(who),
            )
            assert resp.status == 201, await resp.text()
            body = await resp.json()
            return body["id"], body["progress_token"]

        async def act(who: str, ticket: int, action: str, at: datetime, **body: Any) -> dict[str, Any]:
            clock.now = at
            resp = await client.post(
                f"/api/v1/tickets/{ticket}/actions", json={"action": action, **body}, headers=world.auth(who)
            )
            assert resp.status == 200, (action, await resp.text())
            return dict(await resp.json())

        async def rate(token: str, rating: str, at: datetime) -> None:
            clock.now = at
            resp = await client.post(f"/api/v1/progress/{token}/rating", json={"rating": rating, "comment": ""})
            assert resp.status == 200, await resp.text()

        async def walk(who: str, ticket: int, steps: list[tuple[str, float]], base: datetime = T0) -> None:
            workers = {"accept", "handle", "start", "request_extension"}
            for action, hours in steps:
                actor = "c1-worker" if who == "c1-operator" and action in workers else who
                await act(actor, ticket, action, h(hours, base), note="done")

        async def indicators(query: str) -> dict[str, Any]:
            resp = await client.get(f"/api/v1/stats/indicators?{query}", headers=world.auth("district-supervisor"))
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

        # The week before: P1 goes through on time, P2 is never registered.
        clock.now = P
        p1, _ = await report("c1-operator", w.POINT_GRID_1, "P1")
        await report("c1-operator", w.POINT_GRID_1, "P2")
        await walk(
            "c1-operator",
            p1,
            [("register", 0.5), ("dispatch", 1), ("accept", 1.5), ("handle", 2), ("verify", 2.5), ("close", 3)],
            P,
        )

        clock.now = T0
        a, token_a = await report("c1-operator", w.POINT_GRID_1, "A")
        b, token_b = await report("c1-operator", w.POINT_GRID_1, "B")
        c, _ = await report("c1-operator", w.POINT_GRID_1, "C")
        d, _ = await report("c1-operator", w.POINT_GRID_1, "D")
        e, _ = await report("c1-operator", w.POINT_GRID_1, "E")
        f, _ = await report("c1-operator", w.POINT_GRID_1, "F")
        g, _ = await report("c2-operator", w.POINT_GRID_2, "G")
        to_close = [("register", 0.5), ("dispatch", 1), ("accept", 1.5)]
        # A: on time all the way, rated satisfied.
        await walk("c1-operator", a, [*to_close, ("handle", 3), ("verify", 3.5), ("close", 4)])
        await rate(token_a, "satisfied", h(5))
        # B: handled at o+6, past the handling deadline o+1.5+4h = o+5.5; rated not satisfied (reopened).
        await walk("c1-operator", b, [*to_close, ("handle", 6), ("verify", 6.5), ("close", 7)])
        await rate(token_b, "not_satisfied", h(7.5))
        # C: handled, sent back by 核查 (返工), handled again, closed, all on time.
        await walk("c1-operator", c, [*to_close, ("handle", 2), ("rework", 2.5), ("handle", 3), ("verify", 3.5)])
        await act("c1-operator", c, "close", h(4))
        # D: 2 h more to accept asked and granted (accept deadline o+2 → o+4), accepted at o+3.5, so the handling
        # deadline is o+7.5; still unhandled when the SLA job runs at o+8.
        await walk("c1-operator", d, [("register", 0.5), ("dispatch", 1)])
        asked = await act("c1-worker", d, "request_extension", h(1.5), note="parts on order", extension="2h")
        assert asked["extension_requested"] == "2h"
        assert "approve_extension" not in asked["allowed_actions"]  # a worker does not decide
        resp = await client.post(
            f"/api/v1/tickets/{d}/actions",
            json={"action": "request_extension", "note": "again", "extension": "1h"},
            headers=world.auth("c1-worker"),
        )
        assert resp.status == 409  # one pending request at a time
        granted = await act("street-supervisor", d, "approve_extension", h(1.75))
        assert datetime.fromisoformat(granted["due_at"]) == h(4) and granted["extension_count"] == 1
        assert granted["extension_requested"] is None and "approve_extension" not in granted["allowed_actions"]
        await act("c1-worker", d, "accept", h(3.5))
        # E: a false alarm before registration; F: found a false alarm after dispatch.
        await act("c1-operator", e, "false_alarm", h(0.2), note="nothing there")
        await walk("c1-operator", f, [("register", 0.5), ("dispatch", 1)])
        await act("c1-operator", f, "false_alarm", h(2), note="nothing there")
        # G (west street): registered late at o+3 (deadline o+1), dispatched at o+3.5; not accepted by o+8.
        await walk("c2-operator", g, [("register", 3), ("dispatch", 3.5)])
        async with pool.acquire() as conn:
            assert await run_escalations(conn, RULES, h(8)) >= 2  # D (handling) and G (accepting) go overdue

        # While the week runs (now o+8.5) D and G are overdue and unhandled.
        clock.now = h(8.5)
        running = await indicators(WEEK)
        assert datetime.fromisoformat(running["as_of"]) == h(8.5)
        counts = running["total"]["current"]["counts"]
        assert (counts["handled"], counts["overdue_pending"], counts["due_to_handle"]) == (3, 2, 5)

        # G is handled three days later: the week it opened in moves.
        await act("c2-operator", g, "accept", datetime(2026, 11, 12, 10, 0, tzinfo=UTC))
        await act("c2-operator", g, "handle", datetime(2026, 11, 12, 10, 0, tzinfo=UTC))

        clock.now = datetime(2026, 11, 20, tzinfo=UTC)
        body = await indicators(WEEK + "&level=street")
        assert datetime.fromisoformat(body["as_of"]) == datetime(2026, 11, 16, tzinfo=UTC)
        assert datetime.fromisoformat(body["previous_since"]) == datetime(2026, 11, 2, tzinfo=UTC)
        now = body["total"]["current"]
        assert now["counts"] == {
            "reported": 7,  # A–G
            "invalid": 1,  # E
            "registered": 6,  # all but E
            "due_to_handle": 5,  # A, B, C, D, G (F is a false alarm)
            "handled": 4,  # A, B, C, G
            "handled_on_time": 2,  # A, C (B late; G's accept deadline passed)
            "due_to_close": 5,
            "closed": 3,  # A, B, C
            "closed_on_time": 2,  # A, C
            "reworked": 1,  # C
            "overdue_pending": 1,  # D
            "extended": 1,  # D
            "rated": 2,  # A, B
            "satisfied": 1,  # A
            "false_alarms": 2,  # E, F
        }
        assert now["rates"] == {
            "register_rate": 1.0,  # 6 / (7 − 1)
            "handle_rate": 0.8,
            "on_time_handle_rate": 0.4,
            "close_rate": 0.6,
            "on_time_close_rate": 0.4,
            "rework_rate": 0.2,
            "overdue_pending_rate": 0.2,
            "extension_rate": 0.2,
            "satisfaction_rate": 0.5,
            "false_alarm_rate": round(2 / 7, 4),
        }
        hour = 3600.0
        assert now["stage_mean_s"] == {
            "registering": (5 * 0.5 + 3) / 6 * hour,  # A B C D F half an hour, G three hours
            "dispatching": 0.5 * hour,
            "handling": (2 + 5 + 1 + (3 * 24 + 5.5)) / 4 * hour,  # A, B, C, and G from o+3.5 to 11-12 10:00
            "closing": (1 + 1 + 2) / 3 * hour,  # first handled → first closed: A, B, C
        }
        before = body["total"]["previous"]
        assert before["counts"]["reported"] == 2 and before["counts"]["registered"] == 1
        assert before["rates"]["register_rate"] == 0.5 and before["rates"]["on_time_close_rate"] == 1.0
        assert before["rates"]["satisfaction_rate"] is None  # nobody rated
        assert body["total"]["change"]["register_rate"] == 0.5
        assert body["total"]["change"]["handle_rate"] == -0.2  # 0.8 against 1.0
        assert body["total"]["change"]["satisfaction_rate"] is None

        streets = {r["key"]: r for r in body["rows"]}
        assert set(streets) == {w.STREET_EAST, "990101002"}
        east, west = streets[w.STREET_EAST], streets["990101002"]
        assert east["current"]["counts"]["reported"] == 6 and west["current"]["counts"]["reported"] == 1
        assert east["current"]["rates"]["handle_rate"] == 0.75  # A, B, C of A, B, C, D
        assert west["current"]["counts"]["handled"] == 1 and west["current"]["rates"]["on_time_handle_rate"] == 0.0
        assert west["previous"]["counts"]["reported"] == 0 and west["previous"]["rates"]["handle_rate"] is None
        assert east["name"] and west["name"]

        by_department = await indicators(WEEK + "&by=department")
        departments = {r["key"]: r["current"]["counts"]["reported"] for r in by_department["rows"]}
        assert departments == {"城管 市政设施科": 6, "西街道 物业": 1}
        assert [r["key"] for r in by_department["rows"]] == ["城管 市政设施科", "西街道 物业"]  # most first

        # Every fact the triggers kept equals a fold of the whole history from scratch.
        async with pool.acquire() as conn:
            kept = [dict(r) for r in await conn.fetch("SELECT * FROM ticket_facts ORDER BY ticket_id")]
            await conn.execute(
                "UPDATE ticket_facts SET registered_at = NULL, handled_at = NULL, late_at = NULL, rating = NULL"
            )
            await conn.execute("SELECT wangge_refold_ticket_facts(NULL)")
            assert [dict(r) for r in await conn.fetch("SELECT * FROM ticket_facts ORDER BY ticket_id")] == kept
        assert len(kept) == 9 and all(k["department"] for k in kept)

        resp = await client.get(f"/api/v1/stats/indicators?{WEEK}", headers=world.auth("c1-worker"))
        assert resp.status == 403  # an office figure
        resp = await client.get(
            "/api/v1/stats/indicators?since=2025-01-01T00:00:00Z&until=2026-11-16T00:00:00Z",
            headers=world.auth("district-supervisor"),
        )
        assert resp.status == 400  # at most 366 days

    w.run_api(database_url, scenario, rules=RULES, clock=clock)


def test_extension_requests_are_checked(database_url: str) -> None:
    clock = Clock()

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        resp = await client.post(
            "/api/v1/reports",
            json={"category": CATEGORY, "text": "x", "lon": w.POINT_GRID_1[0], "lat": w.POINT_GRID_1[1]},
            headers=world.auth("c1-operator"),
        )
        ticket = (await resp.json())["id"]

        async def post(who: str, **body: Any) -> tuple[int, Any]:
            resp = await client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=world.auth(who))
            return resp.status, await resp.json()

        status, body = await post("c1-worker", action="request_extension", note="x", extension="1h")
        assert status == 409 and "reported" in body["detail"]  # only while the handling clock runs
        for action in ("register", "dispatch"):
            assert (await post("c1-operator", action=action))[0] == 200
        status, body = await post("c1-worker", action="request_extension", note="more time")
        assert status == 422 and "extension" in body["detail"]
        for wrong in ("31d", "soon", "0h"):
            status, body = await post("c1-worker", action="request_extension", note="x", extension=wrong)
            assert status == 422 and "extension" in str(body), wrong
        status, body = await post("street-supervisor", action="approve_extension")
        assert status == 409 and "no extension is pending" in body["detail"]
        assert (await post("c1-worker", action="request_extension", note="x", extension="1d"))[0] == 200
        assert (await post("c1-worker", action="approve_extension"))[0] == 403
        assert (await post("street-supervisor", action="reject_extension"))[0] == 422  # refusing needs a why
        status, body = await post("street-supervisor", action="reject_extension", note="do it today")
        assert status == 200 and body["extension_requested"] is None and body["extension_count"] == 0
        assert datetime.fromisoformat(body["due_at"]) == P + timedelta(hours=1)  # the deadline did not move
        # A pending request lapses when the ticket leaves the stage.
        assert (await post("c1-worker", action="request_extension", note="x", extension="1d"))[0] == 200
        status, body = await post("c1-worker", action="accept")
        assert status == 200 and body["extension_requested"] is None
        async with pool.acquire() as conn:
            kinds = await conn.fetch("SELECT kind, data FROM ticket_events WHERE ticket_id = $1 ORDER BY id", ticket)
        asked = [r["data"] for r in kinds if r["kind"] == "action.request_extension"]
        assert [a["extension"] for a in asked] == ["1d", "1d"]

    w.run_api(database_url, scenario, rules=RULES, clock=clock)
