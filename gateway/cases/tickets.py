"""Reading tickets: the columns and SLA light every view shows, the caller's region scope, one ticket with its
alerts, history and attachments.

`now` is always passed in, so SLA behaviour is testable with a frozen clock."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases import root_causes
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.rules import ROOT_CAUSE
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


LIGHT_SQL = (
    "CASE WHEN t.due_at IS NULL THEN 'none' WHEN $now >= t.due_at THEN 'red'"
    " WHEN $now >= t.yellow_at THEN 'yellow' ELSE 'green' END"
)


LIGHT_RANK_SQL = (
    "CASE WHEN t.due_at IS NULL THEN 3 WHEN $now >= t.due_at THEN 0 WHEN $now >= t.yellow_at THEN 1 ELSE 2 END"
)


TICKET_COLUMNS = (
    "t.id, t.correlation_key, t.state, t.category, t.severity, t.title, t.description, t.source, t.edge_id,"
    " t.device_id, t.rule_id, t.opened_at, t.updated_at, t.closed_at, t.alert_count, t.active_alerts,"
    " t.first_alert_at, t.last_alert_at, t.region_path, t.lat, t.lon, t.department, t.matter, t.stage,"
    " t.stage_started_at, t.due_at, t.yellow_at, t.escalation_level, t.supervised, t.was_overdue,"
    " t.false_alarm_reason, t.recurring_of, t.reported_by, t.rating, t.rating_comment, t.reopen_count,"
    " t.extension_requested, t.extension_count, t.root_cause_id, t.channel, t.reporters, t.merged_into,"
    " r.code AS region_code, r.name AS region_name, h.code AS handling_region_code, h.name AS handling_region_name"
)


TICKET_FROM = "tickets t LEFT JOIN regions r ON r.id = t.region_id LEFT JOIN regions h ON h.id = t.handling_region_id"


def with_now(sql: str, index: int) -> str:
    return sql.replace("$now", f"${index}")


def scope_clause(principal: Principal, index: int) -> tuple[str, str]:
    """SQL limiting tickets to the principal's region subtree, and its parameter."""
    return f"t.region_path LIKE ${index}", subtree(principal.scope)


async def fetch_ticket(
    conn: Conn, principal: Principal, ticket_id: int, now: datetime, for_update: bool = False
) -> Any:
    """The ticket if the principal may see it; 404 otherwise (another region's ticket does not exist for you)."""
    clause, scope = scope_clause(principal, 2)
    row = await conn.fetchrow(
        f"SELECT {TICKET_COLUMNS}, {with_now(LIGHT_SQL, 3)} AS light FROM {TICKET_FROM}"
        f" WHERE t.id = $1 AND {clause}" + (" FOR UPDATE OF t" if for_update else ""),
        ticket_id,
        scope,
        now,
    )
    if row is None:
        raise CaseError(404, f"no ticket {ticket_id}")
    return row


async def ticket_detail(conn: Conn, principal: Principal, ticket_id: int, now: datetime) -> dict[str, Any]:
    """The ticket with its alerts, its whole history and its attachments (metadata, not the bytes)."""
    row = await fetch_ticket(conn, principal, ticket_id, now)
    alerts = await conn.fetch(
        "SELECT alert_id, edge_id, device_id, rule_id, category, severity, title, started_at, ended_at,"
        " last_seq, emitted_at, received_at, payload FROM alerts WHERE ticket_id = $1"
        " ORDER BY started_at, alert_id",
        ticket_id,
    )
    events = await conn.fetch(
        "SELECT id, at, actor, kind, from_state, to_state, note, data FROM ticket_events"
        " WHERE ticket_id = $1 ORDER BY id",
        ticket_id,
    )
    attachments = await conn.fetch(
        "SELECT id, event_id, kind, alert_id, content_type, size, uploaded_by, created_at, device_id, part,"
        " covers_from, covers_to, duration_s FROM attachments WHERE ticket_id = $1"
        " ORDER BY kind = 'clip', covers_from, part, id",
        ticket_id,
    )
    body = dict(row)
    body["alerts"] = [dict(a) for a in alerts]
    body["events"] = [dict(e) for e in events]
    body["attachments"] = [dict(a) for a in attachments]
    if body["source"] == ROOT_CAUSE:
        body.update(await root_causes.describe(conn, ticket_id))
    return body
