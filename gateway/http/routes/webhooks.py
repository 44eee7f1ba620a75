"""Webhook subscriptions, their deliveries and attempts, and replay of dead deliveries (supervisor, admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.http.context import (
    CLOCK,
    POOL,
    SECRET_BOX,
    WEBHOOKS,
    principal_of,
    region_path_in_scope,
    require_role,
)
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.webhooks import (
    AttemptList,
    DeliveryPage,
    DeliveryQuery,
    IdPath,
    Replayed,
    SecretRotated,
    Subscription,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionPatch,
)
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply
from wangge.gateway.webhooks import store, subscriptions
from wangge.gateway.webhooks.subscriptions import SubscriptionError, SubscriptionIn

routes = RouteTable("webhooks")
MANAGERS = ("admin", "supervisor")
_INVALID = "the subscription is not valid"


def _manager(request: web.Request) -> Principal:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    return principal


def _refused(exc: SubscriptionError) -> ProblemError:
    return ProblemError(
        422, "Unprocessable Content", str(exc), invalid_params=[{"name": exc.field, "reason": str(exc)}]
    )


async def _subscription(request: web.Request, principal: Principal, sub_id: int) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        row = await subscriptions.get_in_scope(conn, sub_id, principal.scope)
    if row is None:
        raise ProblemError(404, "Not Found", f"no subscription {sub_id}")
    return row


@routes.get(
    "/api/v1/webhooks/subscriptions",
    summary="Webhook subscriptions in my area (supervisor, admin)",
    replies=json_reply(SubscriptionList),
)
async def list_subscriptions(request: web.Request) -> web.Response:
    principal = _manager(request)
    async with request.app[POOL].acquire() as conn:
        return json_response({"items": await subscriptions.list_in_scope(conn, principal.scope)})


@routes.post(
    "/api/v1/webhooks/subscriptions",
    summary="Subscribe: URL, format (standard, dingtalk, wecom, feishu), secret, filters; the secret is shown once",
    replies=json_reply(SubscriptionCreated, 201, "created"),
    body=Body(SubscriptionIn, error_detail=_INVALID),
    errors=(400, 401, 403, 415, 422),
)
async def create_subscription(request: web.Request, body: SubscriptionIn) -> web.Response:
    principal = _manager(request)
    path = await region_path_in_scope(request, principal, body.region, status=422)
    try:
        async with request.app[POOL].acquire() as conn:
            sub_id, secret = await subscriptions.create(conn, request.app[SECRET_BOX], body, path, principal.name)
    except SubscriptionError as exc:
        raise _refused(exc) from None
    created = await _subscription(request, principal, int(sub_id))
    created["secret"] = secret  # shown once
    return json_response(created, status=201)


@routes.patch(
    "/api/v1/webhooks/subscriptions/{id}",
    summary="Change or re-enable a subscription",
    replies=json_reply(Subscription),
    path_params=IdPath,
    body=Body(SubscriptionPatch, error_detail=_INVALID),
    errors=(400, 401, 403, 404, 415, 422),
)
async def patch_subscription(request: web.Request, path: IdPath, body: SubscriptionPatch) -> web.Response:
    principal = _manager(request)
    await _subscription(request, principal, path.id)
    try:
        async with request.app[POOL].acquire() as conn:
            await subscriptions.update(conn, request.app[SECRET_BOX], path.id, body.model_dump(exclude_none=True))
    except SubscriptionError as exc:
        raise _refused(exc) from None
    return json_response(await _subscription(request, principal, path.id))


@routes.post(
    "/api/v1/webhooks/subscriptions/{id}/secret",
    summary="Rotate the signing secret (shown once); a standard webhook is signed with both for the overlap",
    replies=json_reply(SecretRotated, 201, "rotated"),
    path_params=IdPath,
    errors=(400, 401, 403, 404, 422),
)
async def rotate_subscription_secret(request: web.Request, path: IdPath) -> web.Response:
    principal = _manager(request)
    sub = await _subscription(request, principal, path.id)
    now = request.app[CLOCK]()
    overlap = timedelta(hours=request.app[WEBHOOKS].secret_overlap_h)
    try:
        async with request.app[POOL].acquire() as conn:
            secret = await subscriptions.rotate_secret(conn, request.app[SECRET_BOX], path.id, now, overlap)
            await audit(conn, principal.name, "webhook.secret_rotated", str(path.id), request.remote)
    except SubscriptionError as exc:
        raise _refused(exc) from None
    until = now + overlap if sub["format"] == "standard" else None
    return json_response({"secret": secret, "previous_valid_until": until}, status=201)


@routes.delete(
    "/api/v1/webhooks/subscriptions/{id}",
    summary="Disable a subscription for good (its delivery history stays)",
    replies=Reply(204, "disabled"),
    path_params=IdPath,
    errors=(400, 401, 403, 404),
)
async def delete_subscription(request: web.Request, path: IdPath) -> web.Response:
    principal = _manager(request)
    await _subscription(request, principal, path.id)
    async with request.app[POOL].acquire() as conn:
        await subscriptions.disable(conn, path.id, principal.name)
    return web.Response(status=204)


@routes.get(
    "/api/v1/webhooks/deliveries",
    summary="Deliveries, newest first (filters state, subscription)",
    replies=json_reply(DeliveryPage),
    query=DeliveryQuery,
)
async def list_deliveries(request: web.Request, query: DeliveryQuery) -> web.Response:
    principal = _manager(request)
    async with request.app[POOL].acquire() as conn:
        items, after = await store.list_deliveries(
            conn, principal.scope, list(query.state), query.subscription, query.cursor, query.limit
        )
    return json_response({"items": items, "next_cursor": after})


async def _delivery_in_scope(request: web.Request, principal: Principal, delivery_id: int) -> None:
    async with request.app[POOL].acquire() as conn:
        if not await store.delivery_in_scope(conn, delivery_id, principal.scope):
            raise ProblemError(404, "Not Found", f"no delivery {delivery_id}")


@routes.get(
    "/api/v1/webhooks/deliveries/{id}/attempts",
    summary="Every attempt: status, latency, response excerpt",
    replies=json_reply(AttemptList),
    path_params=IdPath,
    errors=(400, 401, 403, 404),
)
async def delivery_attempts(request: web.Request, path: IdPath) -> web.Response:
    principal = _manager(request)
    await _delivery_in_scope(request, principal, path.id)
    async with request.app[POOL].acquire() as conn:
        return json_response({"items": await store.attempts(conn, path.id)})


@routes.post(
    "/api/v1/webhooks/deliveries/{id}/replay",
    summary="Send a dead delivery again (same webhook-id)",
    replies=json_reply(Replayed),
    path_params=IdPath,
    errors=(400, 401, 403, 404, 409),
)
async def replay_delivery(request: web.Request, path: IdPath) -> web.Response:
    principal = _manager(request)
    await _delivery_in_scope(request, principal, path.id)
    async with request.app[POOL].acquire() as conn:
        row = await store.replay(conn, path.id, request.app[CLOCK]())
    if row is None:
        raise ProblemError(409, "Conflict", "only a dead or cancelled delivery of an enabled subscription is replayed")
    return json_response(dict(row))
