"""The HTTP application (aiohttp): middleware, static pages, the live-feed signal, and every route table."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources

import asyncpg
from aiohttp import web
from cryptography.fernet import Fernet

from wangge.gateway.accounts.broker import BrokerHooks
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.accounts.throttle import LoginThrottle
from wangge.gateway.cases.rules import CaseRules, default_rules
from wangge.gateway.console.config import ConsoleConfig
from wangge.gateway.console.live import OutboxSignal
from wangge.gateway.http.context import (
    ACCOUNTS,
    BROKER_HOOKS,
    CLOCK,
    CONSOLE,
    INGEST,
    KEY_RING,
    LIVE,
    LOGIN_THROTTLE,
    MAX_CLIP,
    MEDIA,
    OPENAPI_TEXT,
    POOL,
    PUBLIC_INTAKE,
    PUBLISH,
    READY_CHECKS,
    RULES,
    SECRET_BOX,
    SIGNAL,
    WEBHOOKS,
)
from wangge.gateway.http.middleware import (
    PUBLIC_ROUTES,
    SECURITY_HEADERS,
    add_security_headers,
    auth_middleware,
    problem_middleware,
    request_id_middleware,
    security_headers,
)
from wangge.gateway.http.openapi import document_text
from wangge.gateway.http.routes import ALL
from wangge.gateway.ingest.config import IngestConfig
from wangge.gateway.intake.config import IntakeConfig
from wangge.gateway.intake.keys import KeyRing
from wangge.gateway.intake.public import PublicIntake
from wangge.gateway.media.config import MediaConfig
from wangge.gateway.media.objects import Media
from wangge.gateway.webhooks.config import WebhooksConfig
from wangge.gateway.webhooks.sealing import SecretBox

STATIC_PACKAGE = "wangge.gateway.console"


def _static(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    body = resources.files(STATIC_PACKAGE).joinpath(name).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return handler


async def _signal_context(app: web.Application) -> AsyncIterator[None]:
    signal = OutboxSignal(app[POOL])
    app[SIGNAL] = signal
    task = asyncio.create_task(signal.run(), name="live-feed-listener")
    yield
    signal.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_streams(app: web.Application) -> None:
    """Open streams end at shutdown instead of holding the server for its whole grace period."""
    app[SIGNAL].close()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_broker(topic: str, body: bytes) -> bool:
    return False


def create_app(
    pool: asyncpg.Pool,
    ready_checks: dict[str, Callable[[], bool]],
    rules: CaseRules | None = None,
    clock: Callable[[], datetime] = _utc_now,
    console: ConsoleConfig | None = None,
    ingest: IngestConfig | None = None,
    accounts: AccountsConfig | None = None,
    secret_box: SecretBox | None = None,
    broker_hooks: BrokerHooks | None = None,
    webhooks: WebhooksConfig | None = None,
    intake: IntakeConfig | PublicIntake | None = None,
    media: Media | None = None,
    media_config: MediaConfig | None = None,
    publish: Callable[[str, bytes], bool] | None = None,
) -> web.Application:
    """The API, console and health pages. Without `secret_box`, webhook secrets are sealed with a key that lives
    only as long as this app (tests that make no deliveries)."""
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware, auth_middleware],
        client_max_size=32 * 1024**2,
    )
    app[POOL] = pool
    app[READY_CHECKS] = ready_checks
    app[RULES] = rules or default_rules()
    app[CLOCK] = clock
    app[CONSOLE] = console or ConsoleConfig()
    app[SECURITY_HEADERS] = security_headers(app[CONSOLE].tile_url)
    app[INGEST] = ingest or IngestConfig()
    app[ACCOUNTS] = accounts or AccountsConfig()
    app[BROKER_HOOKS] = broker_hooks or BrokerHooks()
    app[WEBHOOKS] = webhooks or WebhooksConfig()
    app[SECRET_BOX] = secret_box or SecretBox(env_keys=Fernet.generate_key().decode())
    app[PUBLIC_INTAKE] = (
        intake if isinstance(intake, PublicIntake) else PublicIntake.from_config(intake or IntakeConfig())
    )
    app[KEY_RING] = KeyRing()
    if media is not None:
        app[MEDIA] = media
    media_config = media_config or MediaConfig()
    app[LIVE] = media_config.live
    app[MAX_CLIP] = (media_config.max_clip_bytes, media_config.max_clip_s)
    app[PUBLISH] = publish or _no_broker
    app[LOGIN_THROTTLE] = LoginThrottle.with_check_rate(app[ACCOUNTS].password_checks_per_s)
    app[OPENAPI_TEXT] = document_text()
    static = resources.files(STATIC_PACKAGE).joinpath("static")
    app.router.add_get("/", _static("static/index.html", "text/html"))
    app.router.add_get("/progress.html", _static("static/progress.html", "text/html"))
    app.router.add_get("/report.html", _static("static/report.html", "text/html"))
    app.router.add_static("/static/", str(static), append_version=False)
    public = set()
    for table in ALL:
        for op in table.operations:
            if op.method == "GET":
                app.router.add_get(op.path, op.bind())  # and HEAD, as before
            else:
                app.router.add_route(op.method, op.path, op.bind())
            if op.public:
                public |= {(op.method, op.path), *([("HEAD", op.path)] if op.method == "GET" else [])}
    app[PUBLIC_ROUTES] = frozenset(public)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(_signal_context)
    app.on_shutdown.append(_close_streams)
    return app
