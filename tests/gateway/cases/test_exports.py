"""Ticket lists as CSV and XLSX: the queue's rows in its order, worded for people (names, local times), only
the caller's area, safe to open in a spreadsheet, and refused past 10,000 rows rather than cut silently."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from tests.gateway import world as w
from tests.test_alert_format import alert
from wangge.gateway.ingest.batch import Incoming, prepare
from wangge.gateway.ingest.store import store

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def raise_alert(conn: Any, **changes: Any) -> None:
    """An alert from the demo estate's underpass gauge (community 1)."""
    message = alert(edge_id="demo-estate", source={"kind": "sensor", "device_id": "underpass-gauge-1"}, **changes)
    await store(conn, prepare([Incoming(1, 1, 1, "wangge/edge/demo-estate/alerts", json.dumps(message).encode())]))


def local(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if iso else ""


def test_exports_hold_the_queue_in_names_and_local_times_for_the_callers_area(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        async with pool.acquire() as conn:
            await raise_alert(conn, title="积水 Water at the underpass")
            await raise_alert(
                conn,
                rule_id="lift",
                category="emergencies.elevator_entrapment",
                severity="critical",
                title="=HYPERLINK(1) lift",  # text a spreadsheet would run as a formula
            )
        auth = world.auth("c1-operator")
        listed = (await (await client.get("/api/v1/tickets?state=open", headers=auth)).json())["items"]
        assert len(listed) == 2

        resp = await client.get("/api/v1/tickets/export.csv?state=open", headers=auth)
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="tickets-')
        raw = await resp.read()
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 Chinese only after a byte-order mark
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0][:3] == ["编号 No.", "类别 Category", "标题 Title"]
        assert [int(r[0]) for r in rows[1:]] == [t["id"] for t in listed]  # the queue's order
        names = {
            "emergencies.water_logging": "积水内涝 Water logging",
            "emergencies.elevator_entrapment": "电梯困人 Elevator entrapment",
        }
        for row, ticket in zip(rows[1:], listed, strict=True):
            assert row[1] == names[ticket["category"]]
            assert row[4] == "待立案 reported" and row[6] == ticket["region_name"]
            assert row[9] == local(ticket["opened_at"]) and row[10] == local(ticket["due_at"])
        lift = next(r for r in rows[1:] if r[1].startswith("电梯困人"))
        assert lift[2] == "'=HYPERLINK(1) lift" and lift[3] == "紧急 critical"

        resp = await client.get("/api/v1/tickets/export.xlsx?state=open", headers=auth)
        assert resp.status == 200
        sheet = load_workbook(io.BytesIO(await resp.read()), read_only=True).active
        assert sheet is not None
        cells = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert cells == rows  # the same figures as the CSV, and so as the API

        other = await client.get("/api/v1/tickets/export.csv?state=open", headers=world.auth("c2-operator"))
        assert len(list(csv.reader(io.StringIO((await other.read()).decode("utf-8-sig"))))) == 1  # header only

        await pool.execute(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path,"
            " state, opened_at, updated_at) SELECT 'bulk/' || i, 'environment.garbage', 'minor', 'bulk', 'report',"
            " r.id, r.path, 'registered', now(), now() FROM generate_series(1, 10000) i, regions r"
            " WHERE r.code = $1",
            w.GRID_1,
        )
        many = await client.get("/api/v1/tickets/export.xlsx", headers=auth)
        assert many.status == 400 and "narrow" in (await many.json())["detail"]
        some = await client.get("/api/v1/tickets/export.csv?q=underpass", headers=auth)
        assert some.status == 200 and (await some.read()).decode("utf-8-sig").count("\r\n") == 2

    w.run_api(database_url, scenario)
