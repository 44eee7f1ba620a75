"""The ingest function in a real PostgreSQL: idempotency, correlation and concurrency."""

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from tests.test_alert_format import alert
from wangge import alert_format
from wangge.gateway.ingest.batch import Incoming, prepare
from wangge.gateway.ingest.store import store
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import init_connection


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn


async def migrated(url: str) -> asyncpg.Connection:
    conn = await connect(url)
    await migrate(conn)
    return conn


def incoming(message: Any, topic: str = "wangge/edge/estate-1/alerts") -> Incoming:
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    return Incoming(1, 1, 1, topic, payload)


async def ingest(conn: asyncpg.Connection, *messages: Any) -> list[str]:
    return await store(conn, prepare([incoming(m) for m in messages]))


def test_migrations_apply_once(database_url: str) -> None:
    async def run() -> None:
        conn = await connect(database_url)
        applied = await migrate(conn)
        assert applied == [
            "0001_alerts_and_tickets.sql",
            "0002_case_system.sql",
            "0003_buildings.sql",
            "0004_webhooks.sql",
            "0005_outbox_notify.sql",
            "0006_partitions.sql",
            "0007_snapshots.sql",
            "0008_alert_ownership.sql",
            "0009_broker_identities.sql",
            "0010_region_moves_and_sealed_secrets.sql",
            "0011_set_based_ingest.sql",
            "0012_stats_series.sql",
            "0013_ticket_facts.sql",
            "0014_root_causes.sql",
            "0015_weekly_reports.sql",
            "0016_public_intake.sql",
            "0017_object_storage.sql",
            "0018_cluster_snapshots.sql",
            "0019_fact_stage_seconds.sql",
            "0020_ticket_hot_updates.sql",
        ]
        assert await migrate(conn) == []
        await conn.close()

    asyncio.run(run())


def test_start_opens_a_ticket_and_redelivery_changes_nothing(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        start = alert()
        assert await ingest(conn, start, start) == ["opened", "duplicate"]
        assert await ingest(conn, start) == ["duplicate"]
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1
        assert await conn.fetchval("SELECT count(*) FROM alert_events") == 1
        ticket = await conn.fetchrow("SELECT * FROM tickets")
        assert ticket["correlation_key"] == "estate-1/g1/flood"
        assert (ticket["state"], ticket["alert_count"], ticket["active_alerts"]) == ("reported", 1, 1)
        kinds = [r["kind"] for r in await conn.fetch("SELECT kind FROM ticket_events ORDER BY id")]
        assert kinds == ["ticket.opened", "alert.start"]
        await conn.close()

    asyncio.run(run())


def test_end_is_recorded_but_closes_nothing_and_may_arrive_first(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        start = alert()
        end = {**start, "seq": 1, "event": "end", "at": "2026-07-01T00:05:00Z", "ended_at": "2026-07-01T00:05:00Z"}
        assert await ingest(conn, end) == ["opened"]
        assert await ingest(conn, start) == ["event"]
        row = await conn.fetchrow("SELECT last_seq, ended_at FROM alerts")
        assert row["last_seq"] == 1 and row["ended_at"] is not None
        ticket = await conn.fetchrow("SELECT state, closed_at, active_alerts FROM tickets")
        assert (ticket["state"], ticket["closed_at"], ticket["active_alerts"]) == ("reported", None, 0)
        await conn.close()

    asyncio.run(run())


def test_same_key_attaches_other_key_opens_and_the_reopen_window_decides_after_close(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        assert await ingest(conn, alert(), alert(severity="critical"), alert(rule_id="tilt")) == [
            "opened",
            "attached",
            "opened",
        ]
        flood = await conn.fetchrow("SELECT id, alert_count, severity FROM tickets WHERE rule_id = 'flood'")
        assert (flood["alert_count"], flood["severity"]) == (2, "critical")
        # Closed an hour ago: inside the 72 h reopen window, the same ticket comes back.
        await conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = now() - interval '1 hour' WHERE id = $1", flood["id"]
        )
        assert await ingest(conn, alert()) == ["reopened"]
        row = await conn.fetchrow(
            "SELECT state, closed_at, reopen_count, alert_count FROM tickets WHERE id = $1", flood["id"]
        )
        assert (row["state"], row["closed_at"], row["reopen_count"], row["alert_count"]) == ("reopened", None, 1, 3)
        # Closed 100 hours ago: outside the window, a new ticket.
        await conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = now() - interval '100 hours' WHERE id = $1", flood["id"]
        )
        assert await ingest(conn, alert()) == ["opened"]
        assert await conn.fetchval("SELECT count(*) FROM tickets WHERE rule_id = 'flood'") == 2
        await conn.close()

    asyncio.run(run())


def test_bad_messages_go_to_dead_letters_with_their_reason(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        good = alert()
        prepared = prepare(
            [
                incoming(b"{oops"),
                incoming(alert(edge_id="someone-else")),
                incoming(good),
            ]
        )
        assert await store(conn, prepared) == ["opened"]
        rows = await conn.fetch("SELECT reason, payload FROM dead_letters ORDER BY id")
        assert [r["reason"] for r in rows] == ["not_json", "edge_mismatch"]
        assert rows[0]["payload"] == b"{oops"
        await conn.close()

    asyncio.run(run())


def test_two_gateways_racing_on_one_alert_and_one_key_make_one_row_and_one_ticket(database_url: str) -> None:
    """Concurrency is settled by the database: run the same inserts on many connections at once."""

    async def run() -> None:
        setup = await migrated(database_url)
        same = alert()
        others = [alert(alert_id=str(uuid.uuid4())) for _ in range(8)]
        conns = [await connect(database_url) for _ in range(6)]

        async def worker(conn: asyncpg.Connection, messages: list[dict[str, Any]]) -> list[str]:
            for _ in range(20):
                try:
                    return await ingest(conn, *messages)
                except asyncpg.DeadlockDetectedError:
                    await asyncio.sleep(0.01)
            raise AssertionError("no progress")

        batches = [[same, *others], [*reversed(others), same]] * 3
        outcomes = await asyncio.gather(*(worker(c, b) for c, b in zip(conns, batches, strict=True)))
        flat = [o for batch in outcomes for o in batch]
        assert flat.count("opened") == 1
        assert flat.count("attached") == 8
        assert flat.count("duplicate") == 5 * 9
        assert await setup.fetchval("SELECT count(*) FROM tickets") == 1
        assert await setup.fetchval("SELECT count(*) FROM alerts") == 9
        assert await setup.fetchval("SELECT alert_count FROM tickets") == 9
        for c in [setup, *conns]:
            await c.close()

    asyncio.run(run())


def test_wire_format_round_trip_keeps_the_payload(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        message = alert(attributes={"note": "水位"})
        await ingest(conn, message)
        stored = await conn.fetchval("SELECT payload FROM alerts")
        assert stored == alert_format.parse_alert(alert_format.encode(message))
        await conn.close()

    asyncio.run(run())


def test_every_stored_event_is_announced_in_order_with_one_wake_up_per_batch(database_url: str) -> None:
    """A batch that opens tickets announces each one (ticket.created, with its deadline set) before its alerts;
    a batch that only attaches announces its alerts from inside the write. Either way a transaction wakes the
    webhook workers once, however many events it wrote."""

    async def run() -> None:
        conn = await migrated(database_url)
        listener = await connect(database_url)
        woken: list[str] = []
        await listener.add_listener("wangge_outbox", lambda *args: woken.append(args[-1]))

        first, copy = alert(), alert(rule_id="tilt")
        assert await ingest(conn, first, alert(), copy, copy) == ["opened", "attached", "opened", "duplicate"]
        rows = await conn.fetch("SELECT event_type, ticket_id, payload FROM outbox_events ORDER BY id")
        tickets = {r["rule_id"]: r["id"] for r in await conn.fetch("SELECT id, rule_id FROM tickets")}
        flood, tilt = tickets["flood"], tickets["tilt"]
        # Lock order is by correlation key: estate-1/g1/flood before estate-1/g1/tilt.
        assert [(r["event_type"], r["ticket_id"], r["payload"].get("outcome")) for r in rows] == [
            ("ticket.created", flood, None),
            ("alert.received", flood, "opened"),
            ("alert.received", flood, "attached"),
            ("ticket.created", tilt, None),
            ("alert.received", tilt, "opened"),
        ]
        assert all(r["payload"]["ticket"]["due_at"] is not None for r in rows)  # announced after the clock started

        end = {**first, "seq": 1, "event": "end", "at": "2026-07-01T00:05:00Z", "ended_at": "2026-07-01T00:05:00Z"}
        assert await ingest(conn, alert(), end, alert(rule_id="tilt")) == ["attached", "event", "attached"]
        later = await conn.fetch("SELECT event_type, ticket_id, payload FROM outbox_events ORDER BY id OFFSET 5")
        assert sorted((r["event_type"], r["ticket_id"], r["payload"]["outcome"]) for r in later) == sorted(
            [
                ("alert.received", flood, "attached"),
                ("alert.received", flood, "event"),
                ("alert.received", tilt, "attached"),
            ]
        )
        assert later[0]["payload"]["ticket"]["id"] in (flood, tilt)
        for _ in range(50):
            if len(woken) >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert len(woken) == 2  # two batches, two wake-ups (not one per event)
        await listener.close()
        await conn.close()

    asyncio.run(run())


def test_ticket_counter_updates_stay_on_their_page(database_url: str) -> None:
    """A storm rewrites the same open tickets' counters every batch: those updates must be heap-only (no index
    touched), which needs room on the page (migration 0020). At the default fillfactor most of them were not."""

    async def run() -> None:
        conn = await migrated(database_url)
        devices = [f"g{n}" for n in range(200)]
        for _ in range(25):  # 25 batches, each attaching one alert to each of 200 open tickets
            await ingest(conn, *(alert(source={"kind": "sensor", "device_id": d, "metric": "m"}) for d in devices))
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")  # the flush happens when this backend next goes idle

        async def counts() -> tuple[int, int]:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            row = await conn.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tickets'"
            )
            return int(row["n_tup_upd"]), int(row["n_tup_hot_upd"])

        for _ in range(100):
            updated, heap_only = await counts()
            if updated >= 24 * 200:
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT sum(alert_count) FROM tickets") == 25 * 200
        assert updated >= 24 * 200  # every batch after the first updated every ticket (the first opened them)
        assert heap_only / updated >= 0.85, (heap_only, updated)  # 0.34 at the default fillfactor
        await conn.close()

    asyncio.run(run())


def test_the_stored_payload_is_the_message_validated_however_it_was_written(database_url: str) -> None:
    """Escapes, exponents, spacing and a repeated key (the last one counts, for Python's parser and for jsonb
    alike) come out as the dict that was validated, in the events and in the alert row, and the alert's columns
    agree with its payload: no message means one thing to the validator and another to what is stored."""

    async def run() -> None:
        conn = await migrated(database_url)
        first, second = alert(), alert(rule_id="tilt")
        texts = [
            json.dumps(first, indent=3)
            .replace('"Water"', '"\\u6c34 level", "title": "W\\u00e4ter"')
            .replace('"value": 23.5', '"value": 2.35E1')
            .encode(),
            json.dumps(second, ensure_ascii=False, separators=(",", ":")).replace('"Water"', '"中文"').encode(),
        ]
        batch = [incoming(text) for text in texts]
        assert await store(conn, prepare(batch)) == ["opened", "opened"]
        for text in texts:
            sent = json.loads(text)
            alert_id = uuid.UUID(sent["alert_id"])
            row = await conn.fetchrow("SELECT payload, title FROM alerts WHERE alert_id = $1", alert_id)
            event = await conn.fetchval("SELECT payload FROM alert_events WHERE alert_id = $1", alert_id)
            assert row["payload"] == sent and event == sent
            assert row["title"] == row["payload"]["title"] == sent["title"]
        assert json.loads(texts[0])["title"] == "Wäter" and json.loads(texts[0])["value"] == 23.5
        await conn.close()

    asyncio.run(run())
