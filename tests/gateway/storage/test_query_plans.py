"""The statements that run on every pass over a growing table read it by index, whatever the planner's guess.

`UPDATE ... WHERE id IN (SELECT ... LIMIT n)` was planned as a hash join over a sequential scan of the whole
table once it held some thousands of rows: the webhook fan-out then read every outbox event ever kept on every
pass (several milliseconds per pass at 40,000 events, growing with retention). Each such statement now names
its rows by primary key; this test grows the table past its statistics, as a storm does, and reads the plans.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway.ingest.test_ingest_db import migrated
from wangge.gateway.storage import retention
from wangge.gateway.webhooks import store


def _scans(plan: Any) -> list[tuple[str, str]]:
    """(node type, relation) for every scan in an EXPLAIN (FORMAT JSON) plan."""
    out = []
    stack = [plan]
    while stack:
        node = stack.pop()
        if "Relation Name" in node:
            out.append((node["Node Type"], node["Relation Name"]))
        stack.extend(node.get("Plans", []))
    return out


def test_per_pass_statements_read_big_tables_by_index(database_url: str) -> None:
    async def run() -> None:
        conn = await migrated(database_url)
        old = datetime.now(UTC) - timedelta(days=400)
        fill = (
            "INSERT INTO outbox_events (event_type, payload, fanned_out, created_at)"
            " SELECT 'alert.received', '{}', n > 20, $1 FROM generate_series(1, $2) n"
        )
        # Statistics lag behind a table that grows fast (a storm, a backlog): gathered at 200 rows, read at 40,200.
        await conn.execute(fill, old, 200)
        await conn.execute("ANALYZE outbox_events")
        await conn.execute(fill.replace("n > 20", "true"), old, 40000)
        statements: list[tuple[str, list[Any]]] = [
            (store.FAN_OUT_SQL, [store.FAN_OUT_BATCH]),
            (retention._OUTBOX, [datetime.now(UTC) - timedelta(days=30), 1000]),
        ]
        for sql, args in statements:
            async with conn.transaction():
                raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                scans = _scans(plan)
                seq = [s for s in scans if s == ("Seq Scan", "outbox_events")]
                # The retention batch may pick its candidates by scanning (it runs hourly); the delete itself,
                # like the fan-out's mark, goes by primary key.
                allowed = 1 if sql is retention._OUTBOX else 0
                assert len(seq) <= allowed, (sql[:60], scans)
                assert ("Index Scan", "outbox_events") in scans or ("Bitmap Heap Scan", "outbox_events") in scans
        fanned, made = await store.fan_out(conn)
        assert (fanned, made) == (20, 0)  # the 20 pending ones, no subscriptions
        await conn.close()

    asyncio.run(run())
