"""The NAB scoring rules on series small enough to score by hand."""

import math
from datetime import datetime, timedelta

import pytest

from bench.nab_scoring import Profile, Series, scaled_sigmoid, score_rows, sweep

STANDARD = Profile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FN = Profile(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
T0 = datetime(2024, 1, 1)


def series(n: int = 100, window: tuple[int, int] = (40, 49)) -> Series:
    stamps = [T0 + timedelta(minutes=5 * i) for i in range(n)]
    return Series("test/one.csv", stamps, [0.0] * n, [(stamps[window[0]], stamps[window[1]])])


def fire(n: int, at: dict[int, float]) -> list[float]:
    return [at.get(i, 0.0) for i in range(n)]


def test_the_scaled_sigmoid_at_its_documented_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0 and scaled_sigmoid(10.0) == -1.0


def test_a_detection_on_a_windows_first_row_is_perfect_and_none_is_null() -> None:
    s = series()
    perfect = sweep(score_rows(s, fire(100, {40: 1.0}), STANDARD), STANDARD)
    assert (perfect.raw, perfect.null, perfect.perfect) == (pytest.approx(1.0), -1.0, 1.0)
    assert perfect.normalised == pytest.approx(100.0)
    silent = sweep(score_rows(s, fire(100, {}), STANDARD), STANDARD, threshold=0.5)
    assert silent.raw == -1.0 and silent.normalised == 0.0


def test_a_late_detection_earns_less_and_only_the_best_in_a_window_counts() -> None:
    s = series()
    # Row 49 is the window's last row: position -(49 - 49 + 1) / 10 = -0.1.
    late = (2 / (1 + math.exp(-0.5)) - 1) / (2 / (1 + math.exp(-5)) - 1)
    one = sweep(score_rows(s, fire(100, {49: 1.0}), STANDARD), STANDARD)
    assert one.raw == pytest.approx(late)
    both = sweep(score_rows(s, fire(100, {45: 1.0, 49: 1.0}), STANDARD), STANDARD)
    early = (2 / (1 + math.exp(-2.5)) - 1) / (2 / (1 + math.exp(-5)) - 1)  # row 45: position -0.5
    assert both.raw == pytest.approx(early)


def test_false_positives_cost_by_distance_past_the_previous_window() -> None:
    s = series()
    before = sweep(score_rows(s, fire(100, {40: 1.0, 20: 1.0}), STANDARD), STANDARD)
    assert before.raw == pytest.approx(1.0 - 0.11)  # before any window: the full fp weight
    after = sweep(score_rows(s, fire(100, {40: 1.0, 60: 1.0}), STANDARD), STANDARD)
    position = (60 - 49) / (10 - 1)
    assert after.raw == pytest.approx(1.0 + 0.11 * (2 / (1 + math.exp(5 * position)) - 1))
    just_after = sweep(score_rows(s, fire(100, {40: 1.0, 50: 1.0}), STANDARD), STANDARD)
    assert 1.0 - 0.11 < just_after.raw < 1.0  # right after the window costs less than far from it


def test_probation_rows_are_not_scored_and_a_window_inside_probation_does_not_count() -> None:
    s = series(window=(2, 5))  # 100 rows: probation is the first 15
    rows = score_rows(s, fire(100, {3: 1.0, 8: 1.0}), STANDARD)
    assert len(rows) == 85 and all(r.window is None for r in rows)
    result = sweep(rows, STANDARD)
    assert (result.null, result.perfect) == (0.0, 0.0)


def test_the_sweep_chooses_the_threshold_that_leaves_out_a_higher_false_positive() -> None:
    s = series()
    rows = score_rows(s, fire(100, {20: 0.95, 40: 0.9}), STANDARD)
    best = sweep(rows, STANDARD)
    # At 0.95 only the false positive fires (-1 - 0.11); at 0.9 the window is caught too (1 - 0.11).
    assert best.threshold == 0.9 and best.raw == pytest.approx(0.89)
    assert sweep(rows, STANDARD, threshold=0.95).raw == pytest.approx(-1.11)
    assert sweep(rows, LOW_FN, threshold=0.95).raw == pytest.approx(-2.11)


def test_window_edges_are_found_by_the_first_row_with_a_repeated_timestamp() -> None:
    stamps = [T0 + timedelta(minutes=5 * i) for i in range(100)]
    stamps[45] = stamps[44]  # a repeated timestamp inside the window
    s = Series("test/rep.csv", stamps, [0.0] * 100, [(stamps[40], stamps[49])])
    rows = score_rows(s, fire(100, {49: 1.0}), STANDARD)
    assert sum(1 for r in rows if r.window is not None) == 10
    assert sweep(rows, STANDARD).raw > 0
