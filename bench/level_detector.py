"""The sensor anomaly detector wangge shipped before the contextual one (detectors/anomaly.py), kept here
only so bench/nab_score.py can print both on the same run: a fast EWMA level against a slow robust
baseline, the distance turned into its percentile among the series' earlier distances, damped for 100
readings after an alarm. It scored 50.5 / 42.2 / 54.6 on NAB."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_BINS = 400
_LOG_LO = math.log(1e-3)
_LOG_WIDTH = (math.log(1e4) - _LOG_LO) / _BINS


@dataclass(slots=True)
class LevelDetector:
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

    def score(self, timestamp: float, value: float) -> float:
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
        counts = self.counts
        total = self.n - 2
        i = 0 if distance <= 0 else min(_BINS - 1, max(0, int((math.log(distance) - _LOG_LO) / _LOG_WIDTH)))
        rank = (sum(counts[:i]) + 0.5 * counts[i]) / total if total > 0 else 0.5
        counts[i] += 1
        return rank
