"""Duplicate reports become one case: the search for an open case nearby, and an operator's merge and split.

Each report is a row of its own (ticket_reports) with its reporter's progress link, so a merge moves rows and a
split moves one back out with its photos and its link; the history of every ticket involved says what happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.nearby import METRES_PER_DEGREE, nearest_open_cases
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.tickets import fetch_ticket

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

OFFICE_ROLES = frozenset({"admin", "supervisor", "operator"})

# One report's point: the open case it would join (gateway/cases/nearby.py).
_NEAREST_OPEN = nearest_open_cases(
    "SELECT NULL::bigint AS id, $1::text AS category, $5::double precision AS lat, $6::double precision AS lon"
)


async def lock_category(conn: Conn, category: str) -> None:
    """Reports of one category are searched and opened one at a time, so two residents reporting the same thing
    in the same instant make one case, not two (held to the end of the caller's transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('intake:' || $1, 0))", category)


async def nearest_open_case(
    conn: Conn, rules: CaseRules, category: str, lat: float, lon: float, now: datetime
) -> tuple[int, float] | None:
    """The open case this report duplicates, and how far it is (metres); None when duplicates are off."""
    cfg = rules.duplicates
    if not cfg.enabled:
        return None
    row = await conn.fetchrow(
        _NEAREST_OPEN, category, cfg.distance_m, now - timedelta(hours=cfg.window_h), METRES_PER_DEGREE, lat, lon
    )
    return None if row is None else (row["into_id"], float(row["metres"]))


def _require_office(principal: Principal) -> None:
    if principal.role not in OFFICE_ROLES:
        raise CaseError(403, f"a {principal.role or 'an edge'} may not merge or split cases")


async def merge(
    conn: Conn, principal: Principal, target_id: int, source_id: int, note: str | None, now: datetime
) -> dict[str, Any]:
    """合并: `source_id`'s reports (with their photos and links) join `target_id`; the source is cancelled as
    merged. Both open and in the caller's area; runs in the caller's transaction."""
    _require_office(principal)
    if target_id == source_id:
        raise CaseError(422, "a case cannot be merged into itself")
    first, second = sorted((target_id, source_id))  # one lock order whoever merges which way
    rows = {t: await fetch_ticket(conn, principal, t, now, for_update=True) for t in (first, second)}
    target, source = rows[target_id], rows[source_id]
    for what, row in (("the case to keep", target), ("the case to merge", source)):
        if row["closed_at"] is not None:
            raise CaseError(409, f"{what} (#{row['id']}) is closed", state=row["state"])
        if row["source"] == "rootcause":
            raise CaseError(422, f"{what} (#{row['id']}) is a root-cause case (治理专项): link cases to it instead")
    moved = await conn.fetchval(
        "WITH m AS (UPDATE ticket_reports SET ticket_id = $1 WHERE ticket_id = $2 RETURNING event_id)"
        " , p AS (UPDATE attachments a SET ticket_id = $1 FROM m WHERE a.event_id = m.event_id"
        " AND a.ticket_id = $2 RETURNING a.id)"
        " SELECT count(*) FROM m",
        target_id,
        source_id,
    )
    await conn.execute(
        "UPDATE tickets t SET reporters = t.reporters + s.reporters,"
        " last_reported_at = greatest(t.last_reported_at, s.last_reported_at), updated_at = $3"
        " FROM tickets s WHERE t.id = $1 AND s.id = $2",
        target_id,
        source_id,
        now,
    )
    await conn.execute(
        "UPDATE tickets SET state = 'cancelled', closed_at = $2, merged_into = $3, reporters = 0,"
        " stage = NULL, due_at = NULL, yellow_at = NULL, extension_requested = NULL, updated_at = $2 WHERE id = $1",
        source_id,
        now,
        target_id,
    )
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, from_state, to_state, note, data) VALUES"
        " ($1, $3, $4, 'ticket.merged_into', $5, 'cancelled', $6, jsonb_build_object('into', $2::bigint)),"
        " ($2, $3, $4, 'ticket.merged', NULL, NULL, $6, jsonb_build_object('from', $1::bigint, 'reports', $7::int))",
        source_id,
        target_id,
        now,
        principal.name,
        source["state"],
        note,
        moved,
    )
    await emit(conn, "ticket.updated", source_id, {"change": "merged", "into": target_id})
    await emit(conn, "ticket.updated", target_id, {"change": "merged", "from": source_id})
    reporters: int = await conn.fetchval("SELECT reporters FROM tickets WHERE id = $1", target_id)
    return {"ticket_id": target_id, "merged": source_id, "reports_moved": moved, "reporters": reporters}


async def report_rows(conn: Conn, ticket_id: int) -> list[dict[str, Any]]:
    """The reports a case holds (operators see the call-back number; the token never leaves the database)."""
    rows = await conn.fetch(
        "SELECT id, opened_ticket_id, channel, at, category, description, lat, lon, address, reporter, phone,"
        " attributes, media_url, event_id FROM ticket_reports WHERE ticket_id = $1 ORDER BY id",
        ticket_id,
    )
    return [dict(r) for r in rows]
