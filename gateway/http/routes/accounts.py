"""Users and tokens: the accounts admins (and supervisors, for their own grid workers and operators) run."""

from __future__ import annotations

from aiohttp import web

from wangge.gateway.accounts import management
from wangge.gateway.http.context import ACCOUNTS, CLOCK, POOL, principal_of
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.accounts import (
    EdgeTokenIssued,
    EdgeTokenPath,
    NewUser,
    PasswordChange,
    TokenPage,
    TokenPath,
    TokenQuery,
    User,
    UserPage,
    UserPatch,
    UserPath,
    UserQuery,
)
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply

routes = RouteTable("accounts")


@routes.get("/api/v1/users", summary="Users I manage", replies=json_reply(UserPage), query=UserQuery)
async def users(request: web.Request, query: UserQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        items, after = await management.list_users(
            conn, principal_of(request), query.role, query.disabled, query.q, query.cursor, query.limit
        )
    return json_response({"items": items, "next_cursor": after})


@routes.post(
    "/api/v1/users",
    summary="Create a user (a supervisor: operators and grid workers in their area)",
    replies=json_reply(User, 201, "created"),
    body=Body(NewUser, max_bytes=8 * 1024),
    errors=(400, 401, 403, 409, 413, 415, 422),
)
async def create_user(request: web.Request, body: NewUser) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        user = await management.create(
            conn,
            principal_of(request),
            body.username,
            body.password,
            body.role,
            body.region,
            body.display_name,
            request.remote,
        )
    return json_response(user, status=201)


@routes.get(
    "/api/v1/users/{username}",
    summary="One user I manage",
    replies=json_reply(User),
    path_params=UserPath,
    errors=(400, 401, 403, 404),
)
async def user(request: web.Request, path: UserPath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return json_response(await management.get_user(conn, principal_of(request), path.username))


@routes.patch(
    "/api/v1/users/{username}",
    summary="Change role, region or name; disable or enable (role, region and disabling revoke their tokens)",
    replies=json_reply(User),
    path_params=UserPath,
    body=Body(UserPatch, max_bytes=8 * 1024),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
async def update_user(request: web.Request, path: UserPath, body: UserPatch) -> web.Response:
    change = management.UserChange(
        role=body.role, region_code=body.region, display_name=body.display_name, disabled=body.disabled
    )
    async with request.app[POOL].acquire() as conn:
        user = await management.update(conn, principal_of(request), path.username, change, request.remote)
    return json_response(user)


@routes.post(
    "/api/v1/users/{username}/password",
    summary="Reset a user's password (their tokens are revoked), or change my own with the current one",
    replies=Reply(204, "changed"),
    path_params=UserPath,
    body=Body(PasswordChange, max_bytes=8 * 1024),
    errors=(400, 401, 403, 404, 413, 415, 422),
)
async def password(request: web.Request, path: UserPath, body: PasswordChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await management.reset_password(
            conn, principal_of(request), path.username, body.password, body.current_password, request.remote
        )
    return web.Response(status=204)


@routes.get(
    "/api/v1/tokens",
    summary="Tokens of the accounts I manage (never secrets)",
    replies=json_reply(TokenPage),
    query=TokenQuery,
)
async def tokens(request: web.Request, query: TokenQuery) -> web.Response:
    active = request.app[CLOCK]() if query.active else None
    async with request.app[POOL].acquire() as conn:
        items, after = await management.list_tokens(
            conn, principal_of(request), query.user, query.edge_id, active, query.cursor or None, query.limit
        )
    return json_response({"items": items, "next_cursor": int(after) if after else None})


@routes.delete(
    "/api/v1/tokens/{id}",
    summary="Revoke a token",
    replies=Reply(204, "revoked"),
    path_params=TokenPath,
    errors=(400, 401, 403, 404),
)
async def revoke(request: web.Request, path: TokenPath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await management.revoke_token(conn, principal_of(request), path.id, request.remote)
    return web.Response(status=204)


@routes.post(
    "/api/v1/edges/{edge_id}/token",
    summary="Rotate an edge's token (the edge itself, or an admin); earlier tokens work for the grace period",
    replies=json_reply(EdgeTokenIssued, 201, "issued"),
    path_params=EdgeTokenPath,
    errors=(400, 401, 403, 404, 429),
)
async def edge_token(request: web.Request, path: EdgeTokenPath) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        token, expires, until = await management.rotate_edge(
            conn, principal_of(request), path.edge_id, request.app[CLOCK](), request.app[ACCOUNTS], request.remote
        )
    return json_response({"token": token, "expires_at": expires, "previous_valid_until": until}, status=201)
