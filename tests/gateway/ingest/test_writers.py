"""Two batches in flight at once (`mqtt.writers`): a batch stuck in PostgreSQL does not hold the next one's
alerts back, while what must keep its order does — the broker gets its PUBACKs in the order the messages
arrived (MQTT 3.1.1 §4.6.0-2), and an edge's statuses land in the order it sent them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import Mosquitto, mqtt_publisher
from tests.test_alert_format import alert
from wangge import configfile
from wangge.gateway.config import GatewayConfig
from wangge.gateway.ingest.config import IngestConfig, MqttConfig
from wangge.gateway.ingest.consumer import AlertIngest
from wangge.gateway.ingest.store import store_statuses
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import connect_with_retry

SLOW_TRIGGER = [
    """CREATE FUNCTION slow_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload->>'rule_id' = 'slow' THEN PERFORM pg_sleep(2); END IF;
    IF NEW.payload->>'rule_id' = 'held' THEN  -- until the test lets go of its lock
        PERFORM pg_advisory_lock_shared(4242);
        PERFORM pg_advisory_unlock_shared(4242);
    END IF;
    RETURN NEW;
END $$""",
    "CREATE TRIGGER slow_rule BEFORE INSERT ON alert_events FOR EACH ROW EXECUTE FUNCTION slow_rule()",
    # The test alerts' month, made now rather than by the first batch that needs it, in the middle of the race.
    "SELECT wangge_ensure_partitions(ARRAY['2026-07-01T00:00:00Z'::timestamptz])",
]


async def _stored(conn: asyncpg.Connection, rule_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM alerts WHERE rule_id = $1", rule_id))


async def _held(conn: asyncpg.Connection) -> bool:
    """A batch is waiting for the test's lock inside the trigger."""
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted"
    return bool(await conn.fetchval(query))


async def _until(check: Any, timeout_s: float, what: str, conn: asyncpg.Connection | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            seen = "" if conn is None else f"; the database's sessions: {await _sessions(conn)}"
            raise AssertionError(f"timed out waiting for {what}{seen}")
        await asyncio.sleep(0.02)


async def _sessions(conn: asyncpg.Connection) -> list[tuple[str, str, str, str]]:
    """What every other session of this database is doing, for a timeout's message."""
    rows = await conn.fetch(
        "SELECT coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(query, 120)"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [tuple(r) for r in rows]


async def _ingest(database_url: str, broker_url: str, writers: int) -> tuple[asyncpg.Pool, AlertIngest]:
    """A migrated database with the slow triggers, and an ingest (not started) on it, one pool as the gateway's."""
    setup = await asyncpg.connect(database_url)
    try:
        await migrate(setup)
        for statement in SLOW_TRIGGER:
            await setup.execute(statement)
    finally:
        await setup.close()
    pool = await connect_with_retry(database_url, max_size=writers + 2, reset_on_release=False)
    config = MqttConfig(url=broker_url, client_id=f"writers-test-{writers}", shared_group=None, writers=writers)
    return pool, AlertIngest(pool, config, ingest=IngestConfig(max_event_age_days=3650))


async def _close(conn: asyncpg.Connection, ingest: AlertIngest, pool: asyncpg.Pool, edge: Any) -> None:
    await conn.close()
    await ingest.stop()
    await pool.close()
    edge.loop_stop()
    edge.disconnect()


async def _overtake(database_url: str, broker_url: str, writers: int) -> dict[str, Any]:
    """One alert held in its trigger by the test's lock, then three from other devices: what was stored,
    confirmed and acknowledged while the held one could not commit."""
    pool, ingest = await _ingest(database_url, broker_url, writers)
    acks: list[int] = []
    real_ack = ingest._client.ack  # a spy on the real client: every PUBACK still goes to the broker

    def ack(mid: int, qos: int) -> Any:
        acks.append(mid)
        return real_ack(mid, qos)

    ingest._client.ack = ack  # type: ignore[method-assign]
    confirmed: list[str] = []
    lock = threading.Lock()

    def on_confirm(client: Any, userdata: Any, msg: Any) -> None:
        with lock:
            confirmed.extend(json.loads(msg.payload)["stored"])

    edge = mqtt_publisher(broker_url)
    edge.message_callback_add("wangge/edge/estate-1/confirms", on_confirm)
    edge.subscribe("wangge/edge/estate-1/confirms", qos=1)
    await ingest.start()
    conn = await asyncpg.connect(database_url)
    await conn.execute("SELECT pg_advisory_lock(4242)")
    try:
        await _until(lambda: asyncio.sleep(0, ingest.connected), 10, "the gateway subscribed")
        slow = alert(rule_id="held", source={"kind": "sensor", "device_id": "g-slow", "metric": "water_level"})
        fast = [
            alert(rule_id="fast", source={"kind": "sensor", "device_id": f"g{i}", "metric": "water_level"})
            for i in range(3)
        ]
        edge.publish("wangge/edge/estate-1/alerts", json.dumps(slow).encode(), qos=1).wait_for_publish(5)
        await _until(lambda: _held(conn), 10, "the held alert in its trigger")  # a batch of its own
        for message in fast:  # apart, so that they are batches of their own: the free writer must take each
            edge.publish("wangge/edge/estate-1/alerts", json.dumps(message).encode(), qos=1).wait_for_publish(5)
            await asyncio.sleep(0.2)

        async def fast_stored() -> bool:
            return await _stored(conn, "fast") == 3

        if writers == 2:
            await _until(fast_stored, 15, "the three alerts beside the held one", conn)
        else:
            await asyncio.sleep(1.0)  # they could only be stored by the one writer, which is held
        await _until(lambda: asyncio.sleep(0, len(confirmed) >= 3 or writers == 1), 10, "the confirmations")
        seen = {"fast_stored": await _stored(conn, "fast"), "slow_stored": await _stored(conn, "held")}
        with lock:
            seen["confirmed_early"] = sorted(confirmed)
        seen["acks_early"] = list(acks)
        await conn.execute("SELECT pg_advisory_unlock(4242)")
        await _until(lambda: asyncio.sleep(0, len(acks) == 4), 10, "every message acknowledged")
        seen["acks"] = list(acks)
        seen["fast_keys"] = sorted(f"{m['alert_id']}:0" for m in fast)
        return seen
    finally:
        await _close(conn, ingest, pool, edge)


async def _statuses_across_batches(database_url: str, broker_url: str) -> str:
    """Both writers held by slow alerts; then "online" queued with a third slow alert (one batch, A) and, once
    A is taken, "offline" (batch B, fast): unordered, B's "offline" would land first and A's "online" two
    seconds later over it. Published in the order online, offline: the edge must end offline."""
    pool, ingest = await _ingest(database_url, broker_url, 2)
    edge = mqtt_publisher(broker_url)
    await ingest.start()
    conn = await asyncpg.connect(database_url)

    def publish(kind: str, body: dict[str, Any]) -> None:
        edge.publish(f"wangge/edge/estate-1/{kind}", json.dumps(body).encode(), qos=1).wait_for_publish(5)

    def slow(device: str) -> dict[str, Any]:
        return alert(rule_id="slow", source={"kind": "sensor", "device_id": device, "metric": "water_level"})

    try:
        await _until(lambda: asyncio.sleep(0, ingest.connected), 10, "the gateway subscribed")
        publish("alerts", slow("x1"))  # writer 1 until 2.0 s
        await asyncio.sleep(0.4)
        publish("alerts", slow("x2"))  # writer 2 until 2.4 s
        await asyncio.sleep(0.4)
        publish("status", {"edge_id": "estate-1", "state": "online"})
        publish("alerts", slow("x3"))  # queued with "online": batch A, taken at 2.0 s, in its trigger to 4.0 s
        await asyncio.sleep(1.4)
        publish("status", {"edge_id": "estate-1", "state": "offline"})  # batch B, taken at 2.4 s
        await _until(lambda: _stored(conn, "slow"), 10, "the first slow alert")

        async def all_stored() -> bool:
            return await _stored(conn, "slow") == 3

        await _until(all_stored, 15, "every slow alert")
        await asyncio.sleep(0.5)  # A's statuses follow its alerts
        return str(await conn.fetchval("SELECT state FROM edges WHERE edge_id = 'estate-1'"))
    finally:
        await _close(conn, ingest, pool, edge)


def test_statuses_land_in_the_order_sent_while_two_batches_are_in_flight(
    database_url: str, mosquitto: Mosquitto
) -> None:
    assert asyncio.run(_statuses_across_batches(database_url, mosquitto.url)) == "offline"


@pytest.mark.parametrize("writers", [1, 2])
def test_a_slow_batch_holds_back_neither_the_next_alerts_nor_the_ack_order(
    database_url: str, mosquitto: Mosquitto, writers: int
) -> None:
    seen = asyncio.run(_overtake(database_url, mosquitto.url, writers))
    assert seen["slow_stored"] == 0  # still held in its trigger
    if writers == 2:
        assert seen["fast_stored"] == 3  # written beside it
        assert seen["confirmed_early"] == seen["fast_keys"]  # and the edge may empty its outbox
    else:
        assert seen["fast_stored"] == 0  # one writer: they wait their turn
        assert seen["confirmed_early"] == []
    assert seen["acks_early"] == []  # no PUBACK overtakes the slow message's
    # The broker numbers the messages it sends this session in order: acknowledged in arrival order.
    assert len(seen["acks"]) == 4 and seen["acks"] == sorted(seen["acks"])


@given(st.integers(-(2**40), 2**40) | st.sampled_from([0, 1, 8, 9]) | st.text(max_size=6) | st.floats() | st.booleans())
@settings(max_examples=150, deadline=None)
def test_any_writers_setting_is_taken_within_1_to_8_or_refused_naming_it(value: object) -> None:
    """Through the real loader and its environment override, as an operator would set it."""
    env = {"WANGGE_MQTT__WRITERS": json.dumps(value) if not isinstance(value, str) else value}
    whole = isinstance(value, int) and not isinstance(value, bool)
    try:
        config = configfile.load(GatewayConfig, None, env)
    except configfile.ConfigError as exc:
        assert len(exc.problems) == 1 and exc.problems[0].startswith("mqtt.writers: "), exc.problems
        assert exc.problems[0].endswith("(set by WANGGE_MQTT__WRITERS)")
        assert not (whole and 1 <= value <= 8)  # type: ignore[operator]
        return
    assert 1 <= config.mqtt.writers <= 8
    if whole:
        assert config.mqtt.writers == value


async def _refused_statuses(database_url: str) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    pool = await connect_with_retry(database_url, max_size=1, reset_on_release=False)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            await conn.execute("ALTER TABLE edges ADD CONSTRAINT no_estate_2 CHECK (edge_id <> 'estate-2')")
            statuses = [(f"estate-{i}", {"state": "online", "edge_id": f"estate-{i}"}) for i in (1, 2, 3)]
            refused = await store_statuses(conn, statuses, datetime.now(UTC))
            stored = [r["edge_id"] for r in await conn.fetch("SELECT edge_id FROM edges ORDER BY edge_id")]
            letters = [(r["source"], r["reason"]) for r in await conn.fetch("SELECT source, reason FROM dead_letters")]
            return stored, letters, [topic for topic, *_ in refused]
    finally:
        await pool.close()


def test_a_status_the_database_refuses_is_dead_lettered_alone(database_url: str) -> None:
    stored, letters, refused = asyncio.run(_refused_statuses(database_url))
    assert stored == ["estate-1", "estate-3"]
    assert letters == [("wangge/edge/estate-2/status", "database_rejected")]
    assert refused == ["wangge/edge/estate-2/status"]
