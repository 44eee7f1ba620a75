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
from wangge.gateway.cases.indicators import RATE_NAMES

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
SOURCE_NAMES = {"alert": "告警 alert", "report": "上报 report", "rootcause": "治理专项 root cause"}
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
                _local(r["opened_at"], zone),
                _local(r["due_at"], zone),
                _local(r["closed_at"], zone),
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
    return to_workbook([(sheet, table)])


def to_workbook(sheets: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> bytes:
    """One sheet per (name, table), in order."""
    book = Workbook(write_only=True)
    for name, table in sheets:
        page = book.create_sheet(name[:31])
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


def indicator_table(result: dict[str, Any], catalogue: Catalogue) -> list[list[Any]]:
    """The indicator table as the console shows it: a row per group and the total, each rate with its value
    and its change against the period before (shares, 0–1; empty where there is nothing to divide by)."""
    by = result["by"]
    header: list[Any] = [GROUP_NAMES.get(by, by), "上报数 Reported"]
    for name in RATE_NAMES.values():
        header += [name, f"{name.split(' ')[0]} 较上期 change"]
    table: list[list[Any]] = [header]
    for row in [result["total"], *result["rows"]]:
        if row["key"] is None and row is result["total"]:
            label = "合计 Total"
        elif row["key"] is None:
            label = "（无）(none)"
        elif by in ("category", "group"):
            label = catalogue.both(row["key"])
        else:
            label = row["name"] or row["key"]
        cells: list[Any] = [label, row["current"]["counts"]["reported"]]
        for rate in RATE_NAMES:
            cells += [_blank(row["current"]["rates"][rate]), _blank(row["change"][rate])]
        table.append(cells)
    return table


GROUP_NAMES = {
    "region": "区域 Region",
    "department": "部门 Department",
    "category": "类别 Category",
    "group": "大类 Category group",
    "rule": "规则 Rule",
    "device": "设备 Device",
}


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def hotspot_table(items: Iterable[dict[str, Any]], catalogue: Catalogue) -> list[list[Any]]:
    table: list[list[Any]] = [
        [
            "排名 Rank",
            "类别 Category",
            "本期 Count",
            "占比 Share",
            "上期 Before",
            "上期占比 Share before",
            "占比变化 Change",
        ]
    ]
    for h in items:
        table.append(
            [
                h["rank"],
                catalogue.both(h["category"]),
                h["count"],
                h["share"],
                h["previous_count"],
                h["previous_share"],
                h["share_change"],
            ]
        )
    return table


def cluster_table(items: Iterable[dict[str, Any]], catalogue: Catalogue, timezone: str) -> list[list[Any]]:
    zone = ZoneInfo(timezone)
    table: list[list[Any]] = [
        [
            "排名 Rank",
            "类别 Category",
            "地点 Place",
            "本期 Count",
            "上期 Before",
            "变化 Change",
            "首次 First",
            "最近 Last",
        ]
    ]
    for c in items:
        table.append(
            [
                c["rank"],
                catalogue.both(c["category"]),
                c["place_name"] or c["place"],
                c["count"],
                c["previous_count"],
                c["change"],
                _local(c["first_at"], zone),
                _local(c["last_at"], zone),
            ]
        )
    return table


def overdue_table(rows: Iterable[dict[str, Any]], catalogue: Catalogue, timezone: str) -> list[list[Any]]:
    zone = ZoneInfo(timezone)
    table: list[list[Any]] = [
        [
            "编号 No.",
            "类别 Category",
            "标题 Title",
            "状态 State",
            "区域 Region",
            "处置部门 Department",
            "期限 Due",
            "上报级数 Escalations",
        ]
    ]
    for r in rows:
        table.append(
            [
                r["id"],
                catalogue.both(r["category"]),
                r["title"],
                STATE_NAMES.get(r["state"], r["state"]),
                r["region_name"] or "",
                r["department"] or "",
                _local(r["due_at"], zone),
                r["escalation_level"],
            ]
        )
    return table


def weekly_tables(
    report: dict[str, Any], catalogue: Catalogue, timezone: str
) -> dict[str, tuple[str, list[list[Any]]]]:
    """Each section of a weekly report as (sheet name, table)."""
    return {
        "hotspots": ("一周热点 Hotspots", hotspot_table(report["hotspots"], catalogue)),
        "regions": ("区域指标 By region", indicator_table(report["by_region"], catalogue)),
        "departments": ("部门指标 By department", indicator_table(report["by_department"], catalogue)),
        "clusters": ("类案 Recurring", cluster_table(report["clusters"], catalogue, timezone)),
        "overdue": ("超时案件 Overdue", overdue_table(report["overdue"], catalogue, timezone)),
    }


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else ""
