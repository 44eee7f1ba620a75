"""Month partitions and retention in a real PostgreSQL: what is kept, what goes, and that nothing else moves."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.gateway.ingest.test_ingest_db import connect, ingest, migrated
from tests.test_alert_format import alert
from wangge.gateway.storage import partitions
from wangge.gateway.storage.config import RetentionConfig
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.retention import run_lifecycle

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def old_alert(at: datetime, **changes: object) -> dict[str, object]:
    return alert(started_at=stamp(at), at=stamp(at), emitted_at=stamp(at), **changes)


async def partition_names(conn: asyncpg.Connection, table: str) -> list[str]:
    return [r["name"] for r in await partitions.months(conn, table)]


def test_existing_alerts_move_into_month_partitions_when_migrating(database_url: str) -> None:
    async def run() -> None:
        conn = await connect(database_url)
        await migrate(conn, upto=5)
        july, august = old_alert(datetime(2026, 7, 3, tzinfo=UTC)), old_alert(datetime(2026, 8, 30, tzinfo=UTC))
        for message in (july, august):
            await conn.fetch("SELECT * FROM wangge_ingest_alerts(ARRAY[$1::jsonb], ARRAY['k'], '1 day')", message)
        assert await migrate(conn) == [
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
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 2
        assert await conn.fetchval("SELECT count(*) FROM alert_events") == 2
        assert await conn.fetchval("SELECT count(*) FROM alerts_y2026m07") == 1
        assert await conn.fetchval("SELECT count(*) FROM alert_events_y2026m08") == 1
        # Redelivery of a migrated event is still a duplicate: the partition key is the event's own time.
        assert await ingest(conn, july) == ["duplicate"]
        await conn.close()

    asyncio.run(run())


def test_an_event_from_a_month_without_a_partition_makes_it_and_still_dedupes(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        long_ago = old_alert(datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC))
        assert "alert_events_y2024m02" not in await partition_names(conn, "alert_events")
        assert await ingest(conn, long_ago) == ["opened"]
        assert await ingest(conn, long_ago) == ["duplicate"]
        end = dict(long_ago, seq=1, event="end", at="2024-03-01T00:00:01Z", ended_at="2024-03-01T00:00:01Z")
        assert await ingest(conn, end) == ["event"]
        assert "alert_events_y2024m03" in await partition_names(conn, "alert_events")
        assert "alerts_y2024m03" in await partition_names(conn, "alerts")  # both tables, always in step
        assert await conn.fetchval("SELECT count(*) FROM alert_events_y2024m02") == 1
        assert await conn.fetchval("SELECT count(*) FROM alert_events_y2024m03") == 1
        assert await conn.fetchval("SELECT ended_at IS NOT NULL FROM alerts") is True
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1
        await conn.close()

    asyncio.run(run())


def test_partitions_end_and_begin_at_utc_month_boundaries_whatever_the_session_time_zone(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        await conn.execute("SET TIME ZONE 'Asia/Shanghai'")
        await partitions.ensure(conn, [datetime(2025, 1, 1, 0, 30, tzinfo=UTC)])
        [row] = [r for r in await partitions.months(conn, "alerts") if r["name"] == "alerts_y2025m01"]
        assert row["lower_bound"] == datetime(2025, 1, 1, tzinfo=UTC)
        assert row["upper_bound"] == datetime(2025, 2, 1, tzinfo=UTC)
        await conn.close()

    asyncio.run(run())


async def seed_history(conn: asyncpg.Connection) -> dict[str, int]:
    """Two tickets' worth of old and recent data of every kind the job looks after."""
    old, recent = NOW - timedelta(days=400), NOW - timedelta(days=2)
    await ingest(conn, old_alert(old, source={"kind": "sensor", "device_id": "old"}))
    await ingest(conn, old_alert(recent, source={"kind": "sensor", "device_id": "new"}))
    ticket = await conn.fetchval("SELECT id FROM tickets WHERE device_id = 'old'")
    ids = {}
    for name, kind, age in (
        ("old_snapshot", "snapshot", old),
        ("new_snapshot", "snapshot", recent),
        ("old_photo", "photo", old),
    ):
        ids[name] = await conn.fetchval(
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by, created_at, kind)"
            " VALUES ($1, 'image/jpeg', '\\x00', 1, '\\x00', 'edge:estate-1', $2, $3) RETURNING id",
            ticket,
            age,
            kind,
        )
    for age in (old, recent):
        await conn.execute(
            "INSERT INTO dead_letters (received_at, source, reason, detail, payload) VALUES ($1, 't', 'r', 'd', '')",
            age,
        )
    sub = await conn.fetchval(
        "INSERT INTO webhook_subscriptions (name, url, format, created_by) VALUES ('s', 'http://x', 'standard', 't')"
        " RETURNING id"
    )
    for name, state in (("delivered", "delivered"), ("owed", "pending")):
        event = await conn.fetchval(
            "INSERT INTO outbox_events (created_at, event_type, payload, fanned_out) VALUES ($1, 'e', '{}', true)"
            " RETURNING id",
            old,
        )
        ids[f"{name}_event"] = event
        await conn.execute(
            "INSERT INTO webhook_deliveries (subscription_id, event_id, message_id, state, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            sub,
            event,
            uuid.uuid4().hex,
            state,
            old,
        )
    return ids


def test_retention_removes_what_has_expired_and_keeps_records_and_owed_deliveries(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        ids = await seed_history(conn)
        report = await run_lifecycle(conn, RetentionConfig(alert_events_days=180), NOW)
        assert report.ran
        old_month = (NOW - timedelta(days=400)).strftime("y%Ym%m")
        assert report.partitions_dropped == [f"alert_events_{old_month}"]
        # The raw events of the old alert are gone; the alert (alerts_days: forever) and its ticket stay.
        assert await conn.fetchval("SELECT count(*) FROM alert_events") == 1
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 2
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 2
        kept = {r["id"] for r in await conn.fetch("SELECT id FROM attachments")}
        assert kept == {ids["new_snapshot"], ids["old_photo"]}
        [expired] = await conn.fetch("SELECT data FROM ticket_events WHERE kind = 'attachment.expired'")
        assert expired["data"]["attachment_id"] == ids["old_snapshot"]
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 1
        assert [r["state"] for r in await conn.fetch("SELECT state FROM webhook_deliveries")] == ["pending"]
        events = {r["id"] for r in await conn.fetch("SELECT id FROM outbox_events")}
        assert ids["owed_event"] in events and ids["delivered_event"] not in events
        assert report.removed == {
            "snapshots": 1,
            "clips": 0,
            "dead_letters": 1,
            "webhook_deliveries": 1,
            "webhook_attempts": 0,
            "outbox_events": 1,
        }
        # Partitions are ready for this month and the two after it.
        names = await partition_names(conn, "alerts")
        assert {"alerts_y2026m11", "alerts_y2026m12", "alerts_y2027m01"} <= set(names)
        # A second pass finds nothing more to do.
        again = await run_lifecycle(conn, RetentionConfig(alert_events_days=180), NOW)
        assert (again.partitions_made, again.partitions_dropped, sum(again.removed.values())) == (0, [], 0)
        await conn.close()

    asyncio.run(run())


def test_alerts_go_only_when_configured_and_one_replica_runs_a_pass_at_a_time(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        await seed_history(conn)
        other = await connect(database_url)
        await other.execute("SELECT pg_advisory_lock(x'77616E676C696665'::bigint)")
        assert not (await run_lifecycle(conn, RetentionConfig(), NOW)).ran
        await other.close()
        report = await run_lifecycle(conn, RetentionConfig(alert_events_days=30, alerts_days=365), NOW)
        assert len(report.partitions_dropped) == 2
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 2  # tickets are records: never expired
        await conn.close()

    asyncio.run(run())


def test_retention_settings_that_would_orphan_events_are_refused() -> None:
    with pytest.raises(ValueError, match="alert_events_days must not exceed alerts_days"):
        RetentionConfig(alert_events_days=400, alerts_days=365)
    with pytest.raises(ValueError, match="alert_events_days must not exceed alerts_days"):
        RetentionConfig(alert_events_days=None, alerts_days=365)
