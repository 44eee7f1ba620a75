"""Webhook subscriptions, their deliveries and attempts, and replay of dead deliveries."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wangge.configfile import format_loc
from wangge.gateway.appkeys import CLOCK, POOL, principal_of, region_path_in_scope, require_role
from wangge.gateway.auth import Principal
from wangge.gateway.http_util import Params, json_body, json_response, path_int
from wangge.gateway.problems import ProblemError
from wangge.gateway.webhooks import formats, store, subscriptions
from wangge.gateway.webhooks.destinations import check_url
from wangge.gateway.webhooks.subscriptions import SubscriptionIn

MANAGERS = ("admin", "supervisor")
SUBSCRIPTION_COLUMNS = (
    "s.id, s.name, s.url, s.format, s.region_path, s.categories, s.severities, s.event_types, s.enabled,"
    " s.disabled_reason, s.rate_per_min, s.failures_in_row, s.circuit_open_until, s.created_by, s.created_at"
)


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    enabled: bool | None = None
    categories: list[str] | None = None
    severities: list[Literal["info", "minor", "major", "critical"]] | None = None
    event_types: list[Literal[formats.EVENT_TYPES]] | None = None  # type: ignore[valid-type]


def _invalid(exc: ValidationError) -> ProblemError:
    params = [{"name": format_loc(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
    return ProblemError(422, "Unprocessable Content", "the subscription is not valid", invalid_params=params)


async def create_subscription(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    try:
        data = SubscriptionIn.model_validate(await json_body(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    path = await region_path_in_scope(request, principal, data.region, status=422)
    try:
        async with request.app[POOL].acquire() as conn:
            sub_id, secret = await subscriptions.create(conn, data, path, principal.name)
    except subscriptions.SubscriptionError as exc:
        raise ProblemError(
            422, "Unprocessable Content", str(exc), invalid_params=[{"name": exc.field, "reason": str(exc)}]
        ) from None
    body = await _subscription(request, principal, int(sub_id))
    body["secret"] = secret  # shown once
    return json_response(body, status=201)


async def _subscription(request: web.Request, principal: Principal, sub_id: int) -> dict[str, Any]:
    row = await request.app[POOL].fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE s.id = $1 AND s.region_path LIKE $2 || '%'",
        sub_id,
        principal.scope,
    )
    if row is None:
        raise ProblemError(404, "Not Found", f"no subscription {sub_id}")
    return dict(row)


async def list_subscriptions(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    rows = await request.app[POOL].fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE s.region_path LIKE $1 || '%' ORDER BY s.id",
        principal.scope,
    )
    return json_response({"items": [dict(r) for r in rows]})


async def patch_subscription(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    sub_id = path_int(request)
    await _subscription(request, principal, sub_id)
    try:
        data = SubscriptionPatch.model_validate(await json_body(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    if data.url is not None and (problem := check_url(data.url)):
        raise ProblemError(422, "Unprocessable Content", problem, invalid_params=[{"name": "url", "reason": problem}])
    changes = data.model_dump(exclude_none=True)
    if changes:
        sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(changes))
        extra = ", disabled_reason = NULL, failures_in_row = 0, circuit_open_until = NULL" if data.enabled else ""
        await request.app[POOL].execute(
            f"UPDATE webhook_subscriptions SET {sets}{extra}, updated_at = now() WHERE id = $1",
            sub_id,
            *[list(v) if isinstance(v, list) else v for v in changes.values()],
        )
    return json_response(await _subscription(request, principal, sub_id))


async def delete_subscription(request: web.Request) -> web.Response:
    """Disable for good (the delivery history stays)."""
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    sub_id = path_int(request)
    await _subscription(request, principal, sub_id)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
            sub_id,
            f"deleted by {principal.name}",
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'subscription deleted'"
            " WHERE subscription_id = $1 AND state = 'pending'",
            sub_id,
        )
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    params = Params(request)
    states = params.choices("state", ("pending", "delivering", "delivered", "dead", "cancelled"))
    subscription = params.integer("subscription", 0, 0, 2**62)
    cursor = params.integer("cursor", 0, 0, 2**62)
    limit = params.integer("limit", 100, 1, 1000)
    params.check()
    rows = await request.app[POOL].fetch(
        "SELECT d.id, d.subscription_id, d.event_id, e.event_type, d.message_id, d.state, d.attempts,"
        " d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at"
        " FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
        " JOIN outbox_events e ON e.id = d.event_id WHERE s.region_path LIKE $1 || '%'"
        " AND (cardinality($2::text[]) = 0 OR d.state = ANY($2)) AND ($3 = 0 OR d.subscription_id = $3)"
        " AND ($4 = 0 OR d.id < $4) ORDER BY d.id DESC LIMIT $5",
        principal.scope,
        states,
        subscription,
        cursor,
        limit + 1,
    )
    items = [dict(r) for r in rows[:limit]]
    return json_response({"items": items, "next_cursor": str(rows[limit - 1]["id"]) if len(rows) > limit else None})


async def _delivery_in_scope(request: web.Request, principal: Principal, delivery_id: int) -> None:
    found = await request.app[POOL].fetchval(
        "SELECT 1 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
        " WHERE d.id = $1 AND s.region_path LIKE $2 || '%'",
        delivery_id,
        principal.scope,
    )
    if not found:
        raise ProblemError(404, "Not Found", f"no delivery {delivery_id}")


async def delivery_attempts(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    delivery_id = path_int(request)
    await _delivery_in_scope(request, principal, delivery_id)
    rows = await request.app[POOL].fetch(
        "SELECT id, at, status, latency_ms, error, response_excerpt, cardinality(delivery_ids) AS merged"
        " FROM webhook_attempts WHERE $1 = ANY(delivery_ids) ORDER BY id",
        delivery_id,
    )
    return json_response({"items": [dict(r) for r in rows]})


async def replay_delivery(request: web.Request) -> web.Response:
    principal = principal_of(request)
    require_role(principal, MANAGERS)
    delivery_id = path_int(request)
    await _delivery_in_scope(request, principal, delivery_id)
    async with request.app[POOL].acquire() as conn:
        row = await store.replay(conn, delivery_id, request.app[CLOCK]())
    if row is None:
        raise ProblemError(409, "Conflict", "only a dead or cancelled delivery of an enabled subscription is replayed")
    return json_response(dict(row))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/webhooks/subscriptions", list_subscriptions)
    app.router.add_post("/api/v1/webhooks/subscriptions", create_subscription)
    app.router.add_patch("/api/v1/webhooks/subscriptions/{id}", patch_subscription)
    app.router.add_delete("/api/v1/webhooks/subscriptions/{id}", delete_subscription)
    app.router.add_get("/api/v1/webhooks/deliveries", list_deliveries)
    app.router.add_get("/api/v1/webhooks/deliveries/{id}/attempts", delivery_attempts)
    app.router.add_post("/api/v1/webhooks/deliveries/{id}/replay", replay_delivery)
