"""The indicators digital city management is judged by (立案率, 处置率, 按期处置率, 结案率, 按期结案率, 返工率,
超期待处置率, 延期率, stage times, 满意率, false alarms), per region level, department, category, rule or device,
for a period against the period before it. Definitions: docs/cases.md.

A period's cohort is the tickets opened in it, judged by what had happened to them by the period's end (or now,
for a period still running): the moments come from `ticket_facts`, a fold of each ticket's event history kept
in step by triggers (0013_ticket_facts.sql), so one scan of each period's cohort answers every indicator of
every group (the totals are the groups' sums), and a case changed after its day moves the figures of its
period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from wangge.gateway.cases.regions import LEVELS
from wangge.gateway.storage.paths import subtree
from wangge.gateway.storage.pool import custom_plans

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

Grouping = Literal["region", "department", "category", "group", "rule", "device"]

# Each count: a condition on one ticket's facts as of its period's end `f.t` ("by t": the moment is before t).
_ALIVE = "(f.cancelled_at IS NULL OR f.cancelled_at >= f.t)"  # not (yet) found to be a false alarm
COUNTS: dict[str, str] = {
    "reported": "true",
    "invalid": "f.cancelled_at < f.t AND (f.registered_at IS NULL OR f.registered_at >= f.t)",
    "registered": "f.registered_at < f.t",
    "due_to_handle": f"f.dispatched_at < f.t AND {_ALIVE}",
    "handled": f"f.handled_at < f.t AND {_ALIVE}",
    "handled_on_time": f"f.handled_at < f.t AND {_ALIVE}"
    " AND (f.handle_late_at IS NULL OR f.handle_late_at > f.handled_at)",
    "due_to_close": f"f.registered_at < f.t AND {_ALIVE}",
    "closed": f"f.closed_at < f.t AND {_ALIVE}",
    "closed_on_time": f"f.closed_at < f.t AND {_ALIVE} AND (f.late_at IS NULL OR f.late_at > f.closed_at)",
    "reworked": f"f.reworked_at < f.t AND {_ALIVE}",
    "overdue_pending": f"f.dispatched_at < f.t AND {_ALIVE} AND (f.handled_at IS NULL OR f.handled_at >= f.t)"
    " AND f.handle_late_at < f.t",
    "extended": f"f.extended_at < f.t AND f.dispatched_at < f.t AND {_ALIVE}",
    "rated": "f.rated_at < f.t",
    "satisfied": "f.rated_at < f.t AND f.rating IN ('satisfied', 'basically')",
    "false_alarms": "f.cancelled_at < f.t",
}
# rate: (numerator, denominator, its name for people); a denominator of "due_to_register" is reported − invalid.
RATES: dict[str, tuple[str, str, str]] = {
    "register_rate": ("registered", "due_to_register", "立案率 Registered"),
    "handle_rate": ("handled", "due_to_handle", "处置率 Handled"),
    "on_time_handle_rate": ("handled_on_time", "due_to_handle", "按期处置率 Handled on time"),
    "close_rate": ("closed", "due_to_close", "结案率 Closed"),
    "on_time_close_rate": ("closed_on_time", "due_to_close", "按期结案率 Closed on time"),
    "rework_rate": ("reworked", "due_to_close", "返工率 Reworked"),
    "overdue_pending_rate": ("overdue_pending", "due_to_handle", "超期待处置率 Overdue unhandled"),
    "extension_rate": ("extended", "due_to_handle", "延期率 Extended"),
    "satisfaction_rate": ("satisfied", "rated", "满意率 Satisfied"),
    "false_alarm_rate": ("false_alarms", "reported", "误报率 False alarms"),
}
RATE_NAMES = {name: words for name, (_, _, words) in RATES.items()}
# Mean seconds of each stage, over the tickets that finished it by the period's end; the row's `<stage>_s` holds
# end − start (0019_fact_stage_seconds.sql).
STAGES: dict[str, tuple[str, str]] = {
    "registering": ("f.opened_at", "f.registered_at"),
    "dispatching": ("f.registered_at", "f.dispatched_at"),
    "handling": ("f.dispatched_at", "f.handled_at"),
    "closing": ("f.handled_at", "f.closed_at"),
}


def _key(by: Grouping, level: str) -> str:
    if by == "region":
        return f"nullif(split_part(f.region_path, '/', {LEVELS.index(level) + 2}), '')"
    return {
        "department": "f.department",
        "category": "f.category",
        "group": "split_part(f.category, '.', 1)",
        "rule": "f.rule_id",
        "device": "f.device_id",
    }[by]


def indicator_sql(by: Grouping, level: str) -> str:
    """One aggregate per period over its cohort, grouped by the key: the current period ($2 ≤ opened < $4,
    judged at $5) and the previous one ($3 ≤ opened < $2, judged at $6). Each is judged at a constant, so
    every condition is a plain comparison (one scan with a per-row moment was a third slower on a million).
    Root-cause cases (治理专项) are the command centre's own work, not cases reported to it: not counted."""
    return " UNION ALL ".join(
        _period_sql(current, since, until, judged, _key(by, level))
        for current, since, until, judged in ((True, "$2", "$4", "$5"), (False, "$3", "$2", "$6"))
    )


def _period_sql(current: bool, since: str, until: str, judged: str, key: str) -> str:
    t = f"{judged}::timestamptz"  # `f.t` in the conditions: the moment the period is judged at
    counts = ", ".join(f"count(*) FILTER (WHERE {cond}) AS {name}" for name, cond in COUNTS.items())
    stages = ", ".join(
        f"sum(f.{name}_s) FILTER (WHERE {end} < f.t AND {start} <= {end}) AS s_{name},"
        f" count(*) FILTER (WHERE {end} < f.t AND {start} <= {end}) AS n_{name}"
        for name, (start, end) in STAGES.items()
    )
    return (
        f"SELECT {str(current).lower()} AS current, {key} AS key, {counts.replace('f.t', t)},"
        f" {stages.replace('f.t', t)} FROM ticket_facts f WHERE f.region_path LIKE $1 AND f.opened_at >= {since}"
        f" AND f.opened_at < {until} AND f.source NOT IN ('rootcause', 'merged') GROUP BY 2"
    )


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    now: datetime

    @property
    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(self.since - (self.until - self.since), self.since, self.now)

    @property
    def as_of(self) -> datetime:
        return min(self.until, self.now)


def figures(rows: list[Any]) -> dict[str, Any]:
    """Counts, rates and stage means of the groups' rows summed (all zero / None for no rows)."""
    counts = {name: sum(r[name] for r in rows) for name in COUNTS}
    base = {**counts, "due_to_register": counts["reported"] - counts["invalid"]}
    rates = {name: (round(base[n] / base[d], 4) if base[d] else None) for name, (n, d, _) in RATES.items()}
    stages: dict[str, float | None] = {}
    for name in STAGES:
        n = sum(r[f"n_{name}"] for r in rows)
        stages[name] = sum(r[f"s_{name}"] or 0.0 for r in rows) / n if n else None
    return {"counts": counts, "rates": rates, "stage_mean_s": stages}


def compared(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, float | None]:
    """Each rate's change against the previous period, in points of the share (None where either is unknown)."""
    return {
        name: (
            round(value - previous["rates"][name], 4)
            if value is not None and previous["rates"][name] is not None
            else None
        )
        for name, value in current["rates"].items()
    }


async def indicators(conn: Conn, scope: str, period: Period, by: Grouping, level: str) -> dict[str, Any]:
    """The indicators of `period` and of the period before, per group and in total, over the caller's area."""
    before = period.previous
    async with custom_plans(conn):
        rows = await conn.fetch(
            indicator_sql(by, level),
            subtree(scope),
            period.since,
            before.since,
            period.until,
            period.as_of,
            before.as_of,
        )
    found = {(r["current"], r["key"]): r for r in rows}
    keys = sorted({k for _, k in found}, key=lambda k: (k is None, k or ""))
    names = await _names(conn, by, [k for k in keys if k is not None])

    def entry(key: str | None, now_rows: list[Any], then_rows: list[Any]) -> dict[str, Any]:
        current, previous = figures(now_rows), figures(then_rows)
        return {
            "key": key,
            "name": names.get(key) if key else None,
            "current": current,
            "previous": previous,
            "change": compared(current, previous),
        }

    def of(current: bool, key: str | None) -> list[Any]:
        return [found[(current, key)]] if (current, key) in found else []

    items = [entry(k, of(True, k), of(False, k)) for k in keys]
    if by != "region":
        items.sort(key=lambda e: (-e["current"]["counts"]["reported"], e["key"] is None, e["key"] or ""))
    return {
        "since": period.since,
        "until": period.until,
        "as_of": period.as_of,
        "previous_since": before.since,
        "previous_until": before.until,
        "previous_as_of": before.as_of,
        "by": by,
        "level": level if by == "region" else None,
        "total": entry(None, [r for r in rows if r["current"]], [r for r in rows if not r["current"]]),
        "rows": items,
    }


async def _names(conn: Conn, by: Grouping, keys: list[str]) -> dict[str | None, str]:
    """Region names for region keys (categories are named by the catalogue where they are shown)."""
    if by != "region" or not keys:
        return {}
    rows = await conn.fetch("SELECT code, name FROM regions WHERE code = ANY($1::text[])", keys)
    return {r["code"]: r["name"] for r in rows}
