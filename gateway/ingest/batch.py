"""One batch of messages from the broker (or the HTTPS uplink), validated: the alert events to store, the
edge statuses, what to dead-letter, and what each edge is told back on its confirms topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wangge import alert_format


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
    parts = topic.split("/")
    return parts[2] if len(parts) == 4 else ""


def prepare(batch: list[Incoming]) -> Prepared:
    """Validate a batch: what to store, what to dead-letter (topic, reason, detail, payload)."""
    out = Prepared([], [], [], [])
    for item in batch:
        if item.topic.endswith("/status"):
            try:
                status = json.loads(item.payload) if item.payload else {"state": "cleared"}
                if not isinstance(status, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                out.rejected.append((item.topic, "bad_status", str(exc)[:200], item.payload))
                continue
            out.statuses.append((topic_edge(item.topic), status))
            continue
        try:
            message = alert_format.parse_alert(item.payload)
        except alert_format.AlertFormatError as exc:
            out.rejected.append((item.topic, exc.reason, exc.detail[:4000], item.payload))
            continue
        if message["edge_id"] != topic_edge(item.topic):
            detail = f"payload edge_id {message['edge_id']!r} sent on {item.topic!r}"
            out.rejected.append((item.topic, "edge_mismatch", detail, item.payload))
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
