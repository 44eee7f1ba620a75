"""Sign-in, the registry, edges' own alert endpoint, dead letters and statistics."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from wangge.gateway import auth, registry, stats
from wangge.gateway.appkeys import CLOCK, POOL, RULES, principal_of, require_role
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


async def list_regions(request: web.Request) -> web.Response:
    principal = principal_of(request)
    rows = await request.app[POOL].fetch(
        "SELECT r.code, r.name, r.level, p.code AS parent_code, r.path FROM regions r"
        " LEFT JOIN regions p ON p.id = r.parent_id WHERE r.path LIKE $1 || '%'"
        " ORDER BY r.path",
        principal.scope,
    )
    return json_response({"items": [dict(r) for r in rows]})


async def regions_geojson(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        text = await registry.export_regions(conn, "geojson", principal.scope)
    return web.Response(text=text, content_type="application/geo+json")


async def list_edges(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    rows = await request.app[POOL].fetch(
        "SELECT e.edge_id, e.state, e.last_seen, e.status, r.code AS region_code FROM edges e"
        " LEFT JOIN regions r ON r.id = e.region_id WHERE coalesce(r.path, '/') LIKE $1 || '%' ORDER BY e.edge_id",
        principal.scope,
    )
    return json_response({"items": [dict(r) for r in rows]})


async def list_devices(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    rows = await request.app[POOL].fetch(
        "SELECT d.device_id, d.edge_id, d.kind, d.name, d.lat, d.lon, r.code AS region_code, e.state AS edge_state,"
        " e.last_seen AS edge_last_seen FROM devices d LEFT JOIN regions r ON r.id = d.region_id"
        " LEFT JOIN edges e ON e.edge_id = d.edge_id WHERE coalesce(r.path, '/') LIKE $1 || '%' ORDER BY d.device_id",
        principal.scope,
    )
    return json_response({"items": [dict(r) for r in rows]})


async def list_dead_letters(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, ("admin",))
    params = Params(request)
    limit = params.integer("limit", 50, 1, 500)
    params.check()
    rows = await request.app[POOL].fetch(
        "SELECT id, received_at, source, reason, detail, payload FROM dead_letters ORDER BY id DESC LIMIT $1", limit
    )
    items = []
    for r in rows:
        item = dict(r)
        raw: bytes = item.pop("payload")
        try:
            item["payload_text"] = raw[:4096].decode("utf-8")
        except UnicodeDecodeError:
            item["payload_base64"] = raw[:4096].hex()
        item["payload_bytes"] = len(raw)
        items.append(item)
    return json_response({"items": items})


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
    app.router.add_get("/api/v1/stats/hotspots", hotspots)
    app.router.add_get("/api/v1/stats/summary", summary)
