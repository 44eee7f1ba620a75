"""Signing in and out, and who the caller is."""

from __future__ import annotations

import math
import time
from datetime import timedelta

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.tokens import revoke
from wangge.gateway.accounts.users import login as check_login
from wangge.gateway.http.context import CLOCK, LOGIN_THROTTLE, POOL, RULES, bearer_token, principal_of
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.auth import LoginRequest, LoginResult, Me
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply

routes = RouteTable("auth")


@routes.post(
    "/api/v1/auth/login",
    summary="Sign in; returns an expiring token",
    replies=json_reply(LoginResult),
    body=Body(
        LoginRequest, error_status=400, error_detail='send {"username": ..., "password": ...}', max_bytes=8 * 1024
    ),
    errors=(400, 401, 413, 415, 429),
    public=True,
)
async def login(request: web.Request, body: LoginRequest) -> web.Response:
    """Throttled per username (failures) and per address (attempts); the password check runs off the loop."""
    throttle = request.app[LOGIN_THROTTLE]
    address = request.remote or ""
    started = time.monotonic()
    wait = throttle.retry_after(body.username, address, started)
    if wait is None and throttle.pending >= throttle.max_pending:
        wait = 1.0
    if wait is not None:
        metrics.LOGINS_THROTTLED.inc()
        raise ProblemError(
            429,
            "Too Many Requests",
            f"too many sign-in attempts; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    throttle.attempted(address, started)
    now = request.app[CLOCK]()
    hours = request.app[RULES].token_hours
    throttle.pending += 1
    try:
        signed_in = await check_login(request.app[POOL], body.username, body.password, now, hours, address)
        if signed_in is None:
            throttle.failed(body.username, time.monotonic())
            raise ProblemError(401, "Unauthorized", "wrong username or password")
        token, principal = signed_in
    finally:
        throttle.pending -= 1
    return json_response(
        {
            "token": token,
            "expires_at": now + timedelta(hours=hours),
            "user": {"username": principal.name, "role": principal.role, "scope": principal.scope},
        }
    )


@routes.post("/api/v1/auth/logout", summary="Revoke this token", replies=Reply(204, "signed out"), errors=(401,))
async def logout(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        await revoke(conn, bearer_token(request))
        await audit(conn, principal.name, "logout", None, request.remote)
    return web.Response(status=204)


@routes.get("/api/v1/me", summary="Who am I", replies=json_reply(Me), errors=(401,))
async def me(request: web.Request) -> web.Response:
    p = principal_of(request)
    return json_response({"name": p.name, "role": p.role, "scope": p.scope, "edge_id": p.edge_id})
