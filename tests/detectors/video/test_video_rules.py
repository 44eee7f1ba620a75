"""Rules over tracked objects, on tracks made here where the right answer is plain."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wangge.detectors.video.rules import (
    ConfirmedRule,
    CrowdRule,
    LineRule,
    LoiterRule,
    Schedule,
    StationaryRule,
    TrackedObject,
    VideoEvent,
    ZoneRule,
    inside,
)

PERSON = frozenset({"person"})
ZONE = [(0.4, 0.4), (0.8, 0.4), (0.8, 0.9), (0.4, 0.9)]


def person(track: int, x: float, y: float, label: str = "person", w: float = 0.04, h: float = 0.12) -> TrackedObject:
    """An object whose bottom centre (the default anchor) is at x, y."""
    return TrackedObject(track, label, (x - w / 2, y - h, x + w / 2, y), 0.8)


def feed(rule: object, frames: list[list[TrackedObject]], fps: float = 5.0, t0: float = 0.0) -> list[VideoEvent]:
    events: list[VideoEvent] = []
    for i, objects in enumerate(frames):
        events.extend(rule.observe(t0 + i / fps, objects))  # type: ignore[attr-defined]
    return events


def test_point_in_polygon_including_a_concave_one() -> None:
    l_shape = [(0, 0), (1, 0), (1, 0.3), (0.3, 0.3), (0.3, 1), (0, 1)]
    assert inside((0.1, 0.9), l_shape) and inside((0.9, 0.1), l_shape)
    assert not inside((0.6, 0.6), l_shape) and not inside((1.5, 0.1), l_shape)


def test_a_forty_second_intrusion_is_one_alert_with_a_start_and_an_end() -> None:
    rule = ZoneRule("fence", ZONE, PERSON, inertia=3, end_after_s=2.0)
    outside, within = [person(1, 0.2, 0.6)], [person(1, 0.6, 0.6)]
    events = feed(rule, [outside] * 5 + [within] * 200 + [[]] * 20)
    assert [e.kind for e in events] == ["start", "end"]
    start, end = events
    assert start.at == (5 + 2) / 5.0  # the third frame inside (inertia)
    assert end.at >= start.at + 40 and start.track_ids == (1,) and start.labels == ("person",)


def test_inertia_ignores_a_one_frame_flicker_and_other_classes() -> None:
    rule = ZoneRule("fence", ZONE, PERSON, inertia=3)
    frames = [[person(1, 0.6, 0.6)], [], [person(1, 0.6, 0.6)], [], [person(2, 0.6, 0.6, label="car")] * 1] * 10
    assert feed(rule, frames) == []


def test_a_second_person_joining_is_an_update_not_a_new_alert() -> None:
    rule = ZoneRule("fence", ZONE, PERSON, inertia=1)
    events = feed(rule, [[person(1, 0.6, 0.6)]] * 3 + [[person(1, 0.6, 0.6), person(2, 0.5, 0.5)]] * 3)
    assert [e.kind for e in events] == ["start", "update"] and events[1].track_ids == (1, 2)


def test_the_schedule_spans_midnight_and_gates_the_zone() -> None:
    night = Schedule("22:00", "06:00", "Asia/Shanghai")
    at = datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    assert night.active(at) and night.active(at + 6 * 3600)  # 05:30
    assert not night.active(at + 7 * 3600) and not night.active(noon)  # 06:30, 12:00
    rule = ZoneRule("night-fence", ZONE, PERSON, inertia=1, schedule=night)
    assert feed(rule, [[person(1, 0.6, 0.6)]] * 10, t0=noon) == []
    assert [e.kind for e in feed(rule, [[person(1, 0.6, 0.6)]] * 10, t0=at)] == ["start"]


def walk(track: int, xs: list[float], y: float = 0.6) -> list[list[TrackedObject]]:
    return [[person(track, x, y)] for x in xs]


def test_a_line_crossing_counts_once_per_person_and_direction() -> None:
    # a → b runs down the image at x = 0.5; side A is on the image's right (left of someone facing down).
    rule = LineRule("gate", (0.5, 0.1), (0.5, 0.9), PERSON, direction="any")
    rightwards = walk(1, [0.3 + 0.02 * i for i in range(20)])
    leftwards = walk(2, [0.7 - 0.02 * i for i in range(20)])
    events = feed(rule, rightwards + leftwards)
    assert [(e.track_ids, e.detail["direction"]) for e in events] == [((1,), "b_to_a"), ((2,), "a_to_b")]
    assert rule.counts == {"a_to_b": 1, "b_to_a": 1}


def test_a_box_straddling_the_line_and_a_flickering_track_do_not_count_twice() -> None:
    rule = LineRule("gate", (0.5, 0.1), (0.5, 0.9), PERSON, band=0.01)
    jitter = walk(1, [0.495, 0.505, 0.497, 0.503] * 5)  # inside the band: never a side change
    crossing = walk(1, [0.45, 0.47, 0.53, 0.55])
    gone_and_back = [[]] * 4 + walk(1, [0.56, 0.58])  # lost for a moment, found again on the same side
    assert len(feed(rule, jitter + crossing + gone_and_back)) == 1


def test_the_direction_filter_and_the_tripwire_ends() -> None:
    rule = LineRule("gate", (0.5, 0.4), (0.5, 0.6), PERSON, direction="a_to_b")
    assert feed(rule, walk(1, [0.3 + 0.02 * i for i in range(20)], y=0.5)) == []  # b → a: not this direction
    assert rule.counts["b_to_a"] == 1
    assert feed(rule, walk(2, [0.7 - 0.02 * i for i in range(20)], y=0.9)) == []  # passes below the wire's end
    assert len(feed(rule, walk(3, [0.7 - 0.02 * i for i in range(20)], y=0.5))) == 1


def test_loitering_starts_after_the_dwell_and_ends_when_the_person_leaves() -> None:
    rule = LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0)
    events = feed(rule, [[person(7, 0.6, 0.6)]] * 75 + [[]] * 20)  # 15 s inside at 5 fps
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].at == 10.0 and events[1].detail["dwell_s"] == 14.8
    assert feed(LoiterRule("short", ZONE, PERSON, seconds=10.0), [[person(8, 0.6, 0.6)]] * 40) == []


def frame_times(fps: float, t0: float) -> list[float]:
    return [t0 + k / fps for k in range(int(30 * fps))]


def loiter_starts(times: list[float], out_from: int, missed: int) -> list[float]:
    """Inside the zone, outside it (still tracked) for `missed` frames from frame `out_from`, then inside again."""
    rule = LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0)
    starts: list[float] = []
    for k, at in enumerate(times):
        x = 0.2 if out_from <= k < out_from + missed else 0.6
        starts.extend(e.at for e in rule.observe(at, [person(3, x, 0.6)]) if e.kind == "start")
    return starts


@settings(max_examples=300, deadline=None)
@given(fps=st.sampled_from([2.0, 4.0, 5.0, 10.0]), t0=st.floats(0, 3600), out_from=st.integers(1, 10))
def test_as_many_missed_frames_as_the_grace_holds_are_forgiven_wherever_the_clock_stands(
    fps: float, t0: float, out_from: int
) -> None:
    """At 5 fps a 2 s grace forgives ten missed frames in a row: the alert comes 10 s after the first sighting.
    The eleventh starts the clock again from the frame the person is back. (Subtracted as floats, ten 0.2 s frames
    after 30.2 s were 2.0000000000000036 s and restarted the clock, and a 10 s dwell could be 9.999999999999998 s
    and alert a frame late, at some times of day and not others.)"""
    times, held, ten_s = frame_times(fps, t0), round(2.0 * fps), round(10.0 * fps)  # grace and dwell in frames
    assert loiter_starts(times, out_from, held) == [times[ten_s]]
    back = out_from + held + 1
    assert loiter_starts(times, out_from, held + 1) == [times[back + ten_s]]


def test_a_loiterer_the_detector_misses_at_the_moment_the_dwell_is_reached_alerts_on_time() -> None:
    """Missed frames within the grace count as there: the clock runs on and the alert is not held back until the
    person is detected again. Someone seen walking out of the zone is not alerted for in their grace."""
    rule = LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0)
    # Seen 0-9.8 s (50 frames), missed 10.0-11.0 s (6 frames, under the grace), seen again.
    events = feed(rule, [[person(4, 0.6, 0.6)]] * 50 + [[]] * 6 + [[person(4, 0.6, 0.6)]] * 5)
    assert [(e.kind, e.at, e.track_ids) for e in events] == [("start", 10.0, (4,))]
    assert events[0].boxes == (person(4, 0.6, 0.6).box,)  # where the person was last seen
    # Walked out at 9.8 s and seen outside: no alert, and back in after the grace the clock starts again.
    walked_out = [[person(5, 0.6, 0.6)]] * 49 + [[person(5, 0.2, 0.6)]] * 15 + [[person(5, 0.6, 0.6)]] * 10
    assert feed(LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0), walked_out) == []


def test_a_track_born_inside_near_where_one_went_missing_takes_over_its_clock() -> None:
    """A group member the tracker lost (track 1, gone at 3 s) found again a second later under a new number a few
    centimetres away (track 2): one person, one clock, one alert at 10 s. A newcomer farther than its own height
    from the missing track, or one seen outside the zone first, starts its own clock."""
    rule = LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0)
    lost_and_found = [[person(1, 0.6, 0.6)]] * 15 + [[]] * 5 + [[person(2, 0.62, 0.61)]] * 50 + [[]] * 15
    events = feed(rule, lost_and_found)
    assert [(e.kind, e.at, e.track_ids) for e in events] == [("start", 10.0, (2,)), ("end", 16.0, (2,))]
    # 0.2 away with a box 0.12 tall, 1.2 s after track 1 was last seen: beyond the reach of 0.12 × (1 + 0.5 × 1.2)
    # = 0.192, so someone else; its clock starts at 4 s and reaches 10 s at 14 s.
    far = [[person(1, 0.6, 0.6)]] * 15 + [[]] * 5 + [[person(2, 0.6, 0.8)]] * 60
    starts = [(e.at, e.track_ids) for e in feed(LoiterRule("l", ZONE, PERSON, 10.0, grace_s=2.0), far)]
    assert starts == [(14.0, (2,))]
    # The same place 1.8 s after: the reach has grown to 0.12 × 1.9 = 0.228, and it is track 1 walking on.
    later = [[person(1, 0.6, 0.6)]] * 15 + [[]] * 8 + [[person(2, 0.6, 0.8)]] * 60
    starts = [(e.at, e.track_ids) for e in feed(LoiterRule("l", ZONE, PERSON, 10.0, grace_s=2.0), later)]
    assert starts == [(10.0, (2,))]
    # Track 3 walked in from outside (seen at x 0.3 first) to where track 1 went missing: its own clock too.
    walked_in = [[person(1, 0.6, 0.6)]] * 15 + [[person(3, 0.3, 0.6)]] * 5 + [[person(3, 0.6, 0.6)]] * 55
    starts = [(e.at, e.track_ids) for e in feed(LoiterRule("l", ZONE, PERSON, 10.0, grace_s=2.0), walked_in)]
    assert starts == [(14.0, (3,))]


def test_an_open_loitering_alert_follows_the_person_to_their_new_track_and_ends_once() -> None:
    rule = LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0)
    frames = [[person(1, 0.6, 0.6)]] * 60 + [[]] * 3 + [[person(9, 0.6, 0.6)]] * 20 + [[]] * 15
    events = feed(rule, frames)
    # Raised for track 1 at 10 s; ended 2 s after track 9 (its successor) was last seen at 16.4 s, with the
    # dwell from track 1's first sighting. Track 9 raises nothing of its own.
    assert [(e.kind, e.at, e.track_ids) for e in events] == [("start", 10.0, (1,)), ("end", 18.6, (1,))]
    assert events[1].detail["dwell_s"] == 16.4
    assert events[0].instance == events[1].instance == "track 1"  # one condition: the edge's one alert for it


def test_a_missing_track_that_comes_back_takes_its_clock_back_from_the_newcomer() -> None:
    """Track 1 missed for one frame at 3 s while track 2 appears beside it: track 2 takes the clock, but track 1 is
    back at 3.4 s, so they are two people. Track 1 alerts at 10 s on its own clock, track 2 at 13.2 s on its own,
    from its first sighting at 3.2 s."""
    one, two = person(1, 0.6, 0.6), person(2, 0.66, 0.6)  # 0.06 apart, within reach of a 0.12 box
    frames = [[one]] * 15 + [[]] + [[two]] + [[one, two]] * 83
    events = feed(LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0), frames)
    assert [(e.kind, e.at, e.track_ids) for e in events] == [("start", 10.0, (1,)), ("start", 13.2, (2,))]
    # Track 1 back at 3.4 s outside the zone (x 0.3), and gone: track 2 still has only its own clock, and track 1,
    # not inside again within its grace (last inside at 2.8 s), is forgotten with no alert.
    walked_off = [[one]] * 15 + [[]] + [[two]] + [[person(1, 0.3, 0.6), two]] + [[two]] * 82
    events = feed(LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0), walked_off)
    assert [(e.kind, e.at, e.track_ids) for e in events] == [("start", 13.2, (2,))]


def test_an_hour_long_loiter_rule_remembers_only_the_last_few_seconds_of_track_numbers() -> None:
    """A busy camera gives out a new track number every second (each person crosses in 2 s); a rule with a dwell
    of an hour keeps only the numbers seen in the last 10 s (TRACK_MEMORY_S), not the hour's 3,600."""
    rule = LoiterRule("lobby", ZONE, PERSON, seconds=3600.0)
    for i in range(3600 * 5):  # an hour at 5 fps; person k walks across the zone from k s to k + 2 s
        at = i / 5
        rule.observe(at, [person(k, 0.45 + 0.15 * (at - k), 0.6) for k in (int(at) - 1, int(at)) if k >= 0])
    assert len(rule._known) <= 12


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(0.45, 0.75),
    y=st.floats(0.5, 0.85),
    pieces=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 10)), min_size=1, max_size=8),
)
def test_one_standing_person_is_one_loitering_alert_however_the_tracker_splits_them(
    x: float, y: float, pieces: list[tuple[int, int]]
) -> None:
    """Someone standing still, tracked in pieces (each piece a new track number, seen for some frames, then missed
    for up to ten frames, which the 2 s grace forgives at 5 fps): exactly one alert, at 10 s after the first
    sighting when they stay that long, and none before."""
    frames: list[list[TrackedObject]] = []
    for track, (seen, missed) in enumerate(pieces):
        frames += [[person(track, x, y)]] * seen + [[]] * missed
    last_seen = len(frames) - pieces[-1][1]  # frames from the first sighting to just after the last one
    frames += [[]] * 11
    events = feed(LoiterRule("loiter", ZONE, PERSON, seconds=10.0, grace_s=2.0), frames)
    present_frames = last_seen + 10  # the grace keeps the last one there for ten more frames
    assert [e.at for e in events if e.kind == "start"] == ([10.0] if present_frames > 50 else [])


def test_a_crowd_needs_enough_people_for_long_enough() -> None:
    rule = CrowdRule("crowd", ZONE, PERSON, min_count=3, seconds=2.0, end_after_s=1.0)
    three = [person(i, 0.5 + 0.05 * i, 0.6) for i in range(3)]
    events = feed(rule, [three[:2]] * 20 + [three] * 20 + [three[:1]] * 10)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].at == (20 + 10) / 5.0 and events[0].detail["count"] == 3


def test_a_crowd_that_flickers_below_the_count_for_less_than_the_grace_keeps_its_clock() -> None:
    three = [person(i, 0.5 + 0.05 * i, 0.6) for i in range(3)]
    # 5 fps: three people for 1.2 s, one missed for 2 frames (0.4 s, under the 1 s grace), three again.
    flicker = [three] * 6 + [three[:2]] * 2 + [three] * 12
    events = feed(CrowdRule("crowd", ZONE, PERSON, min_count=3, seconds=2.0, grace_s=1.0), flicker)
    assert [e.kind for e in events] == ["start"] and events[0].at == 2.0  # counted from t = 0
    # The same dip for 1.2 s (6 frames) is a crowd that broke up: the clock starts again at t = 2.4.
    broken = [three] * 6 + [three[:2]] * 6 + [three] * 12
    events = feed(CrowdRule("crowd", ZONE, PERSON, min_count=3, seconds=2.0, grace_s=1.0), broken)
    assert [e.kind for e in events] == ["start"] and events[0].at == 4.4
    # With no grace, one frame below restarts it (t = 1.6) and the crowd alerts at 3.6.
    events = feed(CrowdRule("crowd", ZONE, PERSON, min_count=3, seconds=2.0, grace_s=0.0), flicker)
    assert [e.kind for e in events] == ["start"] and events[0].at == 3.6


def test_a_parked_car_is_one_alert_even_when_the_tracker_gives_it_new_ids() -> None:
    rule = StationaryRule("fire-lane", ZONE, frozenset({"car"}), seconds=30.0, end_after_s=10.0)
    car = [person(11, 0.6, 0.8, label="car", w=0.15, h=0.1)]
    relit = [person(12, 0.601, 0.801, label="car", w=0.15, h=0.1)]  # the tracker lost it; same place, new id
    events = feed(rule, [car] * 200 + [relit] * 200 + [[]] * 60)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].at == 30.0 and events[0].labels == ("car",)
    assert events[0].instance == events[1].instance  # the relit car's end closes the first car's alert
    moving = [[person(13, 0.42 + 0.002 * i, 0.8, label="car", w=0.15, h=0.1)] for i in range(150)]
    assert feed(StationaryRule("fire-lane", ZONE, frozenset({"car"}), seconds=30.0), moving) == []


def test_two_cars_parked_at_once_are_two_conditions() -> None:
    rule = StationaryRule("fire-lane", ZONE, frozenset({"car"}), seconds=30.0, end_after_s=10.0)
    first = person(21, 0.5, 0.8, label="car", w=0.15, h=0.1)
    second = person(22, 0.7, 0.8, label="car", w=0.15, h=0.1)
    events = feed(rule, [[first]] * 50 + [[first, second]] * 150 + [[second]] * 150 + [[]] * 60)
    # The first from 0 s, alerted at 30 s, last seen at 39.8 s and ended at the first frame more than 10 s after
    # (50.0 s); the second from 10 s, alerted at 40 s, last seen at 69.8 s, ended at 80.0 s.
    assert [(e.kind, e.at, e.track_ids) for e in events] == [
        ("start", 30.0, (21,)),
        ("start", 40.0, (22,)),
        ("end", 50.0, (21,)),
        ("end", 80.0, (22,)),
    ]
    assert events[0].instance == events[2].instance != events[1].instance == events[3].instance


def test_fire_needs_hits_in_a_window_and_ends_when_gone() -> None:
    rule = ConfirmedRule("fire", [(0, 0), (1, 0), (1, 1), (0, 1)], frozenset({"fire", "smoke"}), hits=3, window=5)
    flame = [person(1, 0.5, 0.5, label="fire")]
    flicker = [flame, [], flame, [], [], flame, [], []]  # never 3 in 5
    assert feed(rule, flicker) == []
    rule = ConfirmedRule("fire", [(0, 0), (1, 0), (1, 1), (0, 1)], frozenset({"fire", "smoke"}), hits=3, window=5)
    events = feed(rule, [flame, [], flame, flame] + [[]] * 60, t0=100.0)
    assert [(e.kind, e.at) for e in events] == [("start", 100.6), ("end", 110.6)]
    assert events[0].detail == {"frames": "3/4"} and events[0].labels == ("fire",)
