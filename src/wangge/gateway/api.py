"""The HTTP API (aiohttp): tickets, edges, dead letters, health, metrics and the minimal page."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wangge.gateway.auth import token_name
from wangge.gateway.problems import ProblemError, problem

log = logging.getLogger(__name__)

POOL = web.AppKey("pool", asyncpg.Pool)
READY_CHECKS = web.AppKey("ready_checks", dict[str, Callable[[], bool]])
_OPEN_STATES_SQL = "closed_at IS NULL"
_TICKET_COLUMNS = (
    "id, correlation_key, state, category, severity, title, edge_id, device_id, rule_id, opened_at, "
    "updated_at, closed_at, alert_count, active_alerts, first_alert_at, last_alert_at"
)
_PUBLIC = {"/", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/favicon.ico"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, default=_jsonable, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, exc.text if exc.text != f"{exc.status}: {exc.reason}" else None)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "the error is in the gateway log")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _PUBLIC or not request.path.startswith("/api/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "Unauthorized", "send Authorization: Bearer <token>")
    name = await token_name(request.app[POOL], token.strip())
    if name is None:
        raise ProblemError(401, "Unauthorized", "the token is unknown, revoked or expired")
    request["principal"] = name
    return await handler(request)


class _Params:
    """Query parameters checked one by one; every bad one is reported, RFC 9457 `invalid_params` style."""

    def __init__(self, request: web.Request) -> None:
        self._query = request.query
        self.invalid: list[dict[str, str]] = []

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self._query.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            self.invalid.append({"name": name, "reason": f"must be a whole number from {low} to {high}"})
            return default
        return int(raw)

    def text(self, name: str, max_len: int = 200) -> str | None:
        raw = self._query.get(name)
        if raw is not None and len(raw) > max_len:
            self.invalid.append({"name": name, "reason": f"must be at most {max_len} characters"})
            return None
        return raw or None

    def check(self) -> None:
        if self.invalid:
            raise ProblemError(400, "Bad Request", "some query parameters are invalid", invalid_params=self.invalid)


def _encode_cursor(opened_at: datetime, ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"{opened_at.isoformat()}|{ticket_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at, _, tid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), int(tid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            400,
            "Bad Request",
            "cursor is not one this API gave out",
            invalid_params=[{"name": "cursor", "reason": "malformed"}],
        ) from None


async def list_tickets(request: web.Request) -> web.Response:
    params = _Params(request)
    limit = params.integer("limit", 50, 1, 200)
    state = params.text("state", 32)
    category = params.text("category", 128)
    edge_id = params.text("edge_id", 128)
    text = params.text("q")
    cursor = params.text("cursor", 400)
    params.check()
    where: list[str] = []
    args: list[Any] = []
    if state == "open":
        where.append(_OPEN_STATES_SQL)
    elif state:
        args.append(state)
        where.append(f"state = ${len(args)}")
    if category:
        args.append(category)
        where.append(f"(category = ${len(args)} OR category LIKE ${len(args)} || '.%')")
    if edge_id:
        args.append(edge_id)
        where.append(f"edge_id = ${len(args)}")
    if text:
        args.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        where.append(f"title ILIKE ${len(args)}")
    if cursor:
        at, tid = _decode_cursor(cursor)
        args.extend([at, tid])
        where.append(f"(opened_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    sql = (
        f"SELECT {_TICKET_COLUMNS} FROM tickets"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY opened_at DESC, id DESC LIMIT ${len(args)}"
    )
    rows = await request.app[POOL].fetch(sql, *args)
    items = [dict(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1]["opened_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})


def _path_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ProblemError(400, "Bad Request", f"ticket id must be a positive whole number, got {raw[:40]!r}")
    return int(raw)


async def get_ticket(request: web.Request) -> web.Response:
    ticket_id = _path_id(request)
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = $1", ticket_id)
        if row is None:
            raise ProblemError(404, "Not Found", f"no ticket {ticket_id}")
        alerts = await conn.fetch(
            "SELECT alert_id, edge_id, device_id, rule_id, category, severity, title, started_at, ended_at,"
            " last_seq, emitted_at, received_at, payload FROM alerts WHERE ticket_id = $1"
            " ORDER BY started_at, alert_id",
            ticket_id,
        )
        events = await conn.fetch(
            "SELECT id, at, actor, kind, from_state, to_state, note, data FROM ticket_events"
            " WHERE ticket_id = $1 ORDER BY id",
            ticket_id,
        )
    body = dict(row)
    body["alerts"] = [dict(a) for a in alerts]
    body["events"] = [dict(e) for e in events]
    return json_response(body)


async def list_edges(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch("SELECT edge_id, state, last_seen, status FROM edges ORDER BY edge_id")
    return json_response({"items": [dict(r) for r in rows]})


async def list_dead_letters(request: web.Request) -> web.Response:
    params = _Params(request)
    limit = params.integer("limit", 50, 1, 500)
    params.check()
    rows = await request.app[POOL].fetch(
        "SELECT id, received_at, source, reason, detail, payload FROM dead_letters ORDER BY id DESC LIMIT $1",
        limit,
    )
    items = []
    for r in rows:
        item = dict(r)
        raw: bytes = item.pop("payload")
        try:
            item["payload_text"] = raw[:4096].decode("utf-8")
        except UnicodeDecodeError:
            item["payload_base64"] = base64.b64encode(raw[:4096]).decode()
        item["payload_bytes"] = len(raw)
        items.append(item)
    return json_response({"items": items})


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


def create_app(pool: asyncpg.Pool, ready_checks: dict[str, Callable[[], bool]]) -> web.Application:
    app = web.Application(middlewares=[problem_middleware, auth_middleware], client_max_size=1024**2)
    app[POOL] = pool
    app[READY_CHECKS] = ready_checks
    app.router.add_get("/", _static("static/index.html", "text/html"))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/api/v1/openapi.json", _static("openapi.json", "application/json"))
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/{id}", get_ticket)
    app.router.add_get("/api/v1/edges", list_edges)
    app.router.add_get("/api/v1/dead-letters", list_dead_letters)
    return app
