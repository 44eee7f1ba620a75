"""Tickets: the queue, one ticket, workflow actions and attachments."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wangge.gateway.accounts.principal import ROLES, Principal
from wangge.gateway.cases import exports
from wangge.gateway.cases.actions import allowed_for, apply_action
from wangge.gateway.cases.evidence import attachment_in_scope
from wangge.gateway.cases.queue import NEWEST_KEY_TYPES, QUEUE_KEY_TYPES, QueueFilter, queue_page
from wangge.gateway.cases.root_causes import ClusterSpec, open_root_cause
from wangge.gateway.cases.tickets import fetch_ticket, ticket_detail
from wangge.gateway.http.context import CLOCK, POOL, RULES, principal_of, region_path_in_scope, require_role
from wangge.gateway.http.cursors import decode_cursor, encode_cursor
from wangge.gateway.http.evidence import evidence_response
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import CSV, XLSX, file_response, json_response
from wangge.gateway.http.schemas.tickets import (
    ActionRequest,
    RootCauseRequest,
    TicketDetail,
    TicketFilterQuery,
    TicketPage,
    TicketPath,
    TicketQuery,
    TicketWithActions,
)
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply

routes = RouteTable("tickets")
PHOTOS_BODY_BYTES = 32 * 1024 * 1024  # up to 10 photos of 5 MiB, as base64, within the app's own limit


@routes.get(
    "/api/v1/tickets",
    summary="The queue: tickets by light then due time, or newest first",
    replies=json_reply(TicketPage),
    query=TicketQuery,
)
async def list_tickets(request: web.Request, query: TicketQuery) -> web.Response:
    principal = principal_of(request)
    now = request.app[CLOCK]()
    after = None
    if query.cursor:
        after = decode_cursor(query.cursor, QUEUE_KEY_TYPES if query.sort == "queue" else NEWEST_KEY_TYPES)
    filt = await _queue_filter(request, principal, query)
    async with request.app[POOL].acquire() as conn:
        page = await queue_page(conn, principal, filt, now, query.limit, after)
    body: dict[str, Any] = {
        "items": page.rows,
        "next_cursor": encode_cursor(page.next_key) if page.next_key else None,
        "now": now,
    }
    if page.light_counts is not None:
        body["light_counts"] = page.light_counts
    return json_response(body)


async def _queue_filter(request: web.Request, principal: Principal, query: TicketFilterQuery) -> QueueFilter:
    region_path = await region_path_in_scope(request, principal, query.region) if query.region else None
    return QueueFilter(
        states=list(query.state),
        lights=list(query.light),
        category=query.category,
        region_path=region_path,
        text=query.q,
        sources=list(query.source),
        since=query.since,
        until=query.until,
        reported_by=principal.name if query.mine else None,
        sort=query.sort,
    )


async def _export_table(request: web.Request, query: TicketFilterQuery) -> list[list[Any]]:
    principal = principal_of(request)
    now = request.app[CLOCK]()
    filt = await _queue_filter(request, principal, query)
    async with request.app[POOL].acquire() as conn:
        page = await queue_page(conn, principal, filt, now, exports.MAX_ROWS, None)
    if page.next_key is not None:
        raise ProblemError(400, "Bad Request", f"more than {exports.MAX_ROWS:,} tickets: narrow the period or area")
    rules = request.app[RULES]
    return exports.ticket_table(page.rows, rules.categories, rules.calendar.timezone)


@routes.get(
    "/api/v1/tickets/export.csv",
    summary="The queue's tickets (same filters, at most 10,000) as CSV, worded for people: names, local times",
    replies=Reply(200, "UTF-8 CSV with a byte-order mark", media_type=CSV),
    query=TicketFilterQuery,
)
async def export_tickets_csv(request: web.Request, query: TicketFilterQuery) -> web.Response:
    table = await _export_table(request, query)
    return file_response(exports.to_csv(table), "csv", "tickets", request.app[CLOCK]())


@routes.get(
    "/api/v1/tickets/export.xlsx",
    summary="The queue's tickets (same filters, at most 10,000) as an Excel workbook, worded for people",
    replies=Reply(200, "an XLSX workbook", media_type=XLSX),
    query=TicketFilterQuery,
)
async def export_tickets_xlsx(request: web.Request, query: TicketFilterQuery) -> web.Response:
    table = await _export_table(request, query)
    return file_response(exports.to_xlsx(table, "工单 Tickets"), "xlsx", "tickets", request.app[CLOCK]())


@routes.get(
    "/api/v1/tickets/{id}",
    summary="One ticket: alerts, history, attachments, allowed actions",
    replies=json_reply(TicketDetail),
    path_params=TicketPath,
    errors=(400, 401, 404),
)
async def get_ticket(request: web.Request, path: TicketPath) -> web.Response:
    principal = principal_of(request)
    now = request.app[CLOCK]()
    async with request.app[POOL].acquire() as conn:
        body = await ticket_detail(conn, principal, path.id, now)
    body["allowed_actions"] = allowed_for(body, principal)
    body["now"] = now
    return json_response(body)


@routes.post(
    "/api/v1/tickets/{id}/actions",
    summary="A workflow action; 409 lists the allowed ones",
    replies=json_reply(TicketWithActions),
    path_params=TicketPath,
    body=Body(ActionRequest, max_bytes=PHOTOS_BODY_BYTES),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def act_on_ticket(request: web.Request, path: TicketPath, body: ActionRequest) -> web.Response:
    principal = principal_of(request)
    require_role(principal, ROLES)
    now = request.app[CLOCK]()
    photos = [p.decoded() for p in body.photos or []]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await apply_action(
            conn,
            request.app[RULES],
            principal,
            path.id,
            now,
            name=body.action,
            note=body.note,
            department=body.department,
            photos=photos,
            extension=body.extension,
            close_linked=body.close_linked,
        )
        row = await fetch_ticket(conn, principal, path.id, now)
    result = dict(row)
    result["allowed_actions"] = allowed_for(row, principal)
    return json_response(result)


@routes.post(
    "/api/v1/root-causes",
    summary="治理专项: open a root-cause case from a 类案 cluster, linking its cases (supervisors)",
    replies=json_reply(TicketWithActions, 201, "the root-cause case"),
    body=Body(RootCauseRequest),
    errors=(400, 401, 403, 413, 415, 422),
)
async def open_root_cause_case(request: web.Request, body: RootCauseRequest) -> web.Response:
    principal = principal_of(request)
    require_role(principal, ROLES)
    if not body.since < body.until:
        raise ProblemError(400, "Bad Request", "since must be before until")
    now = request.app[CLOCK]()
    spec = ClusterSpec(body.category, body.by == "group", body.place, body.key, body.radius_m, body.since, body.until)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        root = await open_root_cause(
            conn,
            request.app[RULES],
            principal,
            now,
            spec,
            title=body.title,
            department=body.department,
            note=body.note,
        )
        row = await fetch_ticket(conn, principal, root, now)
    result = dict(row)
    result["allowed_actions"] = allowed_for(row, principal)
    return json_response(result, status=201)


@routes.get(
    "/api/v1/attachments/{id}",
    summary="A photo, snapshot or event clip (each view is audited; byte ranges for video players)",
    replies=(
        Reply(200, "the image or clip", media_type="*/*"),
        Reply(206, "the range asked for (Range: bytes=...)", media_type="*/*"),
    ),
    path_params=TicketPath,
    errors=(400, 401, 404, 410, 416, 503),
)
async def get_attachment(request: web.Request, path: TicketPath) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        row = await attachment_in_scope(conn, principal, path.id, request.app[CLOCK]())
        return await evidence_response(conn, request, principal, row, path.id)
