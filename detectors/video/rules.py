"""Rules over tracked objects, in 0-1 image coordinates so they survive a resolution change.

Each rule takes the objects of one frame and the frame's time and returns events: `start` and `end` for a
condition that lasts (one 40-second intrusion is one alert), `update` when more objects join it, `instant` for a
line crossing. Nothing here reads a clock or a file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

Point = tuple[float, float]
Box = tuple[float, float, float, float]
Anchor = Literal["bottom_centre", "centre"]
Direction = Literal["a_to_b", "b_to_a", "any"]
EventKind = Literal["start", "update", "end", "instant"]
MOTION = "motion"  # the label of a moving region when there is no detector to say what it is
# How long a rule remembers a track number it no longer sees: longer than the tracker keeps a lost track (4 s),
# after which that number never comes back. Not the rule's own duration: a loiter rule of an hour would otherwise
# hold every number a busy camera gave out in that hour and walk them all on every frame.
TRACK_MEMORY_S = 10.0


def elapsed(since: float, at: float) -> float:
    """Seconds from `since` to `at`, to the microsecond. Frame times are sums of floating-point steps (ten 0.2 s
    frames after 30.2 s end at 32.2000000000000036), and a rule compares durations with its thresholds: an
    absence exactly as long as a grace must not count as longer, nor a dwell exactly as long as its limit shorter.
    """
    return round(at - since, 6)


@dataclass(frozen=True)
class TrackedObject:
    track_id: int
    label: str
    box: Box  # x1, y1, x2, y2 in 0-1
    score: float

    def anchor(self, where: Anchor) -> Point:
        x1, y1, x2, y2 = self.box
        return ((x1 + x2) / 2, y2 if where == "bottom_centre" else (y1 + y2) / 2)


@dataclass(frozen=True)
class VideoEvent:
    rule_id: str
    kind: EventKind
    at: float
    track_ids: tuple[int, ...]
    labels: tuple[str, ...]
    score: float
    boxes: tuple[Box, ...] = ()
    detail: dict[str, object] = field(default_factory=dict)
    # Which of the rule's conditions this is, where a rule holds several at once (each loiterer, each parked car):
    # a start and its end carry the same one, so the edge keeps one alert per condition. Empty: one at a time.
    instance: str = ""


def inside(point: Point, polygon: list[Point]) -> bool:
    """Even-odd ray casting; a point on an edge counts as inside for the lower-left edges only."""
    x, y = point
    hit = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def present(
    objects: Iterable[TrackedObject], classes: frozenset[str], polygon: list[Point], anchor: Anchor
) -> list[TrackedObject]:
    """The objects of these classes whose anchor point lies in the polygon."""
    return [o for o in objects if o.label in classes and inside(o.anchor(anchor), polygon)]


@dataclass(frozen=True)
class Schedule:
    """Active from `start` to `end` local time (22:00-06:00 spans midnight)."""

    start: str
    end: str
    timezone: str = "Asia/Shanghai"

    def active(self, at: float) -> bool:
        local = datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        begin, finish = (int(p[:2]) * 60 + int(p[3:5]) for p in (self.start, self.end))
        return begin <= minute < finish if begin <= finish else minute >= begin or minute < finish


def _event(
    rule_id: str, kind: EventKind, at: float, objects: Iterable[TrackedObject], instance: str = "", **detail: object
) -> VideoEvent:
    chosen = sorted(objects, key=lambda o: o.track_id)
    return VideoEvent(
        rule_id,
        kind,
        at,
        tuple(o.track_id for o in chosen),
        tuple(sorted({o.label for o in chosen})),
        max((o.score for o in chosen), default=0.0),
        tuple(o.box for o in chosen),
        dict(detail),
        instance,
    )


@dataclass
class ZoneRule:
    """电子围栏: an object of the classes with its anchor in the polygon for `inertia` frames opens the alert; it
    ends `end_after_s` after the last such object left."""

    id: str
    polygon: list[Point]
    classes: frozenset[str]
    anchor: Anchor = "bottom_centre"
    inertia: int = 3
    end_after_s: float = 2.0
    schedule: Schedule | None = None
    _frames: dict[int, int] = field(default_factory=dict, init=False)
    _active: bool = field(default=False, init=False)
    _members: set[int] = field(default_factory=set, init=False)
    _last_inside: float = field(default=0.0, init=False)

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        if self.schedule is not None and not self.schedule.active(at):
            self._frames.clear()
            return self._close(at) if self._active else []
        # With the detector down, motion in the zone still raises the alert.
        inside_now = present(objects, self.classes | {MOTION}, self.polygon, self.anchor)
        self._frames = {o.track_id: self._frames.get(o.track_id, 0) + 1 for o in inside_now}
        confirmed = [o for o in inside_now if self._frames[o.track_id] >= self.inertia]
        if confirmed:
            self._last_inside = at
            new = {o.track_id for o in confirmed} - self._members
            if not self._active:
                self._active, self._members = True, {o.track_id for o in confirmed}
                return [_event(self.id, "start", at, confirmed, count=len(confirmed))]
            if new:
                self._members |= new
                return [_event(self.id, "update", at, confirmed, count=len(confirmed))]
            return []
        if self._active and elapsed(self._last_inside, at) >= self.end_after_s:
            return self._close(at)
        return []

    def _close(self, at: float) -> list[VideoEvent]:
        event = VideoEvent(self.id, "end", at, tuple(sorted(self._members)), (), 0.0)
        self._active, self._members = False, set()
        return [event]


@dataclass
class LineRule:
    """Tripwire from point a to point b. Side A is on the left standing at a looking at b. A track's side only
    changes once its anchor is more than `band` from the line, so a box straddling it or a flickering detection
    does not count twice; a crossing must pass between a and b."""

    id: str
    a: Point
    b: Point
    classes: frozenset[str]
    direction: Direction = "any"
    anchor: Anchor = "bottom_centre"
    band: float = 0.01
    counts: dict[str, int] = field(default_factory=lambda: {"a_to_b": 0, "b_to_a": 0}, init=False)
    forget_after_s: float = 60.0
    _side: dict[int, int] = field(default_factory=dict, init=False)
    _last: dict[int, Point] = field(default_factory=dict, init=False)
    _seen: dict[int, float] = field(default_factory=dict, init=False)

    def _distance(self, p: Point) -> float:
        (ax, ay), (bx, by) = self.a, self.b
        length = math.hypot(bx - ax, by - ay) or 1e-9
        return ((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)) / length

    def _between(self, p: Point, q: Point) -> bool:
        """Whether the segment p→q meets the segment a→b (the tripwire has ends)."""
        d1, d2 = self._distance(p), self._distance(q)
        if d1 == d2:
            return False
        t = d1 / (d1 - d2)
        x, y = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
        (ax, ay), (bx, by) = self.a, self.b
        along = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / (((bx - ax) ** 2 + (by - ay) ** 2) or 1e-9)
        return -0.02 <= along <= 1.02

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        events = []
        for o in objects:
            if o.label not in self.classes:
                continue
            self._seen[o.track_id] = at
            point = o.anchor(self.anchor)
            distance = self._distance(point)
            if abs(distance) < self.band:
                continue
            side = -1 if distance < 0 else 1  # -1: side A (left of a→b in image coordinates)
            before, last = self._side.get(o.track_id), self._last.get(o.track_id)
            self._side[o.track_id], self._last[o.track_id] = side, point
            if before is None or before == side or last is None or not self._between(last, point):
                continue
            crossed = "a_to_b" if before == -1 else "b_to_a"
            self.counts[crossed] += 1
            if self.direction in ("any", crossed):
                events.append(_event(self.id, "instant", at, [o], direction=crossed, counts=dict(self.counts)))
        for track, seen in list(self._seen.items()):
            if elapsed(seen, at) > self.forget_after_s:
                del self._seen[track]
                self._side.pop(track, None)
                self._last.pop(track, None)
        return events


@dataclass
class _Stay:
    """One track's time inside a loiter rule's polygon: since when, and its last sighting there."""

    entered: float
    last: TrackedObject
    last_at: float


@dataclass(frozen=True)
class _Handover:
    """A missing track's stay given to a newcomer, kept while the missing one could still come back."""

    heir: int
    heir_since: float  # when the heir was first seen: its own clock, if the clock goes back
    stay: _Stay


@dataclass
class LoiterRule:
    """徘徊: the same person inside the polygon for more than `seconds`. A track missing from the polygon is forgiven
    while its last sighting there is no more than `grace_s` ago, so at 5 fps and a grace of 2 s ten missed
    frames in a row are forgiven and the eleventh starts the clock again. Forgiven means still there: the clock
    runs on while the track is missing, and the alert comes on time even if the detector misses that frame.

    In a group the tracker loses people and finds them again under a new number. A track that first appears
    inside the polygon (no one walks into it unseen) near where a track went missing there takes over that track's
    clock, and any alert open for it: the nearest one within `reach` of the newcomer's height, plus `reach_per_s`
    heights for each second the other has been missing (people walk on while unseen). If the missing track comes
    back within its grace, inside or not, the newcomer was someone else: the clock and the alert go back and the
    newcomer's own clock runs from when it was first seen. Only places are compared, on one camera, never looks.
    On PETS S2L1 two of the three people standing together at the start alerted 2.6 and 3.1 s late without this."""

    id: str
    polygon: list[Point]
    classes: frozenset[str]
    seconds: float
    anchor: Anchor = "bottom_centre"
    grace_s: float = 2.0
    reach: float = 1.0
    reach_per_s: float = 0.5
    _stays: dict[int, _Stay] = field(default_factory=dict, init=False)
    _active: dict[int, TrackedObject] = field(default_factory=dict, init=False)
    _known: dict[int, float] = field(default_factory=dict, init=False)  # every track seen lately, anywhere
    _handed: dict[int, _Handover] = field(default_factory=dict, init=False)

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        events = []
        visible = {o.track_id for o in objects}
        for track in visible & self._handed.keys():  # back, inside the polygon or out of it
            self._take_back(track)
        for o in present(objects, self.classes, self.polygon, self.anchor):
            if o.track_id not in self._known:
                self._take_over(o, at, visible)
            if (stay := self._stays.get(o.track_id)) is None:
                stay = self._stays[o.track_id] = _Stay(at, o, at)
            else:
                stay.last, stay.last_at = o, at
            dwell = elapsed(stay.entered, at)
            if o.track_id not in self._active and dwell >= self.seconds:
                self._active[o.track_id] = o
                events.append(_event(self.id, "start", at, [o], f"track {o.track_id}", dwell_s=round(dwell, 1)))
        for o in objects:
            self._known[o.track_id] = at
        for track, stay in list(self._stays.items()):
            if elapsed(stay.last_at, at) > self.grace_s:
                del self._stays[track]
                if (obj := self._active.pop(track, None)) is not None:
                    dwell_s = round(stay.last_at - stay.entered, 1)
                    events.append(_event(self.id, "end", at, [obj], f"track {obj.track_id}", dwell_s=dwell_s))
            elif track not in visible and track not in self._active:
                dwell = elapsed(stay.entered, at)
                if dwell >= self.seconds:  # missing, forgiven, and there long enough
                    self._active[track] = stay.last
                    events.append(_event(self.id, "start", at, [stay.last], f"track {track}", dwell_s=round(dwell, 1)))
        self._handed = {t: h for t, h in self._handed.items() if elapsed(h.stay.last_at, at) <= self.grace_s}
        self._known = {
            track: seen_at for track, seen_at in self._known.items() if elapsed(seen_at, at) < TRACK_MEMORY_S
        }
        return events

    def _take_over(self, newcomer: TrackedObject, at: float, visible: set[int]) -> None:
        """The newcomer inherits the clock (and any open alert) of the nearest missing track within reach."""
        here, height = newcomer.anchor(self.anchor), newcomer.box[3] - newcomer.box[1]
        near = [
            (distance, track)
            for track, stay in self._stays.items()
            if track not in visible  # missing now; every track still here is within its grace
            and (distance := math.dist(here, stay.last.anchor(self.anchor)))
            <= height * (self.reach + self.reach_per_s * elapsed(stay.last_at, at))
        ]
        if not near:
            return
        track = min(near)[1]
        stay = self._stays.pop(track)
        self._handed[track] = _Handover(newcomer.track_id, at, stay)
        self._stays[newcomer.track_id] = _Stay(stay.entered, newcomer, at)
        if (alert := self._active.pop(track, None)) is not None:
            self._active[newcomer.track_id] = alert  # the alert keeps the track it was raised for

    def _take_back(self, track: int) -> None:
        handed = self._handed.pop(track)
        self._stays[track] = handed.stay
        if (heir := self._stays.get(handed.heir)) is not None:
            heir.entered = handed.heir_since
        if (alert := self._active.get(handed.heir)) is not None and alert.track_id == track:
            self._active[track] = self._active.pop(handed.heir)


@dataclass
class CrowdRule:
    """聚集: at least `min_count` objects of the classes in the polygon for `seconds`. A count that drops below for
    less than `grace_s` (a person hidden behind another for a frame or two, a missed detection) does not start the
    clock again, or a crowd a detector sees flicker between 3 and 4 would never last long enough to alert. The
    analyzer gives this rule the people detected but not (yet) tracked as well: a crowd is a count, not identities."""

    id: str
    polygon: list[Point]
    classes: frozenset[str]
    min_count: int
    seconds: float
    anchor: Anchor = "bottom_centre"
    end_after_s: float = 3.0
    grace_s: float = 1.0
    _since: float | None = field(default=None, init=False)
    _last_ok: float = field(default=0.0, init=False)
    _active: bool = field(default=False, init=False)
    _peak: int = field(default=0, init=False)

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        crowd = present(objects, self.classes, self.polygon, self.anchor)
        if len(crowd) >= self.min_count:
            self._since = self._since if self._since is not None else at
            self._last_ok = at
            if not self._active and elapsed(self._since, at) >= self.seconds:
                self._active, self._peak = True, len(crowd)
                return [_event(self.id, "start", at, crowd, count=len(crowd))]
            if self._active and len(crowd) > self._peak:
                self._peak = len(crowd)
                return [_event(self.id, "update", at, crowd, count=len(crowd))]
            return []
        if self._since is not None and elapsed(self._last_ok, at) >= self.grace_s:
            self._since = None
        if self._active and elapsed(self._last_ok, at) >= self.end_after_s:
            self._active = False
            return [VideoEvent(self.id, "end", at, (), (), 0.0, (), {"peak": self._peak})]
        return []


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass
class _Spot:
    number: int
    box: Box
    since: float
    seen: float
    obj: TrackedObject
    alerted: bool = False


@dataclass
class StationaryRule:
    """消防通道占用: a vehicle standing in the polygon for `seconds`. Tracked by place, not by track id, so a parked
    car the tracker loses and finds again (a lighting change, an occlusion) is the same alert, not a new one."""

    id: str
    polygon: list[Point]
    classes: frozenset[str]
    seconds: float
    anchor: Anchor = "bottom_centre"
    min_iou: float = 0.5
    end_after_s: float = 30.0
    _spots: list[_Spot] = field(default_factory=list, init=False)
    _numbered: int = field(default=0, init=False)

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        events = []
        for o in present(objects, self.classes, self.polygon, self.anchor):
            spot = max(self._spots, key=lambda s: iou(s.box, o.box), default=None)
            if spot is None or iou(spot.box, o.box) < self.min_iou:
                self._numbered += 1
                self._spots.append(_Spot(self._numbered, o.box, at, at, o))
                continue
            spot.seen, spot.obj = at, o
            standing = elapsed(spot.since, at)
            if not spot.alerted and standing >= self.seconds:
                spot.alerted = True
                events.append(_event(self.id, "start", at, [o], f"spot {spot.number}", standing_s=round(standing, 1)))
        for spot in list(self._spots):
            if elapsed(spot.seen, at) > self.end_after_s:
                self._spots.remove(spot)
                if spot.alerted:
                    standing_s = round(spot.seen - spot.since, 1)
                    events.append(_event(self.id, "end", at, [spot.obj], f"spot {spot.number}", standing_s=standing_s))
        return events


@dataclass
class ConfirmedRule:
    """Fire and smoke (or any class a model is shaky on): raised when the class is seen in at least `hits` of the
    last `window` frames, ended when it has not been seen for `end_after_s`. No accuracy is claimed without a
    model we can measure."""

    id: str
    polygon: list[Point]
    classes: frozenset[str]
    hits: int = 3
    window: int = 5
    end_after_s: float = 10.0
    anchor: Anchor = "centre"
    _recent: list[bool] = field(default_factory=list, init=False)
    _last_seen: float = field(default=0.0, init=False)
    _active: bool = field(default=False, init=False)

    def observe(self, at: float, objects: list[TrackedObject]) -> list[VideoEvent]:
        seen = present(objects, self.classes, self.polygon, self.anchor)
        self._recent = [*self._recent[-(self.window - 1) :], bool(seen)] if self.window > 1 else [bool(seen)]
        if seen:
            self._last_seen = at
            if not self._active and sum(self._recent) >= self.hits:
                self._active = True
                return [_event(self.id, "start", at, seen, frames=f"{sum(self._recent)}/{len(self._recent)}")]
            return []
        if self._active and elapsed(self._last_seen, at) >= self.end_after_s:
            self._active = False
            return [VideoEvent(self.id, "end", at, (), (), 0.0)]
        return []


VideoRule = ZoneRule | LineRule | LoiterRule | CrowdRule | StationaryRule | ConfirmedRule
