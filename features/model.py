"""Per-user service settings: what every call feature reads and what the portal and provisioning edit.

Implements the settings, defaults and limits of `reference/features.md` (BroadWorks field names and
limits): forwarding (always / busy / no answer / unreachable), do not disturb, CLIR, CLID delivery, COLR,
call waiting, voicemail, selective simultaneous and sequential ring with their criteria, time and holiday
schedules, busy lamp field and the personal phone directory, gathered in the `ServiceSettings` aggregate.

Every class is a frozen, keyword-only, slotted dataclass that checks itself when built and raises
`SettingError` naming the bad field relative to itself (`rings`, `numbers[3].number`).
`from_dict(data, path)` reads the plain JSON/TOML form, rejects unknown keys and wrong types, and reports
EVERY problem with full paths prefixed by `path` (`users[2].services.forward_no_answer.rings`).
`to_dict()` gives the plain form back (`None` values are left out, so it is also valid TOML), and
`from_dict(x.to_dict()) == x` for every value.

This is the innermost domain: it imports nothing else of ours and knows nothing of SQL, SIP, TOML files,
HTTP, time zones or which users exist (references to other users and to group schedules are checked by
provisioning).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Final, Literal, Self, TypeVar, cast

__all__ = [
    "MAX_BLF_MONITORED",
    "MAX_CONTACTS",
    "MAX_CRITERIA",
    "MAX_CRITERION_NUMBERS",
    "MAX_HOLIDAY_PERIODS",
    "MAX_SCHEDULES",
    "MAX_SEQUENTIAL_LOCATIONS",
    "MAX_SIMULTANEOUS_NUMBERS",
    "WEEKDAYS",
    "Blf",
    "CallWaiting",
    "ClidDelivery",
    "Clir",
    "Colr",
    "Criterion",
    "DaySchedule",
    "DoNotDisturb",
    "ForwardAlways",
    "ForwardBusy",
    "ForwardNoAnswer",
    "ForwardUnreachable",
    "HolidayPeriod",
    "HolidaySchedule",
    "PersonalContact",
    "Problem",
    "Schedule",
    "ScheduleReference",
    "SequentialLocation",
    "SequentialRing",
    "ServiceSettings",
    "SettingError",
    "SimultaneousRing",
    "SimultaneousRingNumber",
    "TableReader",
    "Voicemail",
    "clean_dial_string",
    "format_minutes",
    "join_path",
    "parse_minutes",
]

# -- limits (features.md; BroadWorks schema where the guide is silent) ---------------------------------------
MAX_SIMULTANEOUS_NUMBERS: Final = 10
MAX_SEQUENTIAL_LOCATIONS: Final = 5
MAX_CRITERION_NUMBERS: Final = 12
MAX_CRITERIA: Final = 20  # per service; our choice (the guide shows a list, BroadWorks has no small limit)
MAX_BLF_MONITORED: Final = 200  # our choice: a T48 has 29 keys, a BLF list (over TCP) can carry many more
MAX_CONTACTS: Final = 1000  # personal phone directory entries
MAX_SCHEDULES: Final = 50  # per user, time and holiday schedules together
MAX_HOLIDAY_PERIODS: Final = 50
MAX_NAME: Final = 40  # BroadWorks name length for schedules and criteria
MAX_CONTACT_NAME: Final = 80
NO_ANSWER_RINGS: Final = "0 or 2..20"  # never 1 (features.md "Ring counting")
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Problem = tuple[str, str]
"""(field path, message)."""


class SettingError(ValueError):
    """One or more invalid settings. `problems` lists every (field path, message); the first is also
    exposed as `field_path`/`message`. `str()` gives one `path: message` per line."""

    def __init__(self, field_path: str, message: str, *, more: Sequence[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = ((field_path, message), *more)
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in self.problems))

    @property
    def field_path(self) -> str:
        return self.problems[0][0]

    @property
    def message(self) -> str:
        return self.problems[0][1]

    @classmethod
    def many(cls, problems: Sequence[Problem]) -> SettingError:
        if not problems:
            raise ValueError("SettingError.many() needs at least one problem")
        return cls(problems[0][0], problems[0][1], more=problems[1:])

    def prefixed(self, prefix: str) -> SettingError:
        """The same problems with `prefix` put in front of every path (`rings` -> `services.x.rings`)."""
        return SettingError.many([(join_path(prefix, p), m) for p, m in self.problems])


def join_path(prefix: str, path: str) -> str:
    """`join_path("a", "b") == "a.b"`, `join_path("a", "[0].b") == "a[0].b"`; an empty side is dropped."""
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _raise_if(problems: Iterable[Problem]) -> None:
    found = list(problems)
    if found:
        raise SettingError.many(found)


# -- value checks --------------------------------------------------------------------------------------------
_DIAL: Final = re.compile(r"\+?[0-9]{1,30}")
_PATTERN: Final = re.compile(r"\+?[0-9?]*\*?")
_USER_REF: Final = re.compile(r"[A-Za-z0-9._@+-]{1,80}")
_URI_USER: Final = re.compile(r"[A-Za-z0-9._~+-]{1,64}")
_SEPARATORS: Final = str.maketrans("", "", " .-/\u00a0")
_HHMM: Final = re.compile(r"(\d{1,2}):(\d{2})")


def clean_dial_string(text: str) -> str:
    """Drop the visual separators people type in numbers (spaces, dots, dashes, slashes): `02 221.10/89`."""
    return text.translate(_SEPARATORS)


def _dial_problem(number: str) -> str | None:
    if _DIAL.fullmatch(number) is None:
        return f"must be a number (digits, optional leading +), got {number!r}"
    return None


def _rings_problem(rings: int, *, allow_zero: bool) -> str | None:
    if rings == 0 and allow_zero:
        return None
    if not 2 <= rings <= 20:
        allowed = NO_ANSWER_RINGS if allow_zero else "2..20"
        return f"must be {allowed}, got {rings}"
    return None


def _name_problems(path: str, name: str, limit: int = MAX_NAME) -> Iterator[Problem]:
    if not name.strip():
        yield path, "must not be empty"
    elif len(name) > limit:
        yield path, f"must be at most {limit} characters, got {len(name)}"
    elif name != name.strip():
        yield path, "must not start or end with spaces"


def _count_problem(items: Sequence[object], limit: int, what: str) -> str | None:
    if len(items) > limit:
        return f"at most {limit} {what}, got {len(items)}"
    return None


def parse_minutes(text: str) -> int:
    """`"09:30"` -> 570. Accepts `00:00`..`24:00` (24:00 is the end of the day). Raises ValueError."""
    m = _HHMM.fullmatch(text)
    if m is None:
        raise ValueError(f"must be a time HH:MM, got {text!r}")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"must be a time between 00:00 and 24:00, got {text!r}")
    return hours * 60 + minutes


def format_minutes(minutes: int) -> str:
    """570 -> `"09:30"`."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# -- reading plain dicts -------------------------------------------------------------------------------------
_MISSING: Final = object()
T = TypeVar("T")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


class TableReader:
    """Reads one table of a plain (JSON/TOML) dict, recording every problem in a shared list instead of
    stopping: typed getters with defaults, `items()` for lists, `sub()` for nested settings, `build()` to
    construct (constructor problems get this table's path) and report unknown keys. Shared with the
    provisioning file reader so both report problems the same way."""

    def __init__(self, data: object, path: str, errors: list[Problem]) -> None:
        self.path = path
        self.errors = errors
        self._start = len(errors)
        self._used: set[str] = set()
        if isinstance(data, Mapping):
            self.data: Mapping[str, Any] = data
        else:
            errors.append((path, f"must be a table, got {_kind(data)}"))
            self.data = {}

    def at(self, key: str) -> str:
        return join_path(self.path, key)

    def error(self, key: str, message: str) -> None:
        self.errors.append((self.at(key), message))

    def _get(self, key: str) -> object:
        self._used.add(key)
        return self.data.get(key, _MISSING)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object | None:
        """The value as read (None when absent), for the caller to check; marks the key as known."""
        value = self._get(key)
        return None if value is _MISSING else value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, got {_kind(value)}")
            return default
        return value

    def integer(self, key: str, default: int) -> int:
        value = self._get(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"must be an integer, got {_kind(value)}")
            return default
        return value

    def text(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.error(key, f"must be a string, got {_kind(value)}")
            return default
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str):
            self.error(key, f"must be a string, got {_kind(value)}")
            return None
        return value

    def number(self, key: str) -> str | None:
        value = self.opt_text(key)
        return None if value is None else clean_dial_string(value)

    def choice(self, key: str, default: str, allowed: Sequence[str]) -> str:
        value = self.text(key, default)
        if value not in allowed:
            self.error(key, f"must be one of {', '.join(allowed)}, got {value!r}")
            return default
        return value

    def minutes(self, key: str, default: int) -> int:
        value = self._get(key)
        if value is _MISSING:
            return default
        if isinstance(value, time):
            return value.hour * 60 + value.minute
        if not isinstance(value, str):
            self.error(key, f"must be a time HH:MM, got {_kind(value)}")
            return default
        try:
            return parse_minutes(value)
        except ValueError as exc:
            self.error(key, str(exc))
            return default

    def day(self, key: str, default: date | None = None) -> date | None:
        """A date (TOML date or "YYYY-MM-DD"); required when `default` is None."""
        value = self._get(key)
        if value is _MISSING:
            if default is None:
                self.error(key, "is required")
            return default
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.error(key, f"must be a date YYYY-MM-DD, got {value!r}")
        return default

    def required(self, key: str) -> str:
        if not self.has(key):
            self._used.add(key)
            self.error(key, "is required")
            return ""
        return self.text(key, "")

    def items(self, key: str, item: Callable[[object, str, list[Problem]], T | None]) -> tuple[T, ...]:
        value = self._get(key)
        if value is _MISSING:
            return ()
        if not isinstance(value, list | tuple):
            self.error(key, f"must be a list, got {_kind(value)}")
            return ()
        out: list[T] = []
        for i, element in enumerate(value):
            parsed = item(element, f"{self.at(key)}[{i}]", self.errors)
            if parsed is not None:
                out.append(parsed)
        return tuple(out)

    def strings(self, key: str, *, numbers: bool = False) -> tuple[str, ...]:
        def one(element: object, path: str, errors: list[Problem]) -> str | None:
            if not isinstance(element, str):
                errors.append((path, f"must be a string, got {_kind(element)}"))
                return None
            return clean_dial_string(element) if numbers else element

        return self.items(key, one)

    def sub(self, key: str, cls: type[_S]) -> _S:
        value = self._get(key)
        if value is _MISSING:
            return cls()
        built = cls._read(TableReader(value, self.at(key), self.errors))
        return cls() if built is None else built

    def finish(self) -> None:
        for key in self.data:
            if key not in self._used:
                self.errors.append((self.at(str(key)), "unknown key"))

    def build(self, cls: Callable[..., T], **kwargs: Any) -> T | None:
        """Construct unless a value of this table was unreadable; constructor problems get our path, and
        unknown keys are reported either way (None when anything was wrong)."""
        built: T | None = None
        if len(self.errors) == self._start:
            try:
                built = cls(**kwargs)
            except SettingError as exc:
                self.errors.extend(exc.prefixed(self.path).problems)
        self.finish()
        return built if len(self.errors) == self._start else None


def _item_reader(cls: type[_S]) -> Callable[[object, str, list[Problem]], _S | None]:
    def read(element: object, path: str, errors: list[Problem]) -> _S | None:
        return cls._read(TableReader(element, path, errors))

    return read


class _Setting:
    """Shared behaviour: check at construction, `validate()`, `from_dict()`."""

    __slots__ = ()

    def _problems(self) -> Iterator[Problem]:
        return iter(())

    def __post_init__(self) -> None:
        _raise_if(self._problems())

    def validate(self) -> None:
        """Raise `SettingError` listing every problem (paths relative to this object)."""
        _raise_if(self._problems())

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "") -> Self:
        """Build from the plain form; raise `SettingError` with every problem, paths prefixed with `path`."""
        errors: list[Problem] = []
        built = cls._read(TableReader(data, path, errors))
        if errors or built is None:
            raise SettingError.many(errors or [(path, "invalid")])
        return built

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


_S = TypeVar("_S", bound=_Setting)


# -- forwarding ----------------------------------------------------------------------------------------------
def _forward_problems(active: bool, number: str | None) -> Iterator[Problem]:
    if number is not None and (problem := _dial_problem(number)) is not None:
        yield "number", problem
    elif active and not number:
        yield "number", "is required when the forward is active"


@dataclass(frozen=True, kw_only=True, slots=True)
class ForwardAlways(_Setting):
    """Call forwarding always (CFA): every call is re-targeted at once; `ring_reminder`: a short splash."""

    active: bool = False
    number: str | None = None
    ring_reminder: bool = False

    def _problems(self) -> Iterator[Problem]:
        yield from _forward_problems(self.active, self.number)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(cls, active=r.flag("active", False), number=r.number("number"),
                       ring_reminder=r.flag("ring_reminder", False))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"active": self.active, "number": self.number, "ring_reminder": self.ring_reminder})


@dataclass(frozen=True, kw_only=True, slots=True)
class _Forward(_Setting):
    """A forwarding service with only an on/off switch and a target number."""

    active: bool = False
    number: str | None = None

    def _problems(self) -> Iterator[Problem]:
        yield from _forward_problems(self.active, self.number)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(cls, active=r.flag("active", False), number=r.number("number"))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"active": self.active, "number": self.number})


@dataclass(frozen=True, kw_only=True, slots=True)
class ForwardBusy(_Forward):
    """Call forwarding busy (CFB): the user is busy (on a call with call waiting off, every device busy)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ForwardNoAnswer(_Setting):
    """Call forwarding no answer (CFNA) after `rings` x `seconds_per_ring`.

    `rings` (0 or 2..20, default 3) is also the number of rings before voicemail, forward active or not:
    the guide has one field for both (`ServiceSettings.no_answer_rings`). 0 means at once.
    """

    active: bool = False
    number: str | None = None
    rings: int = 3

    def _problems(self) -> Iterator[Problem]:
        yield from _forward_problems(self.active, self.number)
        if (problem := _rings_problem(self.rings, allow_zero=True)) is not None:
            yield "rings", problem

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(cls, active=r.flag("active", False), number=r.number("number"),
                       rings=r.integer("rings", 3))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"active": self.active, "number": self.number, "rings": self.rings})


@dataclass(frozen=True, kw_only=True, slots=True)
class ForwardUnreachable(_Forward):
    """Call forwarding not reachable: no device registered. Off: handled as no answer, at once."""


# -- simple switches -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class DoNotDisturb(_Setting):
    """DND: callers go to voicemail if active, else busy (486); `ring_reminder` splashes the phone."""

    active: bool = False
    ring_reminder: bool = False

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(cls, active=r.flag("active", False), ring_reminder=r.flag("ring_reminder", False))

    def to_dict(self) -> dict[str, Any]:
        return {"active": self.active, "ring_reminder": self.ring_reminder}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Toggle(_Setting):
    """A service that is only on or off; each subclass states its default by redeclaring `active`."""

    active: bool = False

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        default: bool = cls.__dataclass_fields__["active"].default  # type: ignore[assignment]
        return r.build(cls, active=r.flag("active", default))

    def to_dict(self) -> dict[str, Any]:
        return {"active": self.active}


@dataclass(frozen=True, kw_only=True, slots=True)
class Clir(_Toggle):
    """Calling line identity restriction: parties outside the group see "anonymous" (`*65`/`*67` per call)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClidDelivery(_Toggle):
    """Calling line ID delivery (external or internal callers): off shows callers as anonymous."""

    active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Colr(_Toggle):
    """Connected line identity restriction: a caller is not shown who answered."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallWaiting(_Toggle):
    """Call waiting, default on; off: a user on a call is busy for a new call."""

    active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Voicemail(_Toggle):
    """Voicemail: busy / no answer / DND calls reach the mailbox. (Greeting choice, PIN: not yet.)"""


# -- schedules -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class DaySchedule(_Setting):
    """One weekday of a time schedule. Times are minutes since midnight (0..1440; 1440 = 24:00), in the
    group's time zone. Open when `active` and start <= t < end, except lunch_start <= t < lunch_end."""

    active: bool = False
    start: int = 9 * 60
    end: int = 17 * 60
    lunch_active: bool = False
    lunch_start: int = 12 * 60
    lunch_end: int = 13 * 60

    def _problems(self) -> Iterator[Problem]:
        bad = False
        for name in ("start", "end", "lunch_start", "lunch_end"):
            value = getattr(self, name)
            if not 0 <= value <= 1440:
                bad = True
                yield name, f"must be between 00:00 and 24:00, got {value} minutes"
        if bad:
            return
        if self.active and self.start >= self.end:
            yield "end", f"must be after start ({format_minutes(self.start)}), got {format_minutes(self.end)}"
        elif self.active and self.lunch_active:
            if self.lunch_start >= self.lunch_end:
                yield "lunch_end", (f"must be after lunch_start ({format_minutes(self.lunch_start)}), "
                                    f"got {format_minutes(self.lunch_end)}")
            elif self.lunch_start < self.start or self.lunch_end > self.end:
                yield "lunch_start", (f"lunch break {format_minutes(self.lunch_start)}-"
                                      f"{format_minutes(self.lunch_end)} must lie within "
                                      f"{format_minutes(self.start)}-{format_minutes(self.end)}")

    def is_open(self, minute: int) -> bool:
        if not self.active or not self.start <= minute < self.end:
            return False
        return not (self.lunch_active and self.lunch_start <= minute < self.lunch_end)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        lunch_given = r.has("lunch_start") or r.has("lunch_end")
        return r.build(
            cls, active=r.flag("active", True), start=r.minutes("start", 9 * 60),
            end=r.minutes("end", 17 * 60),
            lunch_active=r.flag("lunch_active", lunch_given), lunch_start=r.minutes("lunch_start", 12 * 60),
            lunch_end=r.minutes("lunch_end", 13 * 60),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active, "start": format_minutes(self.start), "end": format_minutes(self.end),
            "lunch_active": self.lunch_active, "lunch_start": format_minutes(self.lunch_start),
            "lunch_end": format_minutes(self.lunch_end),
        }


_CLOSED_WEEK: Final = tuple(DaySchedule() for _ in WEEKDAYS)


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule(_Setting):
    """A weekly time schedule, `level` "user" (the user's own) or "group" (read-only for users).

    `days` holds Monday..Sunday. `inverted` marks an "opposite" schedule (see `opposite()`): it is open
    exactly when the days say closed, which covers "18:00 to 09:00 next day" and closed days exactly.
    In the plain form the days are keys `monday`..`sunday`; an absent day is closed.
    """

    name: str
    level: Literal["user", "group"] = "user"
    days: tuple[DaySchedule, ...] = _CLOSED_WEEK
    inverted: bool = False

    def _problems(self) -> Iterator[Problem]:
        yield from _name_problems("name", self.name)
        if self.level not in ("user", "group"):
            yield "level", f"must be user or group, got {self.level!r}"
        if len(self.days) != 7:
            yield "days", f"must hold 7 days (Monday first), got {len(self.days)}"

    def is_open(self, weekday: int, minute: int) -> bool:
        """Open on `weekday` (0 = Monday) at `minute` past local midnight?"""
        return self.days[weekday].is_open(minute) != self.inverted

    def opposite(self) -> Schedule:
        """The portal's "associate the opposite schedule": `non-<name>`, open whenever this one is closed."""
        return Schedule(name=f"non-{self.name}", level=self.level, days=self.days, inverted=not self.inverted)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        name = r.required("name")
        level = r.choice("level", "user", ("user", "group"))
        days = tuple(r.sub(day, DaySchedule) if r.has(day) else DaySchedule() for day in WEEKDAYS)
        return r.build(cls, name=name, level=level, days=days, inverted=r.flag("inverted", False))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "level": self.level, "inverted": self.inverted}
        for day_name, day in zip(WEEKDAYS, self.days, strict=True):
            if day != DaySchedule():
                out[day_name] = day.to_dict()
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class HolidayPeriod(_Setting):
    """Whole days from `start` to `end` inclusive, in the group's time zone."""

    start: date
    end: date
    label: str | None = None

    def _problems(self) -> Iterator[Problem]:
        if self.end < self.start:
            yield "end", f"must not be before start ({self.start.isoformat()}), got {self.end.isoformat()}"
        if self.label is not None:
            yield from _name_problems("label", self.label)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        start = r.day("start")
        end = r.day("end", start)
        return r.build(cls, start=start, end=end, label=r.opt_text("label"))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label})


@dataclass(frozen=True, kw_only=True, slots=True)
class HolidaySchedule(_Setting):
    """A holiday schedule: a list of dated periods (a criterion's "holiday schedule")."""

    name: str
    level: Literal["user", "group"] = "user"
    periods: tuple[HolidayPeriod, ...] = ()

    def _problems(self) -> Iterator[Problem]:
        yield from _name_problems("name", self.name)
        if self.level not in ("user", "group"):
            yield "level", f"must be user or group, got {self.level!r}"
        if (problem := _count_problem(self.periods, MAX_HOLIDAY_PERIODS, "periods")) is not None:
            yield "periods", problem

    def contains(self, day: date) -> bool:
        return any(p.contains(day) for p in self.periods)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(cls, name=r.required("name"), level=r.choice("level", "user", ("user", "group")),
                       periods=r.items("periods", _item_reader(HolidayPeriod)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "periods": [p.to_dict() for p in self.periods]}


# -- criteria and selective ringing --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScheduleReference:
    """A criterion's use of a schedule by name: `path` is relative to `ServiceSettings`."""

    path: str
    kind: Literal["time", "holiday"]
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Criterion(_Setting):
    """When a selective service applies: a schedule (None = always) and who calls.

    `calls_from` "any" matches every caller; "specific" matches a caller whose number matches one of
    `numbers` (digit patterns: digits, `?` for one digit, a final `*` for any rest, optional leading `+`),
    or an anonymous caller when `include_anonymous`, or a caller with no number when
    `include_unavailable`. A matching `blacklisted` criterion beats a matching normal one (the service
    does NOT apply).
    """

    name: str
    active: bool = True
    time_schedule: str | None = None
    holiday_schedule: str | None = None
    calls_from: Literal["any", "specific"] = "any"
    numbers: tuple[str, ...] = ()
    include_anonymous: bool = False
    include_unavailable: bool = False
    blacklisted: bool = False

    def _problems(self) -> Iterator[Problem]:
        yield from _name_problems("name", self.name)
        if self.calls_from not in ("any", "specific"):
            yield "calls_from", f"must be any or specific, got {self.calls_from!r}"
        if (problem := _count_problem(self.numbers, MAX_CRITERION_NUMBERS, "numbers")) is not None:
            yield "numbers", problem
        for i, number in enumerate(self.numbers):
            if not number or _PATTERN.fullmatch(number) is None or number == "+":
                yield f"numbers[{i}]", f"must be digits with optional ? and a final *, got {number!r}"
        if len(set(self.numbers)) != len(self.numbers):
            yield "numbers", "must not repeat a number"
        if self.calls_from == "specific" and not (self.numbers or self.include_anonymous or
                                                  self.include_unavailable):
            yield "calls_from", "specific callers need numbers, include_anonymous or include_unavailable"
        for key in ("time_schedule", "holiday_schedule"):
            value = getattr(self, key)
            if value is not None:
                yield from _name_problems(key, value)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(
            cls, name=r.required("name"), active=r.flag("active", True),
            time_schedule=r.opt_text("time_schedule"), holiday_schedule=r.opt_text("holiday_schedule"),
            calls_from=r.choice("calls_from", "any", ("any", "specific")),
            numbers=r.strings("numbers", numbers=True), include_anonymous=r.flag("include_anonymous", False),
            include_unavailable=r.flag("include_unavailable", False),
            blacklisted=r.flag("blacklisted", False),
        )

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({
            "name": self.name, "active": self.active, "time_schedule": self.time_schedule,
            "holiday_schedule": self.holiday_schedule, "calls_from": self.calls_from,
            "numbers": list(self.numbers),
            "include_anonymous": self.include_anonymous, "include_unavailable": self.include_unavailable,
            "blacklisted": self.blacklisted,
        })


def _criteria_problems(criteria: Sequence[Criterion]) -> Iterator[Problem]:
    if (problem := _count_problem(criteria, MAX_CRITERIA, "criteria")) is not None:
        yield "criteria", problem
    seen: set[str] = set()
    for i, criterion in enumerate(criteria):
        if criterion.name in seen:
            yield f"criteria[{i}].name", f"duplicate criterion name {criterion.name!r}"
        seen.add(criterion.name)


@dataclass(frozen=True, kw_only=True, slots=True)
class SimultaneousRingNumber(_Setting):
    number: str
    answer_confirmation: bool = False

    def _problems(self) -> Iterator[Problem]:
        if (problem := _dial_problem(self.number)) is not None:
            yield "number", problem

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        number = r.required("number")
        return r.build(cls, number=clean_dial_string(number),
                       answer_confirmation=r.flag("answer_confirmation", False))

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "answer_confirmation": self.answer_confirmation}


@dataclass(frozen=True, kw_only=True, slots=True)
class SimultaneousRing(_Setting):
    """Selective simultaneous ring: up to 10 extra numbers ring with the user's devices (no-answer time).

    Applies to a call when a criterion matches it; with no criteria it applies to every call (our choice).
    `do_not_ring_if_on_call` skips the extra numbers while the user is on a call.
    """

    active: bool = False
    do_not_ring_if_on_call: bool = True
    numbers: tuple[SimultaneousRingNumber, ...] = ()
    criteria: tuple[Criterion, ...] = ()

    def _problems(self) -> Iterator[Problem]:
        if (problem := _count_problem(self.numbers, MAX_SIMULTANEOUS_NUMBERS, "numbers")) is not None:
            yield "numbers", problem
        seen: set[str] = set()
        for i, entry in enumerate(self.numbers):
            if entry.number in seen:
                yield f"numbers[{i}].number", f"duplicate number {entry.number!r}"
            seen.add(entry.number)
        if self.active and not self.numbers:
            yield "numbers", "at least one number is required when simultaneous ring is active"
        yield from _criteria_problems(self.criteria)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(
            cls, active=r.flag("active", False),
            do_not_ring_if_on_call=r.flag("do_not_ring_if_on_call", True),
            numbers=r.items("numbers", _item_reader(SimultaneousRingNumber)),
            criteria=r.items("criteria", _item_reader(Criterion)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active, "do_not_ring_if_on_call": self.do_not_ring_if_on_call,
            "numbers": [n.to_dict() for n in self.numbers], "criteria": [c.to_dict() for c in self.criteria],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SequentialLocation(_Setting):
    number: str
    rings: int = 3
    answer_confirmation: bool = False

    def _problems(self) -> Iterator[Problem]:
        if (problem := _dial_problem(self.number)) is not None:
            yield "number", problem
        if (problem := _rings_problem(self.rings, allow_zero=False)) is not None:
            yield "rings", problem

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        number = r.required("number")
        return r.build(cls, number=clean_dial_string(number), rings=r.integer("rings", 3),
                       answer_confirmation=r.flag("answer_confirmation", False))

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "rings": self.rings, "answer_confirmation": self.answer_confirmation}


@dataclass(frozen=True, kw_only=True, slots=True)
class SequentialRing(_Setting):
    """Selective sequential ring: the base location (the user's devices) first for `base_rings` when
    `ring_base_first`, then each of up to 5 locations in order for its rings. With no criteria it applies to
    every call (our choice)."""

    active: bool = False
    ring_base_first: bool = True
    base_rings: int = 3
    continue_if_base_busy: bool = True
    caller_may_stop_search: bool = True
    locations: tuple[SequentialLocation, ...] = ()
    criteria: tuple[Criterion, ...] = ()

    def _problems(self) -> Iterator[Problem]:
        if (problem := _rings_problem(self.base_rings, allow_zero=False)) is not None:
            yield "base_rings", problem
        if (problem := _count_problem(self.locations, MAX_SEQUENTIAL_LOCATIONS, "locations")) is not None:
            yield "locations", problem
        if self.active and not self.locations:
            yield "locations", "at least one location is required when sequential ring is active"
        yield from _criteria_problems(self.criteria)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(
            cls, active=r.flag("active", False), ring_base_first=r.flag("ring_base_first", True),
            base_rings=r.integer("base_rings", 3),
            continue_if_base_busy=r.flag("continue_if_base_busy", True),
            caller_may_stop_search=r.flag("caller_may_stop_search", True),
            locations=r.items("locations", _item_reader(SequentialLocation)),
            criteria=r.items("criteria", _item_reader(Criterion)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active, "ring_base_first": self.ring_base_first, "base_rings": self.base_rings,
            "continue_if_base_busy": self.continue_if_base_busy,
            "caller_may_stop_search": self.caller_may_stop_search,
            "locations": [loc.to_dict() for loc in self.locations],
            "criteria": [c.to_dict() for c in self.criteria],
        }


# -- busy lamp field and directory ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class Blf(_Setting):
    """Busy lamp field: `monitored_users` (user ids, in key order); `list_uri` is the user part of this
    user's RFC 4662 list URI (None: per-key subscriptions only). "Who may monitor me": `privacy` "all"
    (anyone of the group) or "listed" (only `allowed_watchers`)."""

    monitored_users: tuple[str, ...] = ()
    list_uri: str | None = None
    privacy: Literal["all", "listed"] = "all"
    allowed_watchers: tuple[str, ...] = ()

    def _problems(self) -> Iterator[Problem]:
        if (problem := _count_problem(self.monitored_users, MAX_BLF_MONITORED, "users")) is not None:
            yield "monitored_users", problem
        for key in ("monitored_users", "allowed_watchers"):
            values: tuple[str, ...] = getattr(self, key)
            seen: set[str] = set()
            for i, user_id in enumerate(values):
                if _USER_REF.fullmatch(user_id) is None:
                    yield f"{key}[{i}]", f"must be a user id, got {user_id!r}"
                elif user_id in seen:
                    yield f"{key}[{i}]", f"duplicate user {user_id!r}"
                seen.add(user_id)
        if self.list_uri is not None and _URI_USER.fullmatch(self.list_uri) is None:
            yield "list_uri", ("must be the user part of a SIP URI (letters, digits, . _ ~ + -), "
                               f"got {self.list_uri!r}")
        if self.privacy not in ("all", "listed"):
            yield "privacy", f"must be all or listed, got {self.privacy!r}"

    def may_be_watched_by(self, user_id: str) -> bool:
        return self.privacy == "all" or user_id in self.allowed_watchers

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        return r.build(
            cls, monitored_users=r.strings("monitored_users"), list_uri=r.opt_text("list_uri"),
            privacy=r.choice("privacy", "all", ("all", "listed")),
            allowed_watchers=r.strings("allowed_watchers"),
        )

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({
            "monitored_users": list(self.monitored_users), "list_uri": self.list_uri, "privacy": self.privacy,
            "allowed_watchers": list(self.allowed_watchers),
        })


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonalContact(_Setting):
    """An entry of the user's personal phone directory."""

    name: str
    number: str

    def _problems(self) -> Iterator[Problem]:
        yield from _name_problems("name", self.name, MAX_CONTACT_NAME)
        if (problem := _dial_problem(self.number)) is not None:
            yield "number", problem

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        name = r.required("name")
        return r.build(cls, name=name, number=clean_dial_string(r.required("number")))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "number": self.number}


# -- the aggregate -------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSettings(_Setting):
    """Everything a user can set (portal "Paramètres", "Paramètres avancés", BLF, directory, schedules).

    `schedules`/`holiday_schedules` are the user's own (level "user"); criteria may also name group
    schedules, which provisioning checks (`schedule_references()`), as it checks that BLF user ids exist.
    A name is looked up among the user's schedules first, then the group's.
    """

    forward_always: ForwardAlways = field(default_factory=ForwardAlways)
    forward_busy: ForwardBusy = field(default_factory=ForwardBusy)
    forward_no_answer: ForwardNoAnswer = field(default_factory=ForwardNoAnswer)
    forward_unreachable: ForwardUnreachable = field(default_factory=ForwardUnreachable)
    dnd: DoNotDisturb = field(default_factory=DoNotDisturb)
    clir: Clir = field(default_factory=Clir)
    external_clid_delivery: ClidDelivery = field(default_factory=ClidDelivery)
    internal_clid_delivery: ClidDelivery = field(default_factory=ClidDelivery)
    colr: Colr = field(default_factory=Colr)
    call_waiting: CallWaiting = field(default_factory=CallWaiting)
    voicemail: Voicemail = field(default_factory=Voicemail)
    simultaneous_ring: SimultaneousRing = field(default_factory=SimultaneousRing)
    sequential_ring: SequentialRing = field(default_factory=SequentialRing)
    blf: Blf = field(default_factory=Blf)
    contacts: tuple[PersonalContact, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    holiday_schedules: tuple[HolidaySchedule, ...] = ()

    @property
    def no_answer_rings(self) -> int:
        """Rings before forward-on-no-answer AND before voicemail (one field in the guide)."""
        return self.forward_no_answer.rings

    def _problems(self) -> Iterator[Problem]:
        if (problem := _count_problem(self.contacts, MAX_CONTACTS, "contacts")) is not None:
            yield "contacts", problem
        total = len(self.schedules) + len(self.holiday_schedules)
        if total > MAX_SCHEDULES:
            yield "schedules", f"at most {MAX_SCHEDULES} schedules (time and holiday), got {total}"
        seen: set[str] = set()
        named: list[tuple[str, Schedule | HolidaySchedule]] = [
            *((f"schedules[{i}]", s) for i, s in enumerate(self.schedules)),
            *((f"holiday_schedules[{i}]", s) for i, s in enumerate(self.holiday_schedules)),
        ]
        for path, schedule in named:
            if schedule.level != "user":
                yield f"{path}.level", "a user's own schedule must have level user"
            if schedule.name in seen:
                yield f"{path}.name", f"duplicate schedule name {schedule.name!r}"
            seen.add(schedule.name)

    def schedule_references(self) -> Iterator[ScheduleReference]:
        """Every schedule a criterion names, with its path (`sequential_ring.criteria[0].time_schedule`)."""
        for service in ("simultaneous_ring", "sequential_ring"):
            criteria: tuple[Criterion, ...] = getattr(self, service).criteria
            for i, criterion in enumerate(criteria):
                if criterion.time_schedule is not None:
                    yield ScheduleReference(f"{service}.criteria[{i}].time_schedule", "time",
                                            criterion.time_schedule)
                if criterion.holiday_schedule is not None:
                    yield ScheduleReference(f"{service}.criteria[{i}].holiday_schedule", "holiday",
                                            criterion.holiday_schedule)

    def schedule_named(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)

    def holiday_schedule_named(self, name: str) -> HolidaySchedule | None:
        return next((s for s in self.holiday_schedules if s.name == name), None)

    @classmethod
    def _read(cls, r: TableReader) -> Self | None:
        kwargs: dict[str, Any] = {name: r.sub(name, kind) for name, kind in _SINGLE_SERVICES}
        kwargs["contacts"] = r.items("contacts", _item_reader(PersonalContact))
        kwargs["schedules"] = r.items("schedules", _item_reader(Schedule))
        kwargs["holiday_schedules"] = r.items("holiday_schedules", _item_reader(HolidaySchedule))
        return r.build(cls, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: cast(_Setting, getattr(self, name)).to_dict() for name, _ in _SINGLE_SERVICES
        }
        out["contacts"] = [c.to_dict() for c in self.contacts]
        out["schedules"] = [s.to_dict() for s in self.schedules]
        out["holiday_schedules"] = [s.to_dict() for s in self.holiday_schedules]
        return out


_SINGLE_SERVICES: Final[tuple[tuple[str, type[_Setting]], ...]] = (
    ("forward_always", ForwardAlways),
    ("forward_busy", ForwardBusy),
    ("forward_no_answer", ForwardNoAnswer),
    ("forward_unreachable", ForwardUnreachable),
    ("dnd", DoNotDisturb),
    ("clir", Clir),
    ("external_clid_delivery", ClidDelivery),
    ("internal_clid_delivery", ClidDelivery),
    ("colr", Colr),
    ("call_waiting", CallWaiting),
    ("voicemail", Voicemail),
    ("simultaneous_ring", SimultaneousRing),
    ("sequential_ring", SequentialRing),
    ("blf", Blf),
)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
