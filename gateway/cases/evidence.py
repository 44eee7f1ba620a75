"""Photos, snapshots and event clips attached to tickets: the object in the object store, its checksum and
metadata here; every view of one audited.

Snapshots and clips come from edges, which keep them in their spool until the gateway has them, so while the
object store is down they are refused with 503 and come again. People's photos cannot be sent again, so they are
written to PostgreSQL first and moved to the store behind the request (`media.objects.offload`)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway import metrics
from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.images import image_type
from wangge.gateway.cases.tickets import fetch_ticket, scope_clause
from wangge.gateway.media.objects import Media
from wangge.gateway.media.store import MediaUnavailable

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


async def _edge_alert(conn: Conn, edge_id: str, alert_id: uuid.UUID) -> int:
    """The ticket of one of the edge's alerts, before anything is uploaded for it."""
    alert = await conn.fetchrow("SELECT ticket_id, edge_id FROM alerts WHERE alert_id = $1", alert_id)
    if alert is None or alert["edge_id"] != edge_id:
        raise CaseError(404, f"no alert {alert_id} from edge {edge_id}: send the alert first")
    if alert["ticket_id"] is None:
        raise CaseError(409, f"alert {alert_id} has no ticket to attach evidence to")
    return int(alert["ticket_id"])


async def _upload(media: Media, kind: str, data: bytes, content_type: str) -> str:
    try:
        return await media.upload(kind, data, content_type)
    except MediaUnavailable as exc:
        metrics.MEDIA_REFUSED.labels(kind, "store_down").inc()
        raise CaseError(503, f"the {kind} cannot be stored now ({exc}); send it again", retry_after=10) from None


async def store_snapshot(
    conn: Conn, media: Media, edge_id: str, alert_id: uuid.UUID, content_type: str, data: bytes
) -> tuple[int, bool]:
    """The best snapshot of one of the edge's alerts; a resend replaces it. Returns (ticket id, created)."""
    content_type = await _checked(data, "the snapshot", "snapshot")
    ticket_id = await _edge_alert(conn, edge_id, alert_id)
    key = await _upload(media, "snapshot", data, content_type)
    async with conn.transaction():
        old = await conn.fetchval(
            "SELECT object_key FROM attachments WHERE alert_id = $1 AND kind = 'snapshot' FOR UPDATE", alert_id
        )
        created: bool = await conn.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, object_key, uploaded_by, kind, alert_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'snapshot', $7)"
            " ON CONFLICT (alert_id) WHERE kind = 'snapshot' DO UPDATE SET content_type = EXCLUDED.content_type,"
            " sha256 = EXCLUDED.sha256, size = EXCLUDED.size, object_key = EXCLUDED.object_key, data = NULL,"
            " created_at = now() RETURNING (xmax = 0)",
            ticket_id,
            content_type,
            hashlib.sha256(data).digest(),
            len(data),
            key,
            f"edge:{edge_id}",
            alert_id,
        )
        await media.adopted(conn, key)
        await media.discard(conn, old)
        await emit(conn, "ticket.updated", ticket_id, {"change": "snapshot", "alert_id": str(alert_id)})
    return ticket_id, created


@dataclass(frozen=True)
class Clip:
    """One part of an alert's event clip from one camera, as the edge cut it."""

    alert_id: uuid.UUID
    camera: str
    part: int
    covers_from: datetime
    covers_to: datetime
    duration_s: float
    data: bytes


_CLIP_ID = "SELECT id FROM attachments WHERE alert_id = $1 AND device_id = $2 AND part = $3 AND kind = 'clip'"


async def store_clip(conn: Conn, media: Media, edge_id: str, clip: Clip) -> tuple[int, int, bool]:
    """Idempotent by (alert, camera, part): a part sent again is acknowledged, not stored twice.
    Returns (ticket id, attachment id, created)."""
    ticket_id = await _edge_alert(conn, edge_id, clip.alert_id)
    existing = await conn.fetchval(_CLIP_ID, clip.alert_id, clip.camera, clip.part)
    if existing is not None:
        return ticket_id, int(existing), False
    key = await _upload(media, "clip", clip.data, "video/mp4")
    async with conn.transaction():
        attachment_id = await conn.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, object_key, uploaded_by, kind,"
            " alert_id, device_id, part, covers_from, covers_to, duration_s)"
            " VALUES ($1, 'video/mp4', $2, $3, $4, $5, 'clip', $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (alert_id, device_id, part) WHERE kind = 'clip' DO NOTHING RETURNING id",
            ticket_id,
            hashlib.sha256(clip.data).digest(),
            len(clip.data),
            key,
            f"edge:{edge_id}",
            clip.alert_id,
            clip.camera,
            clip.part,
            clip.covers_from,
            clip.covers_to,
            clip.duration_s,
        )
        if attachment_id is None:  # a twin upload won the race: this object keeps its intent and is swept
            twin = await conn.fetchval(_CLIP_ID, clip.alert_id, clip.camera, clip.part)
            return ticket_id, int(twin), False
        await media.adopted(conn, key)
        await emit(
            conn,
            "ticket.updated",
            ticket_id,
            {"change": "clip", "alert_id": str(clip.alert_id), "camera": clip.camera, "part": clip.part},
        )
    return ticket_id, int(attachment_id), True


async def attachment_in_scope(conn: Conn, principal: Principal, attachment_id: int, now: datetime) -> Any:
    """The attachment's row (ticket_id, content_type, size, object_key, data) if its ticket is in the caller's
    area; 404 otherwise."""
    row = await conn.fetchrow(
        "SELECT ticket_id, content_type, size, object_key, data FROM attachments WHERE id = $1", attachment_id
    )
    if row is None:
        raise CaseError(404, f"no attachment {attachment_id}")
    try:
        await fetch_ticket(conn, principal, row["ticket_id"], now)
    except CaseError:
        raise CaseError(404, f"no attachment {attachment_id}") from None
    return row


async def latest_device_snapshot(conn: Conn, principal: Principal, device_id: str) -> Any:
    """The newest snapshot a camera sent with an alert in the caller's area (as `attachment_in_scope`)."""
    clause, scope = scope_clause(principal, 2)
    row = await conn.fetchrow(
        "SELECT a.id, a.ticket_id, a.content_type, a.size, a.object_key, a.data FROM attachments a"
        " JOIN tickets t ON t.id = a.ticket_id"
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
