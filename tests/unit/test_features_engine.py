"""The feature engine's precedence (features.md "Interaction order") as a matrix of pairs, and its fallbacks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from features.engine import (
    ARRIVAL_RULES,
    MAX_DIVERSIONS,
    CallContext,
    Decision,
    Divert,
    Number,
    Presence,
    Reject,
    Ring,
    RingStage,
    ToVoicemail,
    UserDevices,
    on_arrival,
    on_outcome,
)
from features.model import DaySchedule, Schedule, ServiceSettings
from features.schedules import CallerNumbers, ScheduleBook

BRUSSELS = ZoneInfo("Europe/Brussels")
MONDAY_10H = datetime(2026, 12, 7, 10, 0, tzinfo=BRUSSELS).timestamp()
MONDAY_20H = datetime(2026, 12, 7, 20, 0, tzinfo=BRUSSELS).timestamp()
EXTERNAL = CallerNumbers("external", ("+3225550000", "025550000"))
OFFICE = Schedule(name="office", days=tuple(DaySchedule(active=i < 5) for i in range(7)))


def services(**settings: dict[str, Any]) -> ServiceSettings:
    return ServiceSettings.from_dict({"schedules": [OFFICE.to_dict()], **settings})


def context(svc: ServiceSettings | None = None, *, devices: int = 1, calls: int = 0, now: float = MONDAY_10H,
            caller: CallerNumbers = EXTERNAL, voicemail: bool = True, diverted_by: tuple[str, ...] = ()
            ) -> CallContext:
    svc = svc or ServiceSettings()
    return CallContext(user_id="u", services=svc, schedules=ScheduleBook(user_time=svc.schedules),
                       time_zone="Europe/Brussels", seconds_per_ring=5,
                       presence=Presence(registered_devices=devices, calls=calls), caller=caller, now=now,
                       voicemail_available=voicemail, diverted_by=diverted_by)


# Each service, switched on alone, with what it decides on a free, registered user.
CFA = {"forward_always": {"active": True, "number": "0470000001"}}
DND = {"dnd": {"active": True}}
VOICEMAIL = {"voicemail": {"active": True}}
CW_OFF = {"call_waiting": {"active": False}}
SIM = {"simultaneous_ring": {"active": True, "numbers": [{"number": "0470000002"}]}}
SEQ = {"sequential_ring": {"active": True, "locations": [{"number": "0470000003", "rings": 2}]}}
CFB = {"forward_busy": {"active": True, "number": "0470000004"}}
CFNA = {"forward_no_answer": {"active": True, "number": "0470000005", "rings": 4}}
CFNR = {"forward_unreachable": {"active": True, "number": "0470000006"}}


def kind(decision: Decision) -> str:
    if isinstance(decision, Divert):
        return f"divert:{decision.reason}"
    if isinstance(decision, ToVoicemail):
        return f"voicemail:{decision.reason}"
    if isinstance(decision, Reject):
        return f"reject:{decision.status}"
    return decision.service


# (first, second, state, expected): with both switched on, who wins.
PAIRS = [
    (CFA, DND, {}, "divert:unconditional"),                  # CFA beats DND
    (CFA, SIM, {}, "divert:unconditional"),
    (CFA, SEQ, {}, "divert:unconditional"),
    (CFA, CFB, {"calls": 1}, "divert:unconditional"),
    (CFA, CFNR, {"devices": 0}, "divert:unconditional"),
    (DND, SIM, {}, "reject:486"),                            # DND beats simultaneous ring
    (DND, SEQ, {}, "reject:486"),
    (DND, VOICEMAIL, {}, "voicemail:do-not-disturb"),        # DND goes to voicemail when it is on
    (DND, CFB, {}, "reject:486"),                            # DND never triggers forward on busy
    (SEQ, SIM, {}, "sequential ring"),                       # sequential is checked before simultaneous
    (CW_OFF, CFB, {"calls": 1}, "divert:user-busy"),
    (CW_OFF, VOICEMAIL, {"calls": 1}, "voicemail:user-busy"),
    (CW_OFF, SIM, {"calls": 1}, "reject:486"),
    (CW_OFF, SEQ, {"calls": 1}, "sequential ring"),          # continue if base busy (default on)
    (CFNR, CFNA, {"devices": 0}, "divert:unavailable"),
    (CFNA, VOICEMAIL, {"devices": 0}, "divert:no-answer"),   # unreachable = no answer, at once
    (VOICEMAIL, CFB, {"devices": 0}, "voicemail:no-answer"),
    (SIM, CFNR, {"devices": 0}, "divert:unavailable"),
    (SIM, CFNA, {"devices": 0}, "simultaneous ring"),        # the extra numbers still ring
]


@pytest.mark.parametrize(("first", "second", "state", "expected"), PAIRS)
def test_precedence_of_pairs(first: dict[str, Any], second: dict[str, Any], state: dict[str, int],
                             expected: str) -> None:
    devices, calls = state.get("devices", 1), state.get("calls", 0)
    assert kind(on_arrival(context(services(**first, **second), devices=devices, calls=calls))) == expected
    assert kind(on_arrival(context(services(**second, **first), devices=devices, calls=calls))) == expected


def test_precedence_table_reads_in_features_md_order() -> None:
    assert [name for name, _ in ARRIVAL_RULES] == [
        "forward always", "do not disturb", "unreachable", "busy", "sequential ring", "simultaneous ring",
        "ring devices"]


@pytest.mark.parametrize("busy_cause", ["dnd", "call waiting off", "every fork busy"])
@pytest.mark.parametrize(("extra", "expected"), [({}, "reject:486"), (VOICEMAIL, "voicemail:user-busy"),
                                                 (CFB, "divert:user-busy")])
def test_busy_handling_is_the_same_whatever_made_the_user_busy(busy_cause: str, extra: dict[str, Any],
                                                               expected: str) -> None:
    if busy_cause == "dnd":
        decision = on_arrival(context(services(**DND, **extra)))
        # DND's own rule: voicemail if active, else 486 -- and never forward on busy (features.md)
        expected = "reject:486" if extra is CFB else expected.replace("user-busy", "do-not-disturb")
    elif busy_cause == "call waiting off":
        decision = on_arrival(context(services(**CW_OFF, **extra), calls=1))
    else:
        decision = on_outcome(context(services(**extra)), "busy")
    assert kind(decision) == expected


def test_plain_ring_lasts_the_no_answer_rings_only_when_something_follows() -> None:
    assert on_arrival(context(services(**VOICEMAIL))) == Ring((RingStage((UserDevices("u"),), 15.0),),
                                                              "ring devices")
    assert on_arrival(context(services(**CFNA))) == Ring((RingStage((UserDevices("u"),), 20.0),),
                                                         "ring devices")
    assert on_arrival(context(services())) == Ring((RingStage((UserDevices("u"),), None),), "ring devices")
    # voicemail switched on but no voicemail service reachable: nothing follows
    assert on_arrival(context(services(**VOICEMAIL), voicemail=False)).stages[0].seconds is None  # type: ignore[union-attr]


def test_zero_rings_means_no_answer_handling_at_once() -> None:
    zero = {"forward_no_answer": {"active": True, "number": "0470000005", "rings": 0}}
    assert on_arrival(context(services(**zero))) == Divert("0470000005", "no-answer", "forward_no_answer")


def test_fallback_chains() -> None:
    assert on_outcome(context(services(**CFNA, **VOICEMAIL)), "no-answer") == \
        Divert("0470000005", "no-answer", "forward_no_answer")
    assert on_outcome(context(services(**VOICEMAIL)), "no-answer") == ToVoicemail("no-answer")
    assert on_outcome(context(services()), "no-answer") == Reject(480, "Temporarily Unavailable")
    assert on_outcome(context(services(**CFNR, **CFNA)), "unreachable") == \
        Divert("0470000006", "unavailable", "forward_unreachable")
    assert on_outcome(context(services(**CFNA)), "unreachable") == \
        Divert("0470000005", "no-answer", "forward_no_answer")
    assert on_outcome(context(services(**CFB, **CFNA)), "busy") == Divert("0470000004", "user-busy",
                                                                          "forward_busy")


def test_an_unroutable_forward_is_skipped() -> None:
    ctx = context(services(**CFA, **VOICEMAIL))
    assert on_arrival(ctx.without("forward_always")) == Ring((RingStage((UserDevices("u"),), 15.0),),
                                                             "ring devices")


def test_simultaneous_ring_rings_devices_and_numbers_for_the_no_answer_time() -> None:
    sim = {"simultaneous_ring": {"active": True, "do_not_ring_if_on_call": True,
                                 "numbers": [{"number": "0470000002"}, {"number": "+32470000009"}]}}
    ctx = context(services(**sim, **VOICEMAIL))
    assert on_arrival(ctx) == Ring((RingStage((UserDevices("u"), Number("0470000002"), Number("+32470000009")),
                                              15.0),), "simultaneous ring")
    # on a call (call waiting on): only the user's devices, the extra numbers stay quiet
    assert on_arrival(replace(ctx, presence=Presence(1, calls=1))) == \
        Ring((RingStage((UserDevices("u"),), 15.0),), "simultaneous ring")


def test_sequential_ring_stages() -> None:
    seq = {"sequential_ring": {"active": True, "base_rings": 2, "locations": [
        {"number": "0470000003", "rings": 2}, {"number": "0470000007", "rings": 4}]}}
    assert on_arrival(context(services(**seq, **SIM))) == Ring((
        RingStage((UserDevices("u"), Number("0470000002")), 10.0),  # base: devices + sim-ring numbers
        RingStage((Number("0470000003"),), 10.0),
        RingStage((Number("0470000007"),), 20.0),
    ), "sequential ring")
    # base busy, "continue if base busy": the base stage is skipped
    busy = on_arrival(context(services(**seq, **CW_OFF), calls=1))
    assert isinstance(busy, Ring) and [s.locations for s in busy.stages] == [(Number("0470000003"),),
                                                                             (Number("0470000007"),)]
    stop = {"sequential_ring": {**seq["sequential_ring"], "continue_if_base_busy": False}}
    assert on_arrival(context(services(**stop, **CW_OFF), calls=1)) == Reject(486, "Busy Here")
    no_base = {"sequential_ring": {**seq["sequential_ring"], "ring_base_first": False}}
    no_base_ring = on_arrival(context(services(**no_base)))
    assert isinstance(no_base_ring, Ring) and len(no_base_ring.stages) == 2


def test_criteria_select_the_service() -> None:
    office_hours = {"simultaneous_ring": {**SIM["simultaneous_ring"], "criteria": [
        {"name": "office", "time_schedule": "office"}]}}
    assert kind(on_arrival(context(services(**office_hours), now=MONDAY_10H))) == "simultaneous ring"
    assert kind(on_arrival(context(services(**office_hours), now=MONDAY_20H))) == "ring devices"
    blacklisted = {"simultaneous_ring": {**SIM["simultaneous_ring"], "criteria": [
        {"name": "everyone"},
        {"name": "not the boss", "calls_from": "specific", "numbers": ["02555*"], "blacklisted": True}]}}
    assert kind(on_arrival(context(services(**blacklisted)))) == "ring devices"  # blacklisted criteria win
    other = CallerNumbers("external", ("+3226660000", "026660000"))
    assert kind(on_arrival(context(services(**blacklisted), caller=other))) == "simultaneous ring"


@pytest.mark.parametrize(("visited", "expected"), [
    (("a", "b", "a", "b"), Divert("0470000001", "unconditional", "forward_always")),
    (("a", "b", "c", "d", "e"), Reject(480, "Too Many Diversions")),
    (("u", "b", "u", "b", "u"), Reject(482, "Loop Detected")),
])
def test_loop_guard_stops_after_five_diversions(visited: tuple[str, ...], expected: Decision) -> None:
    assert len(visited) <= MAX_DIVERSIONS
    assert on_arrival(context(services(**CFA), diverted_by=visited)) == expected
    assert on_outcome(context(services(**CFB), diverted_by=visited), "busy") == (
        Divert("0470000004", "user-busy", "forward_busy") if isinstance(expected, Divert) else expected)
