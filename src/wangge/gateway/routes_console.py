"""What the operator console needs beyond the case API: its settings, and a camera's latest snapshot."""

from __future__ import annotations

from aiohttp import web

from wangge.gateway.appkeys import CONSOLE, POOL, principal_of
from wangge.gateway.cases import workflow
from wangge.gateway.http_util import json_response
from wangge.gateway.problems import ProblemError
from wangge.gateway.routes_tickets import evidence_response
from wangge.gateway.tickets import scope_clause


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
            "states": workflow.STATES,
            "actions": {
                a.name: {"label_zh": a.label_zh, "needs_note": a.needs_note, "target": a.target}
                for a in workflow.ACTIONS.values()
            },
        }
    )


async def device_snapshot(request: web.Request) -> web.Response:
    """The newest snapshot a camera sent with an alert in the caller's area; each view is audited."""
    principal = principal_of(request)
    device_id = request.match_info["device_id"]
    clause, scope = scope_clause(principal, 2)
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(
            "SELECT a.id, a.ticket_id, a.content_type, a.data FROM attachments a JOIN tickets t ON t.id = a.ticket_id"
            f" WHERE a.kind = 'snapshot' AND {clause} AND a.alert_id IN"
            " (SELECT alert_id FROM alerts WHERE device_id = $1) ORDER BY a.created_at DESC, a.id DESC LIMIT 1",
            device_id,
            scope,
        )
        if row is None:
            raise ProblemError(404, "Not Found", f"no snapshot from {device_id!r} in your area")
        return await evidence_response(conn, request, principal, row, row["id"], device_id=device_id)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/console/config", console_config)
    app.router.add_get("/api/v1/devices/{device_id}/snapshot", device_snapshot)
