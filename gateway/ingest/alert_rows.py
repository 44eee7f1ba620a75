"""A batch's alert events into alert_events, alerts, tickets and ticket_events: two statements for any N.

1. wangge_ingest_facts locks the alert ids and says what is stored about each event;
2. batch_plan classifies the events in memory;
3. wangge_ingest_write writes the events, locks the batch's tickets in key order, adds each key's aggregated
   share, and writes the new and changed alert rows and the tickets' history.
A batch of one event goes through wangge_ingest_one (the sequential definition) instead: one call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.ingest.batch_plan import Fact, Plan, plan, settle, ticket_rows

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


@dataclass(frozen=True, slots=True)
class Written:
    outcomes: list[str]  # per alert, in batch order: opened, reopened, attached, event, duplicate, or refused
    tickets: list[int | None]
    lock_wait_s: float | None  # in the statements taking the alerts' and tickets' locks (None: not measured)
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)  # position -> (reason, detail)
    announced: bool = False  # the events are in the outbox already (the batch opened and reopened nothing)


# How a batch's events are written (write_alerts, write_batch), for the consumer's isolation of a bad one.
Write = Callable[["Conn", Sequence[dict[str, Any]], Sequence[str], timedelta], Awaitable[Written]]

_FACTS = "SELECT * FROM wangge_ingest_facts($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[])"
_WRITE = "SELECT key, ticket, how, waited_ms, announced FROM wangge_ingest_write({})".format(
    ", ".join(
        f"${n}::{kind}"
        for n, kind in enumerate(
            ["text[]", "integer[]", "text[]", "text[]", "text[]", "jsonb[]", "text[]", "text[]", "text[]", "bigint[]",
             "boolean[]", "boolean[]"]  # events
            + ["text[]"] * 8 + ["integer[]"] * 2 + ["text[]"] * 2  # keys
            + ["bigint[]", "integer[]"]  # ended stored alerts
            + ["integer[]"] + ["text[]"] * 11 + ["integer[]"]  # new alert rows
            + ["text[]", "text[]", "integer[]", "text[]", "text[]", "text[]"]  # changed alert rows
            + ["interval"],
            start=1,
        )
    )
)  # fmt: skip


async def write_alerts(
    conn: Conn, alerts: Sequence[dict[str, Any]], keys: Sequence[str], reopen_window: timedelta
) -> Written:
    """Store validated alert events (already in lock order) in the caller's transaction."""
    if len(alerts) == 1:
        return await write_one(conn, alerts[0], keys[0], reopen_window)
    return await write_batch(conn, alerts, keys, reopen_window)


async def write_batch(
    conn: Conn, alerts: Sequence[dict[str, Any]], keys: Sequence[str], reopen_window: timedelta
) -> Written:
    """The set-based path, for any number of events."""
    if not alerts:
        return Written([], [], None)
    rows = await conn.fetch(
        _FACTS,
        [a["alert_id"] for a in alerts],
        [a["seq"] for a in alerts],
        [a["at"] for a in alerts],
        [a["started_at"] for a in alerts],
        [a["source"]["device_id"] for a in alerts],
    )
    waited_ms = float(rows[0]["waited_ms"])
    facts = [
        Fact(
            r["at"],
            r["started_at"],
            r["stored_event"],
            r["owner_edge"],
            r["device_edge"],
            r["stored"],
            r["stored_ticket"],
            r["stored_ended"],
        )
        for r in rows
    ]
    p = plan(alerts, keys, facts)
    announced = False
    if p.fresh():
        found = await conn.fetch(_WRITE, *_write_args(p, facts), reopen_window)
        waited_ms += float(found[0]["waited_ms"])
        announced = bool(found[0]["announced"])
        settle(p, {r["key"]: (r["ticket"], r["how"]) for r in found if r["key"] is not None})
    refused = _refusals(alerts, p.outcomes, [f.device_edge for f in facts])
    return Written(p.outcomes, p.tickets, waited_ms / 1000, refused, announced)


async def write_one(conn: Conn, alert: dict[str, Any], key: str, reopen_window: timedelta) -> Written:
    """One event alone (light load) by the sequential definition: one call instead of two, the same outcome
    and rows (tests/gateway/ingest/test_batch_equivalence.py). Its lock wait is not measured."""
    row = await conn.fetchrow("SELECT * FROM wangge_ingest_one($1::jsonb, $2, $3::interval)", alert, key, reopen_window)
    assert row is not None
    outcomes = [str(row["outcome"])]
    return Written(outcomes, [row["ticket"]], None, _refusals([alert], outcomes, [row["device_edge"]]))


def _refusals(
    alerts: Sequence[dict[str, Any]], outcomes: Sequence[str], device_edges: Sequence[str | None]
) -> dict[int, tuple[str, str]]:
    out = {}
    for i, (alert, outcome) in enumerate(zip(alerts, outcomes, strict=True)):
        if outcome == "foreign_alert":
            out[i] = (outcome, f"alert {alert['alert_id']} belongs to another edge")
        elif outcome == "foreign_device":
            device, owner = alert["source"]["device_id"], device_edges[i]
            out[i] = (outcome, f"device {device!r} belongs to edge {owner!r}, not {alert['edge_id']!r}")
    return out


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _write_args(p: Plan, facts: Sequence[Fact]) -> list[list[Any]]:
    a, keys = p.alerts, p.keys
    fresh = p.fresh()
    first_of_key = {share.creators[0] for share in p.key_shares.values()}
    events = []
    for i in fresh:
        group = p.group_of[i]
        assert group is not None
        # An event of a new alert goes to the ticket of the event that made the alert (its key may differ).
        key = None if group.stored else keys[group.first]
        ticket = group.ticket if group.stored else None
        e = a[i]
        events.append((e["alert_id"], e["seq"], e["event"], e["at"], e["emitted_at"], e, e["severity"], e["edge_id"],
                       key, ticket, i in first_of_key, p.outcomes[i] == "create"))  # fmt: skip
    index = {i: n for n, i in enumerate(fresh, start=1)}
    made, changed = [], []
    for g in p.groups:
        top, first = a[g.top], a[g.first]
        ended = a[g.ended]["ended_at"] if g.ended is not None else None
        if g.stored:
            changed.append((first["alert_id"], first["started_at"], top["seq"], top["severity"], top["title"], ended))
        else:
            made.append((index[g.first], first["alert_id"], keys[g.first], first["edge_id"],
                         first["source"]["device_id"], first["rule_id"], first["category"], first["started_at"],
                         first["emitted_at"], top["severity"], top["title"], ended, top["seq"]))  # fmt: skip
    ended_stored = p.ended_stored()
    return [
        *_columns(events, 12),
        *ticket_rows(p, facts).values(),
        list(ended_stored),
        list(ended_stored.values()),
        *_columns(made, 13),
        *_columns(changed, 6),
    ]
