"""Rule transitions become alert events on the wire, written to the outbox with the alert's lasting state."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from wangge import alert_format
from wangge.detectors.readings import Reading
from wangge.detectors.rules import OFFLINE_RULE, RuleEvent
from wangge.edge import metrics
from wangge.edge.outbox import Outbox
from wangge.edge.rule_config import RuleMeta

log = logging.getLogger(__name__)


def alerts_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/alerts"


def status_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/status"


def commands_topic(edge_id: str) -> str:
    """Where the gateway sends this edge commands (live view); only the gateway identity may write there."""
    return f"wangge/edge/{edge_id}/commands"


def confirms_topic(edge_id: str) -> str:
    """Where the gateway confirms the alert events it has stored (or refused) for this edge."""
    return f"wangge/edge/{edge_id}/confirms"


OFFLINE = RuleMeta(OFFLINE_RULE, "devices.offline", "minor", "设备离线 Device {device} offline", judged="silent_s")


class _TitleFields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_title(meta: RuleMeta, reading: Reading, judged: float) -> str:
    fields = _TitleFields(
        metric=reading.metric,
        value=reading.value,
        unit=f" {reading.unit}" if reading.unit else "",
        level=meta.level if meta.level is not None else float("nan"),
        device=reading.device_id,
        rule=meta.rule_id,
        judged=judged,
    )
    try:
        return meta.title.format_map(fields)[:500] or meta.rule_id
    except (ValueError, TypeError, IndexError, KeyError):
        return f"{meta.rule_id} at {reading.device_id}"


class AlertComposer:
    """Owns alert ids and sequence numbers; survives restarts through the outbox's active-alert table."""

    def __init__(
        self,
        edge_id: str,
        metas: Mapping[str, RuleMeta],
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._edge_id = edge_id
        self._topic = alerts_topic(edge_id)
        self._metas = {OFFLINE_RULE: OFFLINE, **metas}
        self._outbox = outbox
        self._clock = clock
        self._active = outbox.active_alerts()
        self._lock = threading.RLock()  # sensor and camera threads write through one composer
        # Called with every event written (clips want to know when an alert starts and ends); quick, no I/O waits.
        self.observers: list[Callable[[dict[str, Any]], None]] = []

    @property
    def active_keys(self) -> list[tuple[str, str]]:
        return list(self._active)

    def handle(self, event: RuleEvent) -> dict[str, Any] | None:
        meta = event.meta if isinstance(event.meta, RuleMeta) else self._metas.get(event.rule_id)
        if meta is None:
            log.error("no wording for rule %s; alert not written", event.rule_id)
            return None
        reading, transition = event.reading, event.transition
        key = (event.rule_id, reading.device_id)
        if transition.kind == "start":
            base: dict[str, Any] = {
                "v": alert_format.SCHEMA_VERSION,
                "alert_id": str(uuid.uuid4()),
                "edge_id": self._edge_id,
                "source": {"kind": "sensor", "device_id": reading.device_id, "metric": reading.metric},
                "rule_id": event.rule_id,
                "category": meta.category,
                "severity": transition.severity or meta.severity,
                "title": render_title(meta, reading, transition.value),
                "started_at": alert_format.iso(transition.at),
            }
            if meta.level is not None:
                base["threshold"] = meta.level
            if reading.unit:
                base["unit"] = reading.unit
            message = {**base, "seq": 0, "event": "start", "at": base["started_at"]}
            state: dict[str, Any] | None = {**base, "seq": 0}
        else:
            previous = self._active.get(key)
            if previous is None:
                log.warning(
                    "rule %s on %s: %s with no active alert; ignored", event.rule_id, reading.device_id, transition.kind
                )
                return None
            at = alert_format.iso(transition.at)
            message = {**previous, "seq": previous["seq"] + 1, "event": transition.kind, "at": at}
            if transition.kind == "end":
                message["ended_at"] = at
                state = None
            else:
                message["severity"] = transition.severity or previous["severity"]
                state = {**previous, "seq": message["seq"], "severity": message["severity"]}
        message["value"] = reading.value
        if meta.judged is not None:
            message["attributes"] = {meta.judged: round(transition.value, 6)}
        return self.write(message, key, state)

    def active(self, key: tuple[str, str]) -> dict[str, Any] | None:
        """The lasting state (ids, sequence, wording) of the alert open under `key`, if any."""
        with self._lock:
            return self._active.get(key)

    def write(
        self, message: dict[str, Any], key: tuple[str, str], state: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Check one alert event against the wire format and put it in the outbox with the alert's lasting state
        (None once it ended). Sensor and video alerts both end here."""
        with self._lock:
            return self._write(message, key, state)

    def _write(
        self, message: dict[str, Any], key: tuple[str, str], state: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        now = self._clock()
        message["emitted_at"] = alert_format.iso(now)
        if not alert_format.is_valid(message):
            problems = alert_format.schema_errors(message)
            log.error("alert for rule %s not written, it breaks the wire format: %s", message.get("rule_id"), problems)
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
        for observer in self.observers:
            try:
                observer(message)
            except Exception:
                log.exception("an alert observer failed on %s", message["alert_id"])
        return message
