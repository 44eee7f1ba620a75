"""Middleware every request passes: a request id, problem documents for every error, and authentication."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from wangge import logs
from wangge.gateway.accounts.errors import AccountError
from wangge.gateway.accounts.tokens import principal_for
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.http.context import CLOCK, POOL, bearer_token
from wangge.gateway.http.problems import ProblemError, problem

log = logging.getLogger(__name__)
access_log = logging.getLogger("wangge.http")

_TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Content",
    429: "Too Many Requests",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_ROUTES = web.AppKey("public_routes", frozenset)
SECURITY_HEADERS: web.AppKey[dict[str, str]] = web.AppKey("security_headers")


def security_headers(tile_url: str | None) -> dict[str, str]:
    """Headers for every response. Scripts only from the gateway itself (the console has no inline script);
    images also from the configured map tile server; nothing may frame the console."""
    images = ["'self'", "data:", "blob:"]
    if tile_url and tile_url.startswith(("http://", "https://")):
        parts = urlsplit(tile_url.replace("{s}.", "*."))
        images.append(f"{parts.scheme}://{parts.netloc}")
    policy = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Leaflet positions its panes with style attributes
        f"img-src {' '.join(images)}",
        "connect-src 'self'",
        "media-src 'self' blob:",  # clips and live view play from memory (object URLs, Media Source)
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return {
        "Content-Security-Policy": "; ".join(policy),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response as it is prepared (pages, static files, problems, streams alike)."""
    for name, value in request.app[SECURITY_HEADERS].items():
        response.headers.setdefault(name, value)


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


TOKEN_EXPIRES_HEADER = "Wangge-Token-Expires"


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as exc:
        return exc.response()
    except CaseError as exc:
        wait = exc.extra.get("retry_after")
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if isinstance(wait, int | float) else None
        return problem(exc.status, _TITLES.get(exc.status, "Error"), str(exc), headers, **exc.extra)
    except AccountError as exc:
        return problem(exc.status, _TITLES.get(exc.status, "Error"), str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, exc.text if exc.text != f"{exc.status}: {exc.reason}" else None)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "the error is in the gateway log")


def _is_public(request: web.Request) -> bool:
    """Outside /api/ (pages, health, metrics) or an operation the route table marks public."""
    if not request.path.startswith("/api/"):
        return True
    resource = request.match_info.route.resource
    return resource is not None and (request.method, resource.canonical) in request.app[PUBLIC_ROUTES]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_public(request):
        return await handler(request)
    scheme = request.headers.get("Authorization", "").partition(" ")[0]
    token = bearer_token(request)
    if scheme.lower() != "bearer" or not token:
        raise ProblemError(401, "Unauthorized", "send Authorization: Bearer <token> (POST /api/v1/auth/login)")
    principal = await principal_for(request.app[POOL], token, request.app[CLOCK]())
    if principal is None:
        raise ProblemError(401, "Unauthorized", "the token is unknown, revoked or expired")
    if principal.is_edge and not request.path.startswith(f"/api/v1/edges/{principal.edge_id}/"):
        raise ProblemError(403, "Forbidden", "an edge token may only post its own alerts")
    request["principal"] = principal
    response = await handler(request)
    if principal.is_edge and principal.token_expires_at is not None:
        # An edge rotates its token ahead of this (POST /api/v1/edges/{id}/token).
        response.headers[TOKEN_EXPIRES_HEADER] = principal.token_expires_at.isoformat()
    return response
