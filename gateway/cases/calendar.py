"""Working time: SLA limits count only the hours a command center works (挂单计时 in working hours / days).

A day is a working day when it is a weekday that is not a public holiday, or a weekend day declared a
working day (调休). Working windows are local times (e.g. 09:00-12:00 and 13:30-18:00) in one time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkCalendar:
    timezone: str = "Asia/Shanghai"
    windows: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13, 30), time(18)))
    weekend: frozenset[int] = frozenset({6, 7})  # ISO weekday numbers
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        last = time(0)
        for start, end in self.windows:
            if not start < end or start < last:
                raise ValueError("working windows must be increasing and not overlap")
            last = end
        if not self.windows:
            raise ValueError("at least one working window is needed")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def minutes_per_day(self) -> float:
        return sum((_minutes(e) - _minutes(s)) for s, e in self.windows)

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.isoweekday() not in self.weekend and day not in self.holidays

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        zone = self.zone
        return [(datetime.combine(day, s, zone), datetime.combine(day, e, zone)) for s, e in self.windows]

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of working time after `start` have passed."""
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        remaining = timedelta(minutes=minutes)
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(3660):  # ten years of days: a calendar with no working day is a config error
            for w_start, w_end in self._day_windows(day):
                begin = max(w_start, local)
                if begin >= w_end:
                    continue
                available = w_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("the calendar has no working time in the next ten years")

    def working_minutes(self, start: datetime, end: datetime) -> float:
        """Working minutes between two moments (0 when end <= start)."""
        if end <= start:
            return 0.0
        total = timedelta()
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for w_start, w_end in self._day_windows(day):
                lo, hi = max(w_start, start), min(w_end, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60.0


def _minutes(t: time) -> float:
    return t.hour * 60 + t.minute + t.second / 60
