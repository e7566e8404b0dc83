"""Service settings: defaults, every limit, error paths, plain-dict round trips, schedules."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.model import (
    MAX_CRITERION_NUMBERS,
    MAX_SEQUENTIAL_LOCATIONS,
    MAX_SIMULTANEOUS_NUMBERS,
    Blf,
    CallWaiting,
    ClidDelivery,
    Criterion,
    DaySchedule,
    ForwardAlways,
    ForwardBusy,
    ForwardNoAnswer,
    HolidayPeriod,
    HolidaySchedule,
    PersonalContact,
    Schedule,
    SequentialLocation,
    SequentialRing,
    ServiceSettings,
    SettingError,
    SimultaneousRing,
    SimultaneousRingNumber,
    format_minutes,
    parse_minutes,
)


def problems_of(exc: pytest.ExceptionInfo[SettingError]) -> dict[str, str]:
    return dict(exc.value.problems)


# -- defaults --------------------------------------------------------------------------------------------
def test_defaults_follow_the_guide() -> None:
    s = ServiceSettings()
    assert s.forward_no_answer.rings == 3
    assert s.no_answer_rings == 3
    assert s.call_waiting.active is True
    assert s.external_clid_delivery.active is True
    assert s.internal_clid_delivery.active is True
    assert not (s.forward_always.active or s.forward_busy.active or s.forward_no_answer.active)
    assert not (s.dnd.active or s.clir.active or s.colr.active or s.voicemail.active)
    assert s.simultaneous_ring.do_not_ring_if_on_call is True
    assert s.sequential_ring.ring_base_first and s.sequential_ring.continue_if_base_busy
    assert s.blf.privacy == "all"


# -- rings -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rings", [0, 2, 3, 10, 20])
def test_no_answer_rings_allowed(rings: int) -> None:
    assert ForwardNoAnswer(rings=rings).rings == rings


@pytest.mark.parametrize("rings", [1, -1, 21, 100])
def test_no_answer_rings_refused(rings: int) -> None:
    with pytest.raises(SettingError) as exc:
        ForwardNoAnswer(rings=rings)
    assert exc.value.field_path == "rings"
    assert exc.value.message == f"must be 0 or 2..20, got {rings}"


@pytest.mark.parametrize("rings", [0, 1, 21])
def test_sequential_rings_are_2_to_20(rings: int) -> None:
    with pytest.raises(SettingError) as exc:
        SequentialLocation(number="0470123456", rings=rings)
    assert exc.value.field_path == "rings"
    with pytest.raises(SettingError) as exc2:
        SequentialRing(base_rings=rings)
    assert exc2.value.field_path == "base_rings"


# -- forwarding --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ForwardAlways, ForwardBusy, ForwardNoAnswer])
def test_active_forward_needs_a_number(cls: type[ForwardBusy]) -> None:
    with pytest.raises(SettingError) as exc:
        cls(active=True)
    assert exc.value.field_path == "number"
    assert "required" in exc.value.message
    assert cls(active=False, number="0470123456").number == "0470123456"  # kept while inactive


@pytest.mark.parametrize("number", ["abc", "02 221", "+", "", "12345678901234567890123456789012"])
def test_forward_number_must_be_digits(number: str) -> None:
    with pytest.raises(SettingError):
        ForwardAlways(active=True, number=number)


def test_from_dict_cleans_separators_in_numbers() -> None:
    fwd = ForwardAlways.from_dict({"active": True, "number": "0470 12.34-56"})
    assert fwd.number == "0470123456"


# -- simultaneous / sequential ring -------------------------------------------------------------------------
def test_simultaneous_ring_limits() -> None:
    ok = tuple(SimultaneousRingNumber(number=f"04701234{i:02d}") for i in range(MAX_SIMULTANEOUS_NUMBERS))
    assert len(SimultaneousRing(active=True, numbers=ok).numbers) == 10
    extra = (*ok, SimultaneousRingNumber(number="0470999999"))
    with pytest.raises(SettingError) as exc:
        SimultaneousRing(numbers=extra)
    assert problems_of(exc)["numbers"] == "at most 10 numbers, got 11"
    with pytest.raises(SettingError) as exc:
        SimultaneousRing(active=True)
    assert exc.value.field_path == "numbers"
    with pytest.raises(SettingError) as exc:
        SimultaneousRing(numbers=(ok[0], ok[0]))
    assert exc.value.field_path == "numbers[1].number"


def test_sequential_ring_limits() -> None:
    locs = tuple(SequentialLocation(number=f"04701234{i:02d}") for i in range(MAX_SEQUENTIAL_LOCATIONS))
    assert len(SequentialRing(active=True, locations=locs).locations) == 5
    with pytest.raises(SettingError) as exc:
        SequentialRing(locations=(*locs, SequentialLocation(number="0470999999")))
    assert problems_of(exc)["locations"] == "at most 5 locations, got 6"
    with pytest.raises(SettingError) as exc:
        SequentialRing(active=True)
    assert exc.value.field_path == "locations"


# -- criteria --------------------------------------------------------------------------------------------
def test_criterion_numbers_limit_and_patterns() -> None:
    numbers = tuple(f"02123456{i:02d}" for i in range(MAX_CRITERION_NUMBERS))
    assert Criterion(name="c", calls_from="specific", numbers=numbers).numbers == numbers
    with pytest.raises(SettingError) as exc:
        Criterion(name="c", calls_from="specific", numbers=(*numbers, "0299999999"))
    assert problems_of(exc)["numbers"] == "at most 12 numbers, got 13"
    assert Criterion(name="c", calls_from="specific", numbers=("+3222?1*", "0470*")).numbers
    with pytest.raises(SettingError) as exc:
        Criterion(name="c", calls_from="specific", numbers=("02*1",))
    assert exc.value.field_path == "numbers[0]"


def test_specific_criterion_needs_something_to_match() -> None:
    with pytest.raises(SettingError) as exc:
        Criterion(name="c", calls_from="specific")
    assert exc.value.field_path == "calls_from"
    assert Criterion(name="c", calls_from="specific", include_anonymous=True).include_anonymous
    assert Criterion(name="c", calls_from="specific", include_unavailable=True).include_unavailable


def test_criterion_names_unique_within_a_service() -> None:
    with pytest.raises(SettingError) as exc:
        SimultaneousRing(criteria=(Criterion(name="Week-end"), Criterion(name="Week-end")))
    assert exc.value.field_path == "criteria[1].name"


@pytest.mark.parametrize("name", ["", "   ", "x" * 41, " padded"])
def test_names_are_checked(name: str) -> None:
    with pytest.raises(SettingError) as exc:
        Criterion(name=name)
    assert exc.value.field_path == "name"


# -- schedules ---------------------------------------------------------------------------------------------
def office(**changes: Any) -> DaySchedule:
    base: dict[str, Any] = {"active": True, "start": 9 * 60, "end": 18 * 60, "lunch_active": True,
                            "lunch_start": 12 * 60, "lunch_end": 13 * 60}
    base.update(changes)
    return DaySchedule(**base)


def test_minutes_parse_and_format() -> None:
    assert parse_minutes("09:30") == 570
    assert parse_minutes("24:00") == 1440
    assert format_minutes(570) == "09:30"
    for bad in ("24:01", "9h", "12:60", "25:00"):
        with pytest.raises(ValueError):
            parse_minutes(bad)


def test_day_schedule_checks() -> None:
    with pytest.raises(SettingError) as exc:
        office(start=18 * 60, end=9 * 60)
    assert exc.value.field_path == "end"
    with pytest.raises(SettingError) as exc:
        office(lunch_start=13 * 60, lunch_end=12 * 60)
    assert exc.value.field_path == "lunch_end"
    with pytest.raises(SettingError) as exc:
        office(lunch_start=8 * 60, lunch_end=10 * 60)
    assert exc.value.field_path == "lunch_start"
    with pytest.raises(SettingError):
        office(end=1441)
    assert DaySchedule(active=False, start=18 * 60, end=9 * 60).active is False  # unchecked when off


def test_schedule_is_open_and_its_opposite() -> None:
    shop = Schedule(name="Horaire du magasin", days=(*(office(),) * 6, DaySchedule()))
    assert shop.is_open(0, 9 * 60)
    assert not shop.is_open(0, 12 * 60 + 30)  # lunch
    assert not shop.is_open(0, 18 * 60)  # end excluded
    assert not shop.is_open(6, 10 * 60)  # Sunday closed
    non = shop.opposite()
    assert non.name == "non-Horaire du magasin"
    for weekday in range(7):
        for minute in range(0, 1440, 15):
            assert non.is_open(weekday, minute) != shop.is_open(weekday, minute)
    assert non.opposite().days == shop.days and not non.opposite().inverted


def test_schedule_needs_seven_days() -> None:
    with pytest.raises(SettingError) as exc:
        Schedule(name="x", days=(office(),))
    assert exc.value.field_path == "days"


def test_holiday_schedule() -> None:
    xmas = HolidaySchedule(name="Noël", periods=(HolidayPeriod(start=date(2026, 12, 24), end=date(2026, 12, 26)),))
    assert xmas.contains(date(2026, 12, 25)) and not xmas.contains(date(2026, 12, 27))
    with pytest.raises(SettingError) as exc:
        HolidayPeriod(start=date(2026, 12, 24), end=date(2026, 12, 1))
    assert exc.value.field_path == "end"
    parsed = HolidaySchedule.from_dict({"name": "Noël", "periods": [{"start": "2026-12-24"}]})
    assert parsed.periods[0].end == date(2026, 12, 24)


def test_user_schedule_names_unique_and_user_level() -> None:
    with pytest.raises(SettingError) as exc:
        ServiceSettings(schedules=(Schedule(name="a"), Schedule(name="a", level="group")))
    assert problems_of(exc) == {"schedules[1].level": "a user's own schedule must have level user",
                                "schedules[1].name": "duplicate schedule name 'a'"}


# -- BLF and contacts ------------------------------------------------------------------------------------
def test_blf_checks() -> None:
    with pytest.raises(SettingError) as exc:
        Blf(monitored_users=("a", "a"))
    assert exc.value.field_path == "monitored_users[1]"
    with pytest.raises(SettingError) as exc:
        Blf(list_uri="bad uri@x")
    assert exc.value.field_path == "list_uri"
    assert Blf(privacy="listed", allowed_watchers=("b",)).may_be_watched_by("b")
    assert not Blf(privacy="listed", allowed_watchers=("b",)).may_be_watched_by("c")
    assert Blf().may_be_watched_by("anyone")


def test_personal_contact() -> None:
    assert PersonalContact.from_dict({"name": "Maison", "number": "02 868 84 12"}).number == "028688412"
    with pytest.raises(SettingError) as exc:
        PersonalContact(name="", number="x")
    assert set(problems_of(exc)) == {"name", "number"}


# -- plain dicts -----------------------------------------------------------------------------------------
def full_settings() -> ServiceSettings:
    crit = Criterion(name="Week-end", time_schedule="Week-end", holiday_schedule="Noël", calls_from="specific",
                     numbers=("021234589",), include_anonymous=True, blacklisted=True)
    return ServiceSettings(
        forward_always=ForwardAlways(active=True, number="0470123456", ring_reminder=True),
        forward_no_answer=ForwardNoAnswer(number="1969", rings=0),
        call_waiting=CallWaiting(active=False),
        internal_clid_delivery=ClidDelivery(active=False),
        simultaneous_ring=SimultaneousRing(
            active=True, numbers=(SimultaneousRingNumber(number="021234567", answer_confirmation=True),),
            criteria=(crit,)),
        sequential_ring=SequentialRing(locations=(SequentialLocation(number="0470111111", rings=4),),
                                       criteria=(Criterion(name="Always"),)),
        blf=Blf(monitored_users=("u2", "u3"), list_uri="u1-blf", privacy="listed", allowed_watchers=("u2",)),
        contacts=(PersonalContact(name="Maison", number="+3228688412"),),
        schedules=(Schedule(name="Week-end", days=(*(DaySchedule(),) * 5, office(), office())),
                   Schedule(name="Week-end", days=(DaySchedule(),) * 7).opposite()),
        holiday_schedules=(HolidaySchedule(name="Noël", periods=(
            HolidayPeriod(start=date(2026, 12, 24), end=date(2026, 12, 26), label="Noël"),)),),
    )


def test_round_trip_exact() -> None:
    for settings in (ServiceSettings(), full_settings()):
        assert ServiceSettings.from_dict(settings.to_dict()) == settings


def test_plain_form_is_json_and_toml_ready() -> None:
    import json
    import tomllib

    import tomli_w

    data = full_settings().to_dict()
    assert ServiceSettings.from_dict(json.loads(json.dumps(data))) == full_settings()
    assert ServiceSettings.from_dict(tomllib.loads(tomli_w.dumps(data))) == full_settings()


@given(rings=st.sampled_from([0, *range(2, 21)]), active=st.booleans(), reminder=st.booleans(),
       number=st.from_regex(r"\+?[0-9]{1,15}", fullmatch=True))
def test_round_trip_property(rings: int, active: bool, reminder: bool, number: str) -> None:
    s = ServiceSettings(forward_always=ForwardAlways(active=active, number=number, ring_reminder=reminder),
                        forward_no_answer=ForwardNoAnswer(active=active, number=number, rings=rings))
    assert ServiceSettings.from_dict(s.to_dict()) == s


def test_from_dict_reports_every_problem_with_full_paths() -> None:
    data = {
        "forward_no_answer": {"rings": 1, "bogus": True},
        "dnd": {"active": "yes"},
        "blf": {"monitored_users": [1]},
        "simultaneous_ring": {"numbers": [{"number": "02 123"}, {"numbre": "x"}]},
        "schedules": [{"name": "x", "monday": {"start": "10:00", "end": "09:00"}}],
        "nonsense": {},
    }
    with pytest.raises(SettingError) as exc:
        ServiceSettings.from_dict(data, "users[2].services")
    found = problems_of(exc)
    assert found == {
        "users[2].services.forward_no_answer.rings": "must be 0 or 2..20, got 1",
        "users[2].services.forward_no_answer.bogus": "unknown key",
        "users[2].services.dnd.active": "must be true or false, got a string",
        "users[2].services.blf.monitored_users[0]": "must be a string, got an integer",
        "users[2].services.simultaneous_ring.numbers[1].number": "is required",
        "users[2].services.simultaneous_ring.numbers[1].numbre": "unknown key",
        "users[2].services.schedules[0].monday.end": "must be after start (10:00), got 09:00",
        "users[2].services.nonsense": "unknown key",
    }
    assert str(exc.value).splitlines()[0].startswith("users[2].services.")


def test_day_in_plain_form() -> None:
    day = DaySchedule.from_dict({"start": "08:30", "end": "17:30", "lunch_start": "12:00", "lunch_end": "13:00"})
    assert day.active and day.lunch_active and day.start == 510
    assert not DaySchedule.from_dict({"start": "08:30", "end": "17:30"}).lunch_active


def test_setting_error_prefixing() -> None:
    err = SettingError("rings", "bad", more=[("[0].x", "worse")])
    assert err.prefixed("services.forward_no_answer").problems == (
        ("services.forward_no_answer.rings", "bad"), ("services.forward_no_answer[0].x", "worse"))
