"""Figures for command centers, all computed by PostgreSQL over the caller's region subtree. They count the
cases reported to the centre, not its own root-cause cases (治理专项)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.tickets import LIGHT_SQL
from wangge.gateway.storage.paths import subtree
from wangge.gateway.storage.pool import custom_plans

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def hotspots(conn: Conn, scope: str, now: datetime, days: int = 7) -> list[dict[str, Any]]:
    """一周热点: each category's share of the tickets opened in the last `days`, ranked, against the days before."""
    async with custom_plans(conn):
        rows = await _hotspot_rows(conn, scope, now, days)
    return [
        {
            "rank": i + 1,
            "category": r["category"],
            "count": r["now_n"],
            "share": round(r["share"], 4),
            "previous_count": r["prev_n"],
            "previous_share": round(r["prev_share"], 4),
            "share_change": round(r["share"] - r["prev_share"], 4),
        }
        for i, r in enumerate(rows)
    ]


async def _hotspot_rows(conn: Conn, scope: str, now: datetime, days: int) -> list[Any]:
    return await conn.fetch(
        "WITH w AS (SELECT category, opened_at >= $2 AS current FROM tickets"
        "  WHERE region_path LIKE $1 AND opened_at >= $3 AND opened_at < $4 AND source <> 'rootcause'),"
        " c AS (SELECT category, count(*) FILTER (WHERE current) AS now_n,"
        " count(*) FILTER (WHERE NOT current) AS prev_n"
        "  FROM w GROUP BY category),"
        " t AS (SELECT greatest(sum(now_n), 1) AS now_total, greatest(sum(prev_n), 1) AS prev_total FROM c)"
        " SELECT category, now_n, prev_n, now_n::float8 / now_total AS share, prev_n::float8 / prev_total AS prev_share"
        " FROM c, t WHERE now_n > 0 OR prev_n > 0 ORDER BY now_n DESC, category",
        subtree(scope),
        now - timedelta(days=days),
        now - timedelta(days=2 * days),
        now,
    )


async def summary(conn: Conn, scope: str, now: datetime, since: datetime, until: datetime) -> dict[str, Any]:
    async with custom_plans(conn):
        return await _summary(conn, scope, now, since, until)


async def _summary(conn: Conn, scope: str, now: datetime, since: datetime, until: datetime) -> dict[str, Any]:
    args = (subtree(scope), since, until)
    in_period = "region_path LIKE $1 AND opened_at >= $2 AND opened_at < $3 AND source <> 'rootcause'"
    by_state = await conn.fetch(f"SELECT state, count(*) AS n FROM tickets WHERE {in_period} GROUP BY state", *args)
    light = LIGHT_SQL.replace("$now", "$2").replace("t.", "")
    by_light = await conn.fetch(
        f"SELECT {light} AS light, count(*) AS n FROM tickets WHERE region_path LIKE $1 AND closed_at IS NULL"
        " GROUP BY 1",
        subtree(scope),
        now,
    )
    depth = scope.count("/")
    by_region = await conn.fetch(
        f"SELECT coalesce(nullif(split_part(region_path, '/', {depth + 1}), ''), '(unplaced)') AS region,"
        " count(*) AS created, count(*) FILTER (WHERE state = 'closed') AS closed,"
        " count(*) FILTER (WHERE state = 'closed' AND NOT was_overdue) AS on_time"
        f" FROM tickets WHERE {in_period} GROUP BY 1 ORDER BY 1",
        *args,
    )
    by_category = await conn.fetch(
        "SELECT category, count(*) AS created, count(*) FILTER (WHERE state = 'closed') AS closed,"
        " count(*) FILTER (WHERE state = 'closed' AND NOT was_overdue) AS on_time"
        f" FROM tickets WHERE {in_period} GROUP BY 1 ORDER BY 2 DESC, 1",
        *args,
    )
    stages = await conn.fetch(
        "SELECT from_state AS state, avg(secs) AS mean_s, percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90_s,"
        " count(*) AS n FROM (SELECT e.from_state, extract(epoch FROM e.at - lag(e.at) OVER"
        " (PARTITION BY e.ticket_id ORDER BY e.id)) AS secs, e.to_state FROM ticket_events e JOIN tickets t"
        " ON t.id = e.ticket_id WHERE e.to_state IS NOT NULL"
        " AND t.region_path LIKE $1 AND t.opened_at >= $2 AND t.opened_at < $3"
        ") s WHERE from_state IS NOT NULL GROUP BY 1 ORDER BY 1",
        *args,
    )
    false_alarms = await conn.fetch(
        "SELECT rule_id, device_id, count(*) AS tickets, count(*) FILTER (WHERE false_alarm_reason IS NOT NULL"
        " AND state = 'cancelled') AS false_alarms"
        f" FROM tickets WHERE {in_period} AND source = 'alert' GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC LIMIT 100",
        *args,
    )

    channels = await _by_channel(conn, args)

    def rates(rows: list[Any], key: str) -> list[dict[str, Any]]:
        return [
            {
                key: r[key],
                "created": r["created"],
                "closed": r["closed"],
                "on_time": r["on_time"],
                "closure_rate": round(r["closed"] / r["created"], 4) if r["created"] else None,
                "on_time_closure_rate": round(r["on_time"] / r["closed"], 4) if r["closed"] else None,
            }
            for r in rows
        ]

    return {
        "since": since,
        "until": until,
        "by_state": {r["state"]: r["n"] for r in by_state},
        "open_by_light": {r["light"]: r["n"] for r in by_light},
        "by_region": rates(list(by_region), "region"),
        "by_category": rates(list(by_category), "category"),
        "stage_seconds": {
            r["state"]: {"mean": float(r["mean_s"]), "p90": float(r["p90_s"]), "n": r["n"]} for r in stages
        },
        "by_channel": channels,
        "false_alarms": [
            {
                "rule_id": r["rule_id"],
                "device_id": r["device_id"],
                "tickets": r["tickets"],
                "false_alarms": r["false_alarms"],
                "rate": round(r["false_alarms"] / r["tickets"], 4),
            }
            for r in false_alarms
        ],
    }


# Intake per channel: cases opened (not merged away), how long they waited for 立案, and for people's channels
# the reports, those that joined an open case nearby when they came in, and cases merged by hand.
_CHANNEL_CASES = """
SELECT coalesce(t.channel, 'unknown') AS channel, count(*) FILTER (WHERE t.merged_into IS NULL) AS cases,
       count(*) FILTER (WHERE t.merged_into IS NOT NULL) AS merged, count(f.registered_at) AS registered,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.registered_at - t.opened_at))
           FILTER (WHERE f.registered_at IS NOT NULL) AS register_median_s
FROM tickets t LEFT JOIN ticket_facts f ON f.ticket_id = t.id
WHERE t.region_path LIKE $1 AND t.opened_at >= $2 AND t.opened_at < $3 AND t.source <> 'rootcause'
GROUP BY 1
"""
_CHANNEL_REPORTS = """
SELECT p.channel, count(*) AS reports, count(*) FILTER (WHERE e.kind = 'ticket.reported_again') AS joined
FROM ticket_reports p JOIN tickets t ON t.id = p.ticket_id LEFT JOIN ticket_events e ON e.id = p.event_id
WHERE t.region_path LIKE $1 AND p.at >= $2 AND p.at < $3
GROUP BY 1
"""


async def _by_channel(conn: Conn, args: tuple[str, datetime, datetime]) -> list[dict[str, Any]]:
    cases = {r["channel"]: r for r in await conn.fetch(_CHANNEL_CASES, *args)}
    reports = {r["channel"]: r for r in await conn.fetch(_CHANNEL_REPORTS, *args)}
    out = []
    for channel in sorted(set(cases) | set(reports)):
        c, p = cases.get(channel), reports.get(channel)
        n_reports = p["reports"] if p else (c["cases"] if c else 0)
        joined, merged = (p["joined"] if p else 0), (c["merged"] if c else 0)
        median = c["register_median_s"] if c else None
        out.append(
            {
                "channel": channel,
                "cases": c["cases"] if c else 0,
                "reports": n_reports,
                "joined": joined,
                "merged": merged,
                "duplicate_share": round((joined + merged) / n_reports, 4) if n_reports else None,
                "registered": c["registered"] if c else 0,
                "register_median_s": None if median is None else float(median),
            }
        )
    return out


SERIES_SQL = """
WITH buckets AS (
  SELECT generate_series(date_trunc($4, $2 AT TIME ZONE $5), date_trunc($4, $3 AT TIME ZONE $5
         - interval '1 microsecond'), ('1 ' || $4)::interval) AS start),
counted AS (
  SELECT date_trunc($4, opened_at AT TIME ZONE $5) AS start, split_part(category, '.', 1) AS grp,
         'opened' AS kind, count(*) AS n
    FROM tickets WHERE region_path LIKE $1 AND opened_at >= $2 AND opened_at < $3 AND source <> 'rootcause'
   GROUP BY 1, 2
  UNION ALL
  SELECT date_trunc($4, closed_at AT TIME ZONE $5), split_part(category, '.', 1), 'closed', count(*)
    FROM tickets WHERE closed_at IS NOT NULL AND region_path LIKE $1 AND closed_at >= $2 AND closed_at < $3
     AND source <> 'rootcause'
   GROUP BY 1, 2
  UNION ALL
  SELECT date_trunc($4, e.at AT TIME ZONE $5), split_part(t.category, '.', 1), 'overdue', count(*)
    FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
   WHERE e.kind = 'ticket.overdue' AND e.at >= $2 AND e.at < $3 AND t.region_path LIKE $1 GROUP BY 1, 2)
SELECT b.start::date AS start, c.grp, c.kind, coalesce(c.n, 0) AS n
  FROM buckets b LEFT JOIN counted c ON c.start = b.start ORDER BY 1, 2, 3
"""
MAX_BUCKETS = 400


async def series(
    conn: Conn, scope: str, timezone: str, since: datetime, until: datetime, interval: str
) -> list[dict[str, Any]]:
    """Opened / closed / overdue per local day or ISO week (Monday first) of `timezone`, in total and per
    category group; every bucket of the period is there, empty ones included, so a chart has no gaps."""
    async with custom_plans(conn):
        rows = await conn.fetch(SERIES_SQL, subtree(scope), since, until, interval, timezone)
    buckets: dict[str, dict[str, Any]] = {}
    for r in rows:
        bucket = buckets.setdefault(
            r["start"].isoformat(),
            {"start": r["start"].isoformat(), "opened": 0, "closed": 0, "overdue": 0, "by_group": {}},
        )
        if r["kind"] is None:
            continue
        bucket[r["kind"]] += r["n"]
        group = bucket["by_group"].setdefault(r["grp"], {"opened": 0, "closed": 0, "overdue": 0})
        group[r["kind"]] += r["n"]
    return list(buckets.values())
