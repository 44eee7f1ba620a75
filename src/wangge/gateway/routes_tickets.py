"""Ticket endpoints: the queue, one ticket, workflow actions, attachments, one-tap reports, the resident page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from wangge.gateway import registry, tickets
from wangge.gateway.appkeys import CLOCK, POOL, RULES, principal_of, region_path_in_scope, require_role
from wangge.gateway.auth import audit
from wangge.gateway.cases import workflow
from wangge.gateway.http_util import Params, decode_cursor, encode_cursor, json_body, json_response, path_int
from wangge.gateway.problems import ProblemError
from wangge.gateway.tickets import LIGHT_RANK_SQL, LIGHT_SQL, TICKET_COLUMNS, TICKET_FROM, CaseError

LIGHTS = ("red", "yellow", "green", "none")


def _ticket_json(row: Any) -> dict[str, Any]:
    return dict(row)


async def list_tickets(request: web.Request) -> web.Response:
    principal = principal_of(request)
    now: datetime = request.app[CLOCK]()
    params = Params(request)
    limit = params.integer("limit", 50, 1, 200)
    states = params.choices("state", ("open", *workflow.STATES))
    lights = params.choices("light", LIGHTS)
    category = params.text("category", 128)
    region = params.text("region", 32)
    text = params.text("q")
    source = params.choices("source", ("alert", "report"))
    since, until = params.timestamp("since"), params.timestamp("until")
    mine = params.choices("mine", ("1", "true"))
    sort = (params.choices("sort", ("queue", "newest")) or ["queue"])[0]
    cursor = params.text("cursor", 600)
    params.check()

    args: list[Any] = [now]
    where = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    clause, scope = tickets.scope_clause(principal, 2)
    args.append(scope)
    where.append(clause)
    if states:
        named = [s for s in states if s != "open"]
        parts = (["t.closed_at IS NULL"] if "open" in states else []) + (
            [f"t.state = ANY({arg(named)}::text[])"] if named else []
        )
        where.append("(" + " OR ".join(parts) + ")")
    if category:
        where.append(f"(t.category = {arg(category)} OR t.category LIKE ${len(args)} || '.%')")
    if region:
        path = await region_path_in_scope(request, principal, region)
        where.append(f"t.region_path LIKE {arg(path + '%')}")
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(f"(t.title ILIKE {arg(pattern)} OR t.description ILIKE ${len(args)})")
    if source:
        where.append(f"t.source = ANY({arg(source)}::text[])")
    if mine:
        where.append(f"t.reported_by = {arg(principal.name)}")
    if since:
        where.append(f"t.opened_at >= {arg(since)}")
    if until:
        where.append(f"t.opened_at < {arg(until)}")
    base_where, base_args = list(where), list(args)
    if lights:
        where.append(f"{LIGHT_SQL.replace('$now', '$1')} = ANY({arg(lights)}::text[])")
    rank = LIGHT_RANK_SQL.replace("$now", "$1")
    if sort == "queue":
        order = f"{rank}, coalesce(t.due_at, 'infinity'::timestamptz), t.id"
        if cursor:
            r, due, tid = decode_cursor(cursor, (int, str, int))
            where.append(f"({order}) > ({arg(r)}::int, ({arg(due)}::text)::timestamptz, {arg(tid)}::bigint)")
    else:
        order = "t.opened_at DESC, t.id DESC"
        if cursor:
            at, tid = decode_cursor(cursor, (str, int))
            where.append(f"(t.opened_at, t.id) < (({arg(at)}::text)::timestamptz, {arg(tid)}::bigint)")
    sql = (
        f"SELECT {TICKET_COLUMNS}, {LIGHT_SQL.replace('$now', '$1')} AS light, {rank} AS light_rank"
        f" FROM {TICKET_FROM} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {arg(limit + 1)}"
    )
    rows = await request.app[POOL].fetch(sql, *args)
    items = [_ticket_json(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        if sort == "queue":
            due = last["due_at"].isoformat() if last["due_at"] else "infinity"
            next_cursor = encode_cursor([last["light_rank"], due, last["id"]])
        else:
            next_cursor = encode_cursor([last["opened_at"].isoformat(), last["id"]])
    for item in items:
        item.pop("light_rank", None)
    body: dict[str, Any] = {"items": items, "next_cursor": next_cursor, "now": now}
    if not cursor:
        # The queue header's counts per light, over the same filters but every light.
        counts = await request.app[POOL].fetch(
            f"SELECT {LIGHT_SQL.replace('$now', '$1')} AS light, count(*) AS n FROM {TICKET_FROM}"
            f" WHERE {' AND '.join(base_where)} GROUP BY 1",
            *base_args,
        )
        body["light_counts"] = {light: 0 for light in LIGHTS} | {r["light"]: r["n"] for r in counts}
    return json_response(body)


async def ticket_detail(request: web.Request) -> web.Response:
    principal = principal_of(request)
    ticket_id = path_int(request)
    pool = request.app[POOL]
    now = request.app[CLOCK]()
    async with pool.acquire() as conn:
        row = await tickets.fetch_ticket(conn, principal, ticket_id, now)
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
            "SELECT id, event_id, kind, alert_id, content_type, size, uploaded_by, created_at FROM attachments"
            " WHERE ticket_id = $1"
            " ORDER BY id",
            ticket_id,
        )
    body = _ticket_json(row)
    body["alerts"] = [dict(a) for a in alerts]
    body["events"] = [dict(e) for e in events]
    body["attachments"] = [dict(a) for a in attachments]
    body["allowed_actions"] = workflow.allowed_actions(row["state"], principal.role) if principal.role else []
    body["now"] = now
    return json_response(body)


async def ticket_action(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, workflow.ROLES)
    ticket_id = path_int(request)
    body = await json_body(request)
    now = request.app[CLOCK]()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await tickets.apply_action(conn, request.app[RULES], principal, ticket_id, body, now)
        row = await tickets.fetch_ticket(conn, principal, ticket_id, now)
    result = _ticket_json(row)
    result["allowed_actions"] = workflow.allowed_actions(row["state"], principal.role) if principal.role else []
    return json_response(result)


async def evidence_response(
    conn: Any, request: web.Request, principal: Any, row: Any, attachment_id: int, **context: Any
) -> web.Response:
    """A photo or snapshot goes out only after its view is in the audit log, and never into a shared cache."""
    await audit(
        conn,
        principal.name,
        "attachment.view",
        f"attachment:{attachment_id}",
        request.remote,
        {"ticket_id": row["ticket_id"], **context},
    )
    return web.Response(
        body=row["data"], content_type=row["content_type"], headers={"Cache-Control": "private, no-store"}
    )


async def attachment(request: web.Request) -> web.Response:
    """A photo or snapshot: evidence, so every view is audited."""
    principal = principal_of(request)
    attachment_id = path_int(request)
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow("SELECT ticket_id, content_type, data FROM attachments WHERE id = $1", attachment_id)
        if row is None:
            raise ProblemError(404, "Not Found", f"no attachment {attachment_id}")
        try:
            await tickets.fetch_ticket(conn, principal, row["ticket_id"], request.app[CLOCK]())
        except CaseError:
            raise ProblemError(404, "Not Found", f"no attachment {attachment_id}") from None
        return await evidence_response(conn, request, principal, row, attachment_id)


async def create_report(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, workflow.ROLES)
    body = await json_body(request)
    now = request.app[CLOCK]()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        ticket_id, token = await tickets.create_report(conn, request.app[RULES], principal, body, now, registry.locate)
        row = await tickets.fetch_ticket(conn, principal, ticket_id, now)
    body_out = _ticket_json(row)
    body_out["progress_token"] = token
    body_out["progress_url"] = f"/progress.html#{token}"
    return json_response(body_out, status=201)


async def progress(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return json_response(await tickets.progress(conn, request.match_info["token"]))


async def rate(request: web.Request) -> web.Response:
    body = await json_body(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        result = await tickets.rate(conn, request.app[RULES], request.match_info["token"], body, request.app[CLOCK]())
    return json_response(result)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/{id}", ticket_detail)
    app.router.add_post("/api/v1/tickets/{id}/actions", ticket_action)
    app.router.add_get("/api/v1/attachments/{id}", attachment)
    app.router.add_post("/api/v1/reports", create_report)
    app.router.add_get("/api/v1/progress/{token}", progress)
    app.router.add_post("/api/v1/progress/{token}/rating", rate)
