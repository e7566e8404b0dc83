"""When does a selective service apply? Schedules in the group's time zone and the criteria that use them.

Implements the "Horaires" tab and the criteria of the "Paramètres avancés" tab (`reference/features.md`,
"Criteria" and "Schedules"): a moment is turned into the group's local wall-clock time (IANA zone, so DST
changes are exact), a time schedule is open on that weekday and minute (lunch break closed, an opposite
`non-<name>` schedule inverted), a holiday schedule holds that date, and a criterion matches when its
schedules are open and the caller matches its "calls from" choice. `service_applies()` is the rule shared by
simultaneous and sequential ring: no criteria means always; otherwise a matching blacklisted criterion
beats a matching normal one.

Pure: time comes in as epoch seconds, the caller as `CallerNumbers`; nothing here knows SIP, sockets,
storage, or which users exist. A criterion naming a schedule that cannot be found never matches (a call
never fails because a setting is odd).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from features.model import Criterion, HolidaySchedule, Schedule

__all__ = ["CallerNumbers", "LocalTime", "ScheduleBook", "criterion_matches", "local_time", "number_matches",
           "service_applies"]

CallerKind = Literal["internal", "external", "anonymous", "unavailable"]


@dataclass(init=False, unsafe_hash=True, slots=True)
class LocalTime:
    """A moment as the group's clocks show it."""

    day: Final[date]
    weekday: Final[int]  # 0 = Monday
    minute: Final[int]   # minutes since local midnight, 0..1439

    def __init__(self, day: date, weekday: int, minute: int) -> None:
        self.day = day
        self.weekday = weekday
        self.minute = minute


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(epoch: float, time_zone: str) -> LocalTime:
    """`epoch` (seconds, UTC) in `time_zone`; an unknown zone falls back to UTC."""
    zone = _zone(time_zone)
    moment = datetime.fromtimestamp(epoch, zone or UTC)
    return LocalTime(day=moment.date(), weekday=moment.weekday(), minute=moment.hour * 60 + moment.minute)


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallerNumbers:
    """Who calls, as criteria see them: `kind`, and every form of their number that a pattern may be written
    in (E.164 `+3222211201`, national `022211201`, extension `201`). Empty for anonymous/unavailable."""

    kind: Final[CallerKind]
    forms: Final[tuple[str, ...]]

    def __init__(self, kind: CallerKind, forms: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.forms = forms


@dataclass(init=False, unsafe_hash=True, slots=True)
class ScheduleBook:
    """The schedules a user's criteria may name: the user's own first, then the group's (features.md)."""

    user_time: Final[tuple[Schedule, ...]]
    user_holiday: Final[tuple[HolidaySchedule, ...]]
    group_time: Final[tuple[Schedule, ...]]
    group_holiday: Final[tuple[HolidaySchedule, ...]]

    def __init__(self, user_time: tuple[Schedule, ...] = (), user_holiday: tuple[HolidaySchedule, ...] = (),
                 group_time: tuple[Schedule, ...] = (), group_holiday: tuple[HolidaySchedule, ...] = ()) -> None:
        self.user_time = user_time
        self.user_holiday = user_holiday
        self.group_time = group_time
        self.group_holiday = group_holiday

    def time_schedule(self, name: str) -> Schedule | None:
        for schedule in self.user_time:
            if schedule.name == name:
                return schedule
        for schedule in self.group_time:
            if schedule.name == name:
                return schedule
        return None

    def holiday_schedule(self, name: str) -> HolidaySchedule | None:
        for holiday in self.user_holiday:
            if holiday.name == name:
                return holiday
        for holiday in self.group_holiday:
            if holiday.name == name:
                return holiday
        return None


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A criterion's digit pattern (`?` one digit, a final `*` any rest) as a regular expression."""
    body = pattern[:-1] if pattern.endswith("*") else pattern
    regex = re.escape(body).replace(r"\?", "[0-9]")
    return re.compile(regex + (".*" if pattern.endswith("*") else ""))


def number_matches(pattern: str, forms: Sequence[str]) -> bool:
    """Does one of the caller's number forms match `pattern`? A pattern with `+` is compared with E.164
    forms only; one without `+` with the national form and the extension."""
    compiled = _pattern(pattern)
    wants_e164 = pattern.startswith("+")
    return any(compiled.fullmatch(form) is not None for form in forms if form.startswith("+") == wants_e164)


def _caller_matches(criterion: Criterion, caller: CallerNumbers) -> bool:
    if criterion.calls_from == "any":
        return True
    if caller.kind == "anonymous":
        return criterion.include_anonymous
    if caller.kind == "unavailable" or not caller.forms:
        return criterion.include_unavailable
    return any(number_matches(pattern, caller.forms) for pattern in criterion.numbers)


def criterion_matches(criterion: Criterion, caller: CallerNumbers, when: LocalTime, book: ScheduleBook) -> bool:
    """Active, its time schedule open (None: always), `when` within its holiday schedule (None: any day),
    and the caller one of those it names."""
    if not criterion.active:
        return False
    if criterion.time_schedule is not None:
        schedule = book.time_schedule(criterion.time_schedule)
        if schedule is None or not schedule.is_open(when.weekday, when.minute):
            return False
    if criterion.holiday_schedule is not None:
        holiday = book.holiday_schedule(criterion.holiday_schedule)
        if holiday is None or not holiday.contains(when.day):
            return False
    return _caller_matches(criterion, caller)


def service_applies(criteria: Sequence[Criterion], caller: CallerNumbers, when: LocalTime,
                    book: ScheduleBook) -> bool:
    """A selective service applies to this call: with no criteria, always (our choice, features/model.py);
    otherwise when a normal criterion matches and no blacklisted one does."""
    if not criteria:
        return True
    matched_normal = False
    for criterion in criteria:
        if criterion_matches(criterion, caller, when, book):
            if criterion.blacklisted:
                return False
            matched_normal = True
    return matched_normal

