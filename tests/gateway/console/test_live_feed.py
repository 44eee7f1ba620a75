"""The console's live feed (Server-Sent Events) on a real PostgreSQL: area limits, resume from Last-Event-ID,
an event whose transaction commits after a later one was sent, and the snapshot upload that feeds it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests import images
from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import Clock, open_ticket, run
from wangge.gateway.accounts.tokens import issue_token
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.rules import CaseRules

NOW = datetime.now(UTC)


async def next_event(resp: ClientResponse, timeout: float = 10) -> dict[str, Any]:
    """The next `id:` event of the stream (hello and keep-alives skipped)."""
    block: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line == "":
                if "id" in block:
                    return {"id": int(block["id"]), "event": block["event"], "data": json.loads(block["data"])}
                block = {}
                continue
            field, _, value = line.partition(": ")
            if not line.startswith(":"):
                block[field] = value


async def hello(resp: ClientResponse) -> dict[str, Any]:
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert (await resp.content.readline()).startswith(b"retry:")
    assert await resp.content.readline() == b"event: hello\n"
    data: dict[str, Any] = json.loads((await resp.content.readline()).decode()[len("data: ") :])
    await resp.content.readline()
    return data


def test_each_operator_gets_only_their_area_and_a_resumed_stream_misses_nothing(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        c1 = await client.get("/api/v1/events/stream", headers=world.auth("c1-operator"))
        c2 = await client.get("/api/v1/events/stream", headers=world.auth("c2-operator"))
        assert (await hello(c1))["scope"].endswith(f"/{w.COMMUNITY_1}/")
        await hello(c2)
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        created = await next_event(c1)
        assert (created["event"], created["data"]["ticket_id"]) == ("ticket.created", ticket)
        assert created["data"]["ticket"]["state"] == "reported"
        received = await next_event(c1)
        assert received["event"] == "alert.received" and received["id"] > created["id"]
        # Community 2 hears nothing of community 1's ticket.
        try:
            leaked: dict[str, Any] | None = await next_event(c2, timeout=1.5)
        except TimeoutError:
            leaked = None
        assert leaked is None
        c1.close()

        # Off the air: three changes happen. The resumed stream gets exactly those, in order.
        for action in ("register", "false_alarm"):
            body = {"action": action, "note": "误报 test"} if action == "false_alarm" else {"action": action}
            resp = await client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=world.auth("c1-operator"))
            assert resp.status == 200
        async with pool.acquire() as conn:
            await emit(conn, "ticket.updated", ticket, {"change": "note"})
        expected = [
            r["id"] for r in await pool.fetch("SELECT id FROM outbox_events WHERE id > $1 ORDER BY id", received["id"])
        ]
        assert len(expected) == 3
        resumed = await client.get(
            "/api/v1/events/stream", headers={**world.auth("c1-operator"), "Last-Event-ID": str(received["id"])}
        )
        await hello(resumed)
        got = [await next_event(resumed) for _ in range(len(expected) + 2)]
        # A resume looks back a little (late commits); the client drops ids it has; nothing after is missing.
        assert [e["id"] for e in got if e["id"] > received["id"]] == expected
        assert {e["id"] for e in got if e["id"] <= received["id"]} <= {created["id"], received["id"]}
        resumed.close()

        bad = await client.get("/api/v1/events/stream", headers={**world.auth("c1-operator"), "Last-Event-ID": "x"})
        assert bad.status == 400
        assert (await client.get("/api/v1/events/stream")).status == 401

    run(database_url, scenario)


def test_an_event_committed_after_a_later_one_was_sent_still_arrives(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        ticket = await open_ticket(pool, rules, clock.now, category="public_facilities.manhole_cover")
        stream = await client.get("/api/v1/events/stream", headers=world.auth("c1-operator"))
        await hello(stream)
        slow = await pool.acquire()
        tx = slow.transaction()
        await tx.start()
        await emit(slow, "ticket.updated", ticket, {"change": "slow"})  # takes the lower id, commits last
        async with pool.acquire() as conn:
            await emit(conn, "ticket.updated", ticket, {"change": "fast"})
        fast = await next_event(stream)
        assert fast["data"]["change"] == "fast"
        await tx.commit()
        await pool.release(slow)
        late = await next_event(stream)
        assert late["data"]["change"] == "slow" and late["id"] < fast["id"]
        stream.close()

    run(database_url, scenario)


def test_an_edge_attaches_its_snapshot_to_the_alerts_ticket(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        import uuid

        alert_id = str(uuid.uuid4())
        ticket = await open_ticket(pool, rules, clock.now, alert_id=alert_id)
        async with pool.acquire() as conn:
            edge = {"Authorization": "Bearer " + await issue_token(conn, "box", edge_id="demo-estate")}
            other = {"Authorization": "Bearer " + await issue_token(conn, "box2", edge_id="other-estate")}
        url = f"/api/v1/edges/demo-estate/alerts/{alert_id}/snapshot"
        jpeg = images.jpeg(shade=20)
        first = await client.put(url, data=jpeg, headers={**edge, "Content-Type": "image/jpeg"})
        assert first.status == 201 and (await first.json())["ticket_id"] == ticket
        again = await client.put(url, data=images.jpeg(shade=30), headers={**edge, "Content-Type": "image/jpeg"})
        assert again.status == 200
        rows = await pool.fetch("SELECT kind, size, alert_id::text FROM attachments WHERE ticket_id = $1", ticket)
        assert [(r["kind"], r["size"], r["alert_id"]) for r in rows] == [
            ("snapshot", len(images.jpeg(shade=30)), alert_id)
        ]
        refusals = [
            (await client.put(url, data=jpeg, headers={**other, "Content-Type": "image/jpeg"})).status,
            (await client.put(url, data=b"GIF89a", headers={**edge, "Content-Type": "image/gif"})).status,
            (await client.put(url, data=b"", headers={**edge, "Content-Type": "image/jpeg"})).status,
            (
                await client.put(
                    f"/api/v1/edges/demo-estate/alerts/{uuid.uuid4()}/snapshot",
                    data=jpeg,
                    headers={**edge, "Content-Type": "image/jpeg"},
                )
            ).status,
        ]
        assert refusals == [403, 415, 413, 404]
        # Taken by what the bytes are: HTML behind a JPEG header, or a cut-off JPEG, is refused; a PNG sent as
        # image/jpeg is stored (and later served) as the PNG it is.
        for bad in (b"\xff\xd8\xff\xe0<html><script>alert(1)</script>", jpeg[: len(jpeg) // 2]):
            resp = await client.put(url, data=bad, headers={**edge, "Content-Type": "image/jpeg"})
            assert resp.status == 422 and "not a whole JPEG, PNG or WebP" in (await resp.json())["detail"]
        png = images.image(".png")
        assert (await client.put(url, data=png, headers={**edge, "Content-Type": "image/jpeg"})).status == 200
        stored = await pool.fetchrow("SELECT id, content_type, data FROM attachments WHERE ticket_id = $1", ticket)
        assert (stored["content_type"], stored["data"]) == ("image/png", None)  # the bytes are in the object store
        served = await client.get(f"/api/v1/attachments/{stored['id']}", headers=world.auth("admin"))
        assert (served.content_type, await served.read()) == ("image/png", png)
        detail = await (await client.get(f"/api/v1/tickets/{ticket}", headers=world.auth("c1-operator"))).json()
        assert [(a["kind"], a["alert_id"]) for a in detail["attachments"]] == [("snapshot", alert_id)]

    run(database_url, scenario)
