"""The public report channel through the real app and PostgreSQL: a resident with no account opens a case in the
right grid; a second resident nearby joins it; floods are pushed back; operators merge and split."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.gateway.intake.city import METRE_LAT, TO_CLOSED, Clock, run
from tests.images import jpeg
from tests.support import metric_value
from wangge.gateway.intake.config import IntakeConfig
from wangge.gateway.intake.phone import SIGNATURE_HEADER, TIMESTAMP_HEADER

LON, LAT = w.POINT_GRID_1
PHOTO = {"content_type": "image/jpeg", "data_base64": base64.b64encode(jpeg()).decode()}


def fire_lane(lat: float = LAT, lon: float = LON, **more: Any) -> dict[str, Any]:
    return {
        "service": "fire-lane",
        "description": "消防通道被车堵住 cars block the fire lane",
        "lat": lat,
        "lon": lon,
        **more,
    }


async def metrics(client: TestClient[Any, Any]) -> str:
    return await (await client.get("/metrics")).text()


async def act(client: TestClient[Any, Any], world: w.World, who: str, ticket: int, action: str) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/tickets/{ticket}/actions", json={"action": action, "note": "ok"}, headers=world.auth(who)
    )
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


def test_a_resident_report_opens_a_case_in_its_grid_and_a_neighbours_report_joins_it(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        settings = await (await client.get("/api/v1/public/intake")).json()
        assert "fire-lane" in [c["code"] for c in settings["categories"]]
        assert settings["bounds"] is not None and settings["areas"]["features"]
        before = await metrics(client)

        resp = await client.post("/api/v1/public/reports", json=fire_lane(photos=[PHOTO], address="3栋东侧"))
        first = await resp.json()
        assert resp.status == 201, first
        assert first["duplicate"] is False and first["reporters"] == 1
        assert resp.cookies.get("wangge_reporter") is not None  # the browser's own flood window from now on
        operator = world.auth("c1-operator")
        ticket = await (await client.get(f"/api/v1/tickets/{first['ticket_id']}", headers=operator)).json()
        assert (ticket["region_code"], ticket["channel"], ticket["source"]) == (w.GRID_1, "resident", "report")
        assert ticket["category"] == "fire_safety.fire_lane_blocked" and ticket["state"] == "reported"
        assert ticket["due_at"] is not None and ticket["light"] == "green"  # 自动受理: its clock runs already
        assert [a["kind"] for a in ticket["attachments"]] == ["photo"]
        assert ticket["reported_by"] is None  # a resident is nobody's name
        queue = await (await client.get("/api/v1/tickets?state=open", headers=operator)).json()
        assert first["ticket_id"] in [t["id"] for t in queue["items"]]

        # 30 m north, same problem: no new case, a link of their own to the same one, two reporters.
        resp = await client.post("/api/v1/public/reports", json=fire_lane(lat=LAT + 30 * METRE_LAT))
        second = await resp.json()
        assert resp.status == 200, second
        assert second["duplicate"] is True and second["ticket_id"] == first["ticket_id"]
        assert second["reporters"] == 2 and second["progress_token"] != first["progress_token"]
        assert "已有人报告" in second["message"]
        for token in (first["progress_token"], second["progress_token"]):
            page = await (await client.get(f"/api/v1/progress/{token}")).json()
            assert page["id"] == first["ticket_id"] and page["reporters"] == 2
        reports = await (await client.get(f"/api/v1/tickets/{first['ticket_id']}/reports", headers=operator)).json()
        assert [r["channel"] for r in reports["items"]] == ["resident", "resident"]
        assert reports["items"][0]["address"] == "3栋东侧"

        # 80 m away (beyond the default 50 m), or another problem at the same spot: cases of their own.
        far = await client.post("/api/v1/public/reports", json=fire_lane(lat=LAT + 80 * METRE_LAT))
        other = await client.post("/api/v1/public/reports", json={**fire_lane(), "service": "garbage"})
        assert far.status == 201 and other.status == 201
        ids = {first["ticket_id"], (await far.json())["ticket_id"], (await other.json())["ticket_id"]}
        assert len(ids) == 3

        after = await metrics(client)
        opened = metric_value(after, "wangge_gateway_intake_cases_total", {"channel": "resident"}) - metric_value(
            before, "wangge_gateway_intake_cases_total", {"channel": "resident"}
        )
        joined = metric_value(after, "wangge_gateway_intake_duplicates_total", {"channel": "resident"}) - (
            metric_value(before, "wangge_gateway_intake_duplicates_total", {"channel": "resident"})
        )
        assert (opened, joined) == (3, 1)

        # The closed case is rated once from either link; the second rating is refused.
        for who, action in TO_CLOSED:
            await act(client, world, who, first["ticket_id"], action)
        assert (
            await client.post(f"/api/v1/progress/{second['progress_token']}/rating", json={"rating": "satisfied"})
        ).status == 200
        again = await client.post(f"/api/v1/progress/{first['progress_token']}/rating", json={"rating": "basically"})
        assert again.status == 409

    run(database_url, scenario)


def test_a_report_after_the_case_closed_or_outside_the_window_opens_a_new_case(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        first = await (await client.post("/api/v1/public/reports", json=fire_lane())).json()
        clock.now += timedelta(hours=2)  # within the 24 h window: joins
        assert (await client.post("/api/v1/public/reports", json=fire_lane())).status == 200
        for who, action in TO_CLOSED:
            await act(client, world, who, first["ticket_id"], action)
        after_close = await client.post("/api/v1/public/reports", json=fire_lane())
        second = await after_close.json()
        assert after_close.status == 201 and second["ticket_id"] != first["ticket_id"]
        clock.now += timedelta(hours=23)  # 23 h after that case's only report: still joins
        assert (await (await client.post("/api/v1/public/reports", json=fire_lane())).json())["duplicate"] is True
        clock.now += timedelta(hours=25)  # a day after its latest report: a new case
        late = await client.post("/api/v1/public/reports", json=fire_lane())
        assert late.status == 201 and (await late.json())["ticket_id"] not in (first["ticket_id"], second["ticket_id"])

    run(database_url, scenario, duplicates={"window_h": 24})


def test_bad_reports_are_refused_by_name_and_counted(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        before = await metrics(client)
        outside = await client.post("/api/v1/public/reports", json=fire_lane(lat=10.0, lon=10.0))
        body = await outside.json()
        assert outside.status == 422 and "outside every area" in body["detail"]
        unknown = await client.post("/api/v1/public/reports", json={**fire_lane(), "service": "ufo"})
        assert unknown.status == 422 and "ufo" in (await unknown.json())["detail"]
        broken = {"content_type": "image/jpeg", "data_base64": base64.b64encode(b"not a picture").decode()}
        photo = await client.post("/api/v1/public/reports", json=fire_lane(photos=[broken]))
        assert photo.status == 422 and "photo 1" in (await photo.json())["detail"]
        many = await client.post("/api/v1/public/reports", json=fire_lane(photos=[PHOTO] * 4))
        assert many.status == 422 and "at most 3" in (await many.json())["detail"]
        phone = await client.post("/api/v1/public/reports", json=fire_lane(phone="12345"))
        assert phone.status == 422
        fields = await client.post("/api/v1/public/reports", json={"service": "fire-lane", "lat": 200, "extra": 1})
        names = {p["name"] for p in (await fields.json())["invalid_params"]}
        assert fields.status == 422 and {"description", "lat", "lon", "extra"} <= names
        after = await metrics(client)
        for reason, n in (("outside_regions", 1), ("invalid", 1), ("photo", 2), ("phone", 1)):
            got = metric_value(after, "wangge_gateway_intake_refused_total", {"reason": reason}) - metric_value(
                before, "wangge_gateway_intake_refused_total", {"reason": reason}
            )
            assert got == n, reason
        # Nothing of it opened a case.
        queue = await (await client.get("/api/v1/tickets", headers=world.auth("admin"))).json()
        assert queue["items"] == []

    run(database_url, scenario)


def test_a_flood_from_one_address_or_one_browser_gets_429_and_nothing_else_is_stored(database_url: str) -> None:
    intake = IntakeConfig.model_validate(
        {"per_address": {"limit": 8, "seconds": 600}, "per_browser": {"limit": 3, "seconds": 600}}
    )

    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        statuses = []
        for n in range(12):  # a fresh browser each time (no cookie kept): only the address limit applies
            client.session.cookie_jar.clear()
            resp = await client.post("/api/v1/public/reports", json=fire_lane(lat=LAT + n * 100 * METRE_LAT))
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) > 0
                assert (await resp.json())["reason"] == "rate_limited"
        assert statuses == [201] * 8 + [429] * 4
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM tickets") == 8

    run(database_url, scenario, intake)


def test_one_browser_is_limited_by_its_cookie_whatever_its_address(database_url: str) -> None:
    async def browser(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        statuses = [
            (await client.post("/api/v1/public/reports", json=fire_lane(lat=LAT + n * 100 * METRE_LAT))).status
            for n in range(5)
        ]
        assert statuses == [201, 201, 201, 201, 429]  # the first sets the cookie; three more from it, then no

    run(database_url, browser, IntakeConfig.model_validate({"per_browser": {"limit": 3, "seconds": 600}}))


def test_operators_merge_a_duplicate_and_split_a_wrong_merge_back_out(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        a = await (await client.post("/api/v1/public/reports", json=fire_lane())).json()
        # 120 m away: its own case, though it is the same blocked lane seen from the other end.
        b = await (
            await client.post("/api/v1/public/reports", json=fire_lane(lat=LAT + 120 * METRE_LAT, photos=[PHOTO]))
        ).json()
        operator, worker = world.auth("c1-operator"), world.auth("c1-worker")
        assert (
            await client.post(
                f"/api/v1/tickets/{a['ticket_id']}/merge", json={"source": b["ticket_id"]}, headers=worker
            )
        ).status == 403
        assert (
            await client.post(
                f"/api/v1/tickets/{a['ticket_id']}/merge", json={"source": a["ticket_id"]}, headers=operator
            )
        ).status == 422
        resp = await client.post(
            f"/api/v1/tickets/{a['ticket_id']}/merge",
            json={"source": b["ticket_id"], "note": "同一通道"},
            headers=operator,
        )
        merged = await resp.json()
        assert resp.status == 200, merged
        assert (merged["reports_moved"], merged["reporters"]) == (1, 2)
        kept = await (await client.get(f"/api/v1/tickets/{a['ticket_id']}", headers=operator)).json()
        gone = await (await client.get(f"/api/v1/tickets/{b['ticket_id']}", headers=operator)).json()
        assert kept["reporters"] == 2 and [x["kind"] for x in kept["attachments"]] == ["photo"]
        assert (gone["state"], gone["merged_into"], gone["reporters"]) == ("cancelled", a["ticket_id"], 0)
        assert "ticket.merged" in [e["kind"] for e in kept["events"]]
        assert "ticket.merged_into" in [e["kind"] for e in gone["events"]]
        page = await (await client.get(f"/api/v1/progress/{b['progress_token']}")).json()
        assert page["id"] == a["ticket_id"]  # B's reporter follows the case it joined
        # Merging a cancelled case again is refused.
        again = await client.post(
            f"/api/v1/tickets/{a['ticket_id']}/merge", json={"source": b["ticket_id"]}, headers=operator
        )
        assert again.status == 409

        # Wrong after all: B's report leaves as a case of its own, with its photo and its reporter's link.
        reports = (await (await client.get(f"/api/v1/tickets/{a['ticket_id']}/reports", headers=operator)).json())[
            "items"
        ]
        moved = next(r for r in reports if r["opened_ticket_id"] == b["ticket_id"])
        resp = await client.post(
            f"/api/v1/tickets/{a['ticket_id']}/reports/{moved['id']}/split", json={"note": "两处不同"}, headers=operator
        )
        split = await resp.json()
        assert resp.status == 201, split
        new = await (await client.get(f"/api/v1/tickets/{split['ticket_id']}", headers=operator)).json()
        assert (new["reporters"], new["channel"], new["state"]) == (1, "resident", "reported")
        assert [x["kind"] for x in new["attachments"]] == ["photo"] and new["due_at"] is not None
        assert new["lat"] == LAT + 120 * METRE_LAT
        kept = await (await client.get(f"/api/v1/tickets/{a['ticket_id']}", headers=operator)).json()
        assert kept["reporters"] == 1 and kept["attachments"] == []
        assert "ticket.split" in [e["kind"] for e in kept["events"]]
        page = await (await client.get(f"/api/v1/progress/{b['progress_token']}")).json()
        assert page["id"] == split["ticket_id"]
        # A case's only report stays.
        only = (await (await client.get(f"/api/v1/tickets/{a['ticket_id']}/reports", headers=operator)).json())["items"]
        resp = await client.post(
            f"/api/v1/tickets/{a['ticket_id']}/reports/{only[0]['id']}/split", json={}, headers=operator
        )
        assert resp.status == 409
        # The merged-away ticket is no case of its own in the indicators: two cases opened, not three.
        async with pool.acquire() as conn:
            sources = await conn.fetch("SELECT ticket_id, source FROM ticket_facts ORDER BY ticket_id")
        assert [(r["ticket_id"], r["source"]) for r in sources] == [
            (a["ticket_id"], "report"),
            (b["ticket_id"], "merged"),
            (split["ticket_id"], "report"),
        ]
        # On the statistics page: two resident cases, one merged of two reports (half of them duplicates), and
        # the time to 立案 of the one registered 90 s after its report.
        clock.now += timedelta(seconds=90)
        await act(client, world, "c1-operator", a["ticket_id"], "register")
        period = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-17T00:00:00Z"}
        stats = await (await client.get("/api/v1/stats/summary", params=period, headers=operator)).json()
        resident = next(c for c in stats["by_channel"] if c["channel"] == "resident")
        assert resident == {
            "channel": "resident",
            "cases": 2,
            "reports": 2,
            "joined": 0,
            "merged": 1,
            "duplicate_share": 0.5,
            "registered": 1,
            "register_median_s": 90.0,
        }

    run(database_url, scenario)


def test_a_required_phone_is_verified_by_an_sms_code_through_the_sms_gateway(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMS provider is a local server checking each request as the provider would: its signature over the
    timestamp and body with the shared key, JSON with the number and the text."""
    secret = "sms-shared-key"
    received: list[dict[str, Any]] = []

    async def sms(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers[TIMESTAMP_HEADER]
        want = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if request.headers.get(SIGNATURE_HEADER) != want or request.content_type != "application/json":
            return web.json_response({"error": "bad signature"}, status=401)
        received.append(json.loads(body))
        return web.json_response({"ok": True})

    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        no_phone = await client.post("/api/v1/public/reports", json=fire_lane())
        assert no_phone.status == 422 and "verified mobile" in (await no_phone.json())["detail"]
        sent = await client.post("/api/v1/public/phone-codes", json={"phone": "+86 138-0013-8000"})
        assert sent.status == 202 and (await sent.json())["phone"] == "13800138000"
        assert len(received) == 1 and received[0]["phone"] == "13800138000"
        code = next(part for part in received[0]["text"].split("码是")[1:]).split("，")[0]
        assert len(code) == 6 and code.isdigit()
        soon = await client.post("/api/v1/public/phone-codes", json={"phone": "13800138000"})
        assert soon.status == 429  # one code per 20 minutes to a number (3 an hour)
        wrong = "000000" if code != "000000" else "111111"
        bad = await client.post("/api/v1/public/reports", json=fire_lane(phone="13800138000", code=wrong))
        assert bad.status == 422 and "wrong" in (await bad.json())["detail"]
        good = await client.post("/api/v1/public/reports", json=fire_lane(phone="13800138000", code=code))
        assert good.status == 201, await good.text()
        reused = await client.post("/api/v1/public/reports", json=fire_lane(phone="13800138000", code=code))
        assert reused.status == 422  # a code is used once
        ticket = (await good.json())["ticket_id"]
        reports = await (
            await client.get(f"/api/v1/tickets/{ticket}/reports", headers=world.auth("c1-operator"))
        ).json()
        assert reports["items"][0]["phone"] == "13800138000"
        page = await (await client.get(f"/api/v1/progress/{(await good.json())['progress_token']}")).text()
        assert "13800138000" not in page  # the resident page shows no number

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/send", sms)
        async with TestServer(app) as server:
            # Not WANGGE_*: those are the gateway's own settings, which any later `wangge` process would read.
            monkeypatch.setenv("SMS_ADAPTER_TEST_KEY", secret)
            intake = IntakeConfig.model_validate(
                {
                    "phone": {
                        "verification": "required",
                        "sender": "http",
                        "sms_url": str(server.make_url("/send")),
                        "sms_secret_env": "SMS_ADAPTER_TEST_KEY",
                    }
                }
            )
            await asyncio.to_thread(run, database_url, scenario, intake)

    asyncio.run(main())
