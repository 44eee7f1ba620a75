"""Photos and snapshots attached to tickets: stored with their checksum, and every view of one audited."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.images import image_type
from wangge.gateway.cases.tickets import fetch_ticket, scope_clause

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


async def attach_photos(
    conn: Conn, ticket_id: int, event_id: int, photos: list[tuple[str, bytes]], who: str
) -> list[int]:
    """Each photo is decoded whole first (off the event loop) and stored as the type it really is."""
    found = []
    for n, (_declared, data) in enumerate(photos, 1):
        found.append(await _checked(data, f"photo {n}", "photo"))
    ids = []
    for content_type, (_declared, data) in zip(found, photos, strict=True):
        ids.append(
            await conn.fetchval(
                "INSERT INTO attachments (ticket_id, event_id, content_type, sha256, size, data, uploaded_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                ticket_id,
                event_id,
                content_type,
                hashlib.sha256(data).digest(),
                len(data),
                data,
                who,
            )
        )
    return ids


async def _checked(data: bytes, what: str, reason: str) -> str:
    try:
        return await asyncio.to_thread(image_type, data)
    except ValueError as exc:
        raise CaseError(422, f"{what} {exc}", reason=reason) from None


async def store_snapshot(
    conn: Conn, edge_id: str, alert_id: uuid.UUID, content_type: str, data: bytes
) -> tuple[int, bool]:
    """The best snapshot of one of the edge's alerts; a resend replaces it. Returns (ticket id, created)."""
    content_type = await _checked(data, "the snapshot", "snapshot")
    async with conn.transaction():
        alert = await conn.fetchrow("SELECT ticket_id, edge_id FROM alerts WHERE alert_id = $1", alert_id)
        if alert is None or alert["edge_id"] != edge_id:
            raise CaseError(404, f"no alert {alert_id} from edge {edge_id}: send the alert first")
        if alert["ticket_id"] is None:
            raise CaseError(409, f"alert {alert_id} has no ticket to attach evidence to")
        created: bool = await conn.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by, kind, alert_id)"
            " VALUES ($1, $2, sha256($3), length($3), $3, $4, 'snapshot', $5)"
            " ON CONFLICT (alert_id) WHERE kind = 'snapshot' DO UPDATE SET content_type = EXCLUDED.content_type,"
            " sha256 = EXCLUDED.sha256, size = EXCLUDED.size, data = EXCLUDED.data, created_at = now()"
            " RETURNING (xmax = 0)",
            alert["ticket_id"],
            content_type,
            data,
            f"edge:{edge_id}",
            alert_id,
        )
        await emit(conn, "ticket.updated", alert["ticket_id"], {"change": "snapshot", "alert_id": str(alert_id)})
    return int(alert["ticket_id"]), created


async def attachment_in_scope(conn: Conn, principal: Principal, attachment_id: int, now: datetime) -> Any:
    """The attachment (ticket_id, content_type, data) if its ticket is in the caller's area; 404 otherwise."""
    row = await conn.fetchrow("SELECT ticket_id, content_type, data FROM attachments WHERE id = $1", attachment_id)
    if row is None:
        raise CaseError(404, f"no attachment {attachment_id}")
    try:
        await fetch_ticket(conn, principal, row["ticket_id"], now)
    except CaseError:
        raise CaseError(404, f"no attachment {attachment_id}") from None
    return row


async def latest_device_snapshot(conn: Conn, principal: Principal, device_id: str) -> Any:
    """The newest snapshot a camera sent with an alert in the caller's area (id, ticket_id, content_type, data)."""
    clause, scope = scope_clause(principal, 2)
    row = await conn.fetchrow(
        "SELECT a.id, a.ticket_id, a.content_type, a.data FROM attachments a JOIN tickets t ON t.id = a.ticket_id"
        f" WHERE a.kind = 'snapshot' AND {clause} AND a.alert_id IN"
        " (SELECT alert_id FROM alerts WHERE device_id = $1) ORDER BY a.created_at DESC, a.id DESC LIMIT 1",
        device_id,
        scope,
    )
    if row is None:
        raise CaseError(404, f"no snapshot from {device_id!r} in your area")
    return row


async def record_view(
    conn: Conn, principal: Principal, attachment_id: int, ticket_id: int, remote: str | None, **context: Any
) -> None:
    """Evidence goes out only after its view is in the audit log."""
    await audit(
        conn,
        principal.name,
        "attachment.view",
        f"attachment:{attachment_id}",
        remote,
        {"ticket_id": ticket_id, **context},
    )
