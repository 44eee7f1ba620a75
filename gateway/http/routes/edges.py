"""What edge boxes send over HTTPS with their own token (alert events, snapshots), and the dead letters of
refused messages."""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.cases.evidence import MAX_PHOTO_BYTES, PHOTO_TYPES, store_snapshot
from wangge.gateway.http.context import CLOCK, INGEST, POOL, RULES, principal_of, require_role
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.edges import (
    DeadLetterPage,
    DeadLetterQuery,
    EdgeAlertsResult,
    EdgePath,
    SnapshotPath,
    SnapshotStored,
)
from wangge.gateway.http.spec import Body, RouteTable, json_reply
from wangge.gateway.ingest.dead_letters import list_dead_letters
from wangge.gateway.ingest.uplink import store_posted

routes = RouteTable("edges")


def _own_edge(request: web.Request, edge_id: str, what: str) -> None:
    if principal_of(request).edge_id != edge_id:
        raise ProblemError(403, "Forbidden", f"this token may not {what} for edge {edge_id!r}")


@routes.post(
    "/api/v1/edges/{edge_id}/alerts",
    summary="HTTPS uplink: an edge posts its own alert events (edge token); one event or {alerts: [...]}",
    replies=(json_reply(EdgeAlertsResult), json_reply(EdgeAlertsResult, 207, "some events refused")),
    path_params=EdgePath,
    body=Body(schema_name="AlertEvents"),
)
async def edge_alerts(request: web.Request, path: EdgePath) -> web.Response:
    _own_edge(request, path.edge_id, "post alerts")
    try:
        body = json.loads(await request.read())
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    events = body.get("alerts") if isinstance(body, dict) and "alerts" in body else [body]
    if not isinstance(events, list) or not 1 <= len(events) <= 1000:
        raise ProblemError(400, "Bad Request", 'send one alert, or {"alerts": [1 to 1000 alerts]}')
    async with request.app[POOL].acquire() as conn:
        result = await store_posted(
            conn, path.edge_id, events, request.app[RULES], request.app[CLOCK](), request.app[INGEST]
        )
    return json_response(result, status=207 if result["problems"] else 200)


@routes.put(
    "/api/v1/edges/{edge_id}/alerts/{alert_id}/snapshot",
    summary="An alert's best snapshot (JPEG, PNG or WebP body, edge token); sending it again replaces it",
    replies=(json_reply(SnapshotStored, 201, "stored"), json_reply(SnapshotStored, 200, "replaced")),
    path_params=SnapshotPath,
    body=Body(media_types=PHOTO_TYPES),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def edge_snapshot(request: web.Request, path: SnapshotPath) -> web.Response:
    """The best snapshot of one of the edge's alerts (evidence for its ticket)."""
    _own_edge(request, path.edge_id, "send snapshots")
    try:
        alert_id = uuid.UUID(path.alert_id)
    except ValueError:
        raise ProblemError(404, "Not Found", "the alert id is not a UUID") from None
    if request.content_type not in PHOTO_TYPES:
        raise ProblemError(415, "Unsupported Media Type", f"send one of {', '.join(PHOTO_TYPES)}")
    data = await request.read()
    if not 0 < len(data) <= MAX_PHOTO_BYTES:
        raise ProblemError(413, "Content Too Large", f"a snapshot is 1 to {MAX_PHOTO_BYTES} bytes")
    async with request.app[POOL].acquire() as conn:
        ticket_id, created = await store_snapshot(conn, path.edge_id, alert_id, request.content_type, data)
    metrics.SNAPSHOTS_STORED.inc()
    return json_response({"alert_id": str(alert_id), "ticket_id": ticket_id}, status=201 if created else 200)


@routes.get(
    "/api/v1/dead-letters",
    summary="Refused alert messages, newest first (admin)",
    replies=json_reply(DeadLetterPage),
    query=DeadLetterQuery,
)
async def dead_letters(request: web.Request, query: DeadLetterQuery) -> web.Response:
    require_role(principal_of(request), ("admin",))
    async with request.app[POOL].acquire() as conn:
        items, after = await list_dead_letters(conn, query.reason, query.cursor, query.since, query.until, query.limit)
    return json_response({"items": items, "next_cursor": after})
