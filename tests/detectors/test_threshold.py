import pytest

from wangge.detectors.readings import Reading, Transition
from wangge.detectors.rules import RuleBinding, RuleEngine
from wangge.detectors.threshold import ThresholdSpec, ThresholdState, threshold_step

FLOOD = ThresholdSpec(level=20, clear=15, for_s=10, clear_for_s=5)


def run(spec: ThresholdSpec, series: list[tuple[float, float]]) -> list[Transition]:
    state = ThresholdState()
    out = []
    for ts, value in series:
        t = threshold_step(spec, state, value, ts)
        if t is not None:
            out.append(t)
    return out


def test_raises_only_after_the_condition_held_for_its_duration_and_dates_it_from_the_beginning() -> None:
    series = [(0, 10), (2, 21), (6, 25), (11, 26), (12, 27), (13, 28)]
    assert run(FLOOD, series) == [Transition("start", 2, 27)]


def test_a_dip_below_the_level_restarts_the_wait() -> None:
    series = [(0, 21), (8, 19), (9, 22), (18, 23), (19, 24)]
    assert run(FLOOD, series) == [Transition("start", 9, 24)]


def test_hysteresis_keeps_the_alert_between_clear_and_raise_levels_and_ends_at_the_first_low_reading() -> None:
    series = [(0, 30), (10, 30), (20, 17), (30, 16), (40, 14), (42, 13), (45, 12)]
    assert run(FLOOD, series) == [Transition("start", 0, 30), Transition("end", 40, 12)]


def test_a_brief_clear_does_not_end_the_alert() -> None:
    series = [(0, 30), (10, 30), (20, 10), (22, 25), (30, 10), (31, 10)]
    assert run(FLOOD, series) == [Transition("start", 0, 30)]


def test_below_direction_mirrors_above() -> None:
    pressure = ThresholdSpec(level=0.2, clear=0.3, direction="below")
    assert run(pressure, [(0, 0.5), (1, 0.1), (2, 0.25), (3, 0.35)]) == [
        Transition("start", 1, 0.1),
        Transition("end", 3, 0.35),
    ]


def test_a_reading_older_than_the_last_is_ignored() -> None:
    state = ThresholdState()
    spec = ThresholdSpec(level=20, clear=15)
    assert threshold_step(spec, state, 30, 100) == Transition("start", 100, 30)
    assert threshold_step(spec, state, 5, 50) is None
    assert state.active and state.last_ts == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 20, "clear": 25}, "must not be above"),
        ({"level": 1, "clear": 0, "direction": "below"}, "must not be below"),
        ({"level": 20, "clear": 15, "for_s": -1}, "negative"),
    ],
)
def test_inconsistent_specs_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ThresholdSpec(**kwargs)  # type: ignore[arg-type]


def test_engine_keeps_one_state_per_device_and_honours_device_filters() -> None:
    engine = RuleEngine(
        [
            RuleBinding("flood", "level", ThresholdSpec(20, 15)),
            RuleBinding("gauge2-only", "level", ThresholdSpec(10, 5), frozenset({"g2"})),
        ]
    )
    events = engine.feed(Reading("g1", "level", 25, 0)) + engine.feed(Reading("g2", "level", 12, 0))
    assert [(e.rule_id, e.reading.device_id, e.transition.kind) for e in events] == [
        ("flood", "g1", "start"),
        ("gauge2-only", "g2", "start"),
    ]
    assert engine.feed(Reading("g1", "other", 99, 1)) == []


def test_restored_active_alert_is_not_started_again_but_can_end() -> None:
    engine = RuleEngine([RuleBinding("flood", "level", ThresholdSpec(20, 15))])
    engine.restore_active([("flood", "g1")])
    assert engine.feed(Reading("g1", "level", 30, 0)) == []
    [event] = engine.feed(Reading("g1", "level", 3, 1))
    assert event.transition == Transition("end", 1, 3)
