"""MQTT → PostgreSQL: alert events and edge status, in batches, acknowledged only after commit.

The paho client runs with manual acknowledgement: a PUBACK goes back to the broker only once the
batch holding that message is committed, so a gateway killed at any point loses nothing (the broker
redelivers) and doubles nothing (the database drops the redelivered copy by (alert_id, seq)).
After the commit each edge also gets a confirmation of its events on `wangge/edge/<id>/confirms`;
only that lets the edge empty its outbox, so even a broker that loses messages loses no alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import asyncpg
import paho.mqtt.client as paho

from wangge.gateway import metrics
from wangge.gateway.cases.rules import CaseRules, default_rules
from wangge.gateway.ingest.batch import Incoming, Prepared, confirmations, confirms_topic, prepare
from wangge.gateway.ingest.config import MqttConfig
from wangge.gateway.ingest.store import isolate_bad_alerts, record_outcomes, store
from wangge.gateway.storage import partitions
from wangge.mqtt import make_client, parse_broker_url

log = logging.getLogger(__name__)

ALERTS_FILTER = "wangge/edge/+/alerts"
STATUS_FILTER = "wangge/edge/+/status"


_RETRYABLE = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    OSError,
    asyncio.TimeoutError,
)


class AlertIngest:
    def __init__(self, pool: asyncpg.Pool, config: MqttConfig, rules: CaseRules | None = None) -> None:
        self._pool = pool
        self._rules = rules or default_rules()
        self._config = config
        self._broker = parse_broker_url(config.url)
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._connected = False
        self._stopping = False
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
    def alerts_subscription(self) -> str:
        group = self._config.shared_group
        return f"$share/{group}/{ALERTS_FILTER}" if group else ALERTS_FILTER

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._consume(), name="alert-ingest")
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
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # the event loop ---------------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._config.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            prepared = await self._store_until_done(batch)
            for edge_id, confirmed in confirmations(prepared).items():
                body = json.dumps(confirmed, separators=(",", ":"))
                self._client.publish(confirms_topic(edge_id), body, qos=1)
            for item in batch:
                # An ack from an older connection would name a packet id the broker has re-used.
                if item.qos > 0 and item.generation == self._generation:
                    self._client.ack(item.mid, item.qos)

    async def _store_until_done(self, batch: list[Incoming]) -> Prepared:
        prepared = prepare(batch)
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                async with self._pool.acquire() as conn:
                    outcomes = await store(conn, prepared, self._rules)
                break
            except Exception as exc:  # the consumer must outlive any failure; nothing is acked until stored
                refused = isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, _RETRYABLE)
                isolated = None
                if refused and prepared.alerts:
                    with contextlib.suppress(*_RETRYABLE):
                        isolated = await self._find_bad_alerts(prepared, exc)
                if isolated is not None:
                    prepared = isolated
                    continue
                metrics.INGEST_RETRIES.inc()
                log.warning("storing %d messages failed (%s); retrying in %.1fs", len(batch), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        metrics.INGEST_BATCH.observe(time.perf_counter() - started)
        record_outcomes(prepared, outcomes)
        for edge_id, status in prepared.statuses:
            self._export_status(edge_id, status)
        return prepared

    async def _find_bad_alerts(self, prepared: Prepared, exc: Exception) -> Prepared | None:
        """The database refused the batch: try each alert alone (rolled back) to find the culprits."""
        bad = []
        async with self._pool.acquire() as conn:
            for i, alert in enumerate(prepared.alerts):
                try:
                    async with conn.transaction():
                        await partitions.ensure_for_alerts(conn, [alert])
                        await conn.fetch(
                            "SELECT * FROM wangge_ingest_alerts($1::jsonb[], $2::text[], $3::interval)",
                            [alert],
                            [prepared.keys[i]],
                            self._rules.reopen_window,
                        )
                        raise _Rollback
                except _Rollback:
                    pass
                except asyncpg.PostgresError:
                    bad.append(i)
        if not bad:
            return None
        return isolate_bad_alerts(prepared, bad, str(exc)[:300])

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
