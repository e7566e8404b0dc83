"""Schedules in the group's time zone (DST changes, lunch breaks, holidays, opposite schedules) and criteria."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from features.model import Criterion, DaySchedule, HolidayPeriod, HolidaySchedule, Schedule
from features.schedules import (
    CallerNumbers,
    ScheduleBook,
    criterion_matches,
    local_time,
    number_matches,
    service_applies,
)

BRUSSELS = "Europe/Brussels"
UTC = ZoneInfo("UTC")
WEEKDAY = DaySchedule(active=True, start=8 * 60, end=18 * 60, lunch_active=True, lunch_start=12 * 60,
                      lunch_end=13 * 60 + 30)
OFFICE = Schedule(name="office", days=(WEEKDAY,) * 5 + (DaySchedule(),) * 2)
XMAS = HolidaySchedule(name="xmas", periods=(HolidayPeriod(start=date(2026, 12, 24), end=date(2026, 12, 26)),))
BOOK = ScheduleBook(user_time=(OFFICE, OFFICE.opposite()), user_holiday=(XMAS,))
ANYONE = CallerNumbers("external", ("+3225550000", "025550000"))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def is_open(epoch: float, schedule: Schedule = OFFICE) -> bool:
    when = local_time(epoch, BRUSSELS)
    return schedule.is_open(when.weekday, when.minute)


@pytest.mark.parametrize(("moment", "expected"), [
    # Winter (UTC+1): 08:00 local is 07:00 UTC
    (utc(2026, 12, 7, 6, 59), False), (utc(2026, 12, 7, 7, 0), True),
    # lunch break 12:00-13:30 local
    (utc(2026, 12, 7, 10, 59), True), (utc(2026, 12, 7, 11, 0), False), (utc(2026, 12, 7, 12, 29), False),
    (utc(2026, 12, 7, 12, 30), True),
    # end 18:00 local is excluded
    (utc(2026, 12, 7, 16, 59), True), (utc(2026, 12, 7, 17, 0), False),
    # weekend closed
    (utc(2026, 12, 5, 10, 0), False),
    # Summer (UTC+2): 08:00 local is 06:00 UTC
    (utc(2026, 7, 6, 5, 59), False), (utc(2026, 7, 6, 6, 0), True), (utc(2026, 7, 6, 15, 59), True),
    (utc(2026, 7, 6, 16, 0), False),
])
def test_time_schedule_in_the_group_time_zone(moment: float, expected: bool) -> None:
    assert is_open(moment) is expected


def test_dst_change_days_keep_local_office_hours() -> None:
    # Monday 30 March 2026, the day after clocks went forward (29 March, 02:00 -> 03:00): UTC+2 already.
    assert not is_open(utc(2026, 3, 30, 5, 59)) and is_open(utc(2026, 3, 30, 6, 0))
    # Friday 27 March, before the change: UTC+1.
    assert not is_open(utc(2026, 3, 27, 6, 30)) and is_open(utc(2026, 3, 27, 7, 0))
    # Monday 26 October 2026, after clocks went back on Sunday 25 October: UTC+1 again.
    assert not is_open(utc(2026, 10, 26, 6, 30)) and is_open(utc(2026, 10, 26, 7, 0))
    # The change itself happens on a Sunday night: the hour 02:00-03:00 local of 29 March does not exist
    assert local_time(utc(2026, 3, 29, 1, 0), BRUSSELS).minute == 3 * 60
    assert local_time(utc(2026, 3, 29, 0, 59), BRUSSELS).minute == 60 + 59


def test_opposite_schedule_covers_the_complement() -> None:
    opposite = OFFICE.opposite()
    assert opposite.name == "non-office"
    for hour in range(24):
        moment = utc(2026, 12, 7, hour, 15)
        assert is_open(moment) != is_open(moment, opposite)
    assert is_open(utc(2026, 12, 5, 10, 0), opposite)  # the weekend is "non-office"


def test_holiday_schedule_uses_the_local_date() -> None:
    holiday = Criterion(name="xmas", holiday_schedule="xmas")
    # 23 Dec 23:30 UTC is already 24 Dec in Brussels
    assert criterion_matches(holiday, ANYONE, local_time(utc(2026, 12, 23, 23, 30), BRUSSELS), BOOK)
    assert not criterion_matches(holiday, ANYONE, local_time(utc(2026, 12, 23, 22, 30), BRUSSELS), BOOK)


@pytest.mark.parametrize(("pattern", "forms", "expected"), [
    ("025550000", ("+3225550000", "025550000"), True),
    ("+3225550000", ("+3225550000", "025550000"), True),
    ("02555*", ("+3225550000", "025550000"), True),
    ("+322555????", ("+3225550000", "025550000"), True),
    ("+322555???", ("+3225550000", "025550000"), False),
    ("3225550000", ("+3225550000", "025550000"), False),  # without + only national forms and extensions
    ("20?", ("+3222211201", "022211201", "201"), True),
    ("*", ("201",), True),
])
def test_number_patterns(pattern: str, forms: tuple[str, ...], expected: bool) -> None:
    assert number_matches(pattern, forms) is expected


def test_criteria_calls_from() -> None:
    when = local_time(utc(2026, 12, 7, 9, 0), BRUSSELS)
    specific = Criterion(name="c", calls_from="specific", numbers=("0255*",), include_anonymous=True)
    assert criterion_matches(specific, ANYONE, when, BOOK)
    assert criterion_matches(specific, CallerNumbers("anonymous"), when, BOOK)
    assert not criterion_matches(specific, CallerNumbers("unavailable"), when, BOOK)
    assert not criterion_matches(specific, CallerNumbers("internal", ("+3222211201", "022211201", "201")),
                                 when, BOOK)
    unavailable = Criterion(name="u", calls_from="specific", include_unavailable=True)
    assert criterion_matches(unavailable, CallerNumbers("unavailable"), when, BOOK)
    assert not criterion_matches(Criterion(name="off", active=False), ANYONE, when, BOOK)
    # a schedule that does not exist never matches: a call never fails because a setting is odd
    assert not criterion_matches(Criterion(name="x", time_schedule="gone"), ANYONE, when, BOOK)


def test_group_schedules_are_found_after_the_users_own() -> None:
    group_office = Schedule(name="office", level="group", days=(DaySchedule(active=True, start=0, end=1440),) * 7)
    when = local_time(utc(2026, 12, 5, 10, 0), BRUSSELS)  # Saturday: the user's office is closed
    criterion = Criterion(name="c", time_schedule="office")
    assert not criterion_matches(criterion, ANYONE, when, ScheduleBook(user_time=(OFFICE,), group_time=(group_office,)))
    assert criterion_matches(criterion, ANYONE, when, ScheduleBook(group_time=(group_office,)))


def test_service_applies() -> None:
    when = local_time(utc(2026, 12, 7, 9, 0), BRUSSELS)
    assert service_applies((), ANYONE, when, BOOK)  # no criteria: always
    normal = Criterion(name="office", time_schedule="office")
    black = Criterion(name="boss", calls_from="specific", numbers=("025550000",), blacklisted=True)
    assert service_applies((normal,), ANYONE, when, BOOK)
    assert not service_applies((normal, black), ANYONE, when, BOOK)
    assert not service_applies((black,), CallerNumbers("external", ("+3226660000", "026660000")), when, BOOK)
    assert not service_applies((Criterion(name="off", active=False),), ANYONE, when, BOOK)
