"""The data lifecycle job: month partitions made ahead, expired data removed.

One replica runs a pass at a time (a session advisory lock; the others skip that round). Deletes go in
bounded batches so no pass holds long locks on tables that ingest and the API use."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from wangge.gateway import metrics
from wangge.gateway.storage import partitions
from wangge.gateway.storage.config import RetentionConfig

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

log = logging.getLogger(__name__)

_LOCK = 0x77616E67_6C696665  # "wanglife"
_BATCH = 5000


@dataclass
class LifecycleReport:
    ran: bool = False
    partitions_made: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)


def _months_ahead(now: datetime, ahead: int) -> list[datetime]:
    first = partitions.month_start(now)
    out = []
    for _ in range(ahead + 1):
        out.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return out


async def _delete_in_batches(conn: Conn, sql: str, cutoff: datetime) -> int:
    """`sql` deletes at most $2 rows older than $1 and returns them; run until nothing is left."""
    total = 0
    while True:
        done = len(await conn.fetch(sql, cutoff, _BATCH))
        total += done
        if done < _BATCH:
            return total


# Each batch by primary key (= ANY of an array): `id IN (subquery)` may be planned as a scan of the whole table.
def _evidence(kind: str) -> str:
    """Expired evidence of one kind: rows deleted, their objects handed to the media sweep, the ticket's history
    told (the checksum stays there as a record of what was held)."""
    return (
        "WITH gone AS (DELETE FROM attachments WHERE id = ANY (ARRAY(SELECT id FROM attachments"
        f" WHERE kind = '{kind}' AND created_at < $1 ORDER BY created_at LIMIT $2))"
        " RETURNING id, ticket_id, sha256, created_at, object_key),"
        " swept AS (INSERT INTO media_garbage (object_key, since) SELECT object_key, '-infinity' FROM gone"
        " WHERE object_key IS NOT NULL ON CONFLICT (object_key) DO NOTHING)"
        " INSERT INTO ticket_events (ticket_id, actor, kind, data)"
        " SELECT ticket_id, 'system', 'attachment.expired', jsonb_build_object('attachment_id', id,"
        f" 'kind', '{kind}', 'sha256', encode(sha256, 'hex'), 'created_at', created_at) FROM gone RETURNING 1"
    )


_SNAPSHOTS = _evidence("snapshot")
_CLIPS = _evidence("clip")
_DEAD_LETTERS = (
    "DELETE FROM dead_letters WHERE id = ANY (ARRAY(SELECT id FROM dead_letters WHERE received_at < $1"
    " ORDER BY received_at LIMIT $2)) RETURNING 1"
)
_DELIVERIES = (
    "DELETE FROM webhook_deliveries WHERE id = ANY (ARRAY(SELECT id FROM webhook_deliveries"
    " WHERE state IN ('delivered', 'dead', 'cancelled') AND created_at < $1 ORDER BY created_at LIMIT $2))"
    " RETURNING 1"
)
_ATTEMPTS = (
    "DELETE FROM webhook_attempts WHERE id = ANY (ARRAY(SELECT id FROM webhook_attempts WHERE at < $1"
    " ORDER BY at LIMIT $2)) RETURNING 1"
)
# An event still owed to a receiver (a delivery pending or being retried) is kept whatever its age.
_OUTBOX = (
    "DELETE FROM outbox_events WHERE id = ANY (ARRAY(SELECT o.id FROM outbox_events o WHERE o.fanned_out"
    " AND o.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = o.id)"
    " ORDER BY o.created_at LIMIT $2)) RETURNING 1"
)


async def run_lifecycle(conn: Conn, config: RetentionConfig, now: datetime) -> LifecycleReport:
    """One pass; returns what it did, or `ran=False` when another replica holds the pass."""
    report = LifecycleReport()
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK):
        return report
    try:
        report.ran = True
        report.partitions_made = await partitions.ensure(conn, _months_ahead(now, config.partitions_ahead_months))
        for table, days in (("alert_events", config.alert_events_days), ("alerts", config.alerts_days)):
            if days is not None:
                report.partitions_dropped += await partitions.drop_before(conn, table, now - timedelta(days=days))
        for kind, days, sql in (
            ("snapshots", config.snapshots_days, _SNAPSHOTS),
            ("clips", config.clips_days, _CLIPS),
            ("dead_letters", config.dead_letters_days, _DEAD_LETTERS),
            ("webhook_deliveries", config.webhook_history_days, _DELIVERIES),
            ("webhook_attempts", config.webhook_history_days, _ATTEMPTS),
            ("outbox_events", config.webhook_history_days, _OUTBOX),
        ):
            if days is not None:
                removed = await _delete_in_batches(conn, sql, now - timedelta(days=days))
                report.removed[kind] = removed
                metrics.RETENTION_REMOVED.labels(kind).inc(removed)
        for table in partitions.PARTITIONED:
            months = await partitions.months(conn, table)
            metrics.PARTITIONS.labels(table).set(len(months))
            metrics.PARTITION_ROWS.labels(table).set(sum(r["approx_rows"] for r in months))
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    if report.partitions_made or report.partitions_dropped or any(report.removed.values()):
        log.info(
            "lifecycle: %d partitions made, dropped %s, removed %s",
            report.partitions_made,
            report.partitions_dropped or "none",
            {k: v for k, v in report.removed.items() if v},
        )
    return report
