"""Outbound events: every change to a ticket writes one in its own transaction, for webhooks and the live feed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def emit(conn: Conn, event_type: str, ticket_id: int, data: dict[str, Any] | None = None) -> None:
    """An outbound event for webhook subscribers, in the caller's transaction (NOTIFY fires at its commit)."""
    await conn.execute(
        "INSERT INTO outbox_events (event_type, ticket_id, region_path, category, severity, payload)"
        " SELECT $1, t.id, t.region_path, t.category, t.severity,"
        " jsonb_build_object('ticket', jsonb_build_object('id', t.id, 'state', t.state, 'category', t.category,"
        " 'severity', t.severity, 'title', t.title, 'region_path', t.region_path, 'due_at', t.due_at,"
        " 'escalation_level', t.escalation_level, 'opened_at', t.opened_at)) || $3::jsonb"
        " FROM tickets t WHERE t.id = $2",
        event_type,
        ticket_id,
        data or {},
    )
