"""Sensor payloads to readings: one mapping per topic pattern, in the format the mapping names.

Rejections raise PayloadError with a short `reason` (a metrics label) and a detail for the log line.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wangge.detectors.readings import Reading
from wangge.edge.config import AvailabilityTopic, SensorTopic
from wangge.edge.formats import flatten, scalar
from wangge.edge.sparkplug import Problem, SparkplugError, SparkplugHost, metric_name
from wangge.edge.topics import TopicPattern

_MISSING = object()
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


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
    """A finite float from a JSON number, a numeric string, a boolean or a switch word (formats.scalar)."""
    number = scalar(value)
    if number is None:
        shown = f"{value[:40]!r}" if isinstance(value, str) else type(value).__name__
        raise PayloadError("wrong_type", f"{where}: {shown} is not a number")
    if not math.isfinite(number):
        raise PayloadError("not_finite", f"{where}: {str(value)[:40]}")
    return number


def to_epoch(value: Any, where: str) -> float:
    """ISO 8601 (a zone is required) or epoch seconds / milliseconds (told apart by size)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        ts = scalar(value)
        if ts is None or not math.isfinite(ts) or ts <= 0:
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


@dataclass(frozen=True, slots=True)
class Message:
    """What one MQTT message said about one device: readings, and/or that it is online or offline."""

    device_id: str
    readings: tuple[Reading, ...] = ()
    online: bool | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    messages: list[Message]
    rebirth_topic: str | None = None  # a Sparkplug node to ask for its births again (NCMD)
    problem: Problem | None = None  # something to log and count that did not stop the message


class ReadingParser:
    """Matches a topic against the configured patterns (availability first, then sensors; first match wins)."""

    def __init__(
        self,
        sensors: list[SensorTopic],
        max_payload_bytes: int,
        availability: list[AvailabilityTopic] | None = None,
        units: dict[str, dict[str, str | None]] | None = None,
    ) -> None:
        self._maps = [(TopicPattern(s.topic), s) for s in sensors]
        self._availability = [(TopicPattern(a.topic), a) for a in availability or []]
        self._max = max_payload_bytes
        self._units = units or {}
        self._sparkplug = SparkplugHost()

    @property
    def subscriptions(self) -> list[str]:
        return sorted({p.subscription for p, _ in self._availability} | {p.subscription for p, _ in self._maps})

    def parse(self, topic: str, payload: bytes, arrival: float) -> Parsed:
        if len(payload) > self._max:
            raise PayloadError("too_large", f"{len(payload)} bytes > {self._max}")
        for status, mapping in self._availability:
            captures = status.match(topic)
            if captures is not None:
                return Parsed([self._availability_message(mapping, captures, payload)])
        for pattern, sensor in self._maps:
            captures = pattern.match(topic)
            if captures is not None:
                if sensor.format == "sparkplug_b":
                    return self._sparkplug_message(sensor, topic, payload, arrival)
                return Parsed([self._extract(sensor, captures, payload, arrival)])
        raise PayloadError("unknown_topic", "matches no sensors[] or availability[] mapping")

    # -- availability ----------------------------------------------------------------------------
    def _availability_message(self, mapping: AvailabilityTopic, captures: dict[str, str], payload: bytes) -> Message:
        device = _device(mapping.device, captures)
        text = _text(payload).strip()
        word = text
        if text.startswith("{"):
            doc = _json(text)
            keys = ("state", "status", "availability")
            found = next((doc[k] for k in keys if isinstance(doc, dict) and k in doc), None)
            word = str(found) if found is not None else ""
        word = word.strip().lower()
        if word in mapping.online:
            return Message(device, online=True)
        if word in mapping.offline:
            return Message(device, online=False)
        raise PayloadError("bad_availability", f"{text[:40]!r} is neither online nor offline")

    # -- sensors ---------------------------------------------------------------------------------
    def _extract(self, mapping: SensorTopic, captures: dict[str, str], payload: bytes, arrival: float) -> Message:
        device = _device(mapping.device, captures)
        text = _text(payload)
        if mapping.format == "json":
            return Message(device, self._json_readings(mapping, device, text, arrival), profile=mapping.profile)
        if mapping.format == "plain":
            metric = mapping.metrics[0]
            value = to_number(text.strip(), "payload")
            reading = Reading(device, metric.name, value, arrival, self._unit(mapping, metric.name))
            return Message(device, (reading,), profile=mapping.profile)
        readings = self._ecosystem_readings(mapping, captures, device, text, arrival)
        return Message(device, readings, profile=mapping.profile)

    def _json_readings(self, mapping: SensorTopic, device: str, text: str, arrival: float) -> tuple[Reading, ...]:
        needs_json = mapping.timestamp_pointer is not None or any(m.pointer != "plain" for m in mapping.metrics)
        doc = _json(text) if needs_json else None
        ts = _payload_time(mapping, doc, arrival)
        readings = []
        for metric in mapping.metrics:
            if metric.pointer == "plain":
                value = to_number(text.strip(), "payload")
            else:
                raw = resolve_pointer(doc, metric.pointer)
                if raw is _MISSING:
                    raise PayloadError("missing_field", f"{metric.pointer} not in payload")
                value = to_number(raw, metric.pointer)
            if metric.unit_pointer is not None:
                stated = resolve_pointer(doc, metric.unit_pointer)
                if stated is not _MISSING and str(stated).strip() != metric.unit:
                    raise PayloadError("wrong_unit", f"{metric.name} in {str(stated)[:16]!r}, expected {metric.unit!r}")
            readings.append(Reading(device, metric.name, value, ts, self._unit(mapping, metric.name)))
        return tuple(readings)

    def _ecosystem_readings(
        self, mapping: SensorTopic, captures: dict[str, str], device: str, text: str, arrival: float
    ) -> tuple[Reading, ...]:
        stripped = text.strip()
        ts = arrival
        pairs: list[tuple[str, Any]]
        if stripped.startswith("{"):
            doc = _json(stripped)
            if not isinstance(doc, dict):
                raise PayloadError("wrong_type", "JSON payload is not an object")
            pairs = flatten(doc, mapping.format)
            temp_unit = doc.get("TempUnit")
            if mapping.format == "tasmota" and temp_unit not in (None, "C"):
                # Tasmota reports Fahrenheit when SetOption8 is on; every temperature rule here is in °C.
                raise PayloadError("wrong_unit", f"TempUnit {str(temp_unit)[:8]!r}, expected 'C'")
            if mapping.format == "zigbee2mqtt" and "last_seen" in doc:
                ts = to_epoch(doc["last_seen"], "last_seen")
            ts = _payload_time(mapping, doc, ts)
        else:
            name = mapping.metrics[0].name if len(mapping.metrics) == 1 else captures.get("metric", "state")
            pairs = [(name, to_number(stripped, "payload"))]
        wanted = {m.name for m in mapping.metrics}
        readings = []
        for raw_name, raw in pairs:
            name = mapping.rename.get(raw_name, raw_name)
            if wanted and name not in wanted:
                continue
            number = scalar(raw)
            if number is None:
                continue
            if not math.isfinite(number):
                raise PayloadError("not_finite", f"{raw_name}: {raw!r}")
            readings.append(Reading(device, name, number, ts, self._unit(mapping, name)))
        if not readings:
            raise PayloadError("no_readings", "no number or switch value in the payload")
        return tuple(readings)

    def _sparkplug_message(self, mapping: SensorTopic, topic: str, payload: bytes, arrival: float) -> Parsed:
        try:
            decoded = self._sparkplug.decode(topic, payload)
        except SparkplugError as exc:
            raise PayloadError(exc.reason, exc.detail) from None

        def device_id(device: str | None) -> str:
            return _device(
                mapping.device, {"group": decoded.group, "node": decoded.node, "device": device or decoded.node}
            )

        rebirth = f"spBv1.0/{decoded.group}/NCMD/{decoded.node}" if decoded.rebirth else None
        if decoded.kind == "NDEATH":
            if decoded.problem is not None:
                return Parsed([], problem=decoded.problem)
            gone = [Message(device_id(None), online=False)]
            gone += [Message(device_id(d), online=False) for d in decoded.dead_devices]
            return Parsed(gone)
        if decoded.kind == "DDEATH":
            return Parsed([Message(device_id(decoded.device), online=False)], rebirth, decoded.problem)
        if decoded.problem is not None and decoded.problem.reason == "no_birth":
            return Parsed([], rebirth, decoded.problem)
        device = device_id(decoded.device)
        wanted = {m.name for m in mapping.metrics}
        readings = []
        for metric in decoded.metrics:
            name = metric_name(metric.name, mapping.rename)
            if wanted and name not in wanted:
                continue
            ts = metric.ts if metric.ts is not None else arrival
            readings.append(Reading(device, name, metric.value, ts, self._unit(mapping, name)))
        online = True if decoded.kind.endswith("BIRTH") else None
        return Parsed([Message(device, tuple(readings), online, mapping.profile)], rebirth, decoded.problem)

    def _unit(self, mapping: SensorTopic, metric: str) -> str | None:
        for m in mapping.metrics:
            if m.name == metric and m.unit is not None:
                return m.unit
        if mapping.profile is not None:
            return self._units.get(mapping.profile, {}).get(metric)
        return None


def _payload_time(mapping: SensorTopic, doc: Any, default: float) -> float:
    """The time at the mapping's `timestamp_pointer`, or `default` when it has none or the payload lacks it."""
    if mapping.timestamp_pointer is None:
        return default
    raw = resolve_pointer(doc, mapping.timestamp_pointer)
    return default if raw is _MISSING else to_epoch(raw, mapping.timestamp_pointer)


def _device(template: str, captures: dict[str, str]) -> str:
    device = template.format(**captures)
    if not device:
        raise PayloadError("no_device", "device id is empty")
    if not _DEVICE_ID.match(device):
        raise PayloadError("bad_device", f"{device[:60]!r} is not a usable device id")
    return device


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("not_utf8", "payload is not UTF-8 text") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("not_json", "nested too deeply") from None
    except ValueError as exc:
        raise PayloadError("not_json", str(exc)[:120]) from None
