"""The central broker asks the gateway who may connect and what each identity may publish or subscribe
(EMQX's HTTP authentication and authorisation; Mosquitto reads the files `wangge admin` writes instead).

The broker calls with a bearer secret of its own (`mqtt.broker_hooks_secret_file`); without it configured the
hooks answer 404. A refused login or topic is counted in /metrics."""

from __future__ import annotations

import hmac

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.accounts.broker import broker_login, broker_may
from wangge.gateway.http.context import BROKER_HOOKS, POOL
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.broker import BrokerAccess, BrokerLogin, BrokerVerdict
from wangge.gateway.http.spec import Body, RouteTable, json_reply

routes = RouteTable("broker")


def _check_caller(request: web.Request) -> None:
    hooks = request.app[BROKER_HOOKS]
    if hooks.secret is None:
        raise ProblemError(404, "Not Found", "broker hooks are off (mqtt.broker_hooks_secret_file)")
    given = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if not hmac.compare_digest(given.encode(), hooks.secret.encode()):
        raise ProblemError(401, "Unauthorized", "the broker's hook secret is wrong")


@routes.post(
    "/api/v1/broker/authenticate",
    summary="EMQX HTTP authentication: is this username and password one of ours?",
    replies=json_reply(BrokerVerdict),
    body=Body(BrokerLogin, max_bytes=4 * 1024),
    errors=(400, 401, 404, 413, 415, 422),
    public=True,
)
async def authenticate(request: web.Request, body: BrokerLogin) -> web.Response:
    _check_caller(request)
    async with request.app[POOL].acquire() as conn:
        ok = await broker_login(conn, body.username, body.password, request.app[BROKER_HOOKS].gateway_password)
    if not ok:
        metrics.BROKER_REFUSALS.labels("login").inc()
    return json_response({"result": "allow" if ok else "deny", "is_superuser": False})


@routes.post(
    "/api/v1/broker/authorize",
    summary="EMQX HTTP authorisation: may this identity publish or subscribe to this topic?",
    replies=json_reply(BrokerVerdict),
    body=Body(BrokerAccess, max_bytes=4 * 1024),
    errors=(400, 401, 404, 413, 415, 422),
    public=True,
)
async def authorize(request: web.Request, body: BrokerAccess) -> web.Response:
    _check_caller(request)
    ok = broker_may(body.username, body.action, body.topic)
    if not ok:
        metrics.BROKER_REFUSALS.labels(body.action if body.action in ("publish", "subscribe") else "other").inc()
    return json_response({"result": "allow" if ok else "deny", "is_superuser": False})
