"""The public report channel (no account: a resident's phone), and an operator's merge and split of duplicate
cases."""

from __future__ import annotations

import secrets

from aiohttp import web

from wangge.gateway.cases.duplicates import merge, report_rows
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.reports import split
from wangge.gateway.cases.tickets import fetch_ticket
from wangge.gateway.http.context import CLOCK, CONSOLE, POOL, PUBLIC_INTAKE, RULES, principal_of
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.intake import (
    CaseReports,
    Merged,
    MergeRequest,
    PhoneCodeRequest,
    PhoneCodeSent,
    PublicIntakeSettings,
    PublicReportCreated,
    PublicReportRequest,
    SplitDone,
    SplitPath,
    SplitRequest,
)
from wangge.gateway.http.schemas.tickets import TicketPath
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply
from wangge.gateway.intake.public import BROWSER_COOKIE, PublicReport, ask_code, public_areas, submit_public

routes = RouteTable("intake")


def _enabled(request: web.Request) -> None:
    if not request.app[PUBLIC_INTAKE].config.public:
        raise CaseError(404, "the public report channel is switched off here")


@routes.get(
    "/api/v1/public/intake",
    summary="What the public report page offers: categories, photo limit, phone verification, the map",
    replies=json_reply(PublicIntakeSettings),
    errors=(404,),
    public=True,
)
async def public_settings(request: web.Request) -> web.Response:
    _enabled(request)
    intake, console = request.app[PUBLIC_INTAKE].config, request.app[CONSOLE]
    bounds, areas = await public_areas(request.app[POOL])
    return json_response(
        {
            "categories": [
                {"code": c.code, "zh": c.zh, "en": c.en, "description": c.description} for c in intake.categories
            ],
            "max_photos": intake.max_photos,
            "phone_verification": intake.phone.verification,
            "map": {
                "tile_url": console.tile_url,
                "attribution": console.tile_attribution,
                "max_zoom": console.max_zoom,
            },
            "bounds": bounds,
            "areas": areas,
        }
    )


@routes.post(
    "/api/v1/public/reports",
    summary="A resident reports a problem (no account): a case opens at once, or joins an open one nearby",
    replies=(
        Reply(201, "the case it opened", PublicReportCreated),
        Reply(200, "already reported: the report joined the open case nearby", PublicReportCreated),
    ),
    body=Body(PublicReportRequest, error_detail="the report is incomplete", max_bytes=24 * 1024 * 1024),
    errors=(400, 403, 404, 413, 415, 422, 429, 503),
    public=True,
)
async def public_report(request: web.Request, body: PublicReportRequest) -> web.Response:
    _enabled(request)
    intake = request.app[PUBLIC_INTAKE]
    browser = request.cookies.get(BROWSER_COOKIE)
    intake.admit(request.remote or "", browser)
    report = PublicReport(
        body.service,
        body.description,
        body.lat,
        body.lon,
        [p.decoded() for p in body.photos or []],
        body.phone,
        body.code,
        body.address,
    )
    rules = request.app[RULES]
    submitted = await submit_public(request.app[POOL], rules, intake, report, request.app[CLOCK]())
    category = intake.config.by_code(body.service)
    assert category is not None  # submit_public refused an unknown one
    message = (
        f"已有人报告，您的反馈已并入同一事件（共 {submitted.reporters} 人报告）· Already reported: you are following"
        f" the same case ({submitted.reporters} reporters)"
        if submitted.duplicate
        else "已受理 · Received: the case is open"
    )
    response = json_response(
        {
            "ticket_id": submitted.ticket_id,
            "state": "reported",
            "category_name": {"zh": category.zh, "en": category.en},
            "progress_token": submitted.token,
            "progress_url": f"/progress.html#{submitted.token}",
            "duplicate": submitted.duplicate,
            "reporters": submitted.reporters,
            "message": message,
        },
        status=200 if submitted.duplicate else 201,
    )
    if not browser:
        response.set_cookie(
            BROWSER_COOKIE,
            secrets.token_urlsafe(18),
            max_age=365 * 86400,
            path="/api/v1/public",
            httponly=True,
            samesite="Strict",
        )
    return response


@routes.post(
    "/api/v1/public/phone-codes",
    summary="Send an SMS code to verify a resident's call-back number",
    replies=json_reply(PhoneCodeSent, 202, "the code is on its way"),
    body=Body(PhoneCodeRequest, max_bytes=2048),
    errors=(400, 404, 413, 415, 422, 429, 503),
    public=True,
)
async def phone_code(request: web.Request, body: PhoneCodeRequest) -> web.Response:
    _enabled(request)
    intake = request.app[PUBLIC_INTAKE]
    phone = await ask_code(request.app[POOL], intake, body.phone, request.remote or "", request.app[CLOCK]())
    return json_response({"phone": phone, "expires_in_s": intake.config.phone.code_ttl_s}, status=202)


@routes.post(
    "/api/v1/tickets/{id}/merge",
    summary="合并: another open case (a duplicate) joins this one, with its reports, photos and links",
    replies=json_reply(Merged),
    path_params=TicketPath,
    body=MergeRequest,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def merge_cases(request: web.Request, path: TicketPath, body: MergeRequest) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        done = await merge(conn, principal, path.id, body.source, body.note, request.app[CLOCK]())
    return json_response(done)


@routes.get(
    "/api/v1/tickets/{id}/reports",
    summary="The reports a case holds (one per reporter), with call-back numbers",
    replies=json_reply(CaseReports),
    path_params=TicketPath,
    errors=(400, 401, 404),
)
async def case_reports(request: web.Request, path: TicketPath) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        await fetch_ticket(conn, principal, path.id, request.app[CLOCK]())
        return json_response({"items": await report_rows(conn, path.id)})


@routes.post(
    "/api/v1/tickets/{id}/reports/{report_id}/split",
    summary="拆分: a report merged by mistake leaves the case as a case of its own, with its photos and link",
    replies=json_reply(SplitDone, 201, "the case it opened"),
    path_params=SplitPath,
    body=SplitRequest,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def split_report(request: web.Request, path: SplitPath, body: SplitRequest) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        done = await split(
            conn, request.app[RULES], principal, path.id, path.report_id, body.note, request.app[CLOCK]()
        )
    return json_response({"ticket_id": done.ticket_id, "report_id": done.report_id}, status=201)
