"""The HTTP application (aiohttp): middlewares, health, metrics, static pages, and the route modules."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wangge import logs
from wangge.gateway import live, routes_admin, routes_console, routes_tickets, routes_webhooks
from wangge.gateway.appkeys import CLOCK, CONSOLE, POOL, READY_CHECKS, RULES
from wangge.gateway.auth import principal_for
from wangge.gateway.config import ConsoleConfig
from wangge.gateway.http_util import json_response
from wangge.gateway.openapi import document
from wangge.gateway.problems import ProblemError, problem
from wangge.gateway.tickets import CaseError, CaseRules

log = logging.getLogger(__name__)
access_log = logging.getLogger("wangge.http")

_PUBLIC = {"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/auth/login"}
_PUBLIC_PREFIXES = ("/api/v1/progress/",)

_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request gets an id (the caller's X-Request-Id, or a new one), in the response and the logs."""
    rid = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    token = logs.request_id.set(rid)
    started = time.perf_counter()
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        if request.path.startswith("/api/"):
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return response
    finally:
        logs.request_id.reset(token)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as exc:
        return exc.response()
    except CaseError as exc:
        return problem(exc.status, _TITLES.get(exc.status, "Error"), str(exc), **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, exc.text if exc.text != f"{exc.status}: {exc.reason}" else None)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "the error is in the gateway log")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not path.startswith("/api/") or path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "Unauthorized", "send Authorization: Bearer <token> (POST /api/v1/auth/login)")
    principal = await principal_for(request.app[POOL], token.strip(), request.app[CLOCK]())
    if principal is None:
        raise ProblemError(401, "Unauthorized", "the token is unknown, revoked or expired")
    if principal.is_edge and not path.startswith(f"/api/v1/edges/{principal.edge_id}/"):
        raise ProblemError(403, "Forbidden", "an edge token may only post its own alerts")
    request["principal"] = principal
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, bool] = {}
    try:
        async with asyncio.timeout(2):
            checks["database"] = await request.app[POOL].fetchval("SELECT 1") == 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        checks["database"] = False
    for name, check in request.app[READY_CHECKS].items():
        checks[name] = check()
    if all(checks.values()):
        return json_response({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, ok in checks.items() if not ok)
    return problem(503, "Service Unavailable", f"not reachable: {failing}", checks=checks)


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _static(name: str, content_type: str) -> Handler:
    body = resources.files("wangge.gateway").joinpath(name).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return handler


async def openapi_handler(request: web.Request) -> web.Response:
    return json_response(document())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    pool: asyncpg.Pool,
    ready_checks: dict[str, Callable[[], bool]],
    rules: CaseRules | None = None,
    clock: Callable[[], datetime] = _utc_now,
    console: ConsoleConfig | None = None,
) -> web.Application:
    from wangge.gateway.ingest import default_rules

    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware, auth_middleware], client_max_size=32 * 1024**2
    )
    app[POOL] = pool
    app[READY_CHECKS] = ready_checks
    app[RULES] = rules or default_rules()
    app[CLOCK] = clock
    app[CONSOLE] = console or ConsoleConfig()
    static = resources.files("wangge.gateway").joinpath("static")
    app.router.add_get("/", _static("static/index.html", "text/html"))
    app.router.add_get("/progress.html", _static("static/progress.html", "text/html"))
    app.router.add_static("/static/", str(static), append_version=False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/api/v1/openapi.json", openapi_handler)
    routes_tickets.add_routes(app)
    routes_admin.add_routes(app)
    routes_webhooks.add_routes(app)
    live.add_routes(app)
    routes_console.add_routes(app)
    return app
