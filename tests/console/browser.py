"""A real gateway (PostgreSQL, MQTT broker) in a thread with a clock the test can move, and Debian's Chromium
driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import IN_CI
from tests.gateway import world as w
from tests.support import free_port, new_object_store, wait_until
from wangge.gateway.cases.escalation import run_escalations
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.config import GatewayConfig
from wangge.gateway.service import Gateway

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out to Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


class MovableClock:
    """Wall time plus a shift the test sets: SLA lights and escalations see the moved time."""

    def __init__(self) -> None:
        self.shift = timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.shift

    def move(self, delta: timedelta) -> None:
        with self._lock:
            self.shift += delta


class LiveGateway:
    """The gateway service itself (MQTT ingest, SLA job, HTTP API and console) on its own event loop."""

    def __init__(
        self,
        database_url: str,
        broker_url: str,
        data_dir: Path,
        escalation_interval_s: float = 1.0,
        media: dict[str, Any] | None = None,
    ) -> None:
        self.clock = MovableClock()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        config = GatewayConfig.model_validate(
            {
                "database_url": database_url,
                "data_dir": str(data_dir),
                "http": f"127.0.0.1:{self.port}",
                "mqtt": {"url": broker_url, "client_id": "console-test-gw", "shared_group": None},
                "cases": {"escalation_interval_s": escalation_interval_s},
                # Several people sign in within a second here; the default budget of checks is tested elsewhere.
                "accounts": {"password_checks_per_s": 100},
                "media": media or {},
            }
        )
        self.gateway = Gateway(config, database_url, clock=self.clock, store=new_object_store())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop", daemon=True)
        self.world: w.World | None = None

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self.gateway.start())
        self.world = self.run(self._seed())

    async def _seed(self) -> w.World:
        assert self.gateway.pool is not None
        async with self.gateway.pool.acquire() as conn:
            return await w.seed(conn)

    def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            assert self.gateway.pool is not None
            return list(await self.gateway.pool.fetch(query, *args))

        result: list[asyncpg.Record] = self.run(go())
        return result

    def escalate(self) -> int:
        """One pass of the gateway's SLA job at the moved clock, as its timer would run it."""

        async def go() -> int:
            assert self.gateway.pool is not None
            rules = CaseRules.from_config(self.gateway.config.cases)
            async with self.gateway.pool.acquire() as conn:
                return await run_escalations(conn, rules, self.clock())

        touched: int = self.run(go())
        return touched

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def live_gateway(
    database_url: str,
    broker_url: str,
    data_dir: Path,
    escalation_interval_s: float = 1.0,
    media: dict[str, Any] | None = None,
) -> Iterator[LiveGateway]:
    gw = LiveGateway(database_url, broker_url, data_dir, escalation_interval_s, media)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def need_chromium() -> None:
    missing = None
    if not os.path.exists(CHROMIUM):
        missing = "Debian's chromium is not installed (apt-get install chromium; `make test` does this as root)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing:
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        # The tests wait with string expressions, which Playwright evaluates: the console's CSP (no eval) would
        # refuse them. Contexts bypass it unless a test asks otherwise; test_console_runs_under_its_own_csp
        # drives the console with its policy in force.
        plain_context = browser.new_context

        def new_context(**options: Any) -> Any:
            return plain_context(**{"bypass_csp": True, **options})

        browser.new_context = new_context  # type: ignore[method-assign]
        try:
            yield browser
        except BaseException:
            # What each page showed when the test failed, and what its scripts said.
            for i, context in enumerate(browser.contexts):
                for j, page in enumerate(context.pages):
                    with contextlib.suppress(Exception):
                        screenshot(page, f"failure-{i}-{j}")
                        print(f"page {i}-{j} {page.url}: {getattr(page, 'script_errors', [])}")
            raise
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Saved under test-artifacts/console/ for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(context: Any) -> Any:
    """A page whose script errors fail the test with the browser's own message."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.script_errors = errors
    return page


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "password-" + username)
    page.click("#signin-form button[type=submit]")
    try:
        page.wait_for_function("document.body.dataset.live === 'on'", timeout=15000)
    except Exception as exc:
        raise AssertionError(f"{username} never got the live feed: {getattr(page, 'script_errors', [])}") from exc


def wait_for_view(page: Any, view: str) -> None:
    page.wait_for_function(f"document.body.dataset.ready === {view!r}", timeout=15000)


__all__ = [
    "LiveGateway",
    "chromium",
    "live_gateway",
    "open_page",
    "screenshot",
    "sign_in",
    "wait_for_view",
    "wait_until",
]
