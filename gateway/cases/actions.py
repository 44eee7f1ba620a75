"""Workflow actions on a ticket: the transition table's check, the side effects of each action, the audit event."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases import extensions, workflow
from wangge.gateway.cases.deadlines import start_stage_clock
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.escalation import escalate
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.evidence import attach_photos
from wangge.gateway.cases.root_causes import SUPERVISORS
from wangge.gateway.cases.root_causes import close_linked as close_linked_cases
from wangge.gateway.cases.rules import ROOT_CAUSE, CaseRules
from wangge.gateway.cases.tickets import fetch_ticket
from wangge.gateway.metrics import INTAKE_REGISTER

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


def allowed_for(ticket: Any, principal: Principal) -> list[str]:
    """The actions the principal may take on this ticket now (edges take none)."""
    if principal.role is None:
        return []
    return workflow.allowed_actions(ticket["state"], principal.role, ticket["extension_requested"] is not None)


async def apply_action(
    conn: Conn,
    rules: CaseRules,
    principal: Principal,
    ticket_id: int,
    now: datetime,
    *,
    name: str,
    note: str | None = None,
    department: str | None = None,
    photos: list[tuple[str, bytes]] | None = None,
    extension: str | None = None,
    close_linked: bool = False,
) -> int:
    """Run one workflow action in the caller's transaction; returns the audit event id."""
    if principal.role is None:
        raise CaseError(403, "edges cannot act on tickets")
    ticket = await fetch_ticket(conn, principal, ticket_id, now, for_update=True)
    try:
        action = workflow.check(name, ticket["state"], principal.role, note, ticket["extension_requested"] is not None)
    except workflow.TransitionError as exc:
        raise CaseError(exc.status, str(exc), allowed_actions=exc.allowed, state=ticket["state"]) from None
    if close_linked and (name != "close" or ticket["source"] != ROOT_CAUSE):
        raise CaseError(422, "close_linked closes a root-cause case's linked cases with it: only with close")
    if close_linked and principal.role not in SUPERVISORS:
        raise CaseError(403, "only a supervisor may close the linked cases with their root-cause case")
    data: dict[str, Any] = {}
    state = ticket["state"]
    target = action.target or state
    overdue_now = ticket["due_at"] is not None and now >= ticket["due_at"]
    if overdue_now:  # the deadline itself is the moment the indicators count as late (0013_ticket_facts.sql)
        data.update(late_since=ticket["due_at"].isoformat(), late_stage=ticket["stage"])
    if name == "dispatch":
        if department is not None:
            if not department.strip():
                raise CaseError(422, "department must be a non-empty string")
            overrides = ticket["department"] is not None and department != ticket["department"]
            if overrides and principal.role not in ("supervisor", "admin"):
                raise CaseError(403, "only a supervisor may override the routed department")
            if department != ticket["department"] and ticket["department"] and not (note and note.strip()):
                raise CaseError(422, "overriding the routed department needs a note saying why")
            data["department"] = department
            await conn.execute("UPDATE tickets SET department = $2 WHERE id = $1", ticket_id, department)
        elif ticket["department"] is None:
            raise CaseError(422, "no route matched this ticket: give a department")
    if name == "register":
        INTAKE_REGISTER.labels(ticket["channel"] or "unknown").observe((now - ticket["opened_at"]).total_seconds())
    if name == "false_alarm":
        await conn.execute("UPDATE tickets SET false_alarm_reason = $2 WHERE id = $1", ticket_id, note)
    if name == "supervise":
        await conn.execute("UPDATE tickets SET supervised = true WHERE id = $1", ticket_id)
    if name == "escalate":
        data.update(await escalate(conn, rules, ticket, now, actor=principal.name, note=note))
    if name in workflow.EXTENSION_ACTIONS:
        data.update(await extensions.decide(conn, rules, ticket, name, extension, now))
    if action.target is not None:
        closing = target in workflow.CLOSED_STATES
        try:
            await conn.execute(
                "UPDATE tickets SET state = $2, closed_at = CASE WHEN $3 THEN $4::timestamptz ELSE NULL END,"
                " was_overdue = was_overdue OR $5, reopen_count = reopen_count + CASE WHEN $2 = 'reopened' THEN 1"
                " ELSE 0 END, extension_requested = NULL, updated_at = $4 WHERE id = $1",
                ticket_id,
                target,
                closing,
                now,
                overdue_now,
            )
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "23505":
                raise CaseError(
                    409,
                    "another open ticket already exists for this source; work on that one",
                    allowed_actions=[],
                    state=state,
                ) from None
            raise
        await start_stage_clock(conn, rules, ticket_id, target, ticket["category"], now, ticket["source"])
    else:
        await conn.execute("UPDATE tickets SET updated_at = $2 WHERE id = $1", ticket_id, now)
    event_id: int = await conn.fetchval(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, from_state, to_state, note, data)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        ticket_id,
        now,
        principal.name,
        f"action.{name}",
        state if action.target else None,
        action.target,
        note,
        data,
    )
    if photos:
        ids = await attach_photos(conn, ticket_id, event_id, photos, principal.name)
        await conn.execute("UPDATE ticket_events SET data = data || $2 WHERE id = $1", event_id, {"attachments": ids})
    if close_linked:
        linked = await close_linked_cases(conn, ticket_id, now, principal.name, note)
        await conn.execute(
            "UPDATE ticket_events SET data = data || $2 WHERE id = $1", event_id, {"closed_linked": linked}
        )
    if target == "closed":
        await emit(conn, "ticket.closed", ticket_id)
    elif name != "escalate":
        await emit(conn, "ticket.updated", ticket_id, {"action": name, "actor": principal.name})
    return event_id
