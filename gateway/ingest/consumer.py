"""MQTT → PostgreSQL: alert events and edge status, in batches, acknowledged only after commit.

The paho client runs with manual acknowledgement: a PUBACK goes back to the broker only once the
batch holding that message is committed, so a gateway killed at any point loses nothing (the broker
redelivers) and doubles nothing (the database drops the redelivered copy by (alert_id, seq)).
After the commit each edge also gets a confirmation of its events on `wangge/edge/<id>/confirms`;
only that lets the edge empty its outbox, so even a broker that loses messages loses no alert.

`mqtt.writers` batches are in flight at once (2 by default): while one waits for PostgreSQL the next is
validated and written, so the gateway's Python and the database work at the same time instead of taking
turns. Batches lock ticket rows in key order (batch.lock_order), as replicas do. What must keep its order
does: edge statuses are written in a transaction of their own after every earlier batch's (an older "online"
never overwrites a newer "offline"), and PUBACKs leave in the order the messages arrived (MQTT 3.1.1
§4.6.0-2), whichever batch commits first.

Nothing an edge sends can stop the consumer: bad messages are refused when the batch is prepared; of the
database's errors only those about the data (SQLSTATE classes 22 and 23) isolate and dead-letter a message,
and every other error (a full disk, a cancelled query, a lost connection) is retried with nothing confirmed,
so no edge deletes an event because PostgreSQL had a bad minute. A crash of the loop itself is logged,
counted and the loop restarted; `/readyz` reports ingest down while it is down or stuck.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import paho.mqtt.client as paho

from wangge.gateway import metrics
from wangge.gateway.cases.rules import CaseRules, default_rules
from wangge.gateway.ingest.alert_rows import Write, write_alerts, write_batch
from wangge.gateway.ingest.batch import (
    Incoming,
    Prepared,
    TimeWindow,
    confirmations,
    confirms_topic,
    prepare,
    topic_edge,
)
from wangge.gateway.ingest.config import IngestConfig, MqttConfig
from wangge.gateway.ingest.store import (
    is_data_error,
    isolate_bad,
    record_outcomes,
    record_rejected,
    store,
    store_statuses,
)
from wangge.gateway.storage import partitions
from wangge.mqtt import make_client, parse_broker_url

log = logging.getLogger(__name__)

ALERTS_FILTER = "wangge/edge/+/alerts"
STATUS_FILTER = "wangge/edge/+/status"


STUCK_AFTER_S = 30.0  # a batch failing this long makes /readyz report ingest down


class AlertIngest:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: MqttConfig,
        rules: CaseRules | None = None,
        ingest: IngestConfig | None = None,
    ) -> None:
        self._pool = pool
        self._rules = rules or default_rules()
        self._config = config
        self._ingest = ingest or IngestConfig()
        self._broker = parse_broker_url(config.url)
        # paho's thread appends, the writers take. A message wakes the event loop only when no wake-up is already
        # on its way: a wake-up per message (call_soon_threadsafe) cost a callback and a self-pipe write each,
        # 4.6 % of the gateway's py-spy samples at 4,000–5,000 alerts a second.
        self._arrived: collections.deque[Incoming] = collections.deque()
        self._arrival = asyncio.Event()
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        # Bounds what waits between paho's thread and the writer: when full, paho's thread waits, the socket
        # stops being read and the broker holds the rest (it has them unacknowledged anyway).
        self._slots = threading.BoundedSemaphore(self._ingest.queue_max)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._connected = False
        self._stopping = False
        self._running = False
        self._failing: dict[int, float] = {}  # batch turn -> when it first failed
        self._turn = 0
        self._acked: asyncio.Future[None] | None = None  # the latest batch's acknowledgements are sent
        self._task: asyncio.Task[None] | None = None
        client = make_client(self._broker, config.client_id, clean_session=not config.persistent(), manual_ack=True)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def healthy(self) -> bool:
        """Connected, the consumer loop running, and no batch failing for longer than STUCK_AFTER_S."""
        now = time.monotonic()
        failing = any(now - since > STUCK_AFTER_S for since in self._failing.values())
        return self._connected and self._running and not failing

    def publish(self, topic: str, body: bytes) -> bool:
        """QoS 1 to the broker from any thread (paho's publish is thread-safe); False while disconnected."""
        if not self._connected:
            return False
        return self._client.publish(topic, body, qos=1).rc == 0

    @property
    def alerts_subscription(self) -> str:
        group = self._config.shared_group
        return f"$share/{group}/{ALERTS_FILTER}" if group else ALERTS_FILTER

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._supervise(), name="alert-ingest")
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()

    async def stop(self) -> None:
        """Stop taking messages; whatever was not committed stays unacknowledged at the broker."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # paho's network thread -------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the gateway: %s", self._broker.host, self._broker.port, reason)
            return
        self._generation += 1
        client.subscribe([(self.alerts_subscription, 1), (STATUS_FILTER, 1)])
        self._connected = True
        metrics.MQTT_CONNECTED.set(1)
        log.info("gateway subscribed to %s on %s:%s", self.alerts_subscription, self._broker.host, self._broker.port)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected = False
        metrics.MQTT_CONNECTED.set(0)
        if not self._stopping:
            log.warning("gateway lost the broker: %s", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        item = Incoming(self._generation, message.mid, message.qos, message.topic, bytes(message.payload))
        while not self._slots.acquire(timeout=1.0):
            if self._stopping:
                return
        self._arrived.append(item)
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        """On the loop: what arrived before this ran is in `_arrived`; what arrives after schedules another."""
        with self._wake_lock:
            self._wake_pending = False
        self._arrival.set()

    # the event loop ---------------------------------------------------------------------------
    async def _supervise(self) -> None:
        """Run the consumer for ever: a crash is logged, counted and followed by a restart."""
        delay = 0.5
        while True:
            self._running = True
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._running = False
                metrics.INGEST_CRASHES.inc()
                log.exception("alert ingest crashed; restarting in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _consume(self) -> None:
        """`writers` workers; one crashing cancels the others and the supervisor starts them all again."""
        self._failing.clear()
        async with asyncio.TaskGroup() as group:
            for n in range(self._config.writers):
                group.create_task(self._write_batches(group), name=f"alert-ingest-writer-{n}")

    async def _write_batches(self, group: asyncio.TaskGroup) -> None:
        """Cut a batch, store its alerts, confirm them; what waits for the earlier batches (statuses, PUBACKs)
        is left to a task of its own, so a writer is free for the next batch while an earlier one is stuck."""
        loop = asyncio.get_running_loop()
        while True:
            while not self._arrived:
                self._arrival.clear()
                await self._arrival.wait()
            # No await from here to the turn: batches are cut and numbered in the order the messages came.
            batch = [self._arrived.popleft()]
            while len(batch) < self._config.batch_max and self._arrived:
                batch.append(self._arrived.popleft())
            metrics.INGEST_QUEUE.set(len(self._arrived))
            self._turn += 1
            turn, earlier, acked = self._turn, self._acked, loop.create_future()
            self._acked = acked
            try:
                prepared = await self._store_until_done(batch, turn)
                for edge_id, confirmed in confirmations(prepared).items():
                    body = json.dumps(confirmed, separators=(",", ":"))
                    self._client.publish(confirms_topic(edge_id), body, qos=1)
            except BaseException:
                self._done(batch, acked)
                raise
            group.create_task(self._finish(batch, prepared, turn, earlier, acked), name=f"alert-ingest-ack-{turn}")

    async def _finish(
        self,
        batch: list[Incoming],
        prepared: Prepared,
        turn: int,
        earlier: asyncio.Future[None] | None,
        acked: asyncio.Future[None],
    ) -> None:
        """Once every earlier batch is through: the statuses, then the acknowledgements to the broker."""
        try:
            if earlier is not None:
                await asyncio.shield(earlier)  # a cancelled waiter must not cancel the earlier batch's future
            if prepared.statuses:
                await self._store_statuses(prepared, turn)
            for item in batch:
                # An ack from an older connection would name a packet id the broker has re-used.
                if item.qos > 0 and item.generation == self._generation:
                    self._client.ack(item.mid, item.qos)
        finally:
            self._done(batch, acked)

    def _done(self, batch: list[Incoming], acked: asyncio.Future[None]) -> None:
        if not acked.done():  # a crashed batch holds no later batch's acknowledgements back
            acked.set_result(None)
        for _ in batch:  # an unacknowledged message of a crashed batch is sent again by its edge
            self._slots.release()

    def _window(self) -> TimeWindow:
        return TimeWindow.around(datetime.now(UTC), self._ingest.max_event_age_days, self._ingest.max_clock_ahead_s)

    async def _store_until_done(self, batch: list[Incoming], turn: int = 0) -> Prepared:
        prepared = prepare(batch, self._window())
        strict = self._ingest.registry == "strict"
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                async with self._pool.acquire() as conn:
                    outcomes = await store(conn, prepared, self._rules, strict_registry=strict, statuses=False)
                break
            except Exception as exc:  # the consumer must outlive any failure; nothing is acked until stored
                self._failing.setdefault(turn, time.monotonic())
                isolated = None
                if is_data_error(exc):
                    with contextlib.suppress(Exception):  # isolation itself failing means: retry the batch
                        isolated = await self._find_bad(prepared, exc)
                if isolated is not None:
                    prepared = isolated
                    continue
                metrics.INGEST_RETRIES.inc()
                log.warning("storing %d messages failed (%s); retrying in %.1fs", len(batch), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._failing.pop(turn, None)
        metrics.INGEST_BATCH.observe(time.perf_counter() - started)
        record_outcomes(prepared, outcomes)
        return prepared

    async def _store_statuses(self, prepared: Prepared, turn: int) -> None:
        """The batch's edge statuses, retried until stored like the batch itself; what the database refuses is
        dead-lettered alone."""
        delay = 0.1
        while True:
            try:
                async with self._pool.acquire() as conn:
                    refused = await store_statuses(conn, prepared.statuses, datetime.now(UTC))
                break
            except Exception as exc:  # nothing is acked until stored
                self._failing.setdefault(turn, time.monotonic())
                metrics.INGEST_RETRIES.inc()
                log.warning("storing %d statuses failed (%s); retrying in %.1fs", len(prepared.statuses), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._failing.pop(turn, None)
        record_rejected(refused)
        refused_edges = {topic_edge(topic) for topic, *_ in refused}
        for edge_id, status in prepared.statuses:
            if edge_id not in refused_edges:
                self._export_status(edge_id, status)

    async def _find_bad(self, prepared: Prepared, exc: Exception) -> Prepared | None:
        """The database refused the batch's data: try each alert alone (rolled back) to find the culprits. Only a
        data error marks one bad; any other error is raised, and the batch is retried. (Statuses are not in this
        transaction: `store_statuses` isolates its own.)"""
        bad_alerts = []
        # Each alert alone by the path the batch failed in: one event has a path of its own (write_alerts).
        write = write_alerts if len(prepared.alerts) == 1 else write_batch
        async with self._pool.acquire() as conn:
            for i, alert in enumerate(prepared.alerts):
                if await self._refused_alone(conn, write, alert, prepared.keys[i]):
                    bad_alerts.append(i)
        if not bad_alerts:
            return None
        return isolate_bad(prepared, bad_alerts, str(exc)[:300])

    async def _refused_alone(self, conn: Any, write: Write, alert: dict[str, Any], key: str) -> bool:
        """Whether the database refuses this alert (written by `write`) alone."""
        try:
            async with conn.transaction():
                await partitions.ensure_for_alerts(conn, [alert])
                await write(conn, [alert], [key], self._rules.reopen_window)
                raise _Rollback
        except _Rollback:
            return False
        except Exception as exc:
            if is_data_error(exc):
                return True
            raise

    @staticmethod
    def _export_status(edge_id: str, status: dict[str, Any]) -> None:
        metrics.EDGE_ONLINE.labels(edge_id).set(1 if status.get("state") == "online" else 0)
        for key, gauge in (
            ("outbox_depth", metrics.EDGE_OUTBOX_DEPTH),
            ("readings", metrics.EDGE_READINGS),
            ("alerts_sent", metrics.EDGE_ALERTS_SENT),
        ):
            value = status.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                gauge.labels(edge_id).set(value)


class _Rollback(Exception):
    pass
