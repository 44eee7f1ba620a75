"""Live view: an operator opens a camera, its edge pushes HLS, the console plays it with hls.js."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wangge.gateway.http.context import CLOCK, LIVE, POOL, PUBLISH, media_of, principal_of
from wangge.gateway.http.inputs import read_body
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.edges import EdgeLivePath
from wangge.gateway.http.schemas.live import LiveFilePath, LivePath, LiveSession, LiveStart
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply
from wangge.gateway.media import live
from wangge.gateway.media.store import MediaMissing, MediaUnavailable

routes = RouteTable("live")


def _public(row: Any) -> dict[str, Any]:
    state = "ended" if row["ended_at"] else "playing" if row["first_segment_at"] else "starting"
    return {
        "id": row["id"],
        "camera_id": row["camera_id"],
        "edge_id": row["edge_id"],
        "state": state,
        "playlist": f"/api/v1/live/{row['id']}/index.m3u8",
        "started_at": row["started_at"],
        "first_segment_at": row["first_segment_at"],
        "ended_at": row["ended_at"],
        "end_reason": row["end_reason"],
    }


@routes.post(
    "/api/v1/live/sessions",
    summary="Watch a camera live: its edge is asked to push the stream (each session audited, who, camera, from, to)",
    replies=json_reply(LiveSession, 201),
    body=LiveStart,
    errors=(400, 401, 404, 409, 429, 503),
)
async def start_live(request: web.Request, body: LiveStart) -> web.Response:
    principal = principal_of(request)
    now = request.app[CLOCK]()
    store = media_of(request).store
    async with request.app[POOL].acquire() as conn:
        session = await live.start_session(conn, principal, body.camera, request.app[LIVE], request.remote, now)
        sent = request.app[PUBLISH](
            live.commands_topic(session.edge_id),
            live.command("live.start", session.id, session.camera_id, session.edge_id, now),
        )
        if not sent:
            await live.end_session(conn, store, session.id, "broker", now, request.app[PUBLISH])
            raise ProblemError(503, "Service Unavailable", "the gateway cannot reach the edges' broker now")
        row = await live.viewer_session(conn, principal, session.id)
    return json_response(_public(row), status=201)


@routes.get(
    "/api/v1/live/{session}",
    summary="One of my live sessions: starting, playing or ended (and why)",
    replies=json_reply(LiveSession),
    path_params=LivePath,
    errors=(400, 401, 404),
)
async def live_status(request: web.Request, path: LivePath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await live.viewer_session(conn, principal_of(request), path.session)
    return json_response(_public(row))


@routes.delete(
    "/api/v1/live/{session}",
    summary="Stop watching (the page closed); otherwise a session ends after a minute without a viewer",
    replies=Reply(204, "ended"),
    path_params=LivePath,
    errors=(400, 401, 404),
)
async def stop_live(request: web.Request, path: LivePath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await live.viewer_session(conn, principal_of(request), path.session)
        await live.end_session(
            conn, media_of(request).store, path.session, "closed", request.app[CLOCK](), request.app[PUBLISH]
        )
    return web.Response(status=204)


@routes.get(
    "/api/v1/live/{session}/{name}",
    summary="The session's HLS playlist or a segment (404 until the edge has pushed it)",
    replies=Reply(200, "playlist or segment", media_type="*/*"),
    path_params=LiveFilePath,
    errors=(400, 401, 404, 410, 503),
)
async def live_file(request: web.Request, path: LiveFilePath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await live.viewer_session(conn, principal_of(request), path.session)
        if row["ended_at"] is not None:
            raise ProblemError(410, "Gone", f"the live session ended ({row['end_reason']})")
        if path.name == "index.m3u8":
            await live.watched(conn, path.session, request.app[CLOCK]())
    try:
        data = await media_of(request).store.get(f"live/{path.session}/{path.name}")
    except MediaMissing:
        raise ProblemError(404, "Not Found", "not pushed yet") from None
    except MediaUnavailable as exc:
        raise ProblemError(503, "Service Unavailable", str(exc), {"Retry-After": "2"}) from None
    return web.Response(
        body=data, content_type=live.content_type(path.name), headers={"Cache-Control": "private, no-store"}
    )


@routes.put(
    "/api/v1/edges/{edge_id}/live/{session}/{name}",
    summary="An edge pushes its live stream's playlist and segments (edge token; ffmpeg's HLS muxer over HTTP PUT)",
    replies=(Reply(201, "stored"), Reply(200, "stored")),
    path_params=EdgeLivePath,
    body=Body(media_types=("*/*",)),
    errors=(400, 401, 403, 404, 410, 413, 503),
)
async def edge_live_push(request: web.Request, path: EdgeLivePath) -> web.Response:
    if principal_of(request).edge_id != path.edge_id:
        raise ProblemError(403, "Forbidden", f"this token may not push live video for edge {path.edge_id!r}")
    data = await read_body(request, request.app[LIVE].max_segment_bytes, "a live segment")
    async with request.app[POOL].acquire() as conn:
        await live.store_pushed(
            conn, media_of(request).store, path.edge_id, path.session, path.name, data, request.app[CLOCK]()
        )
    return web.Response(status=201)
