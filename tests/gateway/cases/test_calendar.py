from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from wangge.gateway.cases.calendar import WorkCalendar
from wangge.gateway.cases.sla import SlaPolicy, StageLimit, deadline, light, parse_duration, pick_policy

SH = ZoneInfo("Asia/Shanghai")
# 2026-10-01 (Thu) .. 10-07 are National Day holidays; Sat 10-10 is a make-up working day (调休).
CAL = WorkCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    extra_workdays=frozenset({date(2026, 10, 10)}),
)


def at(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def test_working_minutes_skip_lunch_nights_and_weekends() -> None:
    assert CAL.minutes_per_day == 450  # 09:00-12:00 + 13:30-18:00
    assert CAL.add(at(14, 11), 90) == at(14, 14)  # Mon 11:00 + 1.5 h → lunch skipped → 14:00
    assert CAL.add(at(18, 17), 120) == at(21, 10)  # Fri 17:00 + 2 h: one hour Friday, one hour Monday
    assert CAL.add(at(19, 10), 30) == at(21, 9, 30)  # Saturday counts from Monday morning
    assert CAL.working_minutes(at(18, 17), at(21, 10)) == 120


def test_public_holidays_and_make_up_working_days() -> None:
    # Wed 30 Sep 17:00 + 2 h: one hour left that day, then the holiday week, then Sat 10 Oct is worked.
    assert CAL.add(at(30, 17), 120) == at(8, 10, month=10)
    saturday = datetime(2026, 10, 10, 9, tzinfo=SH)
    assert CAL.is_workday(saturday.date()) and not CAL.is_workday(date(2026, 10, 11))
    assert not CAL.is_workday(date(2026, 10, 5))


def test_utc_in_utc_out() -> None:
    start = datetime(2026, 9, 14, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert CAL.add(start, 60) == datetime(2026, 9, 14, 2, 0, tzinfo=UTC)
    assert CAL.add(start, 60).tzinfo == UTC


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(windows=((time(12), time(9)),))
    with pytest.raises(ValueError):
        WorkCalendar(windows=((time(9), time(12)), (time(11), time(13))))


def test_deadlines_in_working_and_wall_clock_time_with_the_yellow_point() -> None:
    work = SlaPolicy("", "work", {"handle": StageLimit.parse("3d"), "dispatch": StageLimit.parse("2h")})
    wall = SlaPolicy("emergencies", "wall", {"dispatch": StageLimit.parse("15m")})
    d = deadline(work, "dispatch", at(18, 17), CAL, 0.8)
    assert d is not None and d.due_at == at(21, 10) and d.yellow_at == at(21, 9, 36)  # 96 of 120 minutes
    d = deadline(work, "handle", at(14, 9), CAL, 0.8)
    assert d is not None and d.due_at == at(16, 18)  # three full working days
    e = deadline(wall, "dispatch", at(19, 23, 50), CAL, 0.8)  # Saturday night: emergencies do not wait
    assert e is not None and e.due_at == at(20, 0, 5) and e.yellow_at == at(20, 0, 2)
    assert deadline(wall, "verify", at(19, 1), CAL, 0.8) is None
    assert pick_policy([work, wall], "emergencies.fire") is wall
    assert pick_policy([work, wall], "emergencies_x") is work
    assert [light(t, at(21, 10), at(21, 9, 36)) for t in (at(21, 9, 30), at(21, 9, 36), at(21, 10))] == [
        "green",
        "yellow",
        "red",
    ]
    assert light(at(21, 10) + timedelta(days=9), None, None) == "none"


@pytest.mark.parametrize("text", ["", "5", "h", "-1h", "3w", "1.5.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
