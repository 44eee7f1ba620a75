"""What the operator console needs beyond the case API: its settings, the category catalogue, and a camera's
latest snapshot."""

from __future__ import annotations

from aiohttp import web

from wangge.gateway.cases import workflow
from wangge.gateway.cases.evidence import latest_device_snapshot
from wangge.gateway.http.context import CONSOLE, POOL, RULES, principal_of
from wangge.gateway.http.evidence import evidence_response
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.console import CategoryList, ConsoleSettings, DevicePath
from wangge.gateway.http.spec import Reply, RouteTable, json_reply

routes = RouteTable("console")


@routes.get(
    "/api/v1/console/config",
    summary="The console's settings: the caller, map tiles, report categories, actions",
    replies=json_reply(ConsoleSettings),
    errors=(401,),
)
async def console_config(request: web.Request) -> web.Response:
    principal = principal_of(request)
    settings = request.app[CONSOLE]
    return json_response(
        {
            "user": {"name": principal.name, "role": principal.role, "scope": principal.scope},
            "map": {
                "tile_url": settings.tile_url,
                "attribution": settings.tile_attribution,
                "max_zoom": settings.max_zoom,
            },
            "report_categories": settings.report_categories,
            "categories": request.app[RULES].categories.describe(),
            "states": workflow.STATES,
            "actions": {
                a.name: {"label_zh": a.label_zh, "needs_note": a.needs_note, "target": a.target}
                for a in workflow.ACTIONS.values()
            },
        }
    )


@routes.get(
    "/api/v1/categories",
    summary="The category catalogue: each code with the names people read (Chinese, English), group, colour",
    replies=json_reply(CategoryList),
    errors=(401,),
)
async def categories(request: web.Request) -> web.Response:
    principal_of(request)
    return json_response({"categories": request.app[RULES].categories.describe()})


@routes.get(
    "/api/v1/devices/{device_id}/snapshot",
    summary="A camera's newest alert snapshot in the caller's area (each view audited)",
    replies=(Reply(200, "the image", media_type="image/*"), Reply(206, "a byte range of it", media_type="image/*")),
    path_params=DevicePath,
    errors=(400, 401, 404, 410, 416, 503),
)
async def device_snapshot(request: web.Request, path: DevicePath) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        row = await latest_device_snapshot(conn, principal, path.device_id)
        return await evidence_response(conn, request, principal, row, row["id"], device_id=path.device_id)
