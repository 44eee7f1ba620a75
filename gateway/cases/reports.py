"""一键上报 and the resident's side: a report opens a ticket; the progress page and the satisfaction rating."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.tokens import hash_token
from wangge.gateway.cases.deadlines import start_stage_clock
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.evidence import attach_photos
from wangge.gateway.cases.opening import start_tickets
from wangge.gateway.cases.registry import locate
from wangge.gateway.cases.rules import CaseRules

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def create_report(
    conn: Conn,
    rules: CaseRules,
    principal: Principal,
    now: datetime,
    *,
    category: str,
    text: str,
    lat: float,
    lon: float,
    severity: str = "minor",
    photos: list[tuple[str, bytes]] | None = None,
) -> tuple[int, str]:
    """一键上报: a ticket from a grid worker's report. Returns (ticket id, the resident's progress token)."""
    region = await locate(conn, lon, lat)
    if region is None:
        raise CaseError(422, "the location is in no region this gateway knows")
    if not region["path"].startswith(principal.scope):
        raise CaseError(403, "the location is outside your region")
    token = secrets.token_urlsafe(24)
    title = text.strip().splitlines()[0][:120]
    ticket_id: int = await conn.fetchval(
        "INSERT INTO tickets (correlation_key, category, severity, title, description, source, region_id, region_path,"
        " lat, lon, reported_by, resident_token_sha256, opened_at, updated_at)"
        " VALUES ('report/' || gen_random_uuid(), $1, $2, $3, $4, 'report', $5, $6, $7, $8, $9, $10, $11, $11)"
        " RETURNING id",
        category,
        severity,
        title,
        text.strip(),
        region["id"],
        region["path"],
        lat,
        lon,
        principal.name,
        hash_token(token),
        now,
    )
    event_id: int = await conn.fetchval(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, to_state, note) VALUES ($1, $2, $3, 'ticket.opened',"
        " 'reported', $4) RETURNING id",
        ticket_id,
        now,
        principal.name,
        "one-tap report",
    )
    if photos:
        await attach_photos(conn, ticket_id, event_id, photos, principal.name)
    await start_tickets(conn, rules, [ticket_id], [], now)
    await emit(conn, "ticket.created", ticket_id)
    return ticket_id, token


PUBLIC_EVENT_KINDS = ("ticket.opened", "ticket.reopened", "ticket.escalated", "resident.rating")


# Whether the resident has rated the latest closure: a rating event after the last move to 'closed' (by event
# order, not time, so a closure and a rating in the same instant are still told apart).
_RATED_SINCE_CLOSURE = (
    "EXISTS (SELECT 1 FROM ticket_events r WHERE r.ticket_id = t.id AND r.kind = 'resident.rating'"
    " AND r.id > (SELECT max(c.id) FROM ticket_events c WHERE c.ticket_id = t.id AND c.to_state = 'closed'))"
)


async def progress(conn: Conn, rules: CaseRules, token: str, now: datetime) -> dict[str, Any]:
    """What a resident sees: status history, no internal notes, no names; whether this closure can be rated."""
    ticket = await conn.fetchrow(
        "SELECT id, state, category, title, opened_at, closed_at, rating, rating_comment,"
        f" {_RATED_SINCE_CLOSURE} AS rated FROM tickets t WHERE resident_token_sha256 = $1",
        hash_token(token),
    )
    if ticket is None:
        raise CaseError(404, "this progress link is not known")
    events = await conn.fetch(
        "SELECT at, kind, to_state FROM ticket_events WHERE ticket_id = $1 AND (to_state IS NOT NULL"
        " OR kind = ANY($2::text[])) ORDER BY id",
        ticket["id"],
        list(PUBLIC_EVENT_KINDS),
    )
    closed = ticket["state"] == "closed"
    can_rate = closed and not ticket["rated"] and now - ticket["closed_at"] <= rules.rating_window
    public = {k: v for k, v in dict(ticket).items() if k != "rated"}
    names = {
        "zh": rules.categories.name(ticket["category"], "zh"),
        "en": rules.categories.name(ticket["category"], "en"),
    }
    return {**public, "category_name": names, "history": [dict(e) for e in events], "can_rate": can_rate}


async def rate(conn: Conn, rules: CaseRules, token: str, rating: str, comment: str, now: datetime) -> dict[str, Any]:
    """满意度评价, once per closure and within `rules.rating_window` of it; 'not_satisfied' reopens the ticket
    for review (its next closure can be rated again)."""
    ticket = await conn.fetchrow(
        f"SELECT id, state, category, closed_at, {_RATED_SINCE_CLOSURE} AS rated FROM tickets t"
        " WHERE resident_token_sha256 = $1 FOR UPDATE",
        hash_token(token),
    )
    if ticket is None:
        raise CaseError(404, "this progress link is not known")
    if ticket["state"] != "closed":
        raise CaseError(409, "the case can be rated once it is closed", state=ticket["state"])
    if ticket["rated"]:
        raise CaseError(409, "this closure has been rated already", state="closed")
    if now - ticket["closed_at"] > rules.rating_window:
        raise CaseError(409, "the time to rate this closure has passed", state="closed")
    await conn.execute(
        "UPDATE tickets SET rating = $2, rating_comment = $3, rated_at = $4 WHERE id = $1",
        ticket["id"],
        rating,
        comment,
        now,
    )
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, note, data) VALUES ($1, $2, 'resident',"
        " 'resident.rating', $3, $4)",
        ticket["id"],
        now,
        comment,
        {"rating": rating},
    )
    if rating == "not_satisfied":
        try:
            await conn.execute(
                "UPDATE tickets SET state = 'reopened', closed_at = NULL, reopen_count = reopen_count + 1,"
                " updated_at = $2 WHERE id = $1",
                ticket["id"],
                now,
            )
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "23505":
                raise CaseError(409, "another open ticket exists for this source") from None
            raise
        await conn.execute(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, from_state, to_state, note) VALUES ($1, $2,"
            " 'resident', 'ticket.reopened', 'closed', 'reopened', 'resident not satisfied')",
            ticket["id"],
            now,
        )
        await start_stage_clock(conn, rules, ticket["id"], "reopened", ticket["category"], now)
        await emit(conn, "ticket.updated", ticket["id"], {"change": "reopened by resident"})
    return {"rating": rating, "state": "reopened" if rating == "not_satisfied" else "closed"}
