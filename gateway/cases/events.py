"""Outbound events: every change to a ticket writes one in its own transaction, for webhooks and the live feed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

Event = tuple[str, int, dict[str, Any]]  # event type, ticket id, what the event adds to the ticket's fields

_EMIT = (
    "INSERT INTO outbox_events (event_type, ticket_id, region_path, category, severity, payload)"
    " SELECT u.event_type, t.id, t.region_path, t.category, t.severity, wangge_ticket_summary(t) || u.data"
    " FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) WITH ORDINALITY AS u(event_type, ticket_id, data, n)"
    " JOIN tickets t ON t.id = u.ticket_id ORDER BY u.n"
)


async def emit(conn: Conn, event_type: str, ticket_id: int, data: dict[str, Any] | None = None) -> None:
    """An outbound event for webhook subscribers, in the caller's transaction (NOTIFY fires at its commit)."""
    await emit_many(conn, [(event_type, ticket_id, data or {})])


async def emit_many(conn: Conn, events: Sequence[Event]) -> None:
    """Outbound events in this order, by one statement however many (one NOTIFY for the statement)."""
    if events:
        await conn.execute(_EMIT, [e[0] for e in events], [e[1] for e in events], [e[2] for e in events])
