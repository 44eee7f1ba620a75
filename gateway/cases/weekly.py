"""周报: the report for the weekly meeting, for one local week (Monday 00:00 to Monday 00:00 in
`cases.timezone`) over an area — 一周热点 against the week before, the indicators per region (the level below
the area's) and per department, the top recurring clusters, and the cases overdue now — built from the same
queries as the statistics page, so the printout, its workbook and the robot's summary agree with the screen.

Sent each week (`cases.weekly_report`) as a `report.weekly` outbox event for every area a subscription taking
it covers; which weeks went out is kept per area, so replicas and restarts send each one once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from wangge.gateway.cases.clusters import clusters
from wangge.gateway.cases.config import WeeklyReportConfig
from wangge.gateway.cases.indicators import Period, indicators
from wangge.gateway.cases.regions import LEVELS
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.stats import hotspots
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

TOP_HOTSPOTS = 10
TOP_CLUSTERS = 10
MAX_OVERDUE = 100
EVENT = "report.weekly"


def week_bounds(monday: date, timezone: str) -> tuple[datetime, datetime]:
    """The local week from `monday` 00:00 as an instant range (a DST change keeps local midnights)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(monday, time(0), zone)
    return start, datetime.combine(monday + timedelta(days=7), time(0), zone)


def last_week(now: datetime, timezone: str) -> date:
    """The Monday of the last whole local week before `now`."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return today - timedelta(days=today.isoweekday() - 1 + 7)


def level_below(scope: str) -> str:
    """The region level a report's rows are: one below the area's own ('/' is the city: its districts)."""
    depth = scope.strip("/").count("/") + 1 if scope.strip("/") else 0
    return LEVELS[min(depth, len(LEVELS) - 1)]


async def weekly_report(conn: Conn, rules: CaseRules, scope: str, monday: date, now: datetime) -> dict[str, Any]:
    since, until = week_bounds(monday, rules.calendar.timezone)
    period = Period(since, until, now)
    level = level_below(scope)
    hot = await hotspots(conn, scope, until, 7)
    by_region = await indicators(conn, scope, period, "region", level)
    by_department = await indicators(conn, scope, period, "department", level)
    recurring = await clusters(conn, scope, since, until, "grid", limit=TOP_CLUSTERS)
    overdue, overdue_total = await overdue_now(conn, scope, now)
    return {
        "week": monday.isoformat(),
        "since": since,
        "until": until,
        "as_of": period.as_of,
        "scope": scope,
        "level": level,
        "hotspots": hot[:TOP_HOTSPOTS],
        "by_region": by_region,
        "by_department": by_department,
        "clusters": recurring,
        "overdue": overdue,
        "overdue_total": overdue_total,
    }


async def overdue_now(conn: Conn, scope: str, now: datetime) -> tuple[list[dict[str, Any]], int]:
    """The open cases past their deadline now, the longest overdue first (at most MAX_OVERDUE), and how many."""
    rows = await conn.fetch(
        "SELECT t.id, t.title, t.category, t.state, t.department, t.due_at, t.escalation_level, r.name AS region_name"
        " FROM tickets t LEFT JOIN regions r ON r.id = t.region_id"
        " WHERE t.closed_at IS NULL AND t.due_at <= $2 AND t.region_path LIKE $1 ORDER BY t.due_at, t.id LIMIT $3",
        subtree(scope),
        now,
        MAX_OVERDUE,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM tickets WHERE closed_at IS NULL AND due_at <= $2 AND region_path LIKE $1",
        subtree(scope),
        now,
    )
    return [dict(r) for r in rows], int(total)


def summary(report: dict[str, Any], link: str) -> dict[str, Any]:
    """What a robot's message says of a report: the headline figures, the top three of each list, the link."""
    total = report["by_region"]["total"]
    return {
        "week": report["week"],
        "scope": report["scope"],
        "link": link,
        "reported": total["current"]["counts"]["reported"],
        "previous_reported": total["previous"]["counts"]["reported"],
        "rates": {k: total["current"]["rates"][k] for k in ("close_rate", "on_time_close_rate", "satisfaction_rate")},
        "hotspots": [
            {"category": h["category"], "count": h["count"], "share_change": h["share_change"]}
            for h in report["hotspots"][:3]
        ],
        "clusters": [
            {"category": c["category"], "place": c["place_name"] or c["place"], "count": c["count"]}
            for c in report["clusters"][:3]
        ],
        "overdue": report["overdue_total"],
    }


def due_week(config: WeeklyReportConfig, now: datetime, timezone: str) -> date | None:
    """The week whose report is due by `now` (last week, once this week's send moment has passed)."""
    if not config.enabled:
        return None
    weekday, at = config.send_time()
    local = now.astimezone(ZoneInfo(timezone))
    this_monday = local.date() - timedelta(days=local.isoweekday() - 1)
    send_at = datetime.combine(this_monday + timedelta(days=weekday - 1), at, ZoneInfo(timezone))
    return this_monday - timedelta(days=7) if local >= send_at else None


async def send_weekly(conn: Conn, rules: CaseRules, config: WeeklyReportConfig, now: datetime) -> int:
    """One pass of the weekly job: the due week's report, once per area a subscription taking it covers, as
    outbox events for the webhook worker. Returns how many it sent."""
    week = due_week(config, now, rules.calendar.timezone)
    if week is None:
        return 0
    areas = await conn.fetch(
        "SELECT DISTINCT s.region_path FROM webhook_subscriptions s WHERE s.enabled"
        " AND (cardinality(s.event_types) = 0 OR $1 = ANY (s.event_types))"
        " AND NOT EXISTS (SELECT 1 FROM weekly_reports w WHERE w.week = $2 AND w.region_path = s.region_path)",
        EVENT,
        week,
    )
    sent = 0
    for area in areas:
        async with conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO weekly_reports (week, region_path, sent_at) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING week",
                week,
                area["region_path"],
                now,
            )
            if claimed is None:  # another replica sent it
                continue
            report = await weekly_report(conn, rules, area["region_path"], week, now)
            link = f"{config.console_url or ''}/#/report/{week.isoformat()}"
            await conn.execute(
                "INSERT INTO outbox_events (event_type, region_path, payload) VALUES ($1, $2, $3)",
                EVENT,
                area["region_path"],
                {"report": summary(report, link)},
            )
            sent += 1
    return sent
