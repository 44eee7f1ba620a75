"""One batch of messages from the broker (or the HTTPS uplink), validated: the alert events to store, the
edge statuses, what to dead-letter, and what each edge is told back on its confirms topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wangge import alert_format
from wangge.gateway.ingest.status import StatusError, parse_status


@dataclass(frozen=True, slots=True)
class Incoming:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass(slots=True)
class Prepared:
    alerts: list[dict[str, Any]]
    keys: list[str]
    rejected: list[tuple[str, str, str, bytes]]
    statuses: list[tuple[str, dict[str, Any]]]


def confirms_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/confirms"


def confirmations(prepared: Prepared) -> dict[str, dict[str, list[str]]]:
    """Per edge, the `alert_id:seq` keys stored (new or already there) and refused, for its outbox."""
    out: dict[str, dict[str, list[str]]] = {}
    for message in prepared.alerts:
        entry = out.setdefault(message["edge_id"], {"stored": [], "refused": []})
        entry["stored"].append(f"{message['alert_id']}:{message['seq']}")
    for topic, _, _, payload in prepared.rejected:
        edge_id = topic_edge(topic)
        try:
            message = json.loads(payload)
            key = f"{message['alert_id']}:{int(message['seq'])}"
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            continue  # nothing the edge could match it to
        if edge_id and not topic.endswith("/status"):
            out.setdefault(edge_id, {"stored": [], "refused": []})["refused"].append(key)
    return out


def topic_edge(topic: str) -> str:
    """The edge id in `wangge/edge/<edge_id>/<kind>`, or "" when the topic is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["wangge", "edge"] or not alert_format.IDENT.match(parts[2]):
        return ""
    return parts[2]


@dataclass(frozen=True)
class TimeWindow:
    """The times an event may carry, around the gateway's clock: a wrong clock at an edge cannot make
    partitions for any year or hide events from retention."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime, max_age_days: float, max_ahead_s: float) -> TimeWindow:
        return cls(now - timedelta(days=max_age_days), now + timedelta(seconds=max_ahead_s))

    def problem(self, message: dict[str, Any]) -> str | None:
        for key in alert_format.TIME_FIELDS:
            if key in message:
                at = alert_format.instant(message[key])
                if not self.earliest <= at <= self.latest:
                    window = f"{self.earliest:%Y-%m-%dT%H:%M}Z .. {self.latest:%Y-%m-%dT%H:%M}Z"
                    return f"{key} {message[key]} is outside the accepted window {window}"
        return None


def prepare(batch: list[Incoming], window: TimeWindow | None = None) -> Prepared:
    """Validate a batch: what to store, what to dead-letter (topic, reason, detail, payload)."""
    out = Prepared([], [], [], [])
    for item in batch:
        edge_id = topic_edge(item.topic)
        if not edge_id:
            out.rejected.append((item.topic, "bad_topic", "not wangge/edge/<edge_id>/alerts|status", item.payload))
            continue
        if item.topic.endswith("/status"):
            try:
                out.statuses.append((edge_id, parse_status(edge_id, item.payload)))
            except StatusError as exc:
                out.rejected.append((item.topic, "bad_status", str(exc)[:400], item.payload))
            continue
        try:
            message = alert_format.parse_alert(item.payload)
        except alert_format.AlertFormatError as exc:
            out.rejected.append((item.topic, exc.reason, exc.detail[:4000], item.payload))
            continue
        if message["edge_id"] != edge_id:
            detail = f"payload edge_id {message['edge_id']!r} sent on {item.topic!r}"
            out.rejected.append((item.topic, "edge_mismatch", detail, item.payload))
            continue
        if window is not None and (problem := window.problem(message)):
            out.rejected.append((item.topic, "time_window", problem, item.payload))
            continue
        out.alerts.append(message)
        out.keys.append(alert_format.correlation_key(message))
    return out


def lock_order(prepared: Prepared) -> list[int]:
    """Alerts grouped by correlation key (stable, so arrival order holds within a key): every replica
    touches ticket rows in the same order, so overlapping batches wait for each other instead of
    deadlocking. (Only copies of the same alerts arriving at two replicas in different orders can
    still deadlock; PostgreSQL detects it and the batch is retried.)"""
    return sorted(range(len(prepared.alerts)), key=lambda i: prepared.keys[i])
