"""The value objects that flow from sensor ingest into the rule engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
    """A rule's condition began (`start`) or ended (`end`) at `at`, seen at a reading with `value`."""

    kind: Literal["start", "end"]
    at: float
    value: float
