"""The Numenta Anomaly Benchmark's scoring, written from its definition (Lavin & Ahmad 2015, "Evaluating
Real-time Anomaly Detection Algorithms — the Numenta Anomaly Benchmark", and NAB v1.1's documented rules):

- Each labelled window rewards its best (earliest) detection with tp_weight x a sigmoid of the detection's
  position in the window, scaled so that the window's first row earns exactly tp_weight; a window with no
  detection costs fn_weight. Later detections in the same window add nothing.
- Each detection outside a window costs fp_weight x a sigmoid of its distance past the previous window
  (relative to that window's width; the full fp_weight before the first window and 3 widths past one).
- The first 15 % of each series (at most 750 rows) is probation: not scored, and a window lying wholly in it
  is not counted.
- One threshold for the whole corpus, chosen to maximise the total; the total is normalised so that the
  null detector (no detections) scores 0 and the perfect one (the first row of every window) scores 100.

Window edges are found by timestamp (the first row carrying it), as NAB does: repeated timestamps in a file
are tolerated. This is scoring code for bench/nab_score.py and its tests; the product does not import it.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 0.15 * 5000


@dataclass(frozen=True)
class Profile:
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class Series:
    name: str  # e.g. "realKnownCause/nyc_taxi.csv"
    timestamps: list[datetime]
    values: list[float]
    windows: list[tuple[datetime, datetime]]


@dataclass(frozen=True)
class ScoredRow:
    anomaly_score: float
    weighted: float  # what a detection on this row adds (TP reward or FP cost)
    window: str | None  # the labelled window it lies in, if any


def scaled_sigmoid(position: float) -> float:
    """-1 (a window's left edge) -> 0.987; 0 (its right edge) -> 0; > 0 (past it) -> negative, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_rows(n: int) -> float:
    return min(math.floor(PROBATION_FRACTION * n), PROBATION_MAX_ROWS)


def score_rows(series: Series, scores: Sequence[float], profile: Profile) -> list[ScoredRow]:
    """Each scored (non-probation) row with the weight a detection on it would carry."""
    if len(scores) != len(series.timestamps):
        raise ValueError(f"{series.name}: {len(scores)} scores for {len(series.timestamps)} rows")
    first_index: dict[datetime, int] = {}
    for i, t in enumerate(series.timestamps):
        first_index.setdefault(t, i)
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_rows(len(scores))
    pending = list(series.windows)
    current: tuple[datetime, datetime] | None = None
    name = ""
    right = width = 0
    previous_right: int | None = None
    previous_width = 0
    out: list[ScoredRow] = []
    for i, (t, score) in enumerate(zip(series.timestamps, scores, strict=True)):
        if pending and t == pending[0][0]:
            current = pending.pop(0)
            name = f"{series.name}|{current[0].isoformat()}"
            right = first_index[current[1]]
            width = right - first_index[current[0]] + 1
        if current is not None:
            weighted = scaled_sigmoid(-(right - i + 1) / width) * profile.tp_weight / max_tp
        else:
            past = 3.0 if previous_right is None else abs(previous_right - i) / (previous_width - 1)
            weighted = scaled_sigmoid(past) * profile.fp_weight
        if i >= probation:
            out.append(ScoredRow(score, weighted, name if current is not None else None))
        if current is not None and t == current[1]:
            previous_right, previous_width, current = i, width, None
    return out


@dataclass(frozen=True)
class Sweep:
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def sweep(rows: Iterable[ScoredRow], profile: Profile, threshold: float | None = None) -> Sweep:
    """The best corpus threshold and its score (or the score at `threshold`, detections being score >= it)."""
    ordered = sorted(rows, key=lambda r: r.anomaly_score, reverse=True)
    windows = {r.window for r in ordered if r.window is not None}
    null = -profile.fn_weight * len(windows)
    perfect = profile.tp_weight * len(windows)
    best_in_window = dict.fromkeys(windows, -profile.fn_weight)
    window_total = null
    fp_total = 0.0
    best = Sweep(math.inf, null, null, perfect)
    i = 0
    while i < len(ordered):
        level = ordered[i].anomaly_score
        if threshold is not None and level < threshold:
            break
        while i < len(ordered) and ordered[i].anomaly_score == level:
            row = ordered[i]
            if row.window is None:
                fp_total += row.weighted
            elif row.weighted > best_in_window[row.window]:
                window_total += row.weighted - best_in_window[row.window]
                best_in_window[row.window] = row.weighted
            i += 1
        candidate = Sweep(level, window_total + fp_total, null, perfect)
        if threshold is not None or candidate.raw > best.raw:
            best = candidate
    return best


PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def load_profiles(nab: Path) -> dict[str, Profile]:
    raw = json.loads((nab / "config" / "profiles.json").read_text())
    return {
        name: Profile(m["CostMatrix"]["tpWeight"], m["CostMatrix"]["fpWeight"], m["CostMatrix"]["fnWeight"])
        for name, m in raw.items()
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def load_corpus(nab: Path) -> list[Series]:
    """All labelled series, in a stable order."""
    windows = json.loads((nab / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        with (nab / "data" / name).open(newline="") as f:
            rows = list(csv.DictReader(f))
        corpus.append(
            Series(
                name,
                [_when(r["timestamp"]) for r in rows],
                [float(r["value"]) for r in rows],
                [(_when(a), _when(b)) for a, b in windows[name]],
            )
        )
    return corpus
