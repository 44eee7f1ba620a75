"""The sensor anomaly detector (wangge.detectors.anomaly) on the Numenta Anomaly Benchmark, scored as NAB does.

Every one of NAB's 58 series is streamed through a fresh detector in file order, one
`AnomalyDetector().score(timestamp, value)` call per row and nothing else: no file length, no min/max, no
per-file setting. The scores are judged by bench/nab_scoring.py under NAB's three profiles (one
corpus-wide threshold per profile, normalised so that null = 0 and perfect = 100). Before the detector,
the scorer is checked: null must score 0, a detector firing on every window's first row 100, and a
uniformly random one about what NAB publishes for its random detector (11.0 / 1.2 / 19.5).

Also measured, on the same run: that the detector is online (a series' first half scored alone gives the
same scores as in the whole run), that a state saved half-way through as JSON and resumed gives the same
scores as never stopping, the state's size, and rows/s on one core against a floor (the same loop calling
a one-line EWMA scorer) so the figure can be compared between machines. The previous detector
(bench/level_detector.py) is scored alongside.

  python bench/nab_score.py [--nab ../shared/assets/nab] [--random-seeds 10]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from level_detector import LevelDetector  # noqa: E402
from nab_scoring import PROFILES, Series, load_corpus, load_profiles, score_rows, sweep  # noqa: E402
from wangge.detectors.anomaly import AnomalyDetector  # noqa: E402

SCOREBOARD = [  # NAB v1.1 scoreboard: standard, reward low FP, reward low FN
    ("ARTime", 74.9, 65.1, 80.4),
    ("Numenta HTM", 70.1, 63.1, 74.3),
    ("CAD OSE", 69.9, 67.0, 73.2),
    ("KNN CAD", 58.0, 43.4, 64.8),
    ("Relative Entropy", 54.6, 47.6, 58.8),
    ("Random Cut Forest", 51.7, 38.4, 59.7),
    ("Twitter ADVec", 47.1, 33.6, 53.5),
    ("Windowed Gaussian", 39.6, 20.9, 47.4),
    ("Bayesian Changepoint", 17.7, 3.2, 32.2),
    ("random", 11.0, 1.2, 19.5),
    ("null", 0.0, 0.0, 0.0),
]
SHORT = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}
CATEGORIES = {
    "artificial": "artificial",
    "realAWSCloudwatch": "AWS",
    "realAdExchange": "ad exchange",
    "realKnownCause": "known cause",
    "realTraffic": "traffic",
    "realTweets": "tweets",
}


class Scorer(Protocol):
    def score(self, timestamp: float, value: float) -> float: ...


def seconds(series: Series) -> list[float]:
    """NAB's timestamps are naive; they are read as UTC (only the time of day matters to the detector)."""
    return [t.replace(tzinfo=UTC).timestamp() for t in series.timestamps]


def stream(corpus: Sequence[Series], make: Callable[[], Scorer]) -> tuple[list[list[float]], float]:
    """Each series through a fresh scorer; the scores and the seconds spent scoring."""
    out = []
    spent = 0.0
    for series in corpus:
        times = seconds(series)
        scorer = make()
        score = scorer.score
        started = time.perf_counter()
        out.append([score(t, v) for t, v in zip(times, series.values, strict=True)])
        spent += time.perf_counter() - started
    return out, spent


def detector_scores(corpus: Sequence[Series]) -> list[list[float]]:
    return stream(corpus, AnomalyDetector)[0]


def normalised(
    corpus: Sequence[Series], scores: Sequence[Sequence[float]], nab: Path
) -> dict[str, tuple[float, float]]:
    """profile -> (normalised score, chosen threshold)."""
    profiles = load_profiles(nab)
    out = {}
    for name in PROFILES:
        rows = [r for s, sc in zip(corpus, scores, strict=True) for r in score_rows(s, sc, profiles[name])]
        best = sweep(rows, profiles[name])
        out[name] = (best.normalised, best.threshold)
    return out


def by_category(
    corpus: Sequence[Series], scores: Sequence[Sequence[float]], nab: Path, thresholds: dict[str, float]
) -> dict[str, dict[str, float]]:
    """category -> profile -> the category's normalised score at the corpus threshold (its windows only)."""
    profiles = load_profiles(nab)
    out: dict[str, dict[str, float]] = {}
    for prefix, label in CATEGORIES.items():
        picked = [(s, sc) for s, sc in zip(corpus, scores, strict=True) if s.name.startswith(prefix)]
        out[label] = {}
        for name in PROFILES:
            rows = [r for s, sc in picked for r in score_rows(s, sc, profiles[name])]
            out[label][name] = sweep(rows, profiles[name], thresholds[name]).normalised
    return out


def threshold_guide(
    corpus: Sequence[Series], scores: Sequence[Sequence[float]], nab: Path, thresholds: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(threshold, share of windows with a detection, false alarms per 10,000 readings outside windows),
    over the scored (non-probation) rows: what an operator gets from a threshold."""
    profile = load_profiles(nab)["standard"]
    rows = [r for s, sc in zip(corpus, scores, strict=True) for r in score_rows(s, sc, profile)]
    windows = {r.window for r in rows if r.window is not None}
    outside = sum(1 for r in rows if r.window is None)
    out = []
    for threshold in thresholds:
        found = {r.window for r in rows if r.window is not None and r.anomaly_score >= threshold}
        false = sum(1 for r in rows if r.window is None and r.anomaly_score >= threshold)
        out.append((threshold, len(found) / len(windows), 10_000 * false / outside))
    return out


def perfect_scores(series: Series) -> list[float]:
    starts = {w[0] for w in series.windows}
    seen: set[object] = set()
    out = []
    for t in series.timestamps:
        out.append(1.0 if t in starts and t not in seen else 0.0)
        seen.add(t)
    return out


def online_and_resumable(corpus: Sequence[Series], scores: Sequence[Sequence[float]]) -> tuple[bool, bool]:
    """(half a series alone scores as in the whole run, a JSON state saved half-way resumes exactly)."""
    online = resumed = True
    for series, whole in zip(corpus, scores, strict=True):
        times, values = seconds(series), series.values
        half = len(values) // 2
        first = AnomalyDetector()
        alone = [first.score(t, v) for t, v in zip(times[:half], values[:half], strict=True)]
        online = online and alone == list(whole[:half])
        second = AnomalyDetector.from_state(json.loads(json.dumps(first.to_state())))
        rest = [second.score(t, v) for t, v in zip(times[half:], values[half:], strict=True)]
        resumed = resumed and all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(rest, whole[half:], strict=True))
    return online, resumed


def state_bytes(corpus: Sequence[Series]) -> int:
    """The largest saved state (compact JSON) at the end of any series."""
    largest = 0
    for series in corpus:
        detector = AnomalyDetector()
        for t, v in zip(seconds(series), series.values, strict=True):
            detector.score(t, v)
        largest = max(largest, len(json.dumps(detector.to_state(), separators=(",", ":"))))
    return largest


class _Ewma:
    """The floor: the same loop and call with the least a scorer can do."""

    __slots__ = ("level",)

    def __init__(self) -> None:
        self.level = 0.0

    def score(self, timestamp: float, value: float) -> float:
        self.level += 0.1 * (value - self.level)
        return self.level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nab", type=Path, default=REPO.parent / "shared" / "assets" / "nab")
    parser.add_argument("--random-seeds", type=int, default=10)
    args = parser.parse_args()
    if not (args.nab / "labels" / "combined_windows.json").exists():
        sys.exit(f"NAB not found at {args.nab} (expected labels/combined_windows.json): pass --nab PATH")
    corpus = load_corpus(args.nab)
    rows = sum(len(s.values) for s in corpus)
    print(f"NAB: {len(corpus)} series, {rows} rows, {sum(len(s.windows) for s in corpus)} windows")

    print("scorer check:")
    null = normalised(corpus, [[0.0] * len(s.values) for s in corpus], args.nab)
    perfect = normalised(corpus, [perfect_scores(s) for s in corpus], args.nab)
    randoms: dict[str, list[float]] = {p: [] for p in PROFILES}
    for seed in range(max(2, args.random_seeds)):
        rng = random.Random(seed)
        coin = [[rng.random() for _ in s.values] for s in corpus]
        for name, (score, _) in normalised(corpus, coin, args.nab).items():
            randoms[name].append(score)
    for name in PROFILES:
        print(
            f"  {name:20s} null {null[name][0]:6.1f} (0)  perfect {perfect[name][0]:6.1f} (100)  "
            f"random {statistics.mean(randoms[name]):5.1f} ± {statistics.stdev(randoms[name]):.1f} "
            f"over {len(randoms[name])} seeds"
        )

    _, floor_s = stream(corpus, _Ewma)
    scores, spent = stream(corpus, AnomalyDetector)
    old_scores, old_spent = stream(corpus, LevelDetector)
    ours, old = normalised(corpus, scores, args.nab), normalised(corpus, old_scores, args.nab)
    online, resumed = online_and_resumable(corpus, scores)
    largest = state_bytes(corpus)
    rate, floor_rate = rows / spent, rows / floor_s
    print(
        f"detector: {rate:,.0f} rows/s on one core ({spent:.1f} s for the corpus; floor {floor_rate:,.0f} rows/s, "
        f"ratio {rate / floor_rate:.3f}); previous detector {rows / old_spent:,.0f} rows/s"
    )
    print(f"online (half a series alone scores the same): {'yes' if online else 'NO'}")
    print(f"resumed from a JSON state half-way scores the same: {'yes' if resumed else 'NO'}")
    print(f"largest state: {largest} bytes of JSON")

    print(f"\n{'detector':22s} {'standard':>9s} {'low FP':>8s} {'low FN':>8s}")
    mine = ("wangge (this run)", *(ours[p][0] for p in PROFILES))
    before = ("wangge previous", *(old[p][0] for p in PROFILES))
    board: list[tuple[str, float, float, float]] = [*SCOREBOARD, mine, before]  # type: ignore[list-item]
    board.sort(key=lambda row: -row[1])
    for name, standard, low_fp, low_fn in board:
        mark = "  <--" if name.startswith("wangge") else ""
        print(f"{name:22s} {standard:9.1f} {low_fp:8.1f} {low_fn:8.1f}{mark}")
    print("thresholds chosen: " + ", ".join(f"{SHORT[p]} {ours[p][1]:.4f}" for p in PROFILES))

    print("\nby category (each at the corpus threshold; this run / previous detector):")
    print(f"  {'category':12s} {'standard':>15s} {'low FP':>15s} {'low FN':>15s}")
    new_cat = by_category(corpus, scores, args.nab, {p: ours[p][1] for p in PROFILES})
    old_cat = by_category(corpus, old_scores, args.nab, {p: old[p][1] for p in PROFILES})
    for label in CATEGORIES.values():
        cells = " ".join(f"{new_cat[label][p]:7.1f} /{old_cat[label][p]:6.1f}" for p in PROFILES)
        print(f"  {label:12s} {cells}")
    print("\nchoosing a threshold (all series, after NAB's probation):")
    print(f"  {'threshold':>9s} {'windows found':>14s} {'false alarms / 10,000 readings':>31s}")
    for threshold, found, false in threshold_guide(corpus, scores, args.nab, (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)):
        print(f"  {threshold:9.2f} {found:14.0%} {false:31.1f}")
    print(
        " ".join(f"{SHORT[p]}={ours[p][0]:.1f}" for p in PROFILES)
        + f" rows_per_s={rate:.0f} floor_rows_per_s={floor_rate:.0f} state_bytes={largest}"
        + f" online={int(online)} resumed={int(resumed)}"
        + " "
        + " ".join(f"previous_{SHORT[p]}={old[p][0]:.1f}" for p in PROFILES)
    )


if __name__ == "__main__":
    main()
