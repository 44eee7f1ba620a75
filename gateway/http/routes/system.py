"""Health, readiness, metrics and the API document itself: what load balancers and scrapers call."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wangge.gateway.http.context import OPENAPI_TEXT, POOL, READY_CHECKS
from wangge.gateway.http.problems import problem
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.common import Status
from wangge.gateway.http.schemas.system import Ready
from wangge.gateway.http.spec import Reply, RouteTable, json_reply
from wangge.gateway.storage.pool import database_reachable

routes = RouteTable("system")
OPENAPI_PATH = "/api/v1/openapi.json"


@routes.get("/healthz", summary="The process is up", replies=json_reply(Status), errors=(), public=True)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get(
    "/readyz",
    summary="Database and broker reachable (503 names what is not)",
    replies=json_reply(Ready),
    errors=(503,),
    public=True,
)
async def readyz(request: web.Request) -> web.Response:
    checks = {"database": await database_reachable(request.app[POOL])}
    for name, check in request.app[READY_CHECKS].items():
        checks[name] = check()
    if all(checks.values()):
        return json_response({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, ok in checks.items() if not ok)
    return problem(503, "Service Unavailable", f"not reachable: {failing}", checks=checks)


@routes.get(
    "/metrics",
    summary="Prometheus metrics",
    replies=Reply(200, "Prometheus text format", media_type="text/plain"),
    errors=(),
    public=True,
)
async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get(
    OPENAPI_PATH,
    summary="This document (OpenAPI 3.1)",
    replies=Reply(200, "OpenAPI 3.1", media_type="application/json"),
    errors=(),
    public=True,
)
async def openapi_handler(request: web.Request) -> web.Response:
    return web.Response(text=request.app[OPENAPI_TEXT], content_type="application/json")
