"""What handlers find on the application and the request: the pool, the case rules, the clock, the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg
from aiohttp import web

from wangge.gateway.accounts.broker import BrokerHooks
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.throttle import LoginThrottle
from wangge.gateway.cases.registry import region_path
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.console.config import ConsoleConfig
from wangge.gateway.console.live import OutboxSignal
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.ingest.config import IngestConfig
from wangge.gateway.intake.keys import KeyRing
from wangge.gateway.intake.public import PublicIntake
from wangge.gateway.media.config import LiveConfig
from wangge.gateway.media.objects import Media
from wangge.gateway.webhooks.config import WebhooksConfig
from wangge.gateway.webhooks.sealing import SecretBox

POOL = web.AppKey("pool", asyncpg.Pool)
ACCOUNTS = web.AppKey("accounts", AccountsConfig)
WEBHOOKS = web.AppKey("webhooks", WebhooksConfig)
BROKER_HOOKS = web.AppKey("broker_hooks", BrokerHooks)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
RULES = web.AppKey("rules", CaseRules)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
CONSOLE = web.AppKey("console", ConsoleConfig)
INGEST = web.AppKey("ingest", IngestConfig)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
READY_CHECKS: web.AppKey[dict[str, Callable[[], bool]]] = web.AppKey("ready_checks")
SIGNAL = web.AppKey("outbox_signal", OutboxSignal)
PUBLIC_INTAKE = web.AppKey("public_intake", PublicIntake)
KEY_RING = web.AppKey("key_ring", KeyRing)
MEDIA = web.AppKey("media", Media)
# MQTT publish (QoS 1) to an edge's commands topic; False when the broker is not connected.
PUBLISH: web.AppKey[Callable[[str, bytes], bool]] = web.AppKey("publish")
LIVE = web.AppKey("live", LiveConfig)
MAX_CLIP = web.AppKey("max_clip", tuple)  # (bytes, seconds)
OPENAPI_TEXT = web.AppKey("openapi_text", str)  # generated once from the route table when the app is made


def principal_of(request: web.Request) -> Principal:
    principal = request.get("principal")
    if not isinstance(principal, Principal):
        raise ProblemError(401, "Unauthorized", "sign in first")
    return principal


def media_of(request: web.Request) -> Media:
    media = request.app.get(MEDIA)
    if media is None:
        raise ProblemError(503, "Service Unavailable", "this gateway has no object store configured (media:)")
    return media


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    if principal.role is None or principal.role not in roles:
        raise ProblemError(403, "Forbidden", f"{principal.role or 'an edge'} may not do this")


def bearer_token(request: web.Request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


async def region_path_in_scope(request: web.Request, principal: Principal, code: str | None, status: int = 400) -> str:
    """The path of a region named in a request, which must lie inside the caller's area (no code: the area)."""
    if code is None:
        return principal.scope
    path = await region_path(request.app[POOL], code)
    if path is None or not path.startswith(principal.scope):
        title = "Bad Request" if status == 400 else "Unprocessable Content"
        raise ProblemError(
            status,
            title,
            f"no region {code!r} in your area",
            invalid_params=[{"name": "region", "reason": "unknown or outside your area"}],
        )
    return path
