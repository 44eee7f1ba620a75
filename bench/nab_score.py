"""The sensor anomaly detector (wangge.detectors.anomaly) on the Numenta Anomaly Benchmark, scored as NAB does.

Every one of NAB's 58 series is streamed through a fresh detector in file order, one score per row; the
scores are judged by bench/nab_scoring.py under NAB's three profiles (one corpus-wide threshold per
profile, normalised so that null = 0 and perfect = 100). Before the detector, the scorer is checked:
the null detector must score 0, a detector firing on every window's first row 100, and a uniformly random
one about what NAB publishes for its random detector (11.0 / 1.2 / 19.5, the mean of its seeds).

  python bench/nab_score.py [--nab ../shared/assets/nab] [--random-seeds 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

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


def normalised(corpus: list[Series], scores: list[list[float]], nab: Path) -> dict[str, tuple[float, float]]:
    """profile -> (normalised score, chosen threshold)."""
    profiles = load_profiles(nab)
    out = {}
    for name in PROFILES:
        rows = [r for s, sc in zip(corpus, scores, strict=True) for r in score_rows(s, sc, profiles[name])]
        best = sweep(rows, profiles[name])
        out[name] = (best.normalised, best.threshold)
    return out


def detector_scores(corpus: list[Series]) -> list[list[float]]:
    out = []
    for series in corpus:
        detector = AnomalyDetector()
        out.append([detector.score(v) for v in series.values])
    return out


def perfect_scores(series: Series) -> list[float]:
    starts = {w[0] for w in series.windows}
    seen: set[object] = set()
    out = []
    for t in series.timestamps:
        out.append(1.0 if t in starts and t not in seen else 0.0)
        seen.add(t)
    return out


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
    for seed in range(args.random_seeds):
        rng = random.Random(seed)
        coin = [[rng.random() for _ in s.values] for s in corpus]
        for name, (score, _) in normalised(corpus, coin, args.nab).items():
            randoms[name].append(score)
    for name in PROFILES:
        print(
            f"  {name:20s} null {null[name][0]:6.1f} (0)  perfect {perfect[name][0]:6.1f} (100)  "
            f"random {statistics.mean(randoms[name]):5.1f} ± {statistics.stdev(randoms[name]):.1f} "
            f"over {args.random_seeds} seeds"
        )

    started = time.perf_counter()
    scores = detector_scores(corpus)
    elapsed = time.perf_counter() - started
    ours = normalised(corpus, scores, args.nab)
    print(f"detector: {rows / elapsed:,.0f} rows/s on one core ({elapsed:.1f} s for the corpus)")
    print(f"\n{'detector':22s} {'standard':>9s} {'low FP':>8s} {'low FN':>8s}")
    mine = ("wangge (this run)", ours[PROFILES[0]][0], ours[PROFILES[1]][0], ours[PROFILES[2]][0])
    board: list[tuple[str, float, float, float]] = [*SCOREBOARD, mine]
    board.sort(key=lambda row: -row[1])
    for name, standard, low_fp, low_fn in board:
        mark = "  <--" if name.startswith("wangge") else ""
        print(f"{name:22s} {standard:9.1f} {low_fp:8.1f} {low_fn:8.1f}{mark}")
    print("thresholds chosen: " + ", ".join(f"{SHORT[p]} {ours[p][1]:.4f}" for p in PROFILES))
    print(" ".join(f"{SHORT[p]}={ours[p][0]:.1f}" for p in PROFILES))


if __name__ == "__main__":
    main()
