"""Case operations on PostgreSQL: deadlines, routing and recurrence for new tickets, workflow actions,
one-tap reports, the resident's progress page, escalation of overdue tickets, and the queue queries.

Every change writes its audit event (ticket_events) and its outbound event (outbox_events) in the
same transaction. `now` is always passed in, so SLA behaviour is testable with a frozen clock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.auth import Principal, hash_token
from wangge.gateway.cases import workflow
from wangge.gateway.cases.calendar import WorkCalendar
from wangge.gateway.cases.sla import SlaPolicy, deadline, pick_policy
from wangge.gateway.config import CasesConfig, RouteConfig

if TYPE_CHECKING:
    from wangge.gateway.db import Conn

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
    " r.code AS region_code, r.name AS region_name, h.code AS handling_region_code, h.name AS handling_region_name"
)
TICKET_FROM = "tickets t LEFT JOIN regions r ON r.id = t.region_id LEFT JOIN regions h ON h.id = t.handling_region_id"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}


class CaseError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


@dataclass(frozen=True)
class CaseRules:
    calendar: WorkCalendar
    policies: list[SlaPolicy]
    routes: list[RouteConfig]
    yellow_share: float
    reopen_window: timedelta
    recurring_count: int
    recurring_days: int
    token_hours: float

    @classmethod
    def from_config(cls, config: CasesConfig) -> CaseRules:
        return cls(
            calendar=config.calendar(),
            policies=[s.policy() for s in config.sla],
            routes=list(config.routes),
            yellow_share=config.yellow_share,
            reopen_window=timedelta(hours=config.reopen_window_h),
            recurring_count=config.recurring_count,
            recurring_days=config.recurring_days,
            token_hours=config.token_hours,
        )


def with_now(sql: str, index: int) -> str:
    return sql.replace("$now", f"${index}")


def route(rules: CaseRules, category: str, region_path: str) -> RouteConfig | None:
    """The most specific route for a ticket: longest category prefix first, then the deepest region."""
    best: tuple[int, int] | None = None
    chosen: RouteConfig | None = None
    for r in rules.routes:
        if r.category and not (category == r.category or category.startswith(r.category + ".")):
            continue
        depth = 0
        if r.region:
            marker = f"/{r.region}/"
            if marker not in region_path:
                continue
            depth = region_path[: region_path.index(marker)].count("/") + 1
        if best is None or (len(r.category), depth) > best:
            best, chosen = (len(r.category), depth), r
    return chosen


async def _stage_clock(conn: Conn, rules: CaseRules, ticket_id: int, state: str, category: str, now: datetime) -> None:
    """Start the SLA clock of the stage `state` belongs to (or stop it for a closed ticket)."""
    stage = workflow.STAGE_OF_STATE.get(state)
    policy = pick_policy(rules.policies, category)
    limit = deadline(policy, stage, now, rules.calendar, rules.yellow_share) if (policy and stage) else None
    await conn.execute(
        "UPDATE tickets SET stage = $2, stage_started_at = $3, due_at = $4, yellow_at = $5, overdue_notified = false"
        " WHERE id = $1",
        ticket_id,
        stage,
        now,
        limit.due_at if limit else None,
        limit.yellow_at if limit else None,
    )


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


async def _handling_region(conn: Conn, region_id: int | None) -> int | None:
    """The community a grid's ticket is first handled by (or the region itself above that level)."""
    if region_id is None:
        return None
    value: int | None = await conn.fetchval(
        "WITH RECURSIVE up AS (SELECT id, parent_id, level FROM regions WHERE id = $1"
        " UNION ALL SELECT r.id, r.parent_id, r.level FROM regions r JOIN up ON r.id = up.parent_id)"
        " SELECT id FROM up WHERE level IN ('community', 'street', 'district')"
        " ORDER BY array_position(ARRAY['community','street','district'], level) LIMIT 1",
        region_id,
    )
    return value


async def start_ticket(conn: Conn, rules: CaseRules, ticket_id: int, now: datetime, reopened: bool = False) -> None:
    """Deadlines, routing, handling region and recurrence for a ticket just opened (or reopened)."""
    row = await conn.fetchrow(
        "SELECT id, state, category, region_id, region_path, device_id FROM tickets WHERE id = $1", ticket_id
    )
    assert row is not None
    await _stage_clock(conn, rules, ticket_id, row["state"], row["category"], now)
    if reopened:
        await emit(conn, "ticket.updated", ticket_id, {"change": "reopened"})
        return
    chosen = route(rules, row["category"], row["region_path"])
    # An alert's ticket sits where its device is (on the map, in the field worker's app).
    await conn.execute(
        "UPDATE tickets SET department = $2, matter = $3, handling_region_id = $4,"
        " lat = coalesce(lat, (SELECT d.lat FROM devices d WHERE d.device_id = $5)),"
        " lon = coalesce(lon, (SELECT d.lon FROM devices d WHERE d.device_id = $5)) WHERE id = $1",
        ticket_id,
        chosen.department if chosen else None,
        chosen.matter if chosen else None,
        await _handling_region(conn, row["region_id"]),
        row["device_id"],
    )
    await _mark_recurring(conn, rules, row, now)
    await emit(conn, "ticket.created", ticket_id)


async def _mark_recurring(conn: Conn, rules: CaseRules, row: Any, now: datetime) -> None:
    """类案: the same category at the same place (grid, or device when unplaced) N times in M days."""
    place_sql = "region_id = $3" if row["region_id"] is not None else "device_id IS NOT DISTINCT FROM $3"
    place = row["region_id"] if row["region_id"] is not None else row["device_id"]
    earlier = await conn.fetch(
        f"SELECT id, recurring_of FROM tickets WHERE category = $1 AND id <> $2 AND {place_sql}"
        " AND opened_at >= $4 ORDER BY opened_at, id",
        row["category"],
        row["id"],
        place,
        now - timedelta(days=rules.recurring_days),
    )
    if len(earlier) + 1 < rules.recurring_count:
        return
    root = earlier[0]["recurring_of"] or earlier[0]["id"]
    await conn.execute("UPDATE tickets SET recurring_of = $2 WHERE id = $1", row["id"], root)
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, actor, kind, data) VALUES ($1, 'system', 'ticket.recurring', $2)",
        row["id"],
        {"recurring_of": root, "count": len(earlier) + 1, "days": rules.recurring_days},
    )


async def after_ingest(conn: Conn, rules: CaseRules, results: list[tuple[str, int | None]], now: datetime) -> None:
    for outcome, ticket_id in results:
        if ticket_id is None:
            continue
        if outcome in ("opened", "reopened"):
            await start_ticket(conn, rules, ticket_id, now, reopened=outcome == "reopened")
        if outcome != "duplicate":
            await emit(conn, "alert.received", ticket_id, {"outcome": outcome})


def scope_clause(principal: Principal, index: int) -> tuple[str, str]:
    """SQL limiting tickets to the principal's region subtree, and its parameter."""
    return f"t.region_path LIKE ${index}", principal.scope.replace("%", r"\%").replace("_", r"\_") + "%"


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


def _decode_photos(photos: Any) -> list[tuple[str, bytes]]:
    if photos is None:
        return []
    if not isinstance(photos, list) or len(photos) > 10:
        raise CaseError(422, "photos must be a list of at most 10 {content_type, data_base64}")
    out = []
    for i, photo in enumerate(photos):
        if not isinstance(photo, dict) or photo.get("content_type") not in PHOTO_TYPES:
            raise CaseError(422, f"photos[{i}].content_type must be one of {sorted(PHOTO_TYPES)}")
        try:
            data = base64.b64decode(str(photo.get("data_base64", "")), validate=True)
        except ValueError:
            raise CaseError(422, f"photos[{i}].data_base64 is not base64") from None
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise CaseError(422, f"photos[{i}] must be 1 byte to {MAX_PHOTO_BYTES} bytes")
        out.append((str(photo["content_type"]), data))
    return out


async def _attach(conn: Conn, ticket_id: int, event_id: int, photos: list[tuple[str, bytes]], who: str) -> list[int]:
    ids = []
    for content_type, data in photos:
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


async def _parent_region(conn: Conn, region_id: int | None) -> Any:
    if region_id is None:
        return None
    return await conn.fetchrow(
        "SELECT p.id, p.code, p.level FROM regions r JOIN regions p ON p.id = r.parent_id WHERE r.id = $1", region_id
    )


async def apply_action(
    conn: Conn, rules: CaseRules, principal: Principal, ticket_id: int, body: dict[str, Any], now: datetime
) -> int:
    """Run one workflow action in the caller's transaction; returns the audit event id."""
    if principal.role is None:
        raise CaseError(403, "edges cannot act on tickets")
    name = body.get("action")
    note = body.get("note")
    if not isinstance(name, str) or (note is not None and not isinstance(note, str)):
        raise CaseError(422, "action must be a string and note, when given, a string")
    ticket = await fetch_ticket(conn, principal, ticket_id, now, for_update=True)
    try:
        action = workflow.check(name, ticket["state"], principal.role, note)
    except workflow.TransitionError as exc:
        raise CaseError(exc.status, str(exc), allowed_actions=exc.allowed, state=ticket["state"]) from None
    photos = _decode_photos(body.get("photos"))
    data: dict[str, Any] = {}
    state = ticket["state"]
    target = action.target or state
    overdue_now = ticket["due_at"] is not None and now >= ticket["due_at"]
    if name == "dispatch":
        department = body.get("department")
        if department is not None:
            if not isinstance(department, str) or not department.strip():
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
    if name == "false_alarm":
        await conn.execute("UPDATE tickets SET false_alarm_reason = $2 WHERE id = $1", ticket_id, note)
    if name == "supervise":
        await conn.execute("UPDATE tickets SET supervised = true WHERE id = $1", ticket_id)
    if name == "escalate":
        data.update(await escalate(conn, rules, ticket, now, actor=principal.name, note=note))
    if action.target is not None:
        closing = target in workflow.CLOSED_STATES
        try:
            await conn.execute(
                "UPDATE tickets SET state = $2, closed_at = CASE WHEN $3 THEN $4::timestamptz ELSE NULL END,"
                " was_overdue = was_overdue OR $5, reopen_count = reopen_count + CASE WHEN $2 = 'reopened' THEN 1"
                " ELSE 0 END, updated_at = $4 WHERE id = $1",
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
        await _stage_clock(conn, rules, ticket_id, target, ticket["category"], now)
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
        ids = await _attach(conn, ticket_id, event_id, photos, principal.name)
        await conn.execute("UPDATE ticket_events SET data = data || $2 WHERE id = $1", event_id, {"attachments": ids})
    if target == "closed":
        await emit(conn, "ticket.closed", ticket_id)
    elif name != "escalate":
        await emit(conn, "ticket.updated", ticket_id, {"action": name, "actor": principal.name})
    return event_id


async def escalate(
    conn: Conn, rules: CaseRules, ticket: Any, now: datetime, actor: str, note: str | None
) -> dict[str, Any]:
    """逐级上报: hand the ticket to the parent of its handling region, with a fresh stage clock."""
    handling = await conn.fetchval("SELECT handling_region_id FROM tickets WHERE id = $1", ticket["id"])
    parent = await _parent_region(conn, handling)
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
    await _stage_clock(conn, rules, ticket["id"], ticket["state"], ticket["category"], now)
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
            "SELECT id, state, category, overdue_notified, escalation_level FROM tickets"
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
                    " VALUES ($1, $2, 'system', 'ticket.overdue', '{}')",
                    row["id"],
                    now,
                )
                await emit(conn, "ticket.overdue", row["id"])
            handling = await conn.fetchval("SELECT handling_region_id FROM tickets WHERE id = $1", row["id"])
            if row["escalation_level"] < 2 and await _parent_region(conn, handling) is not None:
                await escalate(conn, rules, row, now, actor="system", note="overdue")
            touched += 1
        return touched


async def create_report(
    conn: Conn, rules: CaseRules, principal: Principal, body: dict[str, Any], now: datetime, locate: Any
) -> tuple[int, str]:
    """一键上报: a ticket from a grid worker's report. Returns (ticket id, the resident's progress token)."""
    problems = []
    category = body.get("category")
    text = body.get("text")
    lat, lon = body.get("lat"), body.get("lon")
    if not isinstance(category, str) or not category or len(category) > 128:
        problems.append({"name": "category", "reason": "required, at most 128 characters"})
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        problems.append({"name": "text", "reason": "required, at most 4000 characters"})
    for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not -bound <= value <= bound:
            problems.append({"name": name, "reason": f"required, a number from -{bound} to {bound}"})
    severity = body.get("severity", "minor")
    if severity not in ("info", "minor", "major", "critical"):
        problems.append({"name": "severity", "reason": "one of info, minor, major, critical"})
    if problems:
        raise CaseError(422, "the report is incomplete", invalid_params=problems)
    assert isinstance(text, str) and isinstance(category, str)
    photos = _decode_photos(body.get("photos"))
    region = await locate(conn, float(lon), float(lat))  # type: ignore[arg-type]
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
        await _attach(conn, ticket_id, event_id, photos, principal.name)
    await start_ticket(conn, rules, ticket_id, now)
    return ticket_id, token


PUBLIC_EVENT_KINDS = ("ticket.opened", "ticket.reopened", "ticket.escalated", "resident.rating")


async def progress(conn: Conn, token: str) -> dict[str, Any]:
    """What a resident sees: status history, no internal notes, no names."""
    ticket = await conn.fetchrow(
        "SELECT id, state, category, title, opened_at, closed_at, rating, rating_comment FROM tickets"
        " WHERE resident_token_sha256 = $1",
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
    return {**dict(ticket), "history": [dict(e) for e in events], "can_rate": ticket["state"] == "closed"}


async def rate(conn: Conn, rules: CaseRules, token: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """满意度评价; 'not_satisfied' reopens the ticket for review."""
    rating, comment = body.get("rating"), body.get("comment", "")
    if rating not in ("satisfied", "basically", "not_satisfied"):
        raise CaseError(
            422,
            "rating must be satisfied, basically or not_satisfied",
            invalid_params=[{"name": "rating", "reason": "unknown value"}],
        )
    if not isinstance(comment, str) or len(comment) > 2000:
        raise CaseError(422, "comment must be text of at most 2000 characters")
    ticket = await conn.fetchrow(
        "SELECT id, state, category FROM tickets WHERE resident_token_sha256 = $1 FOR UPDATE", hash_token(token)
    )
    if ticket is None:
        raise CaseError(404, "this progress link is not known")
    if ticket["state"] != "closed":
        raise CaseError(409, "the case can be rated once it is closed", state=ticket["state"])
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
        await _stage_clock(conn, rules, ticket["id"], "reopened", ticket["category"], now)
        await emit(conn, "ticket.updated", ticket["id"], {"change": "reopened by resident"})
    return {"rating": rating, "state": "reopened" if rating == "not_satisfied" else "closed"}
