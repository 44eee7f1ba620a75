"""Open311 GeoReport v2 under /open311/v2/ (JSON and XML, errors as the spec writes them), and the admin's
api keys for the systems that use it."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wangge.gateway.accounts.audit import audit
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.http.context import CLOCK, KEY_RING, POOL, PUBLIC_INTAKE, RULES, principal_of
from wangge.gateway.http.evidence import media_bytes
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.intake import (
    FormatPath,
    KeyPath,
    KeyRequest,
    MediaPath,
    Open311KeyIssued,
    Open311Keys,
    RequestPath,
    RequestsPosted,
    ServiceDefinition,
    ServicePath,
    ServiceRequests,
    ServiceRequestUpdates,
    Services,
    TokenPath,
    Tokens,
)
from wangge.gateway.http.spec import Body, Reply, RouteTable, json_reply
from wangge.gateway.intake import keys, open311
from wangge.gateway.metrics import INTAKE_REFUSED

routes = RouteTable("open311")
MAX_POST_BYTES = 8 * 1024 * 1024
XML = "text/xml"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _render(fmt: str, kind: str, data: Any, status: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(body=open311.to_xml(kind, data), status=status, content_type=XML, charset="utf-8")
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def spec_errors(
    handler: Callable[..., Awaitable[web.Response]],
) -> Callable[..., Awaitable[web.Response]]:
    """Every refusal answered the spec's way, in the format the path asked for."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request, path: Any, **kwargs: Any) -> web.Response:
        try:
            return await handler(request, path, **kwargs)
        except CaseError as exc:
            if exc.status in (401, 403, 429):
                INTAKE_REFUSED.labels("api_key" if exc.status != 429 else "rate_limited").inc()
            wait = exc.extra.get("retry_after")
            response = _render(
                getattr(path, "fmt", "json"), "errors", [{"code": exc.status, "description": str(exc)}], exc.status
            )
            if isinstance(wait, int | float):
                response.headers["Retry-After"] = str(max(1, round(wait)))
            return response

    return wrapped


def _basic_secret(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or user


def api_key(request: web.Request, form: Any = None) -> str | None:
    """The spec's api_key parameter (query or form), else X-Api-Key, else HTTP Basic (the key as the password,
    for clients that take credentials in the URL)."""
    found = request.query.get("api_key") or (form.get("api_key") if form is not None else None)
    return str(found) if found else request.headers.get("X-Api-Key") or _basic_secret(request)


def _check_jurisdiction(request: web.Request, form: Any = None) -> None:
    given = request.query.get("jurisdiction_id") or (form.get("jurisdiction_id") if form is not None else None)
    if given and given != request.app[PUBLIC_INTAKE].config.open311_jurisdiction:
        raise open311.fail(404, f"jurisdiction_id {str(given)[:60]} not found")


async def _client(request: web.Request, form: Any = None) -> keys.Open311Client:
    _check_jurisdiction(request, form)
    async with request.app[POOL].acquire() as conn:
        return await request.app[KEY_RING].client(conn, api_key(request, form), request.app[CLOCK]())


def _requests(request: web.Request, fmt: str, rows: list[Any]) -> web.Response:
    """Cases as the spec's requests; photo links point back at this gateway as the client reached it."""
    config, rules, base = request.app[PUBLIC_INTAKE].config, request.app[RULES], f"{request.scheme}://{request.host}"
    return _render(fmt, "requests", [open311.request_out(config, rules, r, base) for r in rows])


@routes.get(
    "/open311/v2/services.{fmt}",
    summary="GeoReport: the services (resident categories) a request can name",
    replies=json_reply(Services, description="JSON; .xml: the same as <services>"),
    path_params=FormatPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_services(request: web.Request, path: FormatPath) -> web.Response:
    await _client(request)
    return _render(path.fmt, "services", open311.services(request.app[PUBLIC_INTAKE].config, request.app[RULES]))


@routes.get(
    "/open311/v2/services/{code}.{fmt}",
    summary="GeoReport: a service's attributes (its definition)",
    replies=json_reply(ServiceDefinition, description="JSON; .xml: <service_definition>"),
    path_params=ServicePath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_definition(request: web.Request, path: ServicePath) -> web.Response:
    await _client(request)
    return _render(path.fmt, "definition", open311.definition(request.app[PUBLIC_INTAKE].config, path.code))


@routes.post(
    "/open311/v2/requests.{fmt}",
    summary="GeoReport: a new request (form fields as the spec names them; a `media` file may be attached)",
    replies=json_reply(RequestsPosted, description="JSON; .xml: <service_requests>"),
    path_params=FormatPath,
    body=Body(media_types=FORMS, max_bytes=MAX_POST_BYTES),
    errors=(400, 401, 403, 404, 413, 429),
    public=True,
)
@spec_errors
async def open311_post(request: web.Request, path: FormatPath) -> web.Response:
    if request.content_type not in FORMS:
        raise open311.fail(400, "send the fields as application/x-www-form-urlencoded or multipart/form-data")
    if request.content_length is not None and request.content_length > MAX_POST_BYTES:
        raise open311.fail(413, f"a request takes at most {MAX_POST_BYTES} bytes")
    try:
        form = await request.post()
    except (ValueError, web.HTTPException) as exc:
        raise open311.fail(400, f"the form cannot be read: {type(exc).__name__}") from None
    client = await _client(request, form)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    media = form.get("media")
    photo = None
    if isinstance(media, web.FileField):
        photo = open311.photo_from_upload(media.content_type, media.file.read(MAX_POST_BYTES + 1))
    report = open311.parse_request(request.app[PUBLIC_INTAKE].config, fields, photo, client)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        submitted = await open311.post_request(conn, request.app[RULES], report, client, request.app[CLOCK]())
    return _render(path.fmt, "requests", [open311.posted(submitted)], 200)


@routes.get(
    "/open311/v2/requests.{fmt}",
    summary="GeoReport: requests by id, service, status and date (the key's region only)",
    replies=json_reply(ServiceRequests, description="JSON; .xml: <service_requests>"),
    path_params=FormatPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_requests(request: web.Request, path: FormatPath) -> web.Response:
    client = await _client(request)
    async with request.app[POOL].acquire() as conn:
        config = request.app[PUBLIC_INTAKE].config
        rows = await open311.find_requests(conn, config, client, request.query, request.app[CLOCK]())
    return _requests(request, path.fmt, rows)


@routes.get(
    "/open311/v2/requests/{id}.{fmt}",
    summary="GeoReport: one request",
    replies=json_reply(ServiceRequests, description="JSON (a list of one); .xml: <service_requests>"),
    path_params=RequestPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_request(request: web.Request, path: RequestPath) -> web.Response:
    client = await _client(request)
    async with request.app[POOL].acquire() as conn:
        rows = await open311.one_request(conn, client, path.id)
    return _requests(request, path.fmt, rows)


@routes.get(
    "/open311/v2/tokens/{token}.{fmt}",
    summary="GeoReport: the request a token (from POST requests) stands for",
    replies=json_reply(Tokens, description="JSON; .xml: <service_requests>"),
    path_params=TokenPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_token(request: web.Request, path: TokenPath) -> web.Response:
    client = await _client(request)
    async with request.app[POOL].acquire() as conn:
        found = await open311.token_request(conn, client, path.token)
    return _render(path.fmt, "requests", [found])


@routes.get(
    "/open311/v2/servicerequestupdates.{fmt}",
    summary="GeoReport extension (FixMyStreet): each change of stage of the key's requests in a date range",
    replies=json_reply(ServiceRequestUpdates, description="JSON; .xml: <service_request_updates>"),
    path_params=FormatPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_updates(request: web.Request, path: FormatPath) -> web.Response:
    client = await _client(request)
    async with request.app[POOL].acquire() as conn:
        found = await open311.updates(conn, client, request.query, request.app[CLOCK]())
    return _render(path.fmt, "updates", found)


@routes.get(
    "/open311/v2/media/{id}",
    summary="A request's photo (media_url), for a key whose region holds it; each view audited",
    replies=Reply(200, "the image", media_type="image/*"),
    path_params=MediaPath,
    errors=(400, 401, 404, 429),
    public=True,
)
@spec_errors
async def open311_media(request: web.Request, path: MediaPath) -> web.Response:
    client = await _client(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await open311.media_row(conn, client, path.id)
        await audit(
            conn, f"open311:{client.name}", "evidence.view", str(path.id), request.remote, {"ticket": row["ticket_id"]}
        )
    data = await media_bytes(request, row, path.id)
    return web.Response(body=data, content_type=row["content_type"], headers={"Cache-Control": "private, no-store"})


@routes.post(
    "/api/v1/open311/keys",
    summary="Issue an Open311 api_key to an integrating system (admin; shown once)",
    replies=json_reply(Open311KeyIssued, 201),
    body=KeyRequest,
    errors=(400, 401, 403, 409, 413, 415, 422),
)
async def issue_open311_key(request: web.Request, body: KeyRequest) -> web.Response:
    principal = principal_of(request)
    per_minute = body.per_minute or request.app[PUBLIC_INTAKE].config.open311_per_minute
    async with request.app[POOL].acquire() as conn, conn.transaction():
        issued = await keys.issue_key(conn, principal, body.name, body.region, per_minute, request.remote)
    return json_response(issued, status=201)


@routes.get(
    "/api/v1/open311/keys",
    summary="The Open311 keys (admin): who, where, how fast, last used, revoked",
    replies=json_reply(Open311Keys),
    errors=(401, 403),
)
async def list_open311_keys(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        return json_response({"items": await keys.list_keys(conn, principal)})


@routes.delete(
    "/api/v1/open311/keys/{id}",
    summary="Revoke an Open311 key (admin): its next request is refused",
    replies=Reply(204, "revoked"),
    path_params=KeyPath,
    errors=(400, 401, 403, 404),
)
async def revoke_open311_key(request: web.Request, path: KeyPath) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await keys.revoke_key(conn, principal, path.id, request.app[CLOCK](), request.remote)
    return web.Response(status=204)
