"""A prepared batch into PostgreSQL in one transaction: alert events idempotently by (alert_id, seq), tickets
opened or attached by the case system, dead letters, edge statuses."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from wangge import alert_format
from wangge.gateway import metrics
from wangge.gateway.cases.opening import after_ingest
from wangge.gateway.cases.rules import CaseRules, default_rules
from wangge.gateway.ingest.alert_rows import write_alerts
from wangge.gateway.ingest.batch import Prepared, lock_order, topic_edge
from wangge.gateway.storage import partitions

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


def storable_text(text: str) -> str:
    """Text that PostgreSQL and UTF-8 can hold: what a refusal says may quote the bad input (a NUL, a lone
    surrogate), so those are written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _refuse(prepared: Prepared, refused: dict[int, tuple[str, str]]) -> None:
    """Move the alerts at these positions (reason, detail) into the batch's rejected messages."""
    if not refused:
        return
    for i, (reason, detail) in sorted(refused.items()):
        alert = prepared.alerts[i]
        prepared.rejected.append((f"wangge/edge/{alert['edge_id']}/alerts", reason, detail, alert_format.encode(alert)))
    keep = [i for i in range(len(prepared.alerts)) if i not in refused]
    prepared.alerts = [prepared.alerts[i] for i in keep]
    prepared.keys = [prepared.keys[i] for i in keep]


def _refuse_statuses(prepared: Prepared, refused: dict[int, tuple[str, str]]) -> None:
    """Move the statuses at these positions (reason, detail) into the batch's rejected messages."""
    for i, (reason, detail) in sorted(refused.items()):
        edge_id, status = prepared.statuses[i]
        prepared.rejected.append((f"wangge/edge/{edge_id}/status", reason, detail, json.dumps(status).encode()))
    prepared.statuses = [s for i, s in enumerate(prepared.statuses) if i not in refused]


async def _reject_unregistered(conn: Conn, prepared: Prepared) -> None:
    """registry: strict — alerts and status only from edges the registry knows."""
    senders = {a["edge_id"] for a in prepared.alerts} | {edge_id for edge_id, _ in prepared.statuses}
    if not senders:
        return
    known = {
        r["edge_id"]
        for r in await conn.fetch("SELECT edge_id FROM edges WHERE edge_id = ANY($1::text[])", list(senders))
    }
    detail = "edge {!r} is not in the registry (wangge admin create-edge)"
    _refuse(
        prepared,
        {
            i: ("unknown_edge", detail.format(a["edge_id"]))
            for i, a in enumerate(prepared.alerts)
            if a["edge_id"] not in known
        },
    )
    _refuse_statuses(
        prepared,
        {
            i: ("unknown_edge", detail.format(edge_id))
            for i, (edge_id, _) in enumerate(prepared.statuses)
            if edge_id not in known
        },
    )


async def store(
    conn: Conn,
    prepared: Prepared,
    rules: CaseRules | None = None,
    now: datetime | None = None,
    strict_registry: bool = False,
    statuses: bool = True,
) -> list[str]:
    """Write one prepared batch in one transaction; returns the outcome of each alert event, in batch order.
    With `statuses` False the edge statuses are left for `store_statuses` (MQTT ingest writes them in arrival
    order, apart from its concurrent alert batches).

    An event from a month with no partition yet (an edge back after weeks offline, a skewed clock) fails
    the batch once: the partitions are made and the batch is written again."""
    rules = rules or default_rules()
    now = now or datetime.now(UTC)
    try:
        return await _store(conn, prepared, rules, now, strict_registry, statuses)
    except asyncpg.CheckViolationError:
        # SQLSTATE 23514 is also what a missing partition raises; its message text depends on the server's
        # lc_messages, so any check violation gets the partitions made and one more try. A real CHECK
        # failure fails again and goes on to the dead-letter isolation as before.
        made = await partitions.ensure_for_alerts(conn, prepared.alerts)
    if made:
        log.info("made %d month partitions for alerts of an unusual month", made)
    return await _store(conn, prepared, rules, now, strict_registry, statuses)


async def _store(
    conn: Conn, prepared: Prepared, rules: CaseRules, now: datetime, strict_registry: bool, statuses: bool
) -> list[str]:
    async with conn.transaction():
        if strict_registry:
            await _reject_unregistered(conn, prepared)
        outcomes: list[str] = []
        if prepared.alerts:
            order = lock_order(prepared)
            written = await write_alerts(
                conn, [prepared.alerts[i] for i in order], [prepared.keys[i] for i in order], rules.reopen_window
            )
            if written.lock_wait_s is not None:
                metrics.INGEST_LOCK_WAIT.observe(written.lock_wait_s)
            if not written.announced:
                await after_ingest(conn, rules, written.outcomes, written.tickets, now)
            outcomes = [""] * len(order)
            for position, i in enumerate(order):
                outcomes[i] = written.outcomes[position]
            refused = {order[position]: why for position, why in written.refused.items()}
            _refuse(prepared, refused)
            outcomes = [o for i, o in enumerate(outcomes) if i not in refused]
        if prepared.rejected:
            await _dead_letter(conn, prepared.rejected)
        if statuses:
            await _write_statuses(conn, prepared.statuses, now)
    return outcomes


def is_data_error(exc: BaseException) -> bool:
    """An error about the data (a bad value, a constraint): retrying the same rows cannot succeed."""
    if isinstance(exc, asyncpg.DataError):  # asyncpg could not encode an argument
        return True
    return isinstance(exc, asyncpg.PostgresError) and str(getattr(exc, "sqlstate", "") or "")[:2] in ("22", "23")


async def store_statuses(
    conn: Conn, statuses: list[tuple[str, dict[str, Any]]], now: datetime
) -> list[tuple[str, str, str, bytes]]:
    """Edge statuses in one transaction, in the order given; when the database refuses their data, each alone
    (a savepoint), the refused ones dead-lettered. Returns the refused (topic, reason, detail, payload)."""
    try:
        async with conn.transaction():
            await _write_statuses(conn, statuses, now)
        return []
    except Exception as exc:
        if not is_data_error(exc):
            raise
    refused: list[tuple[str, str, str, bytes]] = []
    async with conn.transaction():
        for edge_id, status in statuses:
            try:
                async with conn.transaction():
                    await _write_statuses(conn, [(edge_id, status)], now)
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                payload = json.dumps(status).encode()
                refused.append((f"wangge/edge/{edge_id}/status", "database_rejected", str(exc)[:300], payload))
        if refused:
            await _dead_letter(conn, refused)
    return refused


async def _dead_letter(conn: Conn, rejected: list[tuple[str, str, str, bytes]]) -> None:
    await conn.executemany(
        "INSERT INTO dead_letters (source, reason, detail, payload) VALUES ($1, $2, $3, $4)",
        [(storable_text(t), r, storable_text(d), p) for t, r, d, p in rejected],
    )


async def _write_statuses(conn: Conn, statuses: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """Each status onto its edge's row; an edge going offline also queues a device.offline event."""
    for edge_id, status in statuses:
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


def _alert_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("alert_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def record_outcomes(prepared: Prepared, outcomes: list[str]) -> None:
    """Metrics and log lines for a stored batch, whichever way it came in (MQTT or HTTPS)."""
    record_rejected(prepared.rejected)
    for outcome in outcomes:
        metrics.ALERTS_RECEIVED.labels(outcome).inc()
        if outcome == "opened":
            metrics.TICKETS_OPENED.inc()
        elif outcome == "reopened":
            metrics.TICKETS_REOPENED.inc()


def record_rejected(rejected: list[tuple[str, str, str, bytes]]) -> None:
    """A metric and a log line per refused message (topic, reason, detail, payload)."""
    for topic, reason, detail, payload in rejected:
        metrics.ALERTS_REJECTED.labels(reason).inc()
        log.warning(
            "rejected message on %r: %s: %s",
            topic[:200],
            reason,
            storable_text(detail[:300]),
            extra={
                "topic": topic[:200],
                "reason": reason,
                "edge_id": topic_edge(topic) or None,
                "alert_id": _alert_id(payload),
            },
        )


def isolate_bad(prepared: Prepared, bad_alerts: list[int], error: str) -> Prepared:
    """Move the alerts the database refused into the dead letters, keeping the rest of the batch."""
    _refuse(prepared, dict.fromkeys(bad_alerts, ("database_rejected", error)))
    return prepared
