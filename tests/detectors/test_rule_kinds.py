"""The pure rule kinds, step by step, with time passed in."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wangge.detectors.anomaly import AnomalyDetector, AnomalySpec
from wangge.detectors.levels import LevelsSpec
from wangge.detectors.patterns import RangeSpec, RateSpec, RepeatSpec, StuckSpec
from wangge.detectors.readings import Reading, StaleState, Transition
from wangge.detectors.rules import OFFLINE_RULE, ProfileRules, RuleBinding, RuleEngine, RuleSpec
from wangge.detectors.threshold import ThresholdSpec


def run(spec: RuleSpec, series: list[tuple[float, float]]) -> list[Transition]:
    state = spec.initial()
    out = []
    for ts, value in series:
        transition = spec.step(state, value, ts)
        if transition is not None:
            out.append(transition)
    return out


ALARM = 0.3  # the anomaly rule's default threshold (docs/sensors.md)
WATER = LevelsSpec(ThresholdSpec(20, 15), ((20, "minor"), (40, "major"), (60, "critical")), hysteresis=5)


def test_severity_steps_rise_at_once_and_fall_only_past_the_hysteresis() -> None:
    series = [(0, 10), (1, 25), (2, 45), (3, 38), (4, 34), (5, 70), (6, 56), (7, 54), (8, 14)]
    assert run(WATER, series) == [
        Transition("start", 1, 25, "minor"),
        Transition("update", 2, 45, "major"),
        # 38 is under 40 but not under 40 - 5: still major; 34 is.
        Transition("update", 4, 34, "minor"),
        Transition("update", 5, 70, "critical"),
        # 56 is not under 60 - 5; 54 is, and it is still past 40 - 5: major.
        Transition("update", 7, 54, "major"),
        Transition("end", 8, 14),
    ]


def test_a_jump_straight_to_the_top_step_starts_critical() -> None:
    assert run(WATER, [(0, 80)]) == [Transition("start", 0, 80, "critical")]


@pytest.mark.parametrize(
    ("steps", "message"),
    [(((25, "minor"),), "first step"), (((20, "minor"), (20, "major")), "strictly rising"), ((), "at least one")],
)
def test_bad_steps_are_refused(steps: tuple[tuple[float, str], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LevelsSpec(ThresholdSpec(20, 15), steps)  # type: ignore[arg-type]


def test_repeat_counts_occurrences_not_readings_and_ends_after_a_quiet_window() -> None:
    spec = RepeatSpec(level=0.5, count=3, within_s=600)
    state = spec.initial()
    # On for three readings in a row is one occurrence.
    assert [spec.step(state, v, t) for t, v in [(0, 1), (10, 1), (20, 1), (30, 0)]] == [None] * 4
    assert spec.step(state, 1, 100) is None  # second
    assert spec.step(state, 0, 110) is None
    assert spec.step(state, 1, 200) == Transition("start", 200, 1)  # third within 600 s of the first
    assert spec.tick(state, 799) is None
    assert spec.tick(state, 800) == Transition("end", 800, 3)


def test_repeat_occurrences_too_far_apart_do_not_count() -> None:
    spec = RepeatSpec(level=0.5, count=3, within_s=100)
    series = [(0, 1), (1, 0), (60, 1), (61, 0), (120, 1), (121, 0), (150, 1)]
    # 0, 60, 120: 120 s apart; 60, 120, 150: within 100 s.
    assert run(spec, series) == [Transition("start", 150, 1)]


def test_rate_is_measured_over_its_window_not_between_noisy_neighbours() -> None:
    spec = RateSpec(ThresholdSpec(2.0, 1.0), window_s=120)
    noisy = [(t, 10 + (1 if t % 10 else -1)) for t in range(0, 600, 5)]  # 2 cm of jitter every 5 s
    assert run(spec, noisy) == []
    rising = [(float(t), 10 + 3 * t / 60) for t in range(0, 600, 30)]  # 3 cm/min
    [start] = run(spec, rising)
    assert start.kind == "start" and start.at == 120 and start.value == pytest.approx(3.0)


def test_rate_restarts_after_a_gap_instead_of_averaging_across_it() -> None:
    spec = RateSpec(ThresholdSpec(2.0, 1.0), window_s=60, max_gap_s=600)
    assert run(spec, [(0, 0), (5000, 500)]) == []  # 6 cm/min across an outage: not a rate we measured


def test_falling_rate() -> None:
    spec = RateSpec(ThresholdSpec(-0.05, -0.025, "below"), window_s=60)
    assert [t.kind for t in run(spec, [(0, 0.4), (60, 0.38), (120, 0.2), (180, 0.2)])] == ["start", "end"]


def test_stuck_needs_the_duration_and_the_readings_and_ends_on_movement() -> None:
    spec = StuckSpec(for_s=3600, tolerance=0.05, min_readings=3)
    assert run(spec, [(0, 5.0), (3600, 5.0)]) == []  # two readings: not enough evidence
    series = [(0, 5.0), (1800, 5.02), (3600, 4.98), (3700, 5.5)]
    assert run(spec, series) == [Transition("start", 0, 4.98), Transition("end", 3700, 5.5)]


def test_engine_keeps_implausible_readings_away_from_other_rules() -> None:
    engine = RuleEngine(
        [
            RuleBinding("range", "level", RangeSpec(0, 500)),
            RuleBinding("flood", "level", ThresholdSpec(20, 15)),
        ]
    )
    events = engine.feed(Reading("g1", "level", 9999, 0))
    assert [(e.rule_id, e.transition.kind) for e in events] == [("range", "start")]
    events = engine.feed(Reading("g1", "level", 30, 1))
    assert [(e.rule_id, e.transition.kind) for e in events] == [("range", "end"), ("flood", "start")]


def test_engine_profiles_apply_to_assigned_devices_only() -> None:
    engine = RuleEngine(profiles={"gauge": ProfileRules((RuleBinding("gauge.flood", "level", ThresholdSpec(20, 15)),))})
    assert engine.feed(Reading("stranger", "level", 30, 0)) == []
    engine.assign("g1", "gauge", 0)
    assert [e.rule_id for e in engine.feed(Reading("g1", "level", 30, 0))] == ["gauge.flood"]
    with pytest.raises(KeyError):
        engine.assign("g2", "no-such-profile", 0)


def test_engine_orders_each_series_once_for_all_rules() -> None:
    engine = RuleEngine()
    assert engine.admit(Reading("g1", "level", 5, 100)) is None
    assert engine.admit(Reading("g1", "level", 5, 100)) == "duplicate"
    assert engine.admit(Reading("g1", "level", 6, 100)) is None  # a correction at the same time
    assert engine.admit(Reading("g1", "level", 9, 99)) == "out_of_order"
    assert engine.admit(Reading("g1", "other", 9, 99)) is None  # another series has its own order
    assert engine.admit(Reading("g2", "level", 9, 99)) is None


def test_heartbeat_lwt_and_recovery() -> None:
    engine = RuleEngine(profiles={"gauge": ProfileRules((), heartbeat_s=60)})
    engine.assign("g1", "gauge", 0)
    assert engine.tick(60) == []
    [offline] = engine.tick(61)
    assert (offline.rule_id, offline.transition) == (OFFLINE_RULE, Transition("start", 0, 61))
    assert engine.tick(500) == []  # once
    assert engine.offline_devices() == ["g1"]
    [back] = engine.seen("g1", 600)
    assert back.transition == Transition("end", 600, 1.0)
    # An LWT "offline" starts it at once, whatever the heartbeat; the device's "online" ends it.
    [gone] = engine.announce("g1", False, 700)
    assert gone.transition.kind == "start" and gone.transition.at == 700
    assert engine.announce("g1", False, 701) == []
    [online] = engine.announce("g1", True, 710)
    assert online.transition.kind == "end"


def test_restored_alerts_of_every_kind_can_end_without_starting_again() -> None:
    engine = RuleEngine(
        [
            RuleBinding("steps", "a", WATER),
            RuleBinding("stuck", "b", StuckSpec(60)),
            RuleBinding("repeat", "c", RepeatSpec(0.5, 2, 100)),
        ]
    )
    engine.restore_active([("steps", "d"), ("stuck", "d"), ("repeat", "d"), (OFFLINE_RULE, "d")])
    assert engine.feed(Reading("d", "a", 30, 0)) == []
    assert [e.transition.kind for e in engine.feed(Reading("d", "a", 3, 1))] == ["end"]
    assert engine.feed(Reading("d", "b", 7, 0)) == []
    assert [e.transition.kind for e in engine.feed(Reading("d", "b", 8, 1))] == ["end"]
    assert engine.feed(Reading("d", "c", 0, 0)) == []
    assert engine.tick(50) == []
    assert [e.rule_id for e in engine.tick(151)] == ["repeat"]
    assert [e.rule_id for e in engine.seen("d", 200)] == [OFFLINE_RULE]


def noise_then_shift(detector: AnomalyDetector) -> tuple[list[float], list[float]]:
    """3,000 minutes of N(10, 1), then 200 of N(25, 1): a level far outside everything seen."""
    rng = random.Random(3)
    noise = [detector.score(60.0 * i, 10 + rng.gauss(0, 1)) for i in range(3000)]
    return noise, [detector.score(60.0 * (3000 + i), 25 + rng.gauss(0, 1)) for i in range(200)]


def test_anomaly_detector_learns_steady_noise_and_flags_a_level_shift_once() -> None:
    noise, shifted = noise_then_shift(AnomalyDetector())
    assert max(noise[:199]) == 0.0  # warm-up: 150 readings learn the range, 50 more the patterns, silently
    # Once the grids are learnt only a new record of the noise surprises; records of 1,500 more iid
    # readings after 1,500 are about 2 ln 2 (max and min), so a handful at most.
    assert sum(s >= ALARM for s in noise[1500:]) <= 4
    assert shifted[0] >= ALARM  # found on the first reading of the new level
    assert sum(s >= ALARM for s in shifted) == 1  # and said once: the next readings are damped or learnt


def test_anomaly_detector_knows_the_time_of_day() -> None:
    """A daily cycle (15 at 18:00, 25 at 06:00): 25 is a usual value, but not at 18:00."""
    rng = random.Random(5)

    def usual(t: int) -> float:
        return 20 + 5 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0, 0.2)

    detector = AnomalyDetector()
    week = [detector.score(t, usual(t)) for t in range(0, 7 * 86400, 300)]
    assert max(week[len(week) // 2 :]) < ALARM  # the cycle is learnt
    evening = 7 * 86400 + 18 * 3600
    assert detector.score(evening, 25.0) >= ALARM


def test_anomaly_detector_stops_flagging_a_spike_that_comes_every_day() -> None:
    rng = random.Random(5)
    detector = AnomalyDetector()
    at_noon = []
    for t in range(0, 10 * 86400, 300):
        noon = t % 86400 == 43200
        score = detector.score(t, 40.0 if noon else 20 + rng.gauss(0, 0.5))
        if noon:
            at_noon.append(score)
    assert at_noon[1] >= ALARM  # the first one after warm-up is news
    assert max(at_noon[2:]) < ALARM  # then it is the estate's routine


def test_anomaly_detector_tells_a_lasting_shift_from_the_bursts_it_knows() -> None:
    """Three readings at 25 every 97 (every time of day) on a base of 10: each reading of a lasting shift to 25
    is a familiar value after a familiar one, at a familiar time of day. Only the slow average (weight 0.1)
    sees the difference: a 3-reading burst takes it to at most 10 + 15 × (1 − 0.9³) ≈ 14.1, a shift passes
    that on its 4th reading (10 + 15 × (1 − 0.9⁴) ≈ 15.2) and keeps climbing to levels it never reached."""
    rng = random.Random(11)
    detector = AnomalyDetector()
    for i in range(6000):
        level = 25.0 if i % 97 < 3 else 10.0
        detector.score(300.0 * i, level + rng.gauss(0, 0.5))
    shift = [detector.score(300.0 * (6000 + i), 25 + rng.gauss(0, 0.5)) for i in range(20)]
    assert shift[:3] == [0.0, 0.0, 0.0]  # as ordinary as a burst
    assert max(shift[3:10]) > 0.0  # then the slow average goes where bursts never took it


def test_anomaly_detector_ignores_what_it_cannot_judge() -> None:
    detector = AnomalyDetector(warmup=10)
    for i in range(20):
        detector.score(float(i), 1.0 + (i % 2))
    before = detector.to_state()
    assert detector.score(21.0, math.nan) == 0.0 and detector.score(math.inf, 5.0) == 0.0
    assert detector.to_state() == before  # nothing learnt from it


@given(
    st.lists(
        st.tuples(
            st.floats(0, 4e9, allow_nan=False),
            st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 1.0, 1e308, -1e308]),
        ),
        max_size=400,
    )
)
@settings(max_examples=200, deadline=None)
def test_any_stream_of_readings_scores_between_0_and_1_and_round_trips(series: list[tuple[float, float]]) -> None:
    detector = AnomalyDetector(warmup=10)
    for ts, value in series:
        assert 0.0 <= detector.score(ts, value) <= 1.0
    copy = AnomalyDetector.from_state(json.loads(json.dumps(detector.to_state())))
    assert copy.to_state() == detector.to_state()


def test_anomaly_detector_state_round_trips_through_json_and_scores_the_same() -> None:
    rng = random.Random(7)
    series = [(300.0 * i, 5 + 3 * math.sin(i / 20) + rng.gauss(0, 0.3)) for i in range(4000)]
    series[3000] = (series[3000][0], 30.0)
    whole = AnomalyDetector()
    expected = [whole.score(t, v) for t, v in series]
    first = AnomalyDetector()
    for t, v in series[:2000]:
        first.score(t, v)
    saved = json.dumps(first.to_state())
    assert len(saved) <= 64 * 1024
    resumed = AnomalyDetector.from_state(json.loads(saved))
    assert [resumed.score(t, v) for t, v in series[2000:]] == pytest.approx(expected[2000:], abs=1e-12)
    assert max(expected[2990:3010]) >= ALARM  # and there was something to find after the restart


def test_anomaly_state_of_another_version_or_damaged_is_refused() -> None:
    state = AnomalyDetector().to_state()
    with pytest.raises(StaleState):
        AnomalyDetector.from_state({**state, "version": state["version"] - 1})
    damages: list[dict[str, object]] = [{"n": -1}, {"after": [[0]]}, {"rates": [2.0] * 6}, {"span": "wide"}]
    damages += [{"peak_at": 1.5}, {"slow": "x"}, {"after_slow": [[0]]}, {"previous_slow": [99, 0, 0]}]
    damages += [{"rates": [0.0] * 4}]  # the version 1 detector's four tests
    for damage in damages:
        with pytest.raises(ValueError):
            AnomalyDetector.from_state({**state, **damage})


@given(
    st.dictionaries(
        st.sampled_from(sorted(AnomalyDetector().to_state())),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers()),
    )
)
@settings(max_examples=300)
def test_any_saved_anomaly_state_is_restored_or_refused_with_a_value_error(damage: dict[str, object]) -> None:
    detector = AnomalyDetector(warmup=10)
    for i in range(40):
        detector.score(60.0 * i, float(i % 7))
    try:
        restored = AnomalyDetector.from_state({**detector.to_state(), **damage})
    except ValueError:
        return
    restored.score(60.0 * 41, 3.0)  # whatever was accepted can be scored with


def test_anomaly_rule_is_quiet_during_warmup_and_ends_after_quiet_readings() -> None:
    spec = AnomalySpec(threshold=ALARM, warmup=50, quiet=20)
    series = [(float(t), 5.0 + (t % 3) * 0.1) for t in range(300)] + [(300.0, 50.0)]
    series += [(float(t), 5.0 + (t % 3) * 0.1) for t in range(301, 330)]
    transitions = run(spec, series)
    assert [t.kind for t in transitions] == ["start", "end"]
    assert transitions[0].at == 300 and transitions[1].at == 320
    assert run(spec, [(0, 1.0), (1, 100.0), (2, -100.0)]) == []  # warm-up: nothing is unusual yet
