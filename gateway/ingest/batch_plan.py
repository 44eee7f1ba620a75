"""What one batch of alert events does, worked out in memory: which events are foreign or redelivered copies,
which one makes an alert's row, which alerts share a ticket, and the counters each ticket gains.

The database is asked once (what is stored about these events) and written once (alert_rows.py); the structure
in between is plain dictionaries here, so the work is linear in the batch however it is made up and the SQL
stays a few set-based statements without self-joins. The sequential definition it must agree with is
wangge_ingest_alert (migration 0008), checked event for event by tests/gateway/ingest/test_batch_equivalence.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

SEVERITY_RANK = {"info": 1, "minor": 2, "major": 3, "critical": 4}
REFUSED = ("foreign_device", "foreign_alert")  # refused, dead-lettered, and the edge told so
NOT_STORED = (*REFUSED, "duplicate")


@dataclass(frozen=True, slots=True)
class Fact:
    """What the database holds about one event of the batch (its times as the database stores them)."""

    at: datetime
    started_at: datetime
    stored_event: bool
    owner_edge: str | None
    device_edge: str | None
    stored: bool
    stored_ticket: int | None
    stored_ended: bool


@dataclass(slots=True)
class Group:
    """One alert row, (alert_id, started_at): stored already, or made by the first fresh event for it."""

    first: int
    stored: bool
    ticket: int | None
    stored_ended: bool
    top: int  # the event with the highest seq (the earliest of equals): its severity and title are the row's
    ended: int | None = None  # the first event that carries ended_at

    def still_active(self) -> bool:
        return self.ended is None


@dataclass(slots=True)
class KeyShare:
    """The new alerts of one correlation key: what the key's ticket gains from this batch."""

    creators: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    alerts: Sequence[dict[str, Any]]
    keys: Sequence[str]
    outcomes: list[str]  # foreign_device, foreign_alert, duplicate, event, create (until the ticket is known)
    group_of: list[Group | None]
    groups: list[Group]  # in the order of their first event
    key_shares: dict[str, KeyShare]  # in the order of their first new alert
    tickets: list[int | None]

    def fresh(self) -> list[int]:
        return [i for i, o in enumerate(self.outcomes) if o not in NOT_STORED]

    def ended_stored(self) -> dict[int, int]:
        """Stored tickets and how many of their stored, still active alerts this batch ends."""
        out: dict[int, int] = {}
        for g in self.groups:
            if g.stored and not g.stored_ended and g.ended is not None and g.ticket is not None:
                out[g.ticket] = out.get(g.ticket, 0) + 1
        return out


def plan(alerts: Sequence[dict[str, Any]], keys: Sequence[str], facts: Sequence[Fact]) -> Plan:
    """Classify every event, in batch order, exactly as the sequential definition would one by one."""
    outcomes = [""] * len(alerts)
    owners: dict[UUID, str] = {}
    ids = [UUID(a["alert_id"]) for a in alerts]
    for i, (alert_id, alert, fact) in enumerate(zip(ids, alerts, facts, strict=True)):
        if fact.device_edge is not None and fact.device_edge != alert["edge_id"]:
            outcomes[i] = "foreign_device"  # an edge may only report for its own devices
            continue
        # An alert id belongs to the edge that first sent it: stored, or the first in this batch.
        owners.setdefault(alert_id, fact.owner_edge if fact.owner_edge is not None else alert["edge_id"])
    group_of: list[Group | None] = [None] * len(alerts)
    groups: dict[tuple[UUID, datetime], Group] = {}
    seen: set[tuple[UUID, int, datetime]] = set()
    shares: dict[str, KeyShare] = {}
    for i, (alert_id, alert, fact) in enumerate(zip(ids, alerts, facts, strict=True)):
        if outcomes[i]:
            continue
        if alert["edge_id"] != owners[alert_id]:
            outcomes[i] = "foreign_alert"
            continue
        event = (alert_id, alert["seq"], fact.at)
        if fact.stored_event or event in seen:
            outcomes[i] = "duplicate"
            continue
        seen.add(event)
        group = groups.get((alert_id, fact.started_at))
        if group is None:
            group = Group(i, fact.stored, fact.stored_ticket, fact.stored_ended, top=i)
            groups[(alert_id, fact.started_at)] = group
            outcomes[i] = "event" if fact.stored else "create"
            if not fact.stored:
                shares.setdefault(keys[i], KeyShare()).creators.append(i)
        else:
            outcomes[i] = "event"
            if alert["seq"] > alerts[group.top]["seq"]:
                group.top = i
        if group.ended is None and "ended_at" in alert:
            group.ended = i
        group_of[i] = group
    return Plan(alerts, keys, outcomes, group_of, list(groups.values()), shares, [None] * len(alerts))


def ticket_rows(p: Plan, facts: Sequence[Fact]) -> dict[str, list[Any]]:
    """The per-key arguments (k_*) of wangge_ingest_write, one entry per key with new alerts."""
    cols: dict[str, list[Any]] = {
        name: []
        for name in (
            "key", "category", "title", "edge", "device", "rule", "severity", "later_severity",
            "alerts", "active", "first_at", "last_at",
        )
    }  # fmt: skip
    for key, share in p.key_shares.items():
        first = p.alerts[share.creators[0]]
        latest = max(share.creators, key=lambda i: (facts[i].started_at, -i))
        cols["key"].append(key)
        cols["category"].append(first["category"])
        cols["title"].append(first["title"])
        cols["edge"].append(first["edge_id"])
        cols["device"].append(first["source"]["device_id"])
        cols["rule"].append(first["rule_id"])
        cols["severity"].append(_highest(p.alerts[i]["severity"] for i in share.creators))
        cols["later_severity"].append(_highest(p.alerts[i]["severity"] for i in share.creators[1:]))
        cols["alerts"].append(len(share.creators))
        active = sum(1 for i in share.creators if (g := p.group_of[i]) is not None and g.still_active())
        cols["active"].append(active)
        cols["first_at"].append(first["started_at"])
        cols["last_at"].append(p.alerts[latest]["started_at"])
    return cols


def _highest(severities: Any) -> str | None:
    best: str | None = None
    for severity in severities:
        if best is None or SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(best, 0):
            best = severity
    return best


def settle(p: Plan, tickets: dict[str, tuple[int, str]]) -> None:
    """Outcomes and tickets once each key's ticket is known: (ticket id, opened | reopened | attached)."""
    for key, share in p.key_shares.items():
        ticket, how = tickets[key]
        for n, i in enumerate(share.creators):
            p.outcomes[i] = how if n == 0 else "attached"
            group = p.group_of[i]
            assert group is not None
            group.ticket = ticket
    for i, group in enumerate(p.group_of):
        if group is not None:
            p.tickets[i] = group.ticket
