"""A ticket just opened (by an alert or a report) or reopened: its deadline, route, handling region and 类案
recurrence, and the events that announce it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.deadlines import start_stage_clock
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.rules import CaseRules, route

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def _handling_region(conn: Conn, region_id: int | None) -> int | None:
    """The community a grid's ticket is first handled by (or the region itself above that level)."""
    if region_id is None:
        return None
    value: int | None = await conn.fetchval(
        "WITH RECURSIVE up AS (SELECT id, parent_id, level FROM regions WHERE id = $1"
        " UNION ALL SELECT r.id, r.parent_id, r.level FROM regions r JOIN up ON r.id = up.parent_id)"
        " SELECT id FROM up WHERE level IN ('community', 'street', 'district')"
        " ORDER BY array_position(ARRAY['community','street','district'], level) LIMIT 1",
        region_id,
    )
    return value


async def start_ticket(conn: Conn, rules: CaseRules, ticket_id: int, now: datetime, reopened: bool = False) -> None:
    """Deadlines, routing, handling region and recurrence for a ticket just opened (or reopened)."""
    row = await conn.fetchrow(
        "SELECT id, state, category, region_id, region_path, device_id FROM tickets WHERE id = $1", ticket_id
    )
    assert row is not None
    await start_stage_clock(conn, rules, ticket_id, row["state"], row["category"], now)
    if reopened:
        await emit(conn, "ticket.updated", ticket_id, {"change": "reopened"})
        return
    chosen = route(rules, row["category"], row["region_path"])
    # An alert's ticket sits where its device is (on the map, in the field worker's app).
    await conn.execute(
        "UPDATE tickets SET department = $2, matter = $3, handling_region_id = $4,"
        " lat = coalesce(lat, (SELECT d.lat FROM devices d WHERE d.device_id = $5)),"
        " lon = coalesce(lon, (SELECT d.lon FROM devices d WHERE d.device_id = $5)) WHERE id = $1",
        ticket_id,
        chosen.department if chosen else None,
        chosen.matter if chosen else None,
        await _handling_region(conn, row["region_id"]),
        row["device_id"],
    )
    await _mark_recurring(conn, rules, row, now)
    await emit(conn, "ticket.created", ticket_id)


async def _mark_recurring(conn: Conn, rules: CaseRules, row: Any, now: datetime) -> None:
    """类案: the same category at the same place (grid, or device when unplaced) N times in M days."""
    place_sql = "region_id = $3" if row["region_id"] is not None else "device_id IS NOT DISTINCT FROM $3"
    place = row["region_id"] if row["region_id"] is not None else row["device_id"]
    earlier = await conn.fetch(
        f"SELECT id, recurring_of FROM tickets WHERE category = $1 AND id <> $2 AND {place_sql}"
        " AND opened_at >= $4 ORDER BY opened_at, id",
        row["category"],
        row["id"],
        place,
        now - timedelta(days=rules.recurring_days),
    )
    if len(earlier) + 1 < rules.recurring_count:
        return
    root = earlier[0]["recurring_of"] or earlier[0]["id"]
    await conn.execute("UPDATE tickets SET recurring_of = $2 WHERE id = $1", row["id"], root)
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, actor, kind, data) VALUES ($1, 'system', 'ticket.recurring', $2)",
        row["id"],
        {"recurring_of": root, "count": len(earlier) + 1, "days": rules.recurring_days},
    )


async def after_ingest(conn: Conn, rules: CaseRules, results: list[tuple[str, int | None]], now: datetime) -> None:
    for outcome, ticket_id in results:
        if ticket_id is None:
            continue
        if outcome in ("opened", "reopened"):
            await start_ticket(conn, rules, ticket_id, now, reopened=outcome == "reopened")
        if outcome != "duplicate":
            await emit(conn, "alert.received", ticket_id, {"outcome": outcome})
