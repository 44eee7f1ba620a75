"""一键上报 and the resident's side: a report opens a ticket; the progress page and the satisfaction rating."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.tokens import hash_token
from wangge.gateway.cases.deadlines import start_stage_clock
from wangge.gateway.cases.duplicates import OFFICE_ROLES, lock_category, nearest_open_case
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit
from wangge.gateway.cases.evidence import attach_photos
from wangge.gateway.cases.opening import start_tickets
from wangge.gateway.cases.registry import locate
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.tickets import fetch_ticket
from wangge.gateway.metrics import INTAKE_DUPLICATES

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


CHANNELS = ("resident", "open311", "grid_worker")
Channel = Literal["resident", "open311", "grid_worker"]


@dataclass(frozen=True)
class PersonReport:
    """A report by a person or a system on their behalf, as its channel validated it."""

    channel: Channel
    category: str
    text: str
    lat: float
    lon: float
    severity: str = "minor"
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    reporter: str | None = None  # who to name in the history: a grid worker, an Open311 system; residents: none
    phone: str | None = None
    address: str | None = None
    open311_key_id: int | None = None
    attributes: dict[str, Any] | None = None
    media_url: str | None = None

    @property
    def actor(self) -> str:
        return self.reporter or self.channel


@dataclass(frozen=True)
class Submitted:
    ticket_id: int
    token: str  # the reporter's own progress link (shown once)
    duplicate: bool  # joined an open case instead of opening one
    reporters: int
    report_id: int


async def submit_report(
    conn: Conn, rules: CaseRules, report: PersonReport, now: datetime, scope: str = "/"
) -> Submitted:
    """A report opens a case (placed by polygon, routed, its clock started: 自动受理) or, when an open case of
    its category is within the duplicate distance, joins that one. Runs in the caller's transaction."""
    region = await locate(conn, report.lon, report.lat)
    if region is None:
        raise CaseError(422, "the location is outside every area this service covers", reason="outside_regions")
    if not region["path"].startswith(scope):
        raise CaseError(403, "the location is outside your region", reason="outside_scope")
    await lock_category(conn, report.category)
    found = await nearest_open_case(conn, rules, report.category, report.lat, report.lon, now)
    token = secrets.token_urlsafe(24)
    data: dict[str, Any] = {"channel": report.channel}
    if found is None:
        ticket_id = await _open_ticket(conn, report, region, now)
        kind, note = "ticket.opened", f"{report.channel} report"
    else:
        ticket_id, metres = found
        kind, note = "ticket.reported_again", f"reported again ({report.channel}, {round(metres)} m away)"
        data["metres"] = round(metres, 1)
    event_id: int = await conn.fetchval(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, to_state, note, data) VALUES ($1, $2, $3, $4,"
        " CASE WHEN $4 = 'ticket.opened' THEN 'reported' END, $5, $6) RETURNING id",
        ticket_id,
        now,
        report.actor,
        kind,
        note,
        data,
    )
    report_id: int = await conn.fetchval(
        "INSERT INTO ticket_reports (ticket_id, opened_ticket_id, channel, at, category, description, lat, lon,"
        " address, reporter, phone, token_sha256, open311_key_id, attributes, media_url, event_id)"
        " VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        ticket_id,
        report.channel,
        now,
        report.category,
        report.text.strip(),
        report.lat,
        report.lon,
        report.address,
        report.reporter,
        report.phone,
        hash_token(token),
        report.open311_key_id,
        report.attributes,
        report.media_url,
        event_id,
    )
    if report.photos:
        await attach_photos(conn, ticket_id, event_id, report.photos, report.actor)
    reporters: int = await conn.fetchval(
        "UPDATE tickets SET reporters = reporters + 1, last_reported_at = $2, updated_at = $2 WHERE id = $1"
        " RETURNING reporters",
        ticket_id,
        now,
    )
    if found is None:
        await start_tickets(conn, rules, [ticket_id], [], now)
        await emit(conn, "ticket.created", ticket_id)
    else:
        INTAKE_DUPLICATES.labels(report.channel).inc()
        await emit(conn, "ticket.updated", ticket_id, {"change": "reported again", "reporters": reporters})
    return Submitted(ticket_id, token, found is not None, reporters, report_id)


def progress_links(submitted: Submitted) -> dict[str, Any]:
    """What the reporter is told: their link, and whether the report joined a case someone reported first."""
    return {
        "progress_token": submitted.token,
        "progress_url": f"/progress.html#{submitted.token}",
        "duplicate": submitted.duplicate,
        "reporters": submitted.reporters,
    }


async def _open_ticket(conn: Conn, report: PersonReport, region: Any, now: datetime) -> int:
    title = report.text.strip().splitlines()[0][:120]
    ticket_id: int = await conn.fetchval(
        "INSERT INTO tickets (correlation_key, category, severity, title, description, source, channel, region_id,"
        " region_path, lat, lon, reported_by, opened_at, updated_at)"
        " VALUES ('report/' || gen_random_uuid(), $1, $2, $3, $4, 'report', $5, $6, $7, $8, $9, $10, $11, $11)"
        " RETURNING id",
        report.category,
        report.severity,
        title,
        report.text.strip(),
        report.channel,
        region["id"],
        region["path"],
        report.lat,
        report.lon,
        report.reporter,
        now,
    )
    return ticket_id


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
) -> Submitted:
    """一键上报 by a signed-in grid worker (or anyone in the office), inside their own area."""
    report = PersonReport("grid_worker", category, text, lat, lon, severity, photos or [], reporter=principal.name)
    return await submit_report(conn, rules, report, now, principal.scope)


async def split(
    conn: Conn, rules: CaseRules, principal: Principal, ticket_id: int, report_id: int, note: str | None, now: datetime
) -> Submitted:
    """拆分: a report merged by mistake leaves `ticket_id` as a case of its own (opened now, routed, its clock
    started), taking its photos and its reporter's link along. Runs in the caller's transaction."""
    if principal.role not in OFFICE_ROLES:
        raise CaseError(403, f"a {principal.role or 'an edge'} may not merge or split cases")
    ticket = await fetch_ticket(conn, principal, ticket_id, now, for_update=True)
    row = await conn.fetchrow(
        "SELECT * FROM ticket_reports WHERE id = $1 AND ticket_id = $2 FOR UPDATE", report_id, ticket_id
    )
    if row is None:
        raise CaseError(404, f"case #{ticket_id} holds no report {report_id}")
    if ticket["reporters"] <= 1:
        raise CaseError(409, "the case's only report cannot be split out of it")
    region = await locate(conn, row["lon"], row["lat"])
    if region is None or not region["path"].startswith(principal.scope):
        raise CaseError(409, "the report's location is in no region of your area")
    report = PersonReport(
        row["channel"], row["category"], row["description"], row["lat"], row["lon"], reporter=row["reporter"]
    )
    new_id = await _open_ticket(conn, report, region, now)
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, to_state, note, data) VALUES ($1, $2, $3,"
        " 'ticket.opened', 'reported', $4, jsonb_build_object('split_from', $5::bigint, 'report', $6::bigint))",
        new_id,
        now,
        principal.name,
        note or "split out of a case it was merged into",
        ticket_id,
        report_id,
    )
    await conn.execute(
        "UPDATE attachments SET ticket_id = $1 WHERE event_id = $2 AND ticket_id = $3",
        new_id,
        row["event_id"],
        ticket_id,
    )
    await conn.execute("UPDATE ticket_reports SET ticket_id = $1, split_at = $2 WHERE id = $3", new_id, now, report_id)
    await conn.execute(
        "UPDATE tickets SET reporters = 1, last_reported_at = $2, updated_at = $2 WHERE id = $1", new_id, row["at"]
    )
    await conn.execute("UPDATE tickets SET reporters = reporters - 1, updated_at = $2 WHERE id = $1", ticket_id, now)
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, note, data) VALUES ($1, $2, $3, 'ticket.split', $4,"
        " jsonb_build_object('report', $5::bigint, 'to', $6::bigint))",
        ticket_id,
        now,
        principal.name,
        note,
        report_id,
        new_id,
    )
    await start_tickets(conn, rules, [new_id], [], now)
    await emit(conn, "ticket.created", new_id)
    await emit(conn, "ticket.updated", ticket_id, {"change": "split", "to": new_id})
    return Submitted(new_id, "", False, 1, report_id)


PUBLIC_EVENT_KINDS = (
    "ticket.opened",
    "ticket.reported_again",
    "ticket.reopened",
    "ticket.escalated",
    "resident.rating",
)


# Whether the resident has rated the latest closure: a rating event after the last move to 'closed' (by event
# order, not time, so a closure and a rating in the same instant are still told apart).
_RATED_SINCE_CLOSURE = (
    "EXISTS (SELECT 1 FROM ticket_events r WHERE r.ticket_id = t.id AND r.kind = 'resident.rating'"
    " AND r.id > (SELECT max(c.id) FROM ticket_events c WHERE c.ticket_id = t.id AND c.to_state = 'closed'))"
)


async def progress(conn: Conn, rules: CaseRules, token: str, now: datetime) -> dict[str, Any]:
    """What a resident sees: status history, no internal notes, no names; whether this closure can be rated."""
    ticket = await conn.fetchrow(
        "SELECT t.id, t.state, t.category, t.title, t.opened_at, t.closed_at, t.rating, t.rating_comment,"
        f" t.reporters, {_RATED_SINCE_CLOSURE} AS rated FROM ticket_reports p JOIN tickets t ON t.id = p.ticket_id"
        " WHERE p.token_sha256 = $1",
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
        f"SELECT t.id, t.state, t.category, t.closed_at, {_RATED_SINCE_CLOSURE} AS rated"
        " FROM ticket_reports p JOIN tickets t ON t.id = p.ticket_id WHERE p.token_sha256 = $1 FOR UPDATE OF t",
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
