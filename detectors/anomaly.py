"""An online anomaly detector for metrics with no fixed threshold, with constant memory per series.

How it scores a reading (every step measured on NAB, see docs/benchmarks.md and bench/nab_score.py):
- a fast EWMA of the value (the recent level, smoothing single-reading noise) is compared with a slow,
  robust baseline: an EWMA mean and mean absolute deviation, fed with the reading clipped to 4
  deviations so an outlier cannot drag the baseline towards itself;
- the distance in deviations is turned into its percentile among all earlier distances of the same
  series (a log-spaced histogram, 400 counters). Calibration decides NAB: raw distances are not
  comparable between series, their percentiles are, so one threshold serves every series;
- after an alarm, scores are damped for `quiet` readings: one anomaly is one alert, and NAB, like an
  operator, counts only the first detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from wangge.detectors.readings import Transition

_BINS = 400
_LOG_LO = math.log(1e-3)
_LOG_WIDTH = (math.log(1e4) - _LOG_LO) / _BINS


@dataclass(slots=True)
class AnomalyDetector:
    """Streaming scorer: `score(value)` returns a number in [0, 1], high when the value is unusual."""

    fast: float = 0.2
    slow: float = 0.005
    warmup: int = 150
    quiet: int = 100
    alarm: float = 0.995
    clip: float = 4.0
    n: int = 0
    level: float = 0.0
    mean: float = 0.0
    dev: float = 0.0
    last_alarm: int = -(10**9)
    counts: list[int] = field(default_factory=lambda: [0] * _BINS)

    def score(self, value: float) -> float:
        self.n += 1
        if self.n == 1:
            self.level = self.mean = value
            return 0.0
        self.level += self.fast * (value - self.level)
        distance = abs(self.level - self.mean) / (self.dev + 1e-9 + 1e-6 * abs(self.mean))
        self._learn(value)
        rank = self._rank(distance)
        if self.n <= self.warmup:
            return 0.0
        if self.n - self.last_alarm < self.quiet:
            return rank * 0.9
        if rank > self.alarm:
            self.last_alarm = self.n
        return rank

    def _learn(self, value: float) -> None:
        d = value - self.mean
        if self.n == 2:
            self.dev = abs(d)
        limit = self.clip * self.dev if self.n > 20 else abs(d)
        clipped = max(-limit, min(limit, d))
        self.mean += self.slow * clipped
        self.dev += self.slow * (abs(clipped) - self.dev)

    def _rank(self, distance: float) -> float:
        """The percentile of `distance` among the earlier ones (mid-rank within its bin), then count it."""
        counts = self.counts
        total = self.n - 2
        i = 0 if distance <= 0 else min(_BINS - 1, max(0, int((math.log(distance) - _LOG_LO) / _LOG_WIDTH)))
        rank = (sum(counts[:i]) + 0.5 * counts[i]) / total if total > 0 else 0.5
        counts[i] += 1
        return rank


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """Alert when the detector's score passes `threshold`; end after `quiet` readings without another alarm."""

    threshold: float = 0.995
    warmup: int = 150
    quiet: int = 100

    def __post_init__(self) -> None:
        if not 0.5 < self.threshold < 1.0:
            raise ValueError("threshold must be between 0.5 and 1 (a percentile)")
        if self.warmup < 10 or self.quiet < 1:
            raise ValueError("warmup must be at least 10 readings and quiet at least 1")

    def initial(self) -> AnomalyState:
        return AnomalyState(AnomalyDetector(warmup=self.warmup, quiet=self.quiet, alarm=self.threshold))

    def resume(self) -> AnomalyState:
        state = self.initial()
        state.active = True
        return state

    def step(self, state: AnomalyState, value: float, ts: float) -> Transition | None:
        score = state.detector.score(value)
        if score >= self.threshold:
            state.since_alarm = 0
            if not state.active:
                state.active = True
                return Transition("start", ts, score)
            return None
        state.since_alarm += 1
        if state.active and state.since_alarm >= self.quiet:
            state.active = False
            return Transition("end", ts, score)
        return None

    def tick(self, state: AnomalyState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class AnomalyState:
    detector: AnomalyDetector
    active: bool = False
    since_alarm: int = 0
