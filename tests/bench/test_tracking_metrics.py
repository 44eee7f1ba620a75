"""The TrackEval wrapper the video bench scores with, on sequences whose HOTA, MOTA, IDF1 and ID switches are
worked out by hand from the metrics' definitions (Luiten et al. 2020 for HOTA; Bernardin & Stiefelhagen 2008
for MOTA; Ristani et al. 2016 for IDF1)."""

from __future__ import annotations

import math

import pytest

from bench.tracking_metrics import Track, score


def person(identity: int, x: float = 100.0) -> Track:
    return Track(identity, x, 50.0, 40.0, 100.0)


def test_tracks_equal_to_the_truth_score_one_everywhere() -> None:
    truth = [[person(1, 100), person(2, 400)] for _ in range(10)]
    figures = score(truth, [[person(7, 100), person(9, 400)] for _ in range(10)], 768, 576)  # ids need not equal
    assert figures == pytest.approx({"hota": 1.0, "deta": 1.0, "assa": 1.0, "mota": 1.0, "idsw": 0.0, "idf1": 1.0})


def test_an_identity_switch_halfway() -> None:
    """One person for 10 frames, tracked as 1 for five and as 2 for five. Detection is perfect (DetA 1); each
    true positive's association is 5 of 10 (AssA 0.5), so HOTA = √0.5; one switch: MOTA = 1 − 1/10; IDF1 matches
    the person to one of the two tracks: 2·5 / (10 + 10)."""
    truth = [[person(1)] for _ in range(10)]
    predicted = [[person(1 if i < 5 else 2)] for i in range(10)]
    figures = score(truth, predicted, 768, 576)
    assert figures == pytest.approx(
        {"hota": math.sqrt(0.5), "deta": 1.0, "assa": 0.5, "mota": 0.9, "idsw": 1.0, "idf1": 0.5}
    )


def test_a_track_lost_halfway() -> None:
    """Found for five frames of ten: DetA = 5 / (5 + 5 missed) = 0.5, AssA 5/10, HOTA √(0.5 · 0.5); MOTA 1 − 5/10;
    IDF1 2·5 / (10 + 5)."""
    truth = [[person(1)] for _ in range(10)]
    predicted = [[person(1)] if i < 5 else [] for i in range(10)]
    figures = score(truth, predicted, 768, 576)
    assert figures == pytest.approx(
        {"hota": 0.5, "deta": 0.5, "assa": 0.5, "mota": 0.5, "idsw": 0.0, "idf1": 2 * 5 / 15}
    )


def test_sequences_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 ground-truth frames against 2"):
        score([[], [], []], [[], []], 768, 576)
