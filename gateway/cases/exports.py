"""Ticket lists as files to hand out (CSV and XLSX): the same rows as the queue, worded for people — category
and state names in Chinese and English, region names, local times of the command centre — never codes.

CSV is UTF-8 with a byte-order mark, so Excel opens the Chinese text as Chinese; XLSX is written by openpyxl
(write-only mode: constant memory per row).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from wangge.gateway.cases.categories import Catalogue

MAX_ROWS = 10_000
STATE_NAMES = {
    "reported": "待立案 reported",
    "registered": "已立案 registered",
    "dispatched": "已派遣 dispatched",
    "accepted": "已签收 accepted",
    "in_progress": "处置中 in progress",
    "handled": "已处置 handled",
    "verified": "已核查 verified",
    "closed": "已结案 closed",
    "returned": "已退回 returned",
    "reopened": "重新打开 reopened",
    "cancelled": "已撤销 cancelled",
}
SEVERITY_NAMES = {"critical": "紧急 critical", "major": "重要 major", "minor": "一般 minor", "info": "提示 info"}
LIGHT_NAMES = {"red": "超时 overdue", "yellow": "临期 due soon", "green": "正常 in time", "none": "无时限 no limit"}
SOURCE_NAMES = {"alert": "告警 alert", "report": "上报 report"}
HEADER = (
    "编号 No.",
    "类别 Category",
    "标题 Title",
    "级别 Severity",
    "状态 State",
    "时限 Light",
    "区域 Region",
    "来源 Source",
    "处置部门 Department",
    "创建 Opened",
    "期限 Due",
    "结案 Closed",
    "告警数 Alerts",
)


def ticket_table(rows: Iterable[dict[str, Any]], catalogue: Catalogue, timezone: str) -> list[list[Any]]:
    """The header and one row per ticket, every code replaced by its name, times in `timezone`."""
    zone = ZoneInfo(timezone)

    def local(at: datetime | None) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else ""

    table: list[list[Any]] = [list(HEADER)]
    for r in rows:
        table.append(
            [
                r["id"],
                catalogue.both(r["category"]),
                r["title"],
                SEVERITY_NAMES.get(r["severity"], r["severity"]),
                STATE_NAMES.get(r["state"], r["state"]),
                LIGHT_NAMES.get(r["light"], r["light"]),
                r["region_name"] or "",
                SOURCE_NAMES.get(r["source"], r["source"]),
                r["department"] or "",
                local(r["opened_at"]),
                local(r["due_at"]),
                local(r["closed_at"]),
                r["alert_count"],
            ]
        )
    return table


def to_csv(table: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in table:
        writer.writerow([_safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Sequence[Sequence[Any]], sheet: str) -> bytes:
    book = Workbook(write_only=True)
    page = book.create_sheet(sheet[:31])
    for row in table:
        page.append([_safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (=, +, -, @ first: CSV injection) is quoted with a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
