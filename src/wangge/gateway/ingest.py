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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from wangge.gateway.db import Conn
import paho.mqtt.client as paho

from wangge import alert_format
from wangge.gateway import metrics, partitions, tickets
from wangge.gateway.config import CasesConfig, MqttConfig
from wangge.gateway.tickets import CaseRules
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


@dataclass(frozen=True, slots=True)
class Incoming:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass(slots=True)
class _Prepared:
    alerts: list[dict[str, Any]]
    keys: list[str]
    rejected: list[tuple[str, str, str, bytes]]
    statuses: list[tuple[str, dict[str, Any]]]


def confirms_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/confirms"


def confirmations(prepared: _Prepared) -> dict[str, dict[str, list[str]]]:
    """Per edge, the `alert_id:seq` keys stored (new or already there) and refused, for its outbox."""
    out: dict[str, dict[str, list[str]]] = {}
    for message in prepared.alerts:
        entry = out.setdefault(message["edge_id"], {"stored": [], "refused": []})
        entry["stored"].append(f"{message['alert_id']}:{message['seq']}")
    for topic, _, _, payload in prepared.rejected:
        edge_id = topic_edge(topic)
        try:
            message = json.loads(payload)
            key = f"{message['alert_id']}:{int(message['seq'])}"
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            continue  # nothing the edge could match it to
        if edge_id and not topic.endswith("/status"):
            out.setdefault(edge_id, {"stored": [], "refused": []})["refused"].append(key)
    return out


def topic_edge(topic: str) -> str:
    parts = topic.split("/")
    return parts[2] if len(parts) == 4 else ""


def prepare(batch: list[Incoming]) -> _Prepared:
    """Validate a batch: what to store, what to dead-letter (topic, reason, detail, payload)."""
    out = _Prepared([], [], [], [])
    for item in batch:
        if item.topic.endswith("/status"):
            try:
                status = json.loads(item.payload) if item.payload else {"state": "cleared"}
                if not isinstance(status, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                out.rejected.append((item.topic, "bad_status", str(exc)[:200], item.payload))
                continue
            out.statuses.append((topic_edge(item.topic), status))
            continue
        try:
            message = alert_format.parse_alert(item.payload)
        except alert_format.AlertFormatError as exc:
            out.rejected.append((item.topic, exc.reason, exc.detail[:4000], item.payload))
            continue
        if message["edge_id"] != topic_edge(item.topic):
            detail = f"payload edge_id {message['edge_id']!r} sent on {item.topic!r}"
            out.rejected.append((item.topic, "edge_mismatch", detail, item.payload))
            continue
        out.alerts.append(message)
        out.keys.append(alert_format.correlation_key(message))
    return out


def lock_order(prepared: _Prepared) -> list[int]:
    """Alerts grouped by correlation key (stable, so arrival order holds within a key): every replica
    touches ticket rows in the same order, so overlapping batches wait for each other instead of
    deadlocking. (Only copies of the same alerts arriving at two replicas in different orders can
    still deadlock; PostgreSQL detects it and the batch is retried.)"""
    return sorted(range(len(prepared.alerts)), key=lambda i: prepared.keys[i])


DEFAULT_RULES: CaseRules | None = None


def default_rules() -> CaseRules:
    global DEFAULT_RULES
    if DEFAULT_RULES is None:
        DEFAULT_RULES = CaseRules.from_config(CasesConfig())
    return DEFAULT_RULES


async def _reject_foreign_devices(conn: Conn, prepared: _Prepared) -> None:
    """An edge may only report for its own devices: a device registered to another edge is refused."""
    devices = {a["source"]["device_id"] for a in prepared.alerts}
    if not devices:
        return
    owners = {
        r["device_id"]: r["edge_id"]
        for r in await conn.fetch(
            "SELECT device_id, edge_id FROM devices WHERE device_id = ANY($1::text[]) AND edge_id IS NOT NULL",
            list(devices),
        )
    }
    keep = []
    for i, alert in enumerate(prepared.alerts):
        owner = owners.get(alert["source"]["device_id"])
        if owner is not None and owner != alert["edge_id"]:
            detail = f"device {alert['source']['device_id']!r} belongs to edge {owner!r}, not {alert['edge_id']!r}"
            prepared.rejected.append(
                (f"wangge/edge/{alert['edge_id']}/alerts", "foreign_device", detail, alert_format.encode(alert))
            )
        else:
            keep.append(i)
    if len(keep) != len(prepared.alerts):
        prepared.alerts = [prepared.alerts[i] for i in keep]
        prepared.keys = [prepared.keys[i] for i in keep]


async def store(
    conn: Conn, prepared: _Prepared, rules: CaseRules | None = None, now: datetime | None = None
) -> list[str]:
    """Write one prepared batch in one transaction; returns the outcome of each alert event, in batch order.

    An event from a month with no partition yet (an edge back after weeks offline, a skewed clock) fails
    the batch once: the partitions are made and the batch is written again."""
    rules = rules or default_rules()
    now = now or datetime.now(UTC)
    try:
        return await _store(conn, prepared, rules, now)
    except asyncpg.CheckViolationError:
        # SQLSTATE 23514 is also what a missing partition raises; its message text depends on the server's
        # lc_messages, so any check violation gets the partitions made and one more try. A real CHECK
        # failure fails again and goes on to the dead-letter isolation as before.
        made = await partitions.ensure_for_alerts(conn, prepared.alerts)
    if made:
        log.info("made %d month partitions for alerts of an unusual month", made)
    return await _store(conn, prepared, rules, now)


async def _store(conn: Conn, prepared: _Prepared, rules: CaseRules, now: datetime) -> list[str]:
    async with conn.transaction():
        await _reject_foreign_devices(conn, prepared)
        outcomes: list[str] = []
        if prepared.alerts:
            order = lock_order(prepared)
            rows = await conn.fetch(
                "SELECT outcome, ticket FROM wangge_ingest_alerts($1::jsonb[], $2::text[], $3::interval)",
                [prepared.alerts[i] for i in order],
                [prepared.keys[i] for i in order],
                rules.reopen_window,
            )
            results = [(str(r["outcome"]), r["ticket"]) for r in rows]
            await tickets.after_ingest(conn, rules, results, now)
            outcomes = [""] * len(order)
            for position, i in enumerate(order):
                outcomes[i] = results[position][0]
        if prepared.rejected:
            await conn.executemany(
                "INSERT INTO dead_letters (source, reason, detail, payload) VALUES ($1, $2, $3, $4)",
                prepared.rejected,
            )
        for edge_id, status in prepared.statuses:
            state = str(status.get("state", "unknown"))[:32]
            previous = await conn.fetchval(
                "WITH old AS (SELECT state FROM edges WHERE edge_id = $1)"
                " INSERT INTO edges (edge_id, state, last_seen, status) VALUES ($1, $2, now(), $3)"
                " ON CONFLICT (edge_id) DO UPDATE SET state = EXCLUDED.state, last_seen = now(),"
                " status = EXCLUDED.status RETURNING (SELECT state FROM old)",
                edge_id,
                state,
                status,
            )
            if state == "offline" and previous != "offline":
                await conn.execute(
                    "INSERT INTO outbox_events (event_type, region_path, payload)"
                    " SELECT 'device.offline', coalesce(r.path, '/'), jsonb_build_object('edge_id', $1::text,"
                    " 'at', $2::text, 'status', $3::jsonb) FROM (SELECT 1) one LEFT JOIN edges e ON e.edge_id = $1"
                    " LEFT JOIN regions r ON r.id = e.region_id",
                    edge_id,
                    now.isoformat(),
                    status,
                )
    return outcomes


def _alert_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("alert_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def record_outcomes(prepared: _Prepared, outcomes: list[str]) -> None:
    """Metrics and log lines for a stored batch, whichever way it came in (MQTT or HTTPS)."""
    for topic, reason, detail, payload in prepared.rejected:
        metrics.ALERTS_REJECTED.labels(reason).inc()
        log.warning(
            "rejected message on %r: %s: %s",
            topic[:200],
            reason,
            detail[:300],
            extra={
                "topic": topic[:200],
                "reason": reason,
                "edge_id": topic_edge(topic) or None,
                "alert_id": _alert_id(payload),
            },
        )
    for outcome in outcomes:
        metrics.ALERTS_RECEIVED.labels(outcome).inc()
        if outcome == "opened":
            metrics.TICKETS_OPENED.inc()
        elif outcome == "reopened":
            metrics.TICKETS_REOPENED.inc()


def _isolate_bad_alerts(prepared: _Prepared, bad: list[int], error: str) -> _Prepared:
    """Move alerts the database refused into the dead letters, keeping the rest of the batch."""
    keep = [i for i in range(len(prepared.alerts)) if i not in bad]
    rejected = list(prepared.rejected)
    for i in bad:
        payload = alert_format.encode(prepared.alerts[i])
        rejected.append((f"wangge/edge/{prepared.alerts[i]['edge_id']}/alerts", "database_rejected", error, payload))
    return _Prepared([prepared.alerts[i] for i in keep], [prepared.keys[i] for i in keep], rejected, prepared.statuses)


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

    async def _store_until_done(self, batch: list[Incoming]) -> _Prepared:
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

    async def _find_bad_alerts(self, prepared: _Prepared, exc: Exception) -> _Prepared | None:
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
        return _isolate_bad_alerts(prepared, bad, str(exc)[:300])

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
