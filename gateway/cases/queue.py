"""The operator queue: tickets in the caller's area by light then due time (or newest first), keyset pages,
and the counts per light the queue header shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.tickets import LIGHT_RANK_SQL, LIGHT_SQL, TICKET_COLUMNS, TICKET_FROM, scope_clause
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

LIGHTS = ("red", "yellow", "green", "none")
# The sort key of a row, as a page's `after` gives it back: (light rank, due time or "infinity", id) for the
# queue, (opened time, id) for newest first.
QUEUE_KEY_TYPES: tuple[type, ...] = (int, str, int)
NEWEST_KEY_TYPES: tuple[type, ...] = (str, int)


@dataclass(frozen=True)
class QueueFilter:
    states: list[str] = field(default_factory=list)  # "open" = every open state
    lights: list[str] = field(default_factory=list)
    category: str | None = None  # this category or any below it
    region_path: str | None = None  # a subtree inside the caller's area
    text: str | None = None
    sources: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    reported_by: str | None = None
    sort: str = "queue"


@dataclass
class QueuePage:
    rows: list[dict[str, Any]]
    next_key: list[Any] | None
    light_counts: dict[str, int] | None


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def queue_page(
    conn: Conn, principal: Principal, filt: QueueFilter, now: datetime, limit: int, after: list[Any] | None
) -> QueuePage:
    """One page after the sort key `after` (None: the first page, which also gets the counts per light)."""
    args: list[Any] = [now]
    where = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    clause, scope = scope_clause(principal, 2)
    args.append(scope)
    where.append(clause)
    if filt.states:
        named = [s for s in filt.states if s != "open"]
        parts = (["t.closed_at IS NULL"] if "open" in filt.states else []) + (
            [f"t.state = ANY({arg(named)}::text[])"] if named else []
        )
        where.append("(" + " OR ".join(parts) + ")")
    if filt.category:
        where.append(f"(t.category = {arg(filt.category)} OR starts_with(t.category, ${len(args)} || '.'))")
    if filt.region_path:
        where.append(f"t.region_path LIKE {arg(subtree(filt.region_path))}")
    if filt.text:
        where.append(f"(t.title ILIKE {arg(_like_pattern(filt.text))} OR t.description ILIKE ${len(args)})")
    if filt.sources:
        where.append(f"t.source = ANY({arg(filt.sources)}::text[])")
    if filt.reported_by:
        where.append(f"t.reported_by = {arg(filt.reported_by)}")
    if filt.since:
        where.append(f"t.opened_at >= {arg(filt.since)}")
    if filt.until:
        where.append(f"t.opened_at < {arg(filt.until)}")
    base_where, base_args = list(where), list(args)
    light = LIGHT_SQL.replace("$now", "$1")
    if filt.lights:
        where.append(f"{light} = ANY({arg(filt.lights)}::text[])")
    rank = LIGHT_RANK_SQL.replace("$now", "$1")
    if filt.sort == "queue":
        order = f"{rank}, coalesce(t.due_at, 'infinity'::timestamptz), t.id"
        if after:
            r, due, tid = after
            where.append(f"({order}) > ({arg(r)}::int, ({arg(due)}::text)::timestamptz, {arg(tid)}::bigint)")
    else:
        order = "t.opened_at DESC, t.id DESC"
        if after:
            at, tid = after
            where.append(f"(t.opened_at, t.id) < (({arg(at)}::text)::timestamptz, {arg(tid)}::bigint)")
    sql = (
        f"SELECT {TICKET_COLUMNS}, {light} AS light, {rank} AS light_rank"
        f" FROM {TICKET_FROM} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {arg(limit + 1)}"
    )
    rows = await conn.fetch(sql, *args)
    items = [dict(r) for r in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last = rows[limit - 1]
        if filt.sort == "queue":
            next_key = [last["light_rank"], last["due_at"].isoformat() if last["due_at"] else "infinity", last["id"]]
        else:
            next_key = [last["opened_at"].isoformat(), last["id"]]
    for item in items:
        item.pop("light_rank", None)
    counts = None
    if not after:
        # The queue header's counts per light, over the same filters but every light.
        rows = await conn.fetch(
            f"SELECT {light} AS light, count(*) AS n FROM {TICKET_FROM} WHERE {' AND '.join(base_where)} GROUP BY 1",
            *base_args,
        )
        counts = {name: 0 for name in LIGHTS} | {r["light"]: r["n"] for r in rows}
    return QueuePage(items, next_key, counts)
