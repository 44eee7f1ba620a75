"""Rule transitions become alert events on the wire, written to the outbox with the alert's lasting state."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from wangge import alert_format
from wangge.detectors.rules import RuleEvent
from wangge.edge import metrics
from wangge.edge.config import ThresholdRule
from wangge.edge.outbox import Outbox

log = logging.getLogger(__name__)


def alerts_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/alerts"


def status_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/status"


def confirms_topic(edge_id: str) -> str:
    """Where the gateway confirms the alert events it has stored (or refused) for this edge."""
    return f"wangge/edge/{edge_id}/confirms"


class _TitleFields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_title(rule: ThresholdRule, device: str, metric: str, value: float, unit: str | None) -> str:
    level = rule.above if rule.above is not None else rule.below
    fields = _TitleFields(
        metric=metric,
        value=value,
        unit=f" {unit}" if unit else "",
        direction="above" if rule.above is not None else "below",
        level=level,
        device=device,
        rule=rule.id,
    )
    try:
        return rule.title.format_map(fields)[:500] or rule.id
    except (ValueError, TypeError, IndexError, KeyError):
        return f"{rule.id} at {device}"


class AlertComposer:
    """Owns alert ids and sequence numbers; survives restarts through the outbox's active-alert table."""

    def __init__(
        self,
        edge_id: str,
        rules: list[ThresholdRule],
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._edge_id = edge_id
        self._topic = alerts_topic(edge_id)
        self._rules = {r.id: r for r in rules}
        self._outbox = outbox
        self._clock = clock
        self._active = outbox.active_alerts()

    @property
    def active_keys(self) -> list[tuple[str, str]]:
        return list(self._active)

    def handle(self, event: RuleEvent) -> dict[str, Any] | None:
        rule = self._rules[event.rule_id]
        reading, transition = event.reading, event.transition
        key = (rule.id, reading.device_id)
        now = self._clock()
        if transition.kind == "start":
            base: dict[str, Any] = {
                "v": alert_format.SCHEMA_VERSION,
                "alert_id": str(uuid.uuid4()),
                "edge_id": self._edge_id,
                "source": {"kind": "sensor", "device_id": reading.device_id, "metric": reading.metric},
                "rule_id": rule.id,
                "category": rule.category,
                "severity": rule.severity,
                "title": render_title(rule, reading.device_id, reading.metric, reading.value, reading.unit),
                "started_at": alert_format.iso(transition.at),
                "threshold": rule.spec().level,
            }
            if reading.unit:
                base["unit"] = reading.unit
            message = {**base, "seq": 0, "event": "start", "at": base["started_at"]}
            state: dict[str, Any] | None = {**base, "seq": 0}
        else:
            previous = self._active.get(key)
            if previous is None:
                log.warning("rule %s on %s ended with no active alert; ignored", rule.id, reading.device_id)
                return None
            ended = alert_format.iso(transition.at)
            message = {**previous, "seq": previous["seq"] + 1, "event": "end", "at": ended, "ended_at": ended}
            state = None
        message["value"] = reading.value
        message["emitted_at"] = alert_format.iso(now)
        if not alert_format.is_valid(message):
            problems = alert_format.schema_errors(message)
            log.error("alert for rule %s not written, it breaks the wire format: %s", rule.id, problems)
            return None
        self._outbox.append(
            f"{message['alert_id']}:{message['seq']}", self._topic, alert_format.encode(message), now, key, state
        )
        if state is None:
            self._active.pop(key, None)
        else:
            self._active[key] = state
        metrics.ALERT_EVENTS.labels(message["event"]).inc()
        metrics.OUTBOX_DEPTH.set(self._outbox.depth)
        return message
