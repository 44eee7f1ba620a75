"""SLA policy: a time limit per category × stage, in working time or wall-clock time, and the lights.

The deadline (due_at) and the yellow moment (yellow_at, when `yellow_share` of the limit is used) are
computed once when a stage starts and stored on the ticket, so the database decides every light with two
comparisons against now — no loop over tickets anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from wangge.gateway.cases.calendar import WorkCalendar

Stage = Literal["register", "dispatch", "accept", "handle", "verify", "close"]
STAGES: tuple[Stage, ...] = ("register", "dispatch", "accept", "handle", "verify", "close")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")


def parse_duration(text: str) -> tuple[float, str]:
    """'90m', '4h', '3d' → (amount, unit)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 4h or 3d")
    amount, unit = float(match.group(1)), match.group(2)
    return amount, "m" if unit == "min" else unit


@dataclass(frozen=True)
class StageLimit:
    amount: float
    unit: str  # m, h, d

    @classmethod
    def parse(cls, text: str) -> StageLimit:
        amount, unit = parse_duration(text)
        if amount <= 0:
            raise ValueError("a time limit must be positive")
        return cls(amount, unit)


@dataclass(frozen=True)
class SlaPolicy:
    """Limits for the categories starting with `category` ('' matches all); `clock` says how they run."""

    category: str
    clock: Literal["work", "wall"]
    limits: dict[str, StageLimit]

    def matches(self, category: str) -> bool:
        return not self.category or category == self.category or category.startswith(self.category + ".")


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    yellow_at: datetime


def deadline(
    policy: SlaPolicy, stage: str, started: datetime, calendar: WorkCalendar, yellow_share: float
) -> Deadline | None:
    limit = policy.limits.get(stage)
    if limit is None:
        return None
    minutes = _minutes(limit, policy.clock, calendar)
    return Deadline(
        _add(policy.clock, calendar, started, minutes), _add(policy.clock, calendar, started, minutes * yellow_share)
    )


def extended(policy: SlaPolicy | None, limit: Deadline, more: StageLimit, calendar: WorkCalendar) -> Deadline:
    """延期: the deadline and its yellow moment moved on by `more`, counted on the clock the policy runs (a day
    of a working-time policy is a working day); wall-clock when no policy."""
    clock: Literal["work", "wall"] = policy.clock if policy else "wall"
    minutes = _minutes(more, clock, calendar)
    return Deadline(_add(clock, calendar, limit.due_at, minutes), _add(clock, calendar, limit.yellow_at, minutes))


def _minutes(limit: StageLimit, clock: str, calendar: WorkCalendar) -> float:
    per_day = 1440 if clock == "wall" else calendar.minutes_per_day
    return limit.amount * {"m": 1, "h": 60, "d": per_day}[limit.unit]


def _add(clock: str, calendar: WorkCalendar, start: datetime, minutes: float) -> datetime:
    return start + timedelta(minutes=minutes) if clock == "wall" else calendar.add(start, minutes)


def pick_policy(policies: list[SlaPolicy], category: str) -> SlaPolicy | None:
    """The most specific policy whose category is a prefix of the ticket's."""
    best: SlaPolicy | None = None
    for policy in policies:
        if policy.matches(category) and (best is None or len(policy.category) > len(best.category)):
            best = policy
    return best


def light(now: datetime, due_at: datetime | None, yellow_at: datetime | None) -> str:
    """The same rule the SQL applies (kept here for the console's tests and one-off checks)."""
    if due_at is None:
        return "none"
    if now >= due_at:
        return "red"
    if yellow_at is not None and now >= yellow_at:
        return "yellow"
    return "green"
