"""延期: the field asks for more time on the running deadline, a supervisor grants or refuses it. A request is
pending on the ticket until decided or until the ticket leaves the stage (a new stage has a fresh clock); a
granted one moves the deadline on by what was asked, on the clock the category's SLA policy runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.sla import Deadline, StageLimit, extended

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

MAX_EXTENSION_MINUTES = 30 * 1440  # one request asks for at most 30 days (counted as wall-clock days)


async def request_extension(conn: Conn, ticket: Any, extension: str | None) -> dict[str, Any]:
    if extension is None:
        raise CaseError(422, "request_extension needs extension: how much more time, e.g. 4h or 2d")
    if ticket["due_at"] is None:
        raise CaseError(409, "this ticket's stage has no deadline to extend", state=ticket["state"])
    await conn.execute("UPDATE tickets SET extension_requested = $2 WHERE id = $1", ticket["id"], extension)
    return {"extension": extension, "due_at": ticket["due_at"].isoformat()}


async def approve_extension(conn: Conn, rules: CaseRules, ticket: Any, now: datetime) -> dict[str, Any]:
    asked = ticket["extension_requested"]
    if ticket["due_at"] is None:  # the stage's clock was stopped since the request (no limit to move)
        raise CaseError(409, "this ticket's stage has no deadline to extend any more", state=ticket["state"])
    before = Deadline(ticket["due_at"], ticket["yellow_at"] or ticket["due_at"])
    policy = rules.policy_for(ticket["category"], ticket["source"])
    after = extended(policy, before, StageLimit.parse(asked), rules.calendar)
    await conn.execute(
        "UPDATE tickets SET due_at = $2::timestamptz, yellow_at = $3, overdue_notified = overdue_notified"
        " AND $2::timestamptz <= $4,"
        " extension_requested = NULL, extension_count = extension_count + 1 WHERE id = $1",
        ticket["id"],
        after.due_at,
        after.yellow_at,
        now,
    )
    return {"extension": asked, "due_at_before": before.due_at.isoformat(), "due_at": after.due_at.isoformat()}


async def reject_extension(conn: Conn, ticket: Any) -> dict[str, Any]:
    await conn.execute("UPDATE tickets SET extension_requested = NULL WHERE id = $1", ticket["id"])
    return {"extension": ticket["extension_requested"]}


async def decide(
    conn: Conn, rules: CaseRules, ticket: Any, name: str, extension: str | None, now: datetime
) -> dict[str, Any]:
    """The extension action `name` on a ticket locked by the caller; what it adds to the audit event."""
    if name == "request_extension":
        return await request_extension(conn, ticket, extension)
    if name == "approve_extension":
        return await approve_extension(conn, rules, ticket, now)
    return await reject_extension(conn, ticket)
