"""Month partitions of alerts and alert_events: made ahead by the lifecycle job, on demand by ingest."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


PARTITIONED = ("alerts", "alert_events")


def month_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def ensure(conn: Conn, instants: Iterable[datetime]) -> int:
    """Create the month partitions holding these instants (both tables); returns how many were made."""
    return int(await conn.fetchval("SELECT wangge_ensure_partitions($1::timestamptz[])", list(instants)))


async def ensure_for_alerts(conn: Conn, alerts: list[dict[str, Any]]) -> int:
    """The partitions a batch of alert events will write (started_at for alerts, at for alert_events);
    PostgreSQL reads the times, exactly as the ingest function will."""
    return int(
        await conn.fetchval(
            "SELECT wangge_ensure_partitions(ARRAY(SELECT (e->>k)::timestamptz"
            " FROM unnest($1::jsonb[]) e, unnest(ARRAY['started_at', 'at']) k))",
            alerts,
        )
    )


async def months(conn: Conn, parent: str) -> list[asyncpg.Record]:
    """(name, lower_bound, upper_bound, approx_rows) of each partition of `parent`, oldest first."""
    return list(await conn.fetch("SELECT * FROM wangge_partitions($1)", parent))


async def drop_before(conn: Conn, parent: str, before: datetime) -> list[str]:
    """Drop the partitions of `parent` whose month ends at or before `before`; returns their names."""
    return list(await conn.fetchval("SELECT wangge_drop_partitions($1, $2)", parent, before))
