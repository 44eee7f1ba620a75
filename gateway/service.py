"""Wires the gateway: database (migrated), MQTT ingest, HTTP API; runs until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from wangge.collector import freeze_start_up
from wangge.gateway import metrics
from wangge.gateway.accounts.broker import BrokerHooks
from wangge.gateway.cases.cluster_snapshots import refresh as refresh_snapshots
from wangge.gateway.cases.config import ClusterSnapshotConfig, WeeklyReportConfig
from wangge.gateway.cases.escalation import run_escalations
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.weekly import send_weekly
from wangge.gateway.config import GatewayConfig
from wangge.gateway.http.app import create_app
from wangge.gateway.ingest.thread import IngestThread
from wangge.gateway.media.embedded import EmbeddedObjectStore
from wangge.gateway.media.live import live_pass
from wangge.gateway.media.objects import Media, offload, sweep_garbage
from wangge.gateway.media.store import MediaUnavailable, ObjectStore
from wangge.gateway.storage.embedded import EmbeddedPostgres
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import connect_with_retry
from wangge.gateway.storage.retention import run_lifecycle
from wangge.gateway.webhooks.sealing import SecretBox
from wangge.gateway.webhooks.subscriptions import seal_plaintext
from wangge.gateway.webhooks.worker import WebhookWorker
from wangge.mqtt import parse_broker_url

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.001
WEEKLY_POLL_S = 60.0  # the weekly job looks once a minute whether a report is due
CLUSTER_POLL_S = 30.0  # the 类案 snapshot job looks this often for windows due a refresh
STOP_TASK_S = 10.0
LIVE_PASS_S = 10.0  # live-view leases renewed (the edge's lasts 60 s) and idle sessions ended this often


@dataclass
class Gateway:
    config: GatewayConfig
    database_url: str
    pool: asyncpg.Pool | None = None
    ingest: IngestThread | None = None
    runner: web.AppRunner | None = None
    sla_task: asyncio.Task[None] | None = None
    lifecycle_task: asyncio.Task[None] | None = None
    weekly_task: asyncio.Task[None] | None = None
    cluster_task: asyncio.Task[None] | None = None
    webhook_worker: WebhookWorker | None = None
    webhook_task: asyncio.Task[None] | None = None
    store: ObjectStore | None = None
    media_task: asyncio.Task[None] | None = None
    live_task: asyncio.Task[None] | None = None
    # Tests move this clock to watch SLA lights change; production keeps the wall clock.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def start(self) -> None:
        # Ingest's thread waits for the interpreter behind the HTTP side's; a shorter switch interval than
        # the default 5 ms bounds that wait (bench/login_flood.py).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.pool = await connect_with_retry(self.database_url)
        async with self.pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        box = SecretBox.from_environment(self.config.webhook_keys_file())
        async with self.pool.acquire() as conn:
            if sealed := await seal_plaintext(conn, box):
                log.info("sealed the URLs and secrets of %d webhook subscriptions", sealed)
        rules = CaseRules.from_config(self.config.cases)
        ingest = IngestThread(self.database_url, self.config.mqtt, rules, self.config.ingest)
        self.ingest = ingest
        await ingest.start()
        self.sla_task = asyncio.create_task(
            self._every(
                self.config.cases.escalation_interval_s,
                "SLA escalation",
                lambda c: self._escalate(c, rules, self.clock),
            ),
            name="sla-escalation",
        )
        weekly = self.config.cases.weekly_report
        self.weekly_task = asyncio.create_task(
            self._every(WEEKLY_POLL_S, "weekly report", lambda c: self._send_weekly(c, rules, weekly, self.clock())),
            name="weekly-report",
        )
        snapshots = self.config.cases.cluster_snapshots
        self.cluster_task = asyncio.create_task(
            self._every(
                min(CLUSTER_POLL_S, snapshots.refresh_s),
                "cluster snapshots",
                lambda c: self._refresh_clusters(c, snapshots, self.clock()),
            ),
            name="cluster-snapshots",
        )
        retention = self.config.retention
        self.lifecycle_task = asyncio.create_task(
            self._every(retention.interval_s, "lifecycle", lambda c: run_lifecycle(c, retention, self.clock())),
            name="lifecycle",
        )
        self.webhook_worker = WebhookWorker(
            self.pool, self.config.webhooks, box, catalogue=self.config.cases.catalogue()
        )
        self.webhook_task = asyncio.create_task(self.webhook_worker.run(), name="webhooks")
        media = None
        if self.store is not None:
            store = self.store
            try:
                await store.ensure_bucket()
                self._bucket_ready = True
            except MediaUnavailable as exc:
                log.error("the object store does not answer (%s): media uploads wait until it does", exc)
            media = Media(store, self.pool)
            self.media_task = asyncio.create_task(
                self._every(self.config.media.offload_interval_s, "media", lambda c: self._media_pass(c, store)),
                name="media",
            )
            live_config = self.config.media.live
            self.live_task = asyncio.create_task(
                self._every(
                    LIVE_PASS_S, "live view", lambda c: live_pass(c, store, live_config, self.clock(), ingest.publish)
                ),
                name="live-view",
            )
        app = create_app(
            self.pool,
            {
                "broker": lambda: ingest.connected,
                "ingest": lambda: ingest.healthy,
                "webhook_keys": lambda: self.webhook_worker is not None and self.webhook_worker.keys_ok,
            },
            rules,
            self.clock,
            self.config.console,
            self.config.ingest,
            self.config.accounts,
            box,
            self._broker_hooks(),
            self.config.webhooks,
            self.config.intake,
            media,
            self.config.media,
            ingest.publish,
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        host, _, port = self.config.http.rpartition(":")
        await web.TCPSite(self.runner, host, int(port)).start()
        freeze_start_up()
        log.info("gateway listening on http://%s", self.config.http)

    def _broker_hooks(self) -> BrokerHooks:
        secret_file = self.config.mqtt.broker_hooks_secret_file
        if secret_file is None:
            return BrokerHooks()
        return BrokerHooks(secret_file.read_text().strip(), parse_broker_url(self.config.mqtt.url).password)

    async def _every(self, interval_s: float, what: str, one_pass: Callable[[Conn], Awaitable[object]]) -> None:
        """Run a periodic job forever; a failed pass is logged and the next one comes on time."""
        assert self.pool is not None
        while True:
            try:
                async with self.pool.acquire() as conn:
                    await one_pass(conn)
            except Exception:
                log.exception("%s pass failed; next pass in %ss", what, interval_s)
            await asyncio.sleep(interval_s)

    @staticmethod
    async def _escalate(conn: Conn, rules: CaseRules, clock: Callable[[], datetime]) -> None:
        """Overdue marking and escalation; replicas share it through SKIP LOCKED."""
        while (touched := await run_escalations(conn, rules, clock())) > 0:
            metrics.ESCALATIONS.inc(touched)

    _bucket_ready: bool = False

    async def _media_pass(self, conn: Conn, store: ObjectStore) -> None:
        """Photos staged in PostgreSQL go to the store, objects of deleted rows are deleted."""
        try:
            if not self._bucket_ready:
                await store.ensure_bucket()
                self._bucket_ready = True
            report = await offload(conn, store, limit=500)
            await sweep_garbage(conn, store)
        except MediaUnavailable as exc:  # an outage: photos wait in PostgreSQL, edges keep their spools
            log.warning("the object store does not answer (%s); media waits for the next pass", exc)
            return
        if report.moved:
            log.info("moved %d attachments to the object store (%d left)", report.moved, report.left)

    @staticmethod
    async def _refresh_clusters(conn: Conn, snapshots: ClusterSnapshotConfig, now: datetime) -> None:
        for seconds in await refresh_snapshots(conn, now, snapshots.refresh_s, snapshots.keep_h):
            metrics.CLUSTER_REFRESH.observe(seconds)

    @staticmethod
    async def _send_weekly(conn: Conn, rules: CaseRules, weekly: WeeklyReportConfig, now: datetime) -> None:
        metrics.WEEKLY_REPORTS.inc(await send_weekly(conn, rules, weekly, now))

    async def stop(self) -> None:
        for task in (
            self.sla_task,
            self.lifecycle_task,
            self.weekly_task,
            self.cluster_task,
            self.webhook_task,
            self.media_task,
            self.live_task,
        ):
            if task is not None:
                task.cancel()
                done, _ = await asyncio.wait([task], timeout=STOP_TASK_S)
                if not done:  # say where it is stuck rather than hang the shutdown without a word
                    stack = "".join(traceback.format_stack(task.get_stack(limit=20)[-1])) if task.get_stack() else ""
                    log.error("task %s did not stop within %ss; it was at:\n%s", task.get_name(), STOP_TASK_S, stack)
        if self.webhook_worker is not None:
            await self.webhook_worker.close()
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


def object_store(config: GatewayConfig) -> tuple[ObjectStore, EmbeddedObjectStore | None]:
    """The configured S3 endpoint, or an embedded SeaweedFS under data_dir/media when none is set."""
    media = config.media
    if media.s3_url is not None:
        access, secret = media.credentials()
        return ObjectStore(media.s3_url, media.bucket, access, secret, media.region, media.timeout_s), None
    embedded = EmbeddedObjectStore(config.data_dir / "media").start()
    log.info("no media.s3_url: using the embedded SeaweedFS under %s (%s)", config.data_dir / "media", embedded.url)
    store = ObjectStore(embedded.url, media.bucket, embedded.access_key, embedded.secret_key, timeout_s=media.timeout_s)
    return store, embedded


async def run_gateway(config: GatewayConfig) -> None:
    embedded: EmbeddedPostgres | None = None
    url = config.database_url
    if url is None:
        embedded = EmbeddedPostgres(config.data_dir / "pg")
        url = embedded.url
        log.info("no database_url: using the embedded PostgreSQL under %s", config.data_dir / "pg")
    store, objects = await asyncio.to_thread(object_store, config)
    gateway = Gateway(config, url, store=store)
    try:
        await gateway.start()
        await wait_for_signal()
        log.info("gateway stopping")
    finally:
        await gateway.stop()
        if objects is not None:
            objects.stop()
        if embedded is not None:
            embedded.stop()
