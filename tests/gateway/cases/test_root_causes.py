"""治理专项 from 类案 clusters, on the clusters test's seeded history (whose clusters are known by construction):
a root-cause case links exactly its cluster's cases of the period, new cases at the place attach while it is
open, and closing it leaves the linked cases alone unless the supervisor asks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.gateway import world as w
from tests.gateway.cases.test_clusters import DLAT, DLON, LAT, LON, M_LAT, M_LON, PERIOD, plant
from tests.test_alert_format import alert
from wangge.gateway.cases.rules import default_rules
from wangge.gateway.ingest.batch import Incoming, prepare
from wangge.gateway.ingest.store import store

SINCE, UNTIL = "2026-10-31T00:00:00Z", "2026-11-30T00:00:00Z"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # inside the period: new reports and root causes count in it


def test_a_root_cause_case_links_its_cluster_takes_new_cases_and_closes_them_only_when_asked(
    database_url: str,
) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ids = await plant(pool)

        async def call(method: str, url: str, who: str, body: Any = None) -> tuple[int, Any]:
            resp = await client.request(method, url, json=body, headers=world.auth(who))
            return resp.status, await resp.json()

        async def clusters() -> list[dict[str, Any]]:
            status, body = await call("GET", f"/api/v1/stats/clusters?{PERIOD}&place=cell", "district-supervisor")
            assert status == 200
            return list(body["items"])

        async def report(category: str, lat: float, lon: float) -> dict[str, Any]:
            body = {"category": category, "text": "again", "lat": lat, "lon": lon}
            status, created = await call("POST", "/api/v1/reports", "c1-operator", body)
            assert status == 201, created
            return dict(created)

        def spec(cluster: dict[str, Any], **more: Any) -> dict[str, Any]:
            return {
                "category": cluster["category"],
                "place": "cell",
                "key": cluster["place"],
                "radius_m": 100,
                "since": SINCE,
                "until": UNTIL,
                **more,
            }

        garbage, water = await clusters()
        assert (garbage["category"], water["category"]) == ("environment.garbage", "emergencies.water_logging")

        status, _ = await call("POST", "/api/v1/root-causes", "c1-operator", spec(garbage))
        assert status == 403  # a supervisor's decision
        status, root = await call(
            "POST", "/api/v1/root-causes", "street-supervisor", spec(garbage, department="环卫 治理组", note="bins")
        )
        assert status == 201, root
        assert (root["source"], root["state"], root["department"]) == ("rootcause", "registered", "环卫 治理组")
        assert root["stage"] == "dispatch" and root["due_at"] is not None  # its own clock runs
        assert root["region_code"] == w.GRID_1 and "dispatch" in root["allowed_actions"]

        status, detail = await call("GET", f"/api/v1/tickets/{root['id']}", "street-supervisor")
        assert status == 200
        assert sorted(c["id"] for c in detail["linked"]) == sorted(ids["A"]) and detail["linked_count"] == 4
        assert detail["root_cause"]["place_key"] == garbage["place"]  # the one before the period is not linked
        async with pool.acquire() as conn:
            linked = await conn.fetch(
                "SELECT t.id, t.root_cause_id, (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id"
                " AND e.kind = 'ticket.linked') AS events FROM tickets t WHERE t.id = ANY($1::bigint[])",
                [*ids["A"], *ids["A-before"]],
            )
        assert {r["id"]: (r["root_cause_id"], r["events"]) for r in linked} == {
            **{i: (root["id"], 1) for i in ids["A"]},
            ids["A-before"][0]: (None, 0),
        }
        status, again = await call("POST", "/api/v1/root-causes", "street-supervisor", spec(garbage))
        assert status == 422 and "already" in again["detail"]  # its cases are taken

        # A new garbage report at the bin attaches; water at the same bin and garbage 2 km away do not.
        fresh = await report("environment.garbage", LAT + 3 * M_LAT, LON + 3 * M_LON)
        other_kind = await report("emergencies.water_logging", LAT + 3 * M_LAT, LON + 3 * M_LON)
        far = await report("environment.garbage", DLAT, DLON)  # the lane 1 km south, same grid
        assert fresh["root_cause_id"] == root["id"]
        assert other_kind["root_cause_id"] is None and far["root_cause_id"] is None
        _, detail = await call("GET", f"/api/v1/tickets/{root['id']}", "street-supervisor")
        assert detail["linked_count"] == 5 and detail["linked"][0]["id"] == fresh["id"]  # newest first
        assert any(
            e["kind"] == "root_cause.case_added" and e["data"]["ticket"] == fresh["id"] for e in detail["events"]
        )
        # The root-cause case is not a case of its own cluster (it sits at the same place): four and the new one.
        assert next(c["count"] for c in await clusters() if c["category"] == "environment.garbage") == 5

        # Closed without close_linked: its cases stay as they were; a later report no longer attaches.
        for action in ("dispatch", "accept", "handle", "verify"):
            status, moved = await call(
                "POST", f"/api/v1/tickets/{root['id']}/actions", "street-supervisor", {"action": action}
            )
            assert status == 200, moved
        status, _ = await call(
            "POST", f"/api/v1/tickets/{root['id']}/actions", "c1-operator", {"action": "close", "close_linked": True}
        )
        assert status == 403  # closing other cases with it is a supervisor's call
        status, closed = await call(
            "POST", f"/api/v1/tickets/{root['id']}/actions", "street-supervisor", {"action": "close"}
        )
        assert status == 200 and closed["state"] == "closed"
        async with pool.acquire() as conn:
            states = await conn.fetch(
                "SELECT id, state, root_cause_id FROM tickets WHERE id = ANY($1::bigint[])", [*ids["A"], fresh["id"]]
            )
        assert {r["id"]: (r["state"], r["root_cause_id"]) for r in states} == {  # as they were, and kept linked
            **{i: ("registered", root["id"]) for i in ids["A"]},
            fresh["id"]: ("reported", root["id"]),
        }
        later = await report("environment.garbage", LAT, LON)
        assert later["root_cause_id"] is None

        # The water cluster's root cause, closed with close_linked: its three cases close with it.
        status, root_b = await call(
            "POST", "/api/v1/root-causes", "street-supervisor", spec(water, department="排水管理所")
        )
        assert status == 201
        status, _ = await call(
            "POST",
            f"/api/v1/tickets/{ids['B'][0]}/actions",
            "street-supervisor",
            {"action": "false_alarm", "note": "x", "close_linked": True},
        )
        assert status == 422  # only a root-cause case's close closes others
        for action in ("dispatch", "accept", "handle", "verify"):
            assert (
                await call("POST", f"/api/v1/tickets/{root_b['id']}/actions", "street-supervisor", {"action": action})
            )[0] == 200
        status, _ = await call(
            "POST",
            f"/api/v1/tickets/{root_b['id']}/actions",
            "street-supervisor",
            {"action": "close", "close_linked": True, "note": "drain rebuilt"},
        )
        assert status == 200
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT t.state, t.closed_at IS NOT NULL AS closed, e.kind, e.from_state, e.note FROM tickets t"
                " JOIN ticket_events e ON e.ticket_id = t.id AND e.to_state = 'closed'"
                " WHERE t.id = ANY($1::bigint[])",
                ids["B"],
            )
            facts = await conn.fetch("SELECT closed_at FROM ticket_facts WHERE ticket_id = ANY($1::bigint[])", ids["B"])
        assert [(r["state"], r["closed"], r["kind"], r["from_state"], r["note"]) for r in rows] == [
            ("closed", True, "root_cause.closed", "registered", "drain rebuilt")
        ] * 3
        assert all(f["closed_at"] is not None for f in facts)  # the indicators see them closed

        status, bad = await call("POST", "/api/v1/root-causes", "street-supervisor", {**spec(water), "key": "x"})
        assert status == 422 and "cell" in bad["detail"]

    # A cluster of separate open cases at one place (a report joining an open case is tested in tests/gateway/intake).
    w.run_api(database_url, scenario, clock=lambda: NOW, rules=w.SEPARATE_CASES)


def test_alerts_from_the_building_of_an_open_root_cause_attach_to_it_as_they_are_ingested(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ids = await plant(pool)  # E: the lift of building 2 trapped people three times this period
        body = {
            "category": "emergencies.elevator_entrapment",
            "place": "building",
            "key": "demo-b2",
            "since": SINCE,
            "until": UNTIL,
            "department": "特种设备 维保",
        }
        resp = await client.post("/api/v1/root-causes", json=body, headers=world.auth("street-supervisor"))
        assert resp.status == 201, await resp.text()
        root = (await resp.json())["id"]
        assert (await resp.json())["title"] == "治理专项 电梯困人 · 2号楼 Building 2"  # the building, by name
        linked = await pool.fetch("SELECT id FROM tickets WHERE root_cause_id = $1 ORDER BY id", root)
        assert [r["id"] for r in linked] == sorted(ids["E"])

        async def ingest(category: str, rule_id: str) -> int:
            """An alert from the building's lift, through the gateway's ingest batch path."""
            message = alert(
                edge_id="demo-estate",
                source={"kind": "sensor", "device_id": "elevator-b2"},
                category=category,
                rule_id=rule_id,
            )
            incoming = Incoming(1, 1, 1, "wangge/edge/demo-estate/alerts", json.dumps(message).encode())
            async with pool.acquire() as conn:
                await store(conn, prepare([incoming]), default_rules(), NOW)
                ticket: int = await conn.fetchval("SELECT max(id) FROM tickets")
            return ticket

        trapped = await ingest("emergencies.elevator_entrapment", "lift-trapped")
        other = await ingest("safety.electrical_cabinet", "cabinet-hot")
        rows = {
            r["id"]: (r["root_cause_id"], r["events"])
            for r in await pool.fetch(
                "SELECT t.id, t.root_cause_id, array_agg(e.kind ORDER BY e.id) AS events FROM tickets t"
                " JOIN ticket_events e ON e.ticket_id = t.id WHERE t.id = ANY($1::bigint[]) GROUP BY t.id",
                [trapped, other],
            )
        }
        assert rows[trapped][0] == root and "ticket.linked" in rows[trapped][1]  # through the ingest batch path
        assert rows[other][0] is None and "ticket.linked" not in rows[other][1]  # another kind of problem
        added = await pool.fetchval(
            "SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = 'root_cause.case_added'", root
        )
        assert added == 1

    w.run_api(database_url, scenario, clock=lambda: NOW)
