"""What edge boxes send over HTTPS with their own token (alert events, snapshots), and the dead letters of
refused messages."""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.cases.evidence import MAX_PHOTO_BYTES, PHOTO_TYPES, Clip, store_clip, store_snapshot
from wangge.gateway.http.context import CLOCK, INGEST, MAX_CLIP, POOL, RULES, media_of, principal_of, require_role
from wangge.gateway.http.inputs import read_body
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.edges import (
    ClipPath,
    ClipQuery,
    ClipStored,
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
from wangge.gateway.media.probe import ClipRefused, ProbeUnavailable, probe_clip

routes = RouteTable("edges")


def _alert_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ProblemError(404, "Not Found", "the alert id is not a UUID") from None


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
    errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
async def edge_snapshot(request: web.Request, path: SnapshotPath) -> web.Response:
    """The best snapshot of one of the edge's alerts (evidence for its ticket)."""
    _own_edge(request, path.edge_id, "send snapshots")
    alert_id = _alert_uuid(path.alert_id)
    if request.content_type not in PHOTO_TYPES:
        raise ProblemError(415, "Unsupported Media Type", f"send one of {', '.join(PHOTO_TYPES)}")
    data = await request.read()
    if not 0 < len(data) <= MAX_PHOTO_BYTES:
        raise ProblemError(413, "Content Too Large", f"a snapshot is 1 to {MAX_PHOTO_BYTES} bytes")
    async with request.app[POOL].acquire() as conn:
        ticket_id, created = await store_snapshot(
            conn, media_of(request), path.edge_id, alert_id, request.content_type, data
        )
    metrics.SNAPSHOTS_STORED.inc()
    return json_response({"alert_id": str(alert_id), "ticket_id": ticket_id}, status=201 if created else 200)


@routes.put(
    "/api/v1/edges/{edge_id}/alerts/{alert_id}/clips/{camera}/{part}",
    summary="One part of an alert's event clip from one camera (MP4, edge token); idempotent by alert, camera, part",
    replies=(json_reply(ClipStored, 201, "stored"), json_reply(ClipStored, 200, "already stored")),
    path_params=ClipPath,
    query=ClipQuery,
    body=Body(media_types=("video/mp4",)),
    errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
async def edge_clip(request: web.Request, path: ClipPath, query: ClipQuery) -> web.Response:
    """Checked by ffprobe before it is stored; while the object store is down the edge is told to come again."""
    _own_edge(request, path.edge_id, "send clips")
    alert_id = _alert_uuid(path.alert_id)
    if request.content_type != "video/mp4":
        raise ProblemError(415, "Unsupported Media Type", "send video/mp4")
    max_bytes, max_s = request.app[MAX_CLIP]
    try:
        data = await read_body(request, max_bytes, "a clip part")
    except ProblemError as exc:
        if exc.status == 413:
            metrics.MEDIA_REFUSED.labels("clip", "too_big").inc()
        raise
    if not data:
        raise ProblemError(400, "Bad Request", "the clip is empty")
    if not query.covers_from <= query.covers_to:
        raise ProblemError(400, "Bad Request", "covers_from must not be after covers_to")
    try:
        facts = await probe_clip(data, max_s)
    except ClipRefused as exc:
        metrics.MEDIA_REFUSED.labels("clip", exc.reason).inc()
        raise ProblemError(422, "Unprocessable Content", str(exc)) from None
    except ProbeUnavailable as exc:
        raise ProblemError(503, "Service Unavailable", str(exc), {"Retry-After": "300"}) from None
    clip = Clip(alert_id, path.camera, path.part, query.covers_from, query.covers_to, facts.duration_s, data)
    async with request.app[POOL].acquire() as conn:
        ticket_id, attachment_id, created = await store_clip(conn, media_of(request), path.edge_id, clip)
    body = {"alert_id": str(alert_id), "ticket_id": ticket_id, "attachment_id": attachment_id}
    return json_response({**body, "duration_s": round(facts.duration_s, 3)}, status=201 if created else 200)


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
