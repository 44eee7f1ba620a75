"""The value objects that flow from sensor ingest into the rule engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["info", "minor", "major", "critical"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric value of one device at one time (epoch seconds, from the payload or arrival)."""

    device_id: str
    metric: str
    value: float
    ts: float
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule's condition began (`start`), changed severity (`update`) or ended (`end`) at `at`.

    `value` is what the rule judged (the reading, or a derived figure such as a rate); `severity` is set
    by rules whose severity moves within one alert (steps), else None and the rule's own severity holds.
    """

    kind: Literal["start", "update", "end"]
    at: float
    value: float
    severity: Severity | None = None


class StaleState(ValueError):
    """A saved rule state written by another version of the rule: dropped, never misread."""
