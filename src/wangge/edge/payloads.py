"""Sensor payloads to readings: one mapping per topic pattern, a JSON pointer or a plain number per metric.

Rejections raise PayloadError with a short `reason` (a metrics label) and a detail for the log line.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from wangge.detectors.readings import Reading
from wangge.edge.config import SensorTopic
from wangge.edge.topics import TopicPattern

_SWITCH_WORDS = {"on": 1.0, "off": 0.0, "true": 1.0, "false": 0.0, "open": 1.0, "closed": 0.0}
_MISSING = object()


class PayloadError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer lookup; returns _MISSING where the path does not exist."""
    node = doc
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return _MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return _MISSING
            node = node[int(token)]
        else:
            return _MISSING
    return node


def to_number(value: Any, where: str) -> float:
    """A finite float from a JSON number, a numeric string, a boolean or an ON/OFF word."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in _SWITCH_WORDS:
            return _SWITCH_WORDS[word]
        try:
            number = float(word)
        except ValueError:
            raise PayloadError("wrong_type", f"{where}: {value[:40]!r} is not a number") from None
    else:
        raise PayloadError("wrong_type", f"{where}: {type(value).__name__} is not a number")
    if not math.isfinite(number):
        raise PayloadError("not_finite", f"{where}: {value!r}")
    return number


def to_epoch(value: Any, where: str) -> float:
    """ISO 8601 (a zone is required) or epoch seconds / milliseconds (told apart by size)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        ts = float(value)
        if not math.isfinite(ts) or ts <= 0:
            raise PayloadError("bad_timestamp", f"{where}: {value!r}")
        return ts / 1000.0 if ts > 1e11 else ts
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError("bad_timestamp", f"{where}: {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise PayloadError("bad_timestamp", f"{where}: {value!r} has no time zone")
        return parsed.timestamp()
    raise PayloadError("bad_timestamp", f"{where}: {type(value).__name__} is not a timestamp")


def _reject_constant(name: str) -> float:
    raise PayloadError("not_finite", f"{name} in payload")


class ReadingParser:
    """Matches a topic against the configured patterns (first match wins) and extracts its readings."""

    def __init__(self, sensors: list[SensorTopic], max_payload_bytes: int) -> None:
        self._maps = [(TopicPattern(s.topic), s) for s in sensors]
        self._max = max_payload_bytes

    @property
    def subscriptions(self) -> list[str]:
        return sorted({p.subscription for p, _ in self._maps})

    def parse(self, topic: str, payload: bytes, arrival: float) -> list[Reading]:
        if len(payload) > self._max:
            raise PayloadError("too_large", f"{len(payload)} bytes > {self._max}")
        for pattern, mapping in self._maps:
            captures = pattern.match(topic)
            if captures is not None:
                return self._extract(mapping, captures, payload, arrival)
        raise PayloadError("unknown_topic", "matches no sensors[] mapping")

    def _extract(self, mapping: SensorTopic, captures: dict[str, str], payload: bytes, arrival: float) -> list[Reading]:
        device = mapping.device.format(**captures)
        if not device:
            raise PayloadError("no_device", "device id is empty")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("not_utf8", "payload is not UTF-8 text") from None
        needs_json = mapping.timestamp_pointer is not None or any(m.pointer != "plain" for m in mapping.metrics)
        doc: Any = None
        if needs_json:
            try:
                doc = json.loads(text, parse_constant=_reject_constant)
            except PayloadError:
                raise
            except ValueError as exc:
                raise PayloadError("not_json", str(exc)[:120]) from None
        ts = arrival
        if mapping.timestamp_pointer is not None:
            raw_ts = resolve_pointer(doc, mapping.timestamp_pointer)
            if raw_ts is not _MISSING:
                ts = to_epoch(raw_ts, mapping.timestamp_pointer)
        readings = []
        for metric in mapping.metrics:
            if metric.pointer == "plain":
                value = to_number(text.strip(), "payload")
            else:
                raw = resolve_pointer(doc, metric.pointer)
                if raw is _MISSING:
                    raise PayloadError("missing_field", f"{metric.pointer} not in payload")
                value = to_number(raw, metric.pointer)
            readings.append(Reading(device, metric.name, value, ts, metric.unit))
        return readings
