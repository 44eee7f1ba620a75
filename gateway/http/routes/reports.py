"""One-tap reports (一键上报) by grid workers, and the resident's progress page and rating."""

from __future__ import annotations

from aiohttp import web

from wangge.gateway.accounts.principal import ROLES
from wangge.gateway.cases.reports import create_report, progress, progress_links, rate
from wangge.gateway.cases.tickets import fetch_ticket
from wangge.gateway.http.context import CLOCK, POOL, RULES, principal_of, require_role
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.reports import (
    Progress,
    ProgressPath,
    RatingRequest,
    RatingResult,
    ReportCreated,
    ReportRequest,
)
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply

routes = RouteTable("reports")


@routes.post(
    "/api/v1/reports",
    summary="One-tap report (一键上报) → ticket and a resident progress token",
    replies=(
        Reply(201, "the ticket it opened", ReportCreated),
        Reply(200, "an open case nearby of the same category: the report joined it", ReportCreated),
    ),
    body=Body(ReportRequest, error_detail="the report is incomplete", max_bytes=32 * 1024 * 1024),
    errors=(400, 401, 403, 413, 415, 422),
)
async def report(request: web.Request, body: ReportRequest) -> web.Response:
    principal = principal_of(request)
    require_role(principal, ROLES)
    now = request.app[CLOCK]()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        submitted = await create_report(
            conn,
            request.app[RULES],
            principal,
            now,
            category=body.category,
            text=body.text,
            lat=body.lat,
            lon=body.lon,
            severity=body.severity,
            photos=[p.decoded() for p in body.photos or []],
        )
        row = await fetch_ticket(conn, principal, submitted.ticket_id, now)
    out = dict(row)
    out.update(progress_links(submitted))
    return json_response(out, status=200 if submitted.duplicate else 201)


@routes.get(
    "/api/v1/progress/{token}",
    summary="What a resident sees of their case",
    replies=json_reply(Progress),
    path_params=ProgressPath,
    errors=(400, 404),
    public=True,
)
async def get_progress(request: web.Request, path: ProgressPath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return json_response(await progress(conn, request.app[RULES], path.token, request.app[CLOCK]()))


@routes.post(
    "/api/v1/progress/{token}/rating",
    summary="满意度评价; not_satisfied reopens the case",
    replies=json_reply(RatingResult),
    path_params=ProgressPath,
    body=Body(RatingRequest, max_bytes=8 * 1024),  # public: a few KB
    errors=(400, 404, 409, 413, 415, 422),
    public=True,
)
async def rate_case(request: web.Request, path: ProgressPath, body: RatingRequest) -> web.Response:
    async with request.app[POOL].acquire() as conn, conn.transaction():
        result = await rate(conn, request.app[RULES], path.token, body.rating, body.comment, request.app[CLOCK]())
    return json_response(result)
