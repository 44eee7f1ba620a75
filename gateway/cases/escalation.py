"""逐级上报: overdue tickets marked and handed up the region tree, by hand or by the SLA job."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.deadlines import start_stage_clock
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.rules import CaseRules

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def parent_region(conn: Conn, region_id: int | None) -> Any:
    if region_id is None:
        return None
    return await conn.fetchrow(
        "SELECT p.id, p.code, p.level FROM regions r JOIN regions p ON p.id = r.parent_id WHERE r.id = $1", region_id
    )


async def escalate(
    conn: Conn, rules: CaseRules, ticket: Any, now: datetime, actor: str, note: str | None
) -> dict[str, Any]:
    """逐级上报: hand the ticket to the parent of its handling region, with a fresh stage clock."""
    handling = await conn.fetchval("SELECT handling_region_id FROM tickets WHERE id = $1", ticket["id"])
    parent = await parent_region(conn, handling)
    if parent is None:
        raise CaseError(
            409,
            "this ticket is already with the highest level (or has no region)",
            allowed_actions=[],
            state=ticket["state"],
        )
    await conn.execute(
        "UPDATE tickets SET handling_region_id = $2, escalation_level = escalation_level + 1,"
        " was_overdue = was_overdue OR (due_at IS NOT NULL AND due_at <= $3), updated_at = $3 WHERE id = $1",
        ticket["id"],
        parent["id"],
        now,
    )
    await start_stage_clock(conn, rules, ticket["id"], ticket["state"], ticket["category"], now, ticket["source"])
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, note, data) VALUES ($1, $2, $3, 'ticket.escalated',"
        " $4, $5)",
        ticket["id"],
        now,
        actor,
        note,
        {"to_region": parent["code"], "to_level": parent["level"]},
    )
    await emit(conn, "ticket.escalated", ticket["id"], {"to_region": parent["code"], "to_level": parent["level"]})
    return {"to_region": parent["code"]}


async def run_escalations(conn: Conn, rules: CaseRules, now: datetime, limit: int = 200) -> int:
    """One pass of the SLA job: mark overdue, and escalate red tickets one level. Replicas share the work
    through SKIP LOCKED; returns how many tickets it touched."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT id, state, category, source, stage, due_at, overdue_notified, escalation_level FROM tickets"
            " WHERE closed_at IS NULL AND due_at <= $1 AND (NOT overdue_notified OR (escalation_level < 2"
            " AND EXISTS (SELECT 1 FROM regions h WHERE h.id = tickets.handling_region_id"
            " AND h.parent_id IS NOT NULL)))"
            " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        touched = 0
        for row in rows:
            if not row["overdue_notified"]:
                await conn.execute(
                    "UPDATE tickets SET overdue_notified = true, was_overdue = true WHERE id = $1", row["id"]
                )
                await conn.execute(
                    "INSERT INTO ticket_events (ticket_id, at, actor, kind, data)"
                    " VALUES ($1, $2, 'system', 'ticket.overdue', $3)",
                    row["id"],
                    now,
                    {"late_since": row["due_at"].isoformat(), "late_stage": row["stage"]},
                )
                await emit(conn, "ticket.overdue", row["id"])
            handling = await conn.fetchval("SELECT handling_region_id FROM tickets WHERE id = $1", row["id"])
            if row["escalation_level"] < 2 and await parent_region(conn, handling) is not None:
                await escalate(conn, rules, row, now, actor="system", note="overdue")
            touched += 1
        return touched
