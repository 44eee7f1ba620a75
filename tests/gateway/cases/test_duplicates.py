"""Duplicates among alerts, and between alerts and people, through the gateway's real ingest batch path and
PostgreSQL: a sensor's alert near an open case of its category joins it (its alerts, their later events and the
counts move along), the second of two alarms in one batch joins the first, a resident reporting the flooding a
water gauge already raised follows the gauge's case; farther away, or another kind of problem, is a case of its
own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.gateway import world as w
from tests.gateway.intake.city import METRE_LAT
from tests.test_alert_format import alert
from wangge.gateway.cases import registry
from wangge.gateway.cases.rules import default_rules
from wangge.gateway.ingest.batch import Incoming, prepare
from wangge.gateway.ingest.store import store

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
LAT, LON = 22.512, 113.905  # the demo's underpass water gauge, in grid 990101001001001
DEVICES = "\n".join(
    [
        "kind,id,edge_id,name,region_code,lat,lon,parent",
        f"sensor,gauge-near,demo-estate,近处水位计 Gauge nearby,{w.GRID_1},{LAT + 20 * METRE_LAT},{LON},",
        f"sensor,gauge-far,demo-estate,远处水位计 Gauge far away,{w.GRID_1},{LAT + 300 * METRE_LAT},{LON},",
        f"sensor,smoke-1,demo-estate,烟感1 Smoke 1,{w.GRID_1},{LAT + 900 * METRE_LAT},{LON},",
        f"sensor,smoke-2,demo-estate,烟感2 Smoke 2,{w.GRID_1},{LAT + 910 * METRE_LAT},{LON},",
    ]
)


def message(device: str, category: str = "emergencies.water_logging", **more: Any) -> dict[str, Any]:
    return alert(edge_id="demo-estate", source={"kind": "sensor", "device_id": device}, category=category, **more)


async def ingest(pool: Any, *messages: dict[str, Any]) -> None:
    incoming = [
        Incoming(1, 1, n, "wangge/edge/demo-estate/alerts", json.dumps(m).encode()) for n, m in enumerate(messages)
    ]
    async with pool.acquire() as conn:
        await store(conn, prepare(incoming), default_rules(), NOW)


async def ticket_of(pool: Any, device: str) -> Any:
    return await pool.fetchrow(
        "SELECT t.id, t.state, t.merged_into, t.alert_count, t.active_alerts FROM tickets t"
        " WHERE t.device_id = $1 ORDER BY t.id DESC LIMIT 1",
        device,
    )


def test_alerts_and_reports_nearby_join_the_open_case_of_their_category(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        async with pool.acquire() as conn:
            await registry.import_devices(conn, DEVICES)
        first = message("underpass-gauge-1")
        await ingest(pool, first)
        case = await ticket_of(pool, "underpass-gauge-1")
        assert (case["state"], case["merged_into"]) == ("reported", None)

        near = message("gauge-near")  # 20 m away
        await ingest(pool, near)
        joined = await ticket_of(pool, "gauge-near")
        assert (joined["state"], joined["merged_into"]) == ("cancelled", case["id"])
        alerts = await pool.fetch("SELECT device_id, ticket_id FROM alerts ORDER BY device_id")
        assert {a["device_id"]: a["ticket_id"] for a in alerts} == {
            "gauge-near": case["id"],
            "underpass-gauge-1": case["id"],
        }
        kept = await ticket_of(pool, "underpass-gauge-1")
        assert (kept["alert_count"], kept["active_alerts"]) == (2, 2)
        # The joined alert's end lands on the case it joined.
        at = "2026-07-01T00:05:00.000Z"
        await ingest(pool, {**near, "seq": 1, "event": "end", "at": at, "ended_at": at, "emitted_at": at})
        kept = await ticket_of(pool, "underpass-gauge-1")
        assert (kept["alert_count"], kept["active_alerts"]) == (2, 1)
        kinds = await pool.fetch("SELECT kind FROM ticket_events WHERE ticket_id = $1 ORDER BY id", case["id"])
        assert "ticket.merged" in [k["kind"] for k in kinds]
        updated = await pool.fetch(
            "SELECT payload->>'change' AS change FROM outbox_events WHERE ticket_id = $1"
            " AND event_type = 'ticket.updated'",
            case["id"],
        )
        assert "alert joined" in [u["change"] for u in updated]
        created = await pool.fetchval(
            "SELECT count(*) FROM outbox_events WHERE ticket_id = $1 AND event_type = 'ticket.created'", joined["id"]
        )
        assert created == 0  # a webhook never hears of a case that is not one

        await ingest(pool, message("gauge-far"))  # 300 m: its own case
        assert (await ticket_of(pool, "gauge-far"))["merged_into"] is None
        # Two smoke detectors 10 m apart set off in one batch: the second joins the first.
        await ingest(
            pool,
            message("smoke-1", "fire_safety.smoke_detector", rule_id="smoke"),
            message("smoke-2", "fire_safety.smoke_detector", rule_id="smoke"),
        )
        one, two = await ticket_of(pool, "smoke-1"), await ticket_of(pool, "smoke-2")
        assert (one["merged_into"], two["merged_into"]) == (None, one["id"])

        # A resident reports the flooding 30 m from the gauge: they follow the gauge's case.
        resp = await client.post(
            "/api/v1/public/reports",
            json={"service": "flooding", "description": "下穿通道积水", "lat": LAT + 30 * METRE_LAT, "lon": LON},
        )
        body = await resp.json()
        assert resp.status == 200 and body["ticket_id"] == case["id"] and body["reporters"] == 1
        # So does a 12345 call handed in through Open311, and the system reads the gauge's case back as its request.
        resp = await client.post("/api/v1/open311/keys", json={"name": "hotline"}, headers=world.auth("admin"))
        key = (await resp.json())["api_key"]
        form = {"api_key": key, "service_code": "flooding", "lat": str(LAT + 10 * METRE_LAT), "long": str(LON)}
        posted = await (await client.post("/open311/v2/requests.json", data=form)).json()
        assert posted[0]["service_request_id"] == str(case["id"])
        read = await (await client.get(f"/open311/v2/requests/{case['id']}.json", params={"api_key": key})).json()
        assert (read[0]["status"], read[0]["service_code"]) == ("open", "flooding")
        # And the indicators count three water cases' worth of tickets as two cases.
        sources = await pool.fetch("SELECT source, count(*) AS n FROM ticket_facts GROUP BY 1 ORDER BY 1")
        assert {r["source"]: r["n"] for r in sources} == {"alert": 3, "merged": 2}

    w.run_api(database_url, scenario, clock=lambda: NOW)
