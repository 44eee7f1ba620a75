"""周报 on a hand-made fortnight: the page's JSON, its workbook and CSV, and the weekly job sending each area's
summary once to a DingTalk robot (a local receiver that checks the 加签 signature as DingTalk does).

The report's week is Monday 2026-11-23 in Asia/Shanghai (2026-11-22T16:00Z to 2026-11-29T16:00Z); now is
Monday 11-30 10:00 there. Expected figures are counted from the tickets below.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from openpyxl import load_workbook

from tests.gateway import world as w
from tests.gateway.receivers import Receiver, dingtalk_check, robot_ok, wait_for
from tests.gateway.webhooks.test_webhooks import FAST
from wangge.gateway.cases.config import CasesConfig, WeeklyReportConfig
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.weekly import due_week, send_weekly
from wangge.gateway.webhooks.sealing import SecretBox
from wangge.gateway.webhooks.worker import WebhookWorker

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 local
THIS, BEFORE = datetime(2026, 11, 24, 2, 0, tzinfo=UTC), datetime(2026, 11, 17, 2, 0, tzinfo=UTC)
GARBAGE, WATER = "environment.garbage", "emergencies.water_logging"
WEEKLY = WeeklyReportConfig(console_url="https://grid.example.gov")
RULES = CaseRules.from_config(CasesConfig(weekly_report=WEEKLY))
# (name, category, grid, opened, due_at, closed)
HISTORY = [
    ("g1", GARBAGE, w.GRID_1, THIS, NOW - timedelta(hours=1), None),  # overdue now
    ("g2", GARBAGE, w.GRID_1, THIS, NOW + timedelta(hours=5), None),  # not yet due
    ("g3", GARBAGE, w.GRID_1, THIS, NOW - timedelta(days=3), THIS + timedelta(hours=2)),  # closed: not overdue
    ("w1", WATER, w.GRID_2, THIS, None, None),
    ("g0", GARBAGE, w.GRID_1, BEFORE, None, None),
    *[(f"w{i}", WATER, w.GRID_2, BEFORE, NOW - timedelta(days=2) if i == 2 else None, None) for i in (2, 3, 4)],
]


async def plant(pool: Any) -> dict[str, int]:
    ids = {}
    for name, category, grid, opened, due, closed in HISTORY:
        ids[name] = await pool.fetchval(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, due_at, yellow_at, closed_at) SELECT $1, $2, 'minor', $1, 'report', r.id, r.path,"
            " CASE WHEN $6::timestamptz IS NULL THEN 'registered' ELSE 'closed' END, $4, $4, $5, $5, $6"
            " FROM regions r WHERE r.code = $3 RETURNING id",
            name,
            category,
            grid,
            opened,
            due,
            closed,
        )
    return ids


def test_the_weekly_report_as_json_workbook_and_csv(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ids = await plant(pool)

        async def get(path: str, who: str = "district-supervisor") -> Any:
            return await client.get(path, headers=world.auth(who))

        resp = await get("/api/v1/stats/weekly")  # default: the last whole week
        assert resp.status == 200
        body = await resp.json()
        assert body["week"] == "2026-11-23" and body["level"] == "street"
        assert [(h["category"], h["count"], h["previous_count"], h["share_change"]) for h in body["hotspots"]] == [
            (GARBAGE, 3, 1, 0.5),  # 3 of 4 this week against 1 of 4
            (WATER, 1, 3, -0.5),
        ]
        rows = {r["key"]: r for r in body["by_region"]["rows"]}
        assert {
            k: (r["current"]["counts"]["reported"], r["previous"]["counts"]["reported"]) for k, r in rows.items()
        } == {
            w.STREET_EAST: (3, 1),
            "990101002": (1, 3),
        }
        assert [(c["category"], c["place"], c["count"], c["previous_count"]) for c in body["clusters"]] == [
            (GARBAGE, w.GRID_1, 3, 1)  # the water tickets of this week are one, not a cluster
        ]
        assert [o["id"] for o in body["overdue"]] == [ids["w2"], ids["g1"]] and body["overdue_total"] == 2

        resp = await get("/api/v1/stats/weekly.xlsx?week=2026-11-23")
        assert resp.status == 200
        book = load_workbook(io.BytesIO(await resp.read()), read_only=True)
        assert book.sheetnames == [
            "一周热点 Hotspots",
            "区域指标 By region",
            "部门指标 By department",
            "类案 Recurring",
            "超时案件 Overdue",
        ]
        hot = list(book["一周热点 Hotspots"].iter_rows(values_only=True))
        assert [r[2:] for r in hot[1:]] == [(3, 0.75, 1, 0.25, 0.5), (1, 0.25, 3, 0.75, -0.5)]
        assert hot[1][1] == RULES.categories.both(GARBAGE)  # names, not codes
        regions = list(book["区域指标 By region"].iter_rows(values_only=True))
        assert regions[1][:2] == ("合计 Total", body["by_region"]["total"]["current"]["counts"]["reported"])
        overdue = list(book["超时案件 Overdue"].iter_rows(values_only=True))
        assert [r[0] for r in overdue[1:]] == [ids["w2"], ids["g1"]]

        resp = await get("/api/v1/stats/weekly.csv?week=2026-11-23&section=clusters")
        assert resp.status == 200
        table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        grid_name = await pool.fetchval("SELECT name FROM regions WHERE code = $1", w.GRID_1)
        assert len(table) == 2 and table[1][2:6] == [grid_name, "3", "1", "2"]  # place, count, before, change

        assert (await get("/api/v1/stats/weekly?week=2026-11-24")).status == 400  # a Tuesday
        assert (await get("/api/v1/stats/weekly", "c1-worker")).status == 403
        resp = await get("/api/v1/stats/weekly?week=2026-11-23", "c2-operator")  # their community only
        theirs = await resp.json()
        assert theirs["level"] == "grid" and [h["category"] for h in theirs["hotspots"]] == [WATER]

    w.run_api(database_url, scenario, rules=RULES, clock=lambda: NOW)


def test_the_weekly_job_sends_each_areas_summary_once_to_its_robot(database_url: str) -> None:
    box = SecretBox(env_keys=Fernet.generate_key().decode())

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        await plant(pool)
        district = await Receiver(respond=robot_ok()).start()
        street = await Receiver(respond=robot_ok()).start()
        made = {}
        for name, receiver, region, types in (
            ("district", district, w.DISTRICT, ["report.weekly"]),
            ("street", street, w.STREET_EAST, []),  # every event, the weekly report among them
        ):
            resp = await client.post(
                "/api/v1/webhooks/subscriptions",
                json={
                    "name": name,
                    "url": receiver.url + "?access_token=t",
                    "format": "dingtalk",
                    "region": region,
                    "event_types": types,
                },
                headers=world.auth("admin"),
            )
            assert resp.status == 201, await resp.text()
            made[name] = await resp.json()
            receiver.check = dingtalk_check(made[name]["secret"])

        assert due_week(WEEKLY, NOW - timedelta(hours=2), "Asia/Shanghai") is None  # Monday 08:00: not yet
        assert due_week(WEEKLY.model_copy(update={"enabled": False}), NOW, "Asia/Shanghai") is None
        async with pool.acquire() as conn:
            assert await send_weekly(conn, RULES, WEEKLY, NOW) == 2  # one per area
            assert await send_weekly(conn, RULES, WEEKLY, NOW + timedelta(hours=1)) == 0  # once a week
        worker = WebhookWorker(pool, FAST, box, catalogue=RULES.categories)
        try:
            await wait_for(lambda: district.requests and street.requests, 10, "both robots", worker.step)
        finally:
            await worker.close()
        for receiver in (district, street):
            assert receiver.problems == [] and len(receiver.requests) == 1
        whole = district.requests[0].json()["markdown"]
        east = street.requests[0].json()["markdown"]["text"]
        assert whole["title"] == "周报 Weekly report 2026-11-23"
        assert "上报 reported: 4 (上周 week before: 4)" in whole["text"]  # the district's own report, not each street's
        assert "超时未结 overdue now: 2" in whole["text"]
        assert "https://grid.example.gov/#/report/2026-11-23" in whole["text"]
        assert RULES.categories.name(GARBAGE) in whole["text"] and GARBAGE not in whole["text"]
        assert "上报 reported: 3 (上周 week before: 1)" in east
        for receiver in (district, street):
            await receiver.stop()

    w.run_api(database_url, scenario, rules=RULES, clock=lambda: NOW, secret_box=box)
