"""Threshold with hysteresis and minimum durations: the rule that turns a level into a start and an end.

Why hysteresis and durations: a water gauge bobbing around 20 cm must not open and close an alert
every few seconds. The condition must hold for `for_s` before the alert starts (its start time is when
the condition began, not when it was confirmed), and the value must fall past the separate clear level
for `clear_for_s` before it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wangge.detectors.readings import Transition


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    """`direction="above"`: raise when value > level, clear when value < clear. Mirrored for "below"."""

    level: float
    clear: float
    direction: Literal["above", "below"] = "above"
    for_s: float = 0.0
    clear_for_s: float = 0.0

    def __post_init__(self) -> None:
        if self.direction == "above" and self.clear > self.level:
            raise ValueError(f"clear level {self.clear} must not be above the raise level {self.level}")
        if self.direction == "below" and self.clear < self.level:
            raise ValueError(f"clear level {self.clear} must not be below the raise level {self.level}")
        if self.for_s < 0 or self.clear_for_s < 0:
            raise ValueError("durations must not be negative")

    def initial(self) -> ThresholdState:
        return ThresholdState()

    def resume(self) -> ThresholdState:
        return ThresholdState(active=True)

    def step(self, state: ThresholdState, value: float, ts: float) -> Transition | None:
        return threshold_step(self, state, value, ts)

    def tick(self, state: ThresholdState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class ThresholdState:
    """Per-series state. `since` is when the pending change (raise or clear) was first seen."""

    active: bool = False
    since: float | None = None
    last_ts: float | None = None


def threshold_step(spec: ThresholdSpec, state: ThresholdState, value: float, ts: float) -> Transition | None:
    """Advance `state` by one reading; return the transition it completes, if any.

    A reading older than the last one accepted for the series is ignored (returns None and leaves the
    state untouched), so a replayed or reordered stream cannot start or end an alert backwards in time.
    """
    if state.last_ts is not None and ts < state.last_ts:
        return None
    state.last_ts = ts
    if spec.direction == "above":
        raising, clearing = value > spec.level, value < spec.clear
    else:
        raising, clearing = value < spec.level, value > spec.clear
    if not state.active:
        if not raising:
            state.since = None
            return None
        if state.since is None:
            state.since = ts
        if ts - state.since >= spec.for_s:
            began, state.active, state.since = state.since, True, None
            return Transition("start", began, value)
        return None
    if not clearing:
        state.since = None
        return None
    if state.since is None:
        state.since = ts
    if ts - state.since >= spec.clear_for_s:
        ended, state.active, state.since = state.since, False, None
        return Transition("end", ended, value)
    return None
