"""PostgreSQL cost of one alert: bytes on disk (tables + indexes) and WAL written, for sizing (docs/scaling.md).

Alerts go through the real ingest path (`store`: the PL/pgSQL function, ticket placement, SLA clocks, outbox
events) in batches, as the gateway writes them: each alert a start and an end event, 40 alerts per ticket.
WAL is what a replica or an archive receives; on-disk size is measured after VACUUM ANALYZE.

  python bench/storage.py [--alerts 20000] [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from wangge import alert_format  # noqa: E402
from wangge.gateway.ingest.batch import Incoming, prepare  # noqa: E402
from wangge.gateway.ingest.store import store  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.gateway.storage.migrations import migrate  # noqa: E402
from wangge.gateway.storage.pool import init_connection  # noqa: E402

TABLES = ("alerts", "alert_events", "ticket_events", "tickets", "outbox_events")


def events(i: int, now: float) -> list[dict[str, object]]:
    start = alert_format.iso(now)
    end = alert_format.iso(now + 60)
    base = {
        "v": 1,
        "alert_id": str(uuid.uuid4()),
        "edge_id": f"estate-{i % 50:02d}",
        "source": {"kind": "sensor", "device_id": f"estate-{i % 50:02d}-dev-{i % 500 // 50}", "metric": "water"},
        "rule_id": "underpass-flooding",
        "category": "emergencies.water_logging",
        "severity": "major",
        "title": "Underpass water 23 cm",
        "started_at": start,
        "emitted_at": start,
        "value": 23.0,
    }
    return [
        {**base, "seq": 0, "event": "start", "at": start},
        {**base, "seq": 1, "event": "end", "at": end, "ended_at": end, "value": 4.0},
    ]


async def table_bytes(conn: asyncpg.Connection, table: str) -> int:
    """Heap + indexes + TOAST of a table, summed over its partitions when it has them."""
    return int(
        await conn.fetchval(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.oid = $1::regclass"
            " OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)",
            table,
        )
    )


async def run(url: str, alerts: int, batch: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    await migrate(conn)
    now = time.time()
    messages = [e for i in range(alerts) for e in events(i, now)]
    incoming = [Incoming(1, 1, 1, f"wangge/edge/{m['edge_id']}/alerts", json.dumps(m).encode()) for m in messages]
    await conn.execute("CHECKPOINT")
    before = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
    started = time.perf_counter()
    for i in range(0, len(incoming), batch):
        await store(conn, prepare(incoming[i : i + batch]))
    elapsed = time.perf_counter() - started
    wal = float(await conn.fetchval("SELECT pg_current_wal_insert_lsn() - $1::pg_lsn", before))
    await conn.execute("VACUUM ANALYZE")
    sizes = {t: await table_bytes(conn, t) for t in TABLES}
    counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
    assert counts["alerts"] == alerts and counts["alert_events"] == 2 * alerts, counts
    await conn.close()
    for t in TABLES:
        print(f"  {t:14s} {counts[t]:>8d} rows {sizes[t] / 1e6:8.1f} MB  {sizes[t] / alerts:8.0f} B/alert")
    return {
        "bytes_per_alert": sum(sizes.values()) / alerts,
        "raw_event_bytes_per_alert": sizes["alert_events"] / alerts,
        "wal_bytes_per_alert": wal / alerts,
        "alerts_per_s": alerts / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="wangge-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            r = asyncio.run(run(postgres.url, args.alerts, args.batch))
        finally:
            postgres.stop()
    print(
        f"{args.alerts} alerts (start + end each, {args.alerts // 40} tickets), one connection, batches of "
        f"{args.batch}: {r['alerts_per_s']:.0f} alerts/s"
    )
    print(
        f"bytes_per_alert={r['bytes_per_alert']:.0f} raw_event_bytes_per_alert={r['raw_event_bytes_per_alert']:.0f}"
        f" wal_bytes_per_alert={r['wal_bytes_per_alert']:.0f} alerts_per_s={r['alerts_per_s']:.0f}"
    )


if __name__ == "__main__":
    main()
