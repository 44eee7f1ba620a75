"""Wires the gateway: database (migrated), MQTT ingest, HTTP API; runs until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from wangge.gateway import db
from wangge.gateway.api import create_app
from wangge.gateway.config import GatewayConfig
from wangge.gateway.ingest import AlertIngest

log = logging.getLogger(__name__)


async def connect_with_retry(url: str, attempts: int = 30) -> asyncpg.Pool:
    """The database may still be starting (compose, a restart): wait for it, then say clearly why not."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return await db.create_pool(url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            if attempt == attempts:
                raise RuntimeError(f"cannot reach the database after {attempts} attempts: {exc}") from exc
            log.warning("database not reachable yet (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@dataclass
class Gateway:
    config: GatewayConfig
    database_url: str
    pool: asyncpg.Pool | None = None
    ingest: AlertIngest | None = None
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.pool = await connect_with_retry(self.database_url)
        async with self.pool.acquire() as conn:
            applied = await db.migrate(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        ingest = AlertIngest(self.pool, self.config.mqtt)
        self.ingest = ingest
        await ingest.start()
        app = create_app(self.pool, {"broker": lambda: ingest.connected})
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        host, _, port = self.config.http.rpartition(":")
        await web.TCPSite(self.runner, host, int(port)).start()
        log.info("gateway listening on http://%s", self.config.http)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.ingest is not None:
            await self.ingest.stop()
        if self.pool is not None:
            await self.pool.close()


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_gateway(config: GatewayConfig) -> None:
    embedded: db.EmbeddedPostgres | None = None
    url = config.database_url
    if url is None:
        embedded = db.EmbeddedPostgres(config.data_dir / "pg")
        url = embedded.url
        log.info("no database_url: using the embedded PostgreSQL under %s", config.data_dir / "pg")
    gateway = Gateway(config, url)
    try:
        await gateway.start()
        await wait_for_signal()
        log.info("gateway stopping")
    finally:
        await gateway.stop()
        if embedded is not None:
            embedded.stop()
