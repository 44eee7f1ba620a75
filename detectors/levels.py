"""Severity steps within one alert: water at 20 cm is minor, 40 cm major, 60 cm critical.

Why one alert and not three: the operator handles one flooded underpass. The alert starts and ends
with the lowest step (a threshold with hysteresis and durations); while it is open the severity rises
at once when a higher step is passed and falls back only when the value has retreated `hysteresis`
past that step, each change an `update` transition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wangge.detectors.readings import Severity, Transition
from wangge.detectors.threshold import ThresholdSpec, ThresholdState, threshold_step


@dataclass(frozen=True, slots=True)
class LevelsSpec:
    """`steps` in raising order ((20, minor), (40, major), ...); the first step's level is `base.level`."""

    base: ThresholdSpec
    steps: tuple[tuple[float, Severity], ...]
    hysteresis: float = 0.0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("give at least one step")
        if self.steps[0][0] != self.base.level:
            raise ValueError("the first step must be the raise level")
        levels = [level for level, _ in self.steps]
        ordered = sorted(levels) if self.base.direction == "above" else sorted(levels, reverse=True)
        if levels != ordered or len(set(levels)) != len(levels):
            raise ValueError(f"steps must be strictly {'rising' if self.base.direction == 'above' else 'falling'}")
        if self.hysteresis < 0:
            raise ValueError("hysteresis must not be negative")

    def _past(self, value: float, level: float) -> bool:
        return value > level if self.base.direction == "above" else value < level

    def _retreat(self, level: float) -> float:
        return level - self.hysteresis if self.base.direction == "above" else level + self.hysteresis

    def initial(self) -> LevelsState:
        return LevelsState()

    def resume(self) -> LevelsState:
        return LevelsState(ThresholdState(active=True), 0)

    def step(self, state: LevelsState, value: float, ts: float) -> Transition | None:
        transition = threshold_step(self.base, state.base, value, ts)
        if transition is not None and transition.kind == "end":
            state.step = -1
            return transition
        if not state.base.active:
            return None
        reached = max((i for i, (level, _) in enumerate(self.steps) if self._past(value, level)), default=0)
        if transition is not None:
            state.step = reached
            return Transition("start", transition.at, value, self.steps[reached][1])
        current = state.step
        if reached > current:
            state.step = reached
        elif current > 0 and not self._past(value, self._retreat(self.steps[current][0])):
            held = [i for i in range(current) if self._past(value, self._retreat(self.steps[i][0]))]
            state.step = max(max(held, default=0), reached)
        if state.step == current:
            return None
        return Transition("update", ts, value, self.steps[state.step][1])

    def tick(self, state: LevelsState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class LevelsState:
    base: ThresholdState = field(default_factory=ThresholdState)
    step: int = -1
