"""An online anomaly detector for metrics with no fixed threshold: it learns which values follow which, which
values belong to which time of day, and how the series' slow average moves, and scores a reading by how many
of those expectations it breaks.

How it scores a reading (each step measured on NAB, see docs/benchmarks.md and bench/nab_score.py):
- the first three quarters of the `warmup` readings (150 of 200) learn the range, the last quarter the
  patterns, silently; then the value is quantised on three coarse grids (5, 6 and 7 levels over that
  range widened by 10 % each side, so a reading just past it is not news); when the range later
  doubles, the grids double their step and start learning again (which a new range deserves). Coarse
  levels are what make a surprise mean something;
- per grid it remembers, as bit masks, the levels that followed each level ("context": the previous
  reading), the levels seen in each three-hour slot of the day, and the levels of the slow average (an
  exponential mean over about ten readings, weight 0.1) that followed each of its levels. Two tests per
  context and grid: is this level new there, is it outside every level seen there (a slot not yet lived
  through borrows all slots'). A test's share of the grids that failed it is its raw score. The slow
  average is what tells a lasting change of regime (it moves to a level it never moved to from there)
  from a lone spike to a familiar height (it barely moves): on NAB it took the low-false-positive profile
  from 62.6 to 64.1 at the same refractory;
- each test is discounted by how often this series fails it, (1 - rate)^30 with a slow rate (α 0.0003):
  a noisy series that breaks expectations every day earns less for breaking one more;
- a value beyond every earlier extreme (by 0, 5, 10 and 20 % of the range) adds up to 0.1: most real
  anomalies set a new extreme, most false alarms do not;
- after a score, lower scores are damped (×0.3) for `refractory` readings (100), so one anomaly says so
  once; a higher one still speaks.

Strictly online: nothing but the readings so far (time and value) is used, in constant memory (a few
hundred small integers), and the whole state round-trips through `to_state` / `from_state` so an edge
resumes after a restart exactly where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wangge.detectors.readings import StaleState, Transition

STATE_VERSION = 2  # bump whenever the learnt state changes meaning; an older state is then dropped
GRIDS = (5, 6, 7)  # levels over the learnt range
SPREAD = 2 * max(GRIDS) + 2  # a level lies within two spans (plus the margin) of the anchor: [-SPREAD, SPREAD)
CONTEXTS = 2 * SPREAD + 1  # previous level (offset), plus one slot for "no previous reading"
NO_PREVIOUS = 2 * SPREAD
SLOT_S = 3 * 3600
SLOTS = 86400 // SLOT_S
RATE = 0.0003
RATE_POWER = 30
EXTREMES = (0.0, 0.05, 0.1, 0.2)
EXTREME_WEIGHT = 0.1
CONTEXTS_JUDGED = 3  # the previous level, the slot of the day, the slow average's previous level
TESTS = 2 * CONTEXTS_JUDGED
SLOW_WEIGHT = 0.1  # of the newest reading in the slow average
REFRACTORY = 100
MARGIN = 0.1  # the learnt range, widened by this share of it each side: a reading just past it is not news
RANGE_SHARE = 0.75  # of the warm-up spent learning the range; the rest learns the patterns, silently
LIMIT = 1e15
_SCALE = 1.0 / (1.0 + EXTREME_WEIGHT)


def _grid_masks(size: int) -> list[list[int]]:
    return [[0] * size for _ in GRIDS]


@dataclass(slots=True)
class AnomalyDetector:
    """Streaming scorer: `score(timestamp, value)` returns a number in [0, 1], high when the reading is unusual."""

    warmup: int = 200
    refractory: int = REFRACTORY
    damping: float = 0.3
    n: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    anchor: float = 0.0
    span: float = 0.0
    previous: list[int] = field(default_factory=lambda: [NO_PREVIOUS] * len(GRIDS))
    after: list[list[int]] = field(default_factory=lambda: _grid_masks(CONTEXTS))
    by_slot: list[list[int]] = field(default_factory=lambda: _grid_masks(SLOTS))
    rates: list[float] = field(default_factory=lambda: [0.0] * TESTS)
    peak: float = 0.0
    peak_at: int = -(10**9)
    slot_now: int = -1
    slow: float | None = None  # the slow average, from the first judged reading on
    previous_slow: list[int] = field(default_factory=lambda: [NO_PREVIOUS] * len(GRIDS))
    after_slow: list[list[int]] = field(default_factory=lambda: _grid_masks(CONTEXTS))
    slots_learnt: int = 0  # bit per slot of the day that has been lived through since the grids began

    def __post_init__(self) -> None:
        if self.warmup < 10:
            raise ValueError("warmup must be at least 10 readings")

    def score(self, timestamp: float, value: float) -> float:
        if not math.isfinite(value) or not math.isfinite(timestamp):
            return 0.0
        value = min(max(value, -LIMIT), LIMIT)  # past any sensor's scale; keeps the range arithmetic finite
        self.n += 1
        ranging = int(self.warmup * RANGE_SHARE)
        width = self.hi - self.lo
        beyond = 0
        if self.n > ranging:
            for tolerance in EXTREMES:
                margin = tolerance * width
                beyond += value < self.lo - margin or value > self.hi + margin
        self.lo = min(self.lo, value)
        self.hi = max(self.hi, value)
        if self.n < ranging:
            return 0.0
        if self.n == ranging:  # the range is learnt: lay the grids over it, a margin each side
            width = self.hi - self.lo or (abs(self.hi) * 1e-3 or 1e-6)
            self.anchor = self.lo - MARGIN * width
            self.span = width * (1 + 2 * MARGIN)
        while self.hi - self.lo > 2.0 * self.span:
            self._widen()
        out = (self._judge(timestamp, value) + EXTREME_WEIGHT * beyond / len(EXTREMES)) * _SCALE
        if self.n < self.warmup:
            return 0.0
        if out > self.peak or self.n - self.peak_at >= self.refractory:
            self.peak, self.peak_at = out, self.n
            return out
        return out * self.damping

    def _judge(self, timestamp: float, value: float) -> float:
        """The tests' mean, each discounted by how often this series fails it (then the rates learn)."""
        raw = self._surprise(timestamp, value)
        total = 0.0
        for i, r in enumerate(raw):
            rate = self.rates[i]
            total += r * (1.0 - rate) ** RATE_POWER
            self.rates[i] = rate + RATE * (r - rate)
        return total / TESTS

    def _widen(self) -> None:
        """The range doubled: coarser levels, and what was learnt on the finer ones no longer applies."""
        self.span *= 2.0
        self.previous = [NO_PREVIOUS] * len(GRIDS)
        self.after = _grid_masks(CONTEXTS)
        self.by_slot = _grid_masks(SLOTS)
        self.previous_slow = [NO_PREVIOUS] * len(GRIDS)
        self.after_slow = _grid_masks(CONTEXTS)
        self.slots_learnt = 0

    def _surprise(self, timestamp: float, value: float) -> list[float]:
        """Per test, the share of grids whose expectation the value breaks (then it is learnt): for each context
        (after the previous level, in this slot of the day, the slow average after its previous level), is the
        level new there, then is it outside every level seen there. Until a time of day has been lived through
        once, it is judged against every time of day seen."""
        slot = int(timestamp // SLOT_S) % SLOTS
        if slot != self.slot_now:  # the slot just left has been learnt whole
            if self.slot_now >= 0:
                self.slots_learnt |= 1 << self.slot_now
            self.slot_now = slot
        judged_by_slot = bool(self.slots_learnt >> slot & 1)
        slow = value if self.slow is None else self.slow + SLOW_WEIGHT * (value - self.slow)
        self.slow = slow
        failed = [0] * TESTS
        anchor, span, top = self.anchor, self.span, 2 * SPREAD - 1
        for g, levels in enumerate(GRIDS):
            bit = min(max(math.floor((value - anchor) * levels / span) + SPREAD, 0), top)
            slow_bit = min(max(math.floor((slow - anchor) * levels / span) + SPREAD, 0), top)
            by_slot = self.by_slot[g]
            seen_in_slot = by_slot[slot]
            if not judged_by_slot:
                for other in by_slot:
                    seen_in_slot |= other
            after, after_slow = self.after[g], self.after_slow[g]
            j = 0
            for mask, b in (
                (after[self.previous[g]], bit),
                (seen_in_slot, bit),
                (after_slow[self.previous_slow[g]], slow_bit),
            ):
                failed[j] += not (mask >> b) & 1
                failed[j + 1] += mask == 0 or b < (mask & -mask).bit_length() - 1 or b >= mask.bit_length()
                j += 2
            after[self.previous[g]] |= 1 << bit
            by_slot[slot] |= 1 << bit
            after_slow[self.previous_slow[g]] |= 1 << slow_bit
            self.previous[g], self.previous_slow[g] = bit, slow_bit
        return [f / len(GRIDS) for f in failed]

    def to_state(self) -> dict[str, Any]:
        """Everything learnt, as JSON-ready values (a few KB)."""
        return {
            "version": STATE_VERSION,
            "warmup": self.warmup,
            "n": self.n,
            "lo": self.lo if self.n else None,
            "hi": self.hi if self.n else None,
            "anchor": self.anchor,
            "span": self.span,
            "previous": list(self.previous),
            "after": [list(m) for m in self.after],
            "by_slot": [list(m) for m in self.by_slot],
            "rates": list(self.rates),
            "peak": self.peak,
            "peak_at": self.peak_at,
            "slot_now": self.slot_now,
            "slots_learnt": self.slots_learnt,
            "slow": self.slow,
            "previous_slow": list(self.previous_slow),
            "after_slow": [list(m) for m in self.after_slow],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], refractory: int = REFRACTORY) -> AnomalyDetector:
        """The detector `to_state` saved; StaleState when it is of another version, ValueError when malformed."""
        if state.get("version") != STATE_VERSION:
            raise StaleState(f"anomaly state version {state.get('version')!r}, this detector reads {STATE_VERSION}")
        try:
            n = _count(state["n"])
            lo, hi = (math.inf, -math.inf) if n == 0 else (_real(state["lo"]), _real(state["hi"]))
            detector = cls(
                warmup=_count(state["warmup"]),
                refractory=refractory,
                n=n,
                lo=lo,
                hi=hi,
                anchor=_real(state["anchor"]),
                span=_real(state["span"]),
                previous=_ints(state["previous"], len(GRIDS), CONTEXTS),
                after=[_ints(m, CONTEXTS, 1 << (2 * SPREAD)) for m in _rows(state["after"])],
                by_slot=[_ints(m, SLOTS, 1 << (2 * SPREAD)) for m in _rows(state["by_slot"])],
                rates=[_share(r) for r in _rows(state["rates"], TESTS)],
                peak=_real(state["peak"]),
                peak_at=_whole(state["peak_at"]),
                slot_now=_bounded(state["slot_now"], -1, SLOTS),
                slots_learnt=_bounded(state["slots_learnt"], 0, 1 << SLOTS),
                slow=None if state["slow"] is None else _real(state["slow"]),
                previous_slow=_ints(state["previous_slow"], len(GRIDS), CONTEXTS),
                after_slow=[_ints(m, CONTEXTS, 1 << (2 * SPREAD)) for m in _rows(state["after_slow"])],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"anomaly state is malformed: {exc!r}") from None
        if n >= int(detector.warmup * RANGE_SHARE) and (detector.span <= 0 or lo > hi):
            raise ValueError("anomaly state is malformed: no range learnt")
        return detector


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"anomaly state: {value!r} is not a count")
    return value


def _whole(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"anomaly state: {value!r} is not an integer")
    return value


def _bounded(value: Any, low: int, limit: int) -> int:
    if type(value) is not int or not low <= value < limit:
        raise ValueError(f"anomaly state: {value!r} is not in [{low}, {limit})")
    return value


def _real(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"anomaly state: {value!r} is not a finite number")
    return float(value)


def _share(value: Any) -> float:
    share = _real(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"anomaly state: rate {share!r} is not in [0, 1]")
    return share


def _rows(value: Any, length: int = len(GRIDS)) -> list[Any]:
    if not isinstance(value, list) or len(value) != length:
        raise ValueError(f"anomaly state: expected a list of {length}")
    return value


def _ints(value: Any, length: int, limit: int) -> list[int]:
    row = _rows(value, length)
    if any(type(x) is not int or not 0 <= x < limit for x in row):
        raise ValueError(f"anomaly state: a value out of [0, {limit})")
    return list(row)


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """Alert when the detector's score passes `threshold`; end after `quiet` readings without another alarm."""

    threshold: float = 0.3
    warmup: int = 200
    quiet: int = 100

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1 (how unusual: 0.3 is the tuned default)")
        if self.warmup < 10 or self.quiet < 1:
            raise ValueError("warmup must be at least 10 readings and quiet at least 1")

    def initial(self) -> AnomalyState:
        return AnomalyState(AnomalyDetector(warmup=self.warmup))

    def resume(self) -> AnomalyState:
        state = self.initial()
        state.active = True
        return state

    def snapshot(self, state: AnomalyState) -> dict[str, Any]:
        return {"detector": state.detector.to_state(), "since_alarm": state.since_alarm}

    def restore(self, saved: Mapping[str, Any], active: bool) -> AnomalyState:
        """The state `snapshot` saved; `active` comes from the outbox's open alerts, which are authoritative."""
        if not isinstance(saved, Mapping):
            raise ValueError("anomaly state: not an object")
        since = saved.get("since_alarm")
        if type(since) is not int or since < 0:
            raise ValueError(f"anomaly state: since_alarm {since!r} is not a count")
        detector = saved.get("detector")
        if not isinstance(detector, Mapping):
            raise ValueError("anomaly state: no detector")
        return AnomalyState(AnomalyDetector.from_state(detector), active, since)

    def step(self, state: AnomalyState, value: float, ts: float) -> Transition | None:
        score = state.detector.score(ts, value)
        if score >= self.threshold:
            state.since_alarm = 0
            if not state.active:
                state.active = True
                return Transition("start", ts, score)
            return None
        state.since_alarm += 1
        if state.active and state.since_alarm >= self.quiet:
            state.active = False
            return Transition("end", ts, score)
        return None

    def tick(self, state: AnomalyState, now: float) -> Transition | None:
        return None


@dataclass(slots=True)
class AnomalyState:
    detector: AnomalyDetector
    active: bool = False
    since_alarm: int = 0
