"""The anomaly detector on the real NAB corpus: the scorer's fixed points hold, the detector is strictly
online and resumable, and the score stays where measured."""

from __future__ import annotations

from bench.nab_score import (
    by_category,
    detector_scores,
    load_corpus,
    normalised,
    online_and_resumable,
    perfect_scores,
    state_bytes,
)
from tests.support import asset


def test_detector_beats_htm_on_every_profile_online_in_constant_memory() -> None:
    nab = asset("nab/labels/combined_windows.json").parents[1]
    corpus = load_corpus(nab)
    assert len(corpus) == 58 and sum(len(s.windows) for s in corpus) == 116
    perfect = normalised(corpus, [perfect_scores(s) for s in corpus], nab)
    null = normalised(corpus, [[0.0] * len(s.values) for s in corpus], nab)
    assert all(round(perfect[p][0], 6) == 100 and null[p][0] == 0 for p in perfect)
    scores = detector_scores(corpus)
    ours = normalised(corpus, scores, nab)
    # Measured 71.1 / 64.1 / 75.6 (docs/benchmarks.md; the detector is deterministic, so the figures are
    # the same on every machine). Numenta HTM 70.1 / 63.1 / 74.3; the previous detector 50.5 / 42.2 / 54.6.
    assert ours["standard"][0] > 70.1  # above HTM
    assert ours["reward_low_FP_rate"][0] > 63.1  # above HTM
    assert ours["reward_low_FN_rate"][0] > 74.3  # above HTM
    # No family may collapse: each category at the corpus threshold (measured 50.6-90.2 standard).
    categories = by_category(corpus, scores, nab, {p: ours[p][1] for p in ours})
    assert min(c["standard"] for c in categories.values()) > 45.0, categories
    assert online_and_resumable(corpus, scores) == (True, True)
    assert state_bytes(corpus) < 64 * 1024
