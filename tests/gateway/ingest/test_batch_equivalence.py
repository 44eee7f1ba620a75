"""The set-based batch path agrees with the sequential definition (wangge_ingest_alert, one event at a time).

Hypothesis draws batches from a small world so that everything collides: the same alert from two edges,
redelivered copies in one batch and across batches, several starts of one alert id, ends before starts, alerts
sharing a correlation key, tickets closed (inside and outside the reopen window) or cancelled between batches,
one instant written three ways. Each batch goes, in lock order, through both paths into two databases of one
PostgreSQL; every outcome and every row of alerts, alert_events, tickets and ticket_events must be the same.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import sql
from wangge import alert_format
from wangge.gateway.ingest.alert_rows import write_alerts
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import init_connection

REOPEN = timedelta(hours=24)
ALERT_IDS = [uuid.UUID(int=(i + 1) * 0x1111_1111_1111_1111) for i in range(6)]
BASE = datetime.now(UTC).replace(day=1, hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)


def _stamp(at: datetime, style: int) -> str:
    """One instant, written as the wire format allows: Z, an offset, or more digits than PostgreSQL keeps."""
    if style == 0:
        return at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if style == 1:
        return at.astimezone(timezone(timedelta(hours=8))).isoformat(timespec="microseconds")
    return at.isoformat(timespec="microseconds").replace("+00:00", "7Z")  # PostgreSQL rounds, Python truncates


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, len(ALERT_IDS) - 1))
    home = "e1" if n < 4 else "e2"
    edge = draw(st.sampled_from([home] * 7 + ["e2" if home == "e1" else "e1"]))
    seq = draw(st.integers(0, 3))
    kind = draw(st.sampled_from(["start", "update", "end"]))
    started = BASE + timedelta(minutes=draw(st.integers(0, 3)))
    at = started + timedelta(seconds=seq, microseconds=draw(st.sampled_from([0, 250])))
    style = draw(st.integers(0, 2))
    alert_id = str(ALERT_IDS[n])
    message: dict[str, Any] = {
        "v": 1,
        "alert_id": alert_id.upper() if draw(st.booleans()) else alert_id,
        "seq": seq,
        "event": kind,
        "edge_id": edge,
        "source": {"kind": "sensor", "device_id": f"d{n % 2}", "metric": "level"},
        "rule_id": "r1",
        "category": "emergencies.water_logging",
        "severity": draw(st.sampled_from(["info", "minor", "major", "critical"])),
        "title": f"title {seq}",
        "started_at": _stamp(started, style),
        "at": _stamp(at, style),
        "emitted_at": _stamp(at, 0),
    }
    if kind == "end" or draw(st.integers(0, 4)) == 0:
        message["ended_at"] = _stamp(at, style)
    return message


closing = st.tuples(st.integers(0, 3), st.sampled_from(["closed", "closed", "cancelled"]), st.sampled_from([1, 1, 48]))
rounds = st.lists(st.tuples(st.lists(events(), min_size=1, max_size=12), st.lists(closing, max_size=3)), max_size=6)

SNAPSHOTS = {
    "alerts": "SELECT alert_id, ticket_id, edge_id, device_id, rule_id, category, severity, title, started_at,"
    " ended_at, last_seq, emitted_at, payload FROM alerts ORDER BY alert_id, started_at",
    "alert_events": "SELECT alert_id, seq, event, at, emitted_at, payload FROM alert_events ORDER BY alert_id, seq, at",
    "tickets": "SELECT id, correlation_key, state, category, severity, title, edge_id, device_id, rule_id, alert_count,"
    " active_alerts, first_alert_at, last_alert_at, region_id, region_path, reopen_count, closed_at IS NULL AS open"
    " FROM tickets ORDER BY id",
    "ticket_events": "SELECT ticket_id, actor, kind, from_state, to_state, data FROM ticket_events ORDER BY id",
}


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    await migrate(conn)
    return conn


async def _sequential(conn: asyncpg.Connection, batch: list[dict[str, Any]], keys: list[str]) -> list[str]:
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT outcome FROM wangge_ingest_alerts($1::jsonb[], $2::text[], $3::interval)", batch, keys, REOPEN
        )
    return [r["outcome"] for r in rows]


async def _batched(conn: asyncpg.Connection, batch: list[dict[str, Any]], keys: list[str]) -> list[str]:
    async with conn.transaction():
        written = await write_alerts(conn, batch, keys, REOPEN)
    return written.outcomes


async def _close(conn: asyncpg.Connection, nth: int, state: str, hours_ago: int) -> None:
    await conn.execute(
        "UPDATE tickets SET state = $2, closed_at = now() - make_interval(hours => $3)"
        " WHERE id = (SELECT id FROM tickets WHERE closed_at IS NULL ORDER BY id OFFSET $1 LIMIT 1)",
        nth,
        state,
        hours_ago,
    )


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row, with ticket ids replaced by their rank: both paths open tickets in the same order, but an
    upsert that attaches still draws a sequence number, so the sequential path leaves gaps between ids."""
    rank = {r["id"]: n for n, r in enumerate(await conn.fetch("SELECT id FROM tickets ORDER BY id"))}
    column = {"alerts": 1, "tickets": 0, "ticket_events": 0}
    out = {}
    for name, query in SNAPSHOTS.items():
        rows = [list(r) for r in await conn.fetch(query)]
        if name in column:
            for row in rows:
                row[column[name]] = rank[row[column[name]]]
        out[name] = [tuple(r) for r in rows]
    return out


def test_the_batch_path_agrees_with_the_sequential_definition(pg_server: str) -> None:
    urls = []
    for _ in range(2):
        name = f"t_{uuid.uuid4().hex[:12]}"
        sql(pg_server, f'CREATE DATABASE "{name}"')
        urls.append(pg_server.replace("/postgres?", f"/{name}?"))
    loop = asyncio.new_event_loop()
    old = loop.run_until_complete(_connect(urls[0]))
    new = loop.run_until_complete(_connect(urls[1]))
    compared = {"outcomes": 0, "rows": 0}
    seen: dict[str, int] = {}

    async def one_example(plan: list[tuple[list[dict[str, Any]], list[tuple[int, str, int]]]]) -> None:
        for conn in (old, new):
            await conn.execute(
                "TRUNCATE alerts, alert_events, ticket_events, outbox_events, tickets RESTART IDENTITY CASCADE"
            )
        for batch, closures in plan:
            keys = [alert_format.correlation_key(m) for m in batch]
            order = sorted(range(len(batch)), key=lambda i: keys[i])  # the lock order ingest uses
            ordered, ordered_keys = [batch[i] for i in order], [keys[i] for i in order]
            expected = await _sequential(old, ordered, ordered_keys)
            got = await _batched(new, ordered, ordered_keys)
            assert got == expected, (ordered, expected, got)
            compared["outcomes"] += len(got)
            for outcome in got:
                seen[outcome] = seen.get(outcome, 0) + 1
            for closure in closures:
                await _close(old, *closure)
                await _close(new, *closure)
        before, after = await _snapshot(old), await _snapshot(new)
        for name in SNAPSHOTS:
            extra = [r[:12] for r in after[name] if r not in before[name]]
            missing = [r[:12] for r in before[name] if r not in after[name]]
            assert after[name] == before[name], (name, "batch path has", extra, "sequential has", missing)
            compared["rows"] += len(after[name])

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rounds)
    def check(plan: list[tuple[list[dict[str, Any]], list[tuple[int, str, int]]]]) -> None:
        loop.run_until_complete(one_example(plan))

    try:
        check()
    finally:
        loop.run_until_complete(old.close())
        loop.run_until_complete(new.close())
        loop.close()
    # The world is small enough that collisions are the rule: most events are compared, and rows exist.
    assert compared["outcomes"] > 500 and compared["rows"] > 500, compared
    assert set(seen) == {"opened", "reopened", "attached", "event", "duplicate", "foreign_alert"}, seen
    assert min(seen.values()) >= 10, seen
