"""Payload shapes of common ecosystems turned into (name, value) pairs: Zigbee2MQTT, Tasmota, Home Assistant.

All of them publish JSON objects of named values (or a bare value per topic), so one flattener serves,
with each ecosystem's known quirks:
- Zigbee2MQTT: `contact: true` means the door is *closed*, so it becomes `door_open: 0`; `linkquality`,
  `update` and device info are not readings; `last_seen` (ISO 8601 or epoch ms) is the reading time.
- Tasmota: values sit under the sensor's name (`{"AM2301": {"Temperature": 21.5}}`); `Time` is local time
  without a zone, so arrival time is used; `*Unit` fields are not readings; `POWER: "ON"` becomes 1.
- Home Assistant (statestream, ESPHome): a bare state per topic (`on`, `off`, `21.5`, `open`, `detected`).
Names become snake case; when two sensors carry the same leaf name, both keep their parent's name as a
prefix (`ds18b20_temperature`). Strings that are not numbers or switch words are skipped, not errors:
devices publish text fields (`action`, `color_mode`) beside their readings.
"""

from __future__ import annotations

import math
import re
from typing import Any

SWITCH_WORDS = {
    "on": 1.0,
    "off": 0.0,
    "true": 1.0,
    "false": 0.0,
    "open": 1.0,
    "closed": 0.0,
    "detected": 1.0,
    "clear": 0.0,
    "wet": 1.0,
    "dry": 0.0,
    "alarm": 1.0,
    "normal": 0.0,
}
_SKIP = {
    "zigbee2mqtt": {"linkquality", "last_seen", "update", "update_available", "device", "elapsed"},
    "tasmota": {"time", "tempunit", "pressureunit", "speedunit", "resolutionunit"},
}
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_MAX_DEPTH = 6
_MAX_LEAVES = 256


def snake(name: str) -> str:
    """`batteryLevel` -> `battery_level`, `Sensors/Water Level` -> `sensors_water_level`."""
    words = _NOT_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")
    return words or "value"


def scalar(value: Any) -> float | None:
    """A number, a boolean or a switch word; None for anything else (text fields, objects)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # a JSON integer of hundreds of digits
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        word = value.strip().lower()
        if word in SWITCH_WORDS:
            return SWITCH_WORDS[word]
        try:
            return float(word)
        except ValueError:
            return None
    return None


def flatten(doc: dict[str, Any], ecosystem: str) -> list[tuple[str, Any]]:
    """Every leaf of a JSON object as (snake_case name, raw value), with the ecosystem's quirks applied."""
    skip = _SKIP.get(ecosystem, set())
    found: list[tuple[list[str], Any]] = []

    def walk(node: dict[str, Any], path: list[str]) -> None:
        for key, value in node.items():
            if len(found) >= _MAX_LEAVES:
                return
            if key.lower() in skip:
                continue
            if isinstance(value, dict):
                if len(path) < _MAX_DEPTH:
                    walk(value, [*path, key])
            elif not isinstance(value, list):
                found.append(([*path, key], value))

    walk(doc, [])
    if ecosystem == "zigbee2mqtt":
        found = [(["door_open"], _negate(v)) if p == ["contact"] else (p, v) for p, v in found]
    leaf_counts: dict[str, int] = {}
    for path, _ in found:
        leaf_counts[snake(path[-1])] = leaf_counts.get(snake(path[-1]), 0) + 1
    out = []
    for path, value in found:
        leaf = snake(path[-1])
        name = leaf if leaf_counts[leaf] == 1 else snake("_".join(path))
        out.append((name, value))
    return out


def _negate(value: Any) -> Any:
    number = scalar(value)
    return value if number is None else 1.0 - number
