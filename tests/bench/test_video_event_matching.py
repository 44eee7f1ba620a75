"""How the video bench matches alerts to true events (bench/video_accuracy.py's docstring and docs/video.md): on
events made here, where the right count is plain."""

from __future__ import annotations

from bench.video_accuracy import match_events, openings
from wangge.detectors.video.rules import EventKind, VideoEvent


def event(kind: EventKind, at: float, rule: str = "loiter", instance: str = "", **detail: object) -> VideoEvent:
    return VideoEvent(rule, kind, at, (), ("person",), 0.9, (), dict(detail), instance)


def test_a_start_pairs_with_the_end_of_its_own_condition() -> None:
    """Two loiterers: A from 10 to 30 s, B from 12 to 20 s. B's end is not A's, though it comes first."""
    events = [
        event("start", 10.0, instance="track 1"),
        event("start", 12.0, instance="track 2"),
        event("end", 20.0, instance="track 2"),
        event("end", 30.0, instance="track 1"),
    ]
    assert [(o.at, o.until) for o in openings(events, 60.0)] == [(10.0, 30.0), (12.0, 20.0)]
    # A zone holds one condition at a time: its start pairs with the next end; one never ended lasts to the end.
    zone = [event("start", 5.0, "zone"), event("end", 9.0, "zone"), event("start", 40.0, "zone")]
    assert [(o.at, o.until) for o in openings(zone, 60.0)] == [(5.0, 9.0), (40.0, 60.0)]


def test_instants_match_within_a_second_and_in_the_same_direction() -> None:
    truth = openings([event("instant", 10.0, "line", direction="a_to_b")], 60.0)
    assert match_events(truth, openings([event("instant", 10.9, "line", direction="a_to_b")], 60.0)) == 1
    assert match_events(truth, openings([event("instant", 11.2, "line", direction="a_to_b")], 60.0)) == 0
    assert match_events(truth, openings([event("instant", 10.0, "line", direction="b_to_a")], 60.0)) == 0
    assert match_events(truth, openings([event("instant", 10.0, "other", direction="a_to_b")], 60.0)) == 0


def test_a_lasting_alert_matches_within_a_second_or_when_open_at_the_true_start_from_at_most_three_before() -> None:
    truth = openings([event("start", 20.0), event("end", 40.0)], 60.0)

    def alert(start: float, end: float) -> int:
        return match_events(truth, openings([event("start", start), event("end", end)], 60.0))

    assert alert(20.8, 30.0) == 1  # 0.8 s late: within ±1 s
    assert alert(21.2, 30.0) == 0  # 1.2 s late: a miss and a false alarm
    assert alert(17.5, 25.0) == 1  # open at the true start, opened 2.5 s before it
    assert alert(16.5, 25.0) == 0  # opened 3.5 s before: raised by something else
    assert alert(17.5, 19.5) == 0  # ended before the true start


def test_matching_is_one_to_one_and_the_best_pairing_is_found() -> None:
    """True starts at 8.0 and 9.3; alerts at 7.1 and 8.5. Pairing each true start with its nearest alert would
    give 8.0 the 8.5 and leave 9.3 none; the matching pairs 8.0 with 7.1 and 9.3 with 8.5. Three alerts for two
    true events: two matches."""
    truth = openings([event("start", 8.0, instance="a"), event("start", 9.3, instance="b")], 60.0)
    two = openings([event("start", 7.1, instance="x"), event("start", 8.5, instance="y")], 60.0)
    assert match_events(truth, two) == 2
    three = openings([event("start", t, instance=str(t)) for t in (8.4, 8.5, 9.4)], 60.0)
    assert match_events(truth, three) == 2
