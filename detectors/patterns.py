"""Rules over a series' shape rather than its level: repeating condition, rate of change, stuck value, range.

Each is a frozen spec with `initial()`, `step(state, value, ts)` and `tick(state, now)`, like the
threshold, so the engine runs them all the same way. Memory per series is constant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from wangge.detectors.readings import Transition
from wangge.detectors.threshold import ThresholdSpec, ThresholdState, threshold_step


@dataclass(frozen=True, slots=True)
class RepeatSpec:
    """N times in T: a door forced three times in ten minutes, a cover knocked loose again and again.

    An occurrence is the condition becoming true (value past `level`), not each reading while it stays
    true. The alert starts at the `count`-th occurrence within `within_s` and ends once `within_s` has
    passed with no new occurrence.
    """

    level: float
    count: int
    within_s: float
    direction: Literal["above", "below"] = "above"

    def __post_init__(self) -> None:
        if self.count < 2:
            raise ValueError("count must be at least 2 (one occurrence is a threshold rule)")
        if self.within_s <= 0:
            raise ValueError("within_s must be positive")

    def initial(self) -> RepeatState:
        return RepeatState(deque(maxlen=self.count))

    def resume(self) -> RepeatState:
        return RepeatState(deque(maxlen=self.count), active=True)

    def step(self, state: RepeatState, value: float, ts: float) -> Transition | None:
        on = value > self.level if self.direction == "above" else value < self.level
        began = on and not state.on
        state.on = on
        if not began:
            return self.tick(state, ts)
        state.times.append(ts)
        if state.active or len(state.times) < self.count or ts - state.times[0] > self.within_s:
            return None
        state.active = True
        return Transition("start", ts, value)

    def tick(self, state: RepeatState, now: float) -> Transition | None:
        if state.active and not state.times:
            state.times.append(now)  # resumed after a restart: the quiet period counts from now
        if state.active and now - state.times[-1] >= self.within_s:
            state.active = False
            return Transition("end", state.times[-1] + self.within_s, float(len(state.times)))
        return None


@dataclass(slots=True)
class RepeatState:
    times: deque[float]
    on: bool = False
    active: bool = False


@dataclass(frozen=True, slots=True)
class RateSpec:
    """Rate of change per minute, measured over at least `window_s`, judged by a threshold on the rate.

    Why a window: a gauge's 1 cm noise between two readings 5 s apart is 12 cm/min. Gaps longer than
    `max_gap_s` restart the measurement instead of averaging across an outage.
    """

    rate: ThresholdSpec
    window_s: float = 60.0
    max_gap_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.max_gap_s < self.window_s:
            raise ValueError("window_s must be positive and max_gap_s at least window_s")

    def initial(self) -> RateState:
        return RateState()

    def resume(self) -> RateState:
        return RateState(threshold=ThresholdState(active=True))

    def step(self, state: RateState, value: float, ts: float) -> Transition | None:
        if state.ref_ts is None or ts - state.ref_ts > self.max_gap_s:
            state.ref_ts, state.ref_value = ts, value
            return None
        elapsed = ts - state.ref_ts
        if elapsed < self.window_s:
            return None
        per_min = (value - state.ref_value) / elapsed * 60.0
        state.ref_ts, state.ref_value = ts, value
        return threshold_step(self.rate, state.threshold, per_min, ts)

    def tick(self, state: RateState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class RateState:
    ref_ts: float | None = None
    ref_value: float = 0.0
    threshold: ThresholdState = field(default_factory=ThresholdState)


@dataclass(frozen=True, slots=True)
class StuckSpec:
    """A value that has not moved by more than `tolerance` for `for_s` (and `min_readings` readings).

    A real water gauge jitters; one reporting exactly 12.0 cm for six hours is broken. The alert starts
    when the flat run began and ends at the first reading that moves.
    """

    for_s: float
    tolerance: float = 0.0
    min_readings: int = 3

    def __post_init__(self) -> None:
        if self.for_s <= 0 or self.tolerance < 0 or self.min_readings < 2:
            raise ValueError("for_s must be positive, tolerance not negative, min_readings at least 2")

    def initial(self) -> StuckState:
        return StuckState()

    def resume(self) -> StuckState:
        return StuckState(active=True)

    def step(self, state: StuckState, value: float, ts: float) -> Transition | None:
        if state.run_start is None:  # first reading, or first after a restart with the alert still open
            state.run_start, state.run_value, state.count = ts, value, 1
            return None
        if abs(value - state.run_value) > self.tolerance:
            was_active = state.active
            state.run_start, state.run_value, state.count, state.active = ts, value, 1, False
            return Transition("end", ts, value) if was_active else None
        state.count += 1
        if not state.active and ts - state.run_start >= self.for_s and state.count >= self.min_readings:
            state.active = True
            return Transition("start", state.run_start, value)
        return None

    def tick(self, state: StuckState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class StuckState:
    run_start: float | None = None
    run_value: float = 0.0
    count: int = 0
    active: bool = False


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """Plausibility: a value outside what the sensor can physically report is a fault of the sensor.

    The engine runs range rules first and keeps an implausible reading away from every other rule of
    the series, so a gauge reporting 9,999 cm opens a sensor-fault alert, not a flood.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"range low {self.low} must be below high {self.high}")

    def plausible(self, value: float) -> bool:
        return self.low <= value <= self.high

    def initial(self) -> ThresholdState:
        return ThresholdState()

    def resume(self) -> ThresholdState:
        return ThresholdState(active=True)

    def step(self, state: ThresholdState, value: float, ts: float) -> Transition | None:
        bad = not self.plausible(value)
        if bad and not state.active:
            state.active = True
            return Transition("start", ts, value)
        if not bad and state.active:
            state.active = False
            return Transition("end", ts, value)
        return None

    def tick(self, state: ThresholdState, now: float) -> Transition | None:
        return None
