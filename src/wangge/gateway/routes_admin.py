"""Sign-in, the registry, edges' own alert endpoint, dead letters and statistics."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web

from wangge.gateway import auth, metrics, registry, stats, tickets
from wangge.gateway.appkeys import CLOCK, POOL, RULES, principal_of, region_path_in_scope, require_role
from wangge.gateway.http_util import Params, json_body, json_response
from wangge.gateway.ingest import Incoming, confirmations, prepare, record_outcomes, store
from wangge.gateway.problems import ProblemError

OFFICE = ("admin", "supervisor", "operator")


async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or len(password) > 1024:
        raise ProblemError(400, "Bad Request", 'send {"username": ..., "password": ...}')
    now = request.app[CLOCK]()
    hours = request.app[RULES].token_hours
    async with request.app[POOL].acquire() as conn:
        token = await auth.login(conn, username, password, now, hours, request.remote or "")
        if token is None:
            raise ProblemError(401, "Unauthorized", "wrong username or password")
        principal = await auth.principal_for(conn, token, now)
    assert principal is not None
    return json_response(
        {
            "token": token,
            "expires_at": now + timedelta(hours=hours),
            "user": {"username": principal.name, "role": principal.role, "scope": principal.scope},
        }
    )


async def logout(request: web.Request) -> web.Response:
    principal = principal_of(request)
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    async with request.app[POOL].acquire() as conn:
        await auth.revoke(conn, token)
        await auth.audit(conn, principal.name, "logout", None, request.remote)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    p = principal_of(request)
    return json_response({"name": p.name, "role": p.role, "scope": p.scope, "edge_id": p.edge_id})


def _page(rows: list[Any], limit: int, key: str) -> dict[str, Any]:
    items = [dict(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": str(rows[limit - 1][key]) if len(rows) > limit else None}


async def list_regions(request: web.Request) -> web.Response:
    principal = principal_of(request)
    params = Params(request)
    levels = params.choices("level", ("district", "street", "community", "grid"))
    region = params.text("region", 32)
    text = params.text("q")
    limit = params.integer("limit", 500, 1, 5000)
    cursor = params.text("cursor", 400)
    params.check()
    path = await region_path_in_scope(request, principal, region)
    rows = await request.app[POOL].fetch(
        "SELECT r.code, r.name, r.level, p.code AS parent_code, r.path FROM regions r"
        " LEFT JOIN regions p ON p.id = r.parent_id WHERE r.path LIKE $1 || '%'"
        " AND (cardinality($2::text[]) = 0 OR r.level = ANY($2))"
        " AND ($3::text IS NULL OR r.name ILIKE '%' || $3 || '%')"
        " AND ($4::text IS NULL OR r.path > $4) ORDER BY r.path LIMIT $5",
        path,
        levels,
        text,
        cursor,
        limit + 1,
    )
    return json_response(_page(list(rows), limit, "path"))


async def regions_geojson(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        text = await registry.export_regions(conn, "geojson", principal.scope)
    return web.Response(text=text, content_type="application/geo+json")


async def list_edges(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    params = Params(request)
    states = params.choices("state", ("online", "offline", "unknown"))
    region = params.text("region", 32)
    limit = params.integer("limit", 200, 1, 1000)
    cursor = params.text("cursor", 128)
    params.check()
    path = await region_path_in_scope(request, principal, region)
    rows = await request.app[POOL].fetch(
        "SELECT e.edge_id, e.state, e.last_seen, e.status, r.code AS region_code FROM edges e"
        " LEFT JOIN regions r ON r.id = e.region_id WHERE coalesce(r.path, '/') LIKE $1 || '%'"
        " AND (cardinality($2::text[]) = 0 OR e.state = ANY($2)) AND ($3::text IS NULL OR e.edge_id > $3)"
        " ORDER BY e.edge_id LIMIT $4",
        path,
        states,
        cursor,
        limit + 1,
    )
    return json_response(_page(list(rows), limit, "edge_id"))


async def list_devices(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    params = Params(request)
    kinds = params.choices("kind", ("camera", "sensor"))
    region = params.text("region", 32)
    edge_id = params.text("edge_id", 128)
    text = params.text("q")
    limit = params.integer("limit", 200, 1, 1000)
    cursor = params.text("cursor", 128)
    params.check()
    path = await region_path_in_scope(request, principal, region)
    rows = await request.app[POOL].fetch(
        "SELECT d.device_id, d.edge_id, d.kind, d.name, d.lat, d.lon, d.building_code, r.code AS region_code,"
        " e.state AS edge_state, e.last_seen AS edge_last_seen,"
        # What the edge last reported of this device (state, fps, last frame age), when it reports devices.
        " CASE WHEN jsonb_typeof(e.status -> 'devices' -> d.device_id) = 'object'"
        " THEN e.status -> 'devices' -> d.device_id END AS live,"
        " CASE WHEN e.state IS DISTINCT FROM 'online' THEN coalesce(e.state, 'unknown')"
        " ELSE coalesce(e.status -> 'devices' -> d.device_id ->> 'state', 'online') END AS state"
        " FROM devices d"
        " LEFT JOIN regions r ON r.id = d.region_id LEFT JOIN edges e ON e.edge_id = d.edge_id"
        " WHERE coalesce(r.path, '/') LIKE $1 || '%' AND (cardinality($2::text[]) = 0 OR d.kind = ANY($2))"
        " AND ($3::text IS NULL OR d.edge_id = $3)"
        " AND ($4::text IS NULL OR d.name ILIKE '%' || $4 || '%' OR d.device_id ILIKE '%' || $4 || '%')"
        " AND ($5::text IS NULL OR d.device_id > $5) ORDER BY d.device_id LIMIT $6",
        path,
        kinds,
        edge_id,
        text,
        cursor,
        limit + 1,
    )
    return json_response(_page(list(rows), limit, "device_id"))


async def list_dead_letters(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, ("admin",))
    params = Params(request)
    limit = params.integer("limit", 50, 1, 500)
    reason = params.text("reason", 64)
    cursor = params.integer("cursor", 0, 0, 2**62)
    since, until = params.timestamp("since"), params.timestamp("until")
    params.check()
    rows = await request.app[POOL].fetch(
        "SELECT id, received_at, source, reason, detail, payload FROM dead_letters WHERE ($2::text IS NULL OR"
        " reason = $2) AND ($3 = 0 OR id < $3) AND ($4::timestamptz IS NULL OR received_at >= $4)"
        " AND ($5::timestamptz IS NULL OR received_at < $5) ORDER BY id DESC LIMIT $1",
        limit + 1,
        reason,
        cursor,
        since,
        until,
    )
    items = []
    for r in rows[:limit]:
        item = dict(r)
        raw: bytes = item.pop("payload")
        try:
            item["payload_text"] = raw[:4096].decode("utf-8")
        except UnicodeDecodeError:
            item["payload_base64"] = raw[:4096].hex()
        item["payload_bytes"] = len(raw)
        items.append(item)
    return json_response({"items": items, "next_cursor": str(rows[limit - 1]["id"]) if len(rows) > limit else None})


async def edge_alerts(request: web.Request) -> web.Response:
    """The HTTPS uplink: an edge posts its own alert events with its own token (same checks as MQTT)."""
    principal = principal_of(request)
    edge_id = request.match_info["edge_id"]
    if principal.edge_id != edge_id:
        raise ProblemError(403, "Forbidden", f"this token may not post alerts for edge {edge_id!r}")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    events = body.get("alerts") if isinstance(body, dict) and "alerts" in body else [body]
    if not isinstance(events, list) or not 1 <= len(events) <= 1000:
        raise ProblemError(400, "Bad Request", 'send one alert, or {"alerts": [1 to 1000 alerts]}')
    topic = f"wangge/edge/{edge_id}/alerts"
    prepared = prepare([Incoming(0, 0, 0, topic, json.dumps(e).encode()) for e in events])
    async with request.app[POOL].acquire() as conn:
        outcomes = await store(conn, prepared, request.app[RULES], request.app[CLOCK]())
    record_outcomes(prepared, outcomes)
    confirmed = confirmations(prepared).get(edge_id, {"stored": [], "refused": []})
    refused = [{"reason": r[1], "detail": r[2]} for r in prepared.rejected]
    return json_response(
        {"stored": confirmed["stored"], "refused": confirmed["refused"], "problems": refused},
        status=200 if not refused else 207,
    )


SNAPSHOT_TYPES = ("image/jpeg", "image/png", "image/webp")


async def edge_snapshot(request: web.Request) -> web.Response:
    """The best snapshot of one of the edge's alerts (evidence for its ticket); sending it again replaces it."""
    principal = principal_of(request)
    edge_id = request.match_info["edge_id"]
    if principal.edge_id != edge_id:
        raise ProblemError(403, "Forbidden", f"this token may not send snapshots for edge {edge_id!r}")
    try:
        alert_id = uuid.UUID(request.match_info["alert_id"])
    except ValueError:
        raise ProblemError(404, "Not Found", "the alert id is not a UUID") from None
    if request.content_type not in SNAPSHOT_TYPES:
        raise ProblemError(415, "Unsupported Media Type", f"send one of {', '.join(SNAPSHOT_TYPES)}")
    data = await request.read()
    if not 0 < len(data) <= tickets.MAX_PHOTO_BYTES:
        raise ProblemError(413, "Content Too Large", f"a snapshot is 1 to {tickets.MAX_PHOTO_BYTES} bytes")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        alert = await conn.fetchrow("SELECT ticket_id, edge_id FROM alerts WHERE alert_id = $1", alert_id)
        if alert is None or alert["edge_id"] != edge_id:
            raise ProblemError(404, "Not Found", f"no alert {alert_id} from edge {edge_id}: send the alert first")
        if alert["ticket_id"] is None:
            raise ProblemError(409, "Conflict", f"alert {alert_id} has no ticket to attach evidence to")
        created = await conn.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by, kind, alert_id)"
            " VALUES ($1, $2, sha256($3), length($3), $3, $4, 'snapshot', $5)"
            " ON CONFLICT (alert_id) WHERE kind = 'snapshot' DO UPDATE SET content_type = EXCLUDED.content_type,"
            " sha256 = EXCLUDED.sha256, size = EXCLUDED.size, data = EXCLUDED.data, created_at = now()"
            " RETURNING (xmax = 0)",
            alert["ticket_id"],
            request.content_type,
            data,
            f"edge:{edge_id}",
            alert_id,
        )
        await tickets.emit(
            conn, "ticket.updated", alert["ticket_id"], {"change": "snapshot", "alert_id": str(alert_id)}
        )
    metrics.SNAPSHOTS_STORED.inc()
    return json_response({"alert_id": str(alert_id), "ticket_id": alert["ticket_id"]}, status=201 if created else 200)


async def hotspots(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    params = Params(request)
    days = params.integer("days", 7, 1, 90)
    params.check()
    async with request.app[POOL].acquire() as conn:
        items = await stats.hotspots(conn, principal.scope, request.app[CLOCK](), days)
    return json_response({"days": days, "items": items})


async def summary(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    now = request.app[CLOCK]()
    params = Params(request)
    since = params.timestamp("since") or now - timedelta(days=30)
    until = params.timestamp("until") or now
    params.check()
    async with request.app[POOL].acquire() as conn:
        body: dict[str, Any] = await stats.summary(conn, principal.scope, now, since, until)
    return json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/me", me)
    app.router.add_get("/api/v1/regions", list_regions)
    app.router.add_get("/api/v1/regions.geojson", regions_geojson)
    app.router.add_get("/api/v1/edges", list_edges)
    app.router.add_get("/api/v1/devices", list_devices)
    app.router.add_get("/api/v1/dead-letters", list_dead_letters)
    app.router.add_post("/api/v1/edges/{edge_id}/alerts", edge_alerts)
    app.router.add_put("/api/v1/edges/{edge_id}/alerts/{alert_id}/snapshot", edge_snapshot)
    app.router.add_get("/api/v1/stats/hotspots", hotspots)
    app.router.add_get("/api/v1/stats/summary", summary)
