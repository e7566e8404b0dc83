"""The feature engine: what happens to a call for user U, in the interaction order of `reference/features.md`.

A frozen `CallContext` (U's settings and schedules, U's live state, who calls, the diversions so far, `now`)
goes in; a `Decision` comes out: `Ring(stages)` (whom to ring, in which stages, for how long), `Divert(number,
reason)` (forward to another number, which may be a user whose own features apply in turn), `ToVoicemail(reason)`
or `Reject(status)`. `on_arrival()` decides when the call reaches U; `on_outcome()` decides when ringing U
ended busy, unanswered or unreachable (the fallback chain). The precedence is the `ARRIVAL_RULES` table:
the first rule that decides wins. The loop guard applies to every decision.

Pure: no SIP, no sockets, no storage, no clock of its own. Which numbers are users, how a stage becomes SIP
legs and headers: that is the B2BUA's (`sipserver/b2bua/`). A forward number that turns out unroutable is
reported back through `CallContext.disabled`, and the engine decides again without that service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Literal

from features.model import ServiceSettings
from features.schedules import CallerNumbers, ScheduleBook, local_time, service_applies

__all__ = [
    "ARRIVAL_RULES",
    "MAX_DIVERSIONS",
    "CallContext",
    "Decision",
    "DiversionReason",
    "Divert",
    "Number",
    "Outcome",
    "Presence",
    "Reject",
    "Ring",
    "RingStage",
    "ToVoicemail",
    "UserDevices",
    "on_arrival",
    "on_outcome",
]

MAX_DIVERSIONS: Final = 5  # features.md step 0: past 5 diversions, answer instead of diverting again

DiversionReason = Literal["unconditional", "user-busy", "no-answer", "unavailable", "do-not-disturb"]
Outcome = Literal["busy", "no-answer", "unreachable"]
Service = Literal["forward_always", "forward_busy", "forward_no_answer", "forward_unreachable",
                  "simultaneous_ring", "sequential_ring"]


# -- input ---------------------------------------------------------------------------------------------------
@dataclass(init=False, unsafe_hash=True, slots=True)
class Presence:
    """U's live state: how many devices are registered, how many established calls U is on."""

    registered_devices: Final[int]
    calls: Final[int]

    def __init__(self, registered_devices: int, calls: int = 0) -> None:
        self.registered_devices = registered_devices
        self.calls = calls

    @property
    def on_call(self) -> bool:
        return self.calls > 0


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallContext:
    """Everything a decision for one call to U reads. `diverted_by` lists who diverted this call so far,
    oldest first (user ids for our users, numbers for diversions reported by a carrier); `disabled` names
    services that cannot be carried out for this call (their forward number is unroutable)."""

    user_id: Final[str]
    services: Final[ServiceSettings]
    schedules: Final[ScheduleBook]
    time_zone: Final[str]
    seconds_per_ring: Final[int]
    presence: Final[Presence]
    caller: Final[CallerNumbers]
    now: Final[float]
    voicemail_available: Final[bool]
    diverted_by: Final[tuple[str, ...]]
    disabled: Final[frozenset[str]]

    def __init__(self, user_id: str, services: ServiceSettings, schedules: ScheduleBook, time_zone: str,
                 seconds_per_ring: int, presence: Presence, caller: CallerNumbers, now: float,
                 voicemail_available: bool = False, diverted_by: tuple[str, ...] = (),
                 disabled: frozenset[str] = frozenset()) -> None:
        self.user_id = user_id
        self.services = services
        self.schedules = schedules
        self.time_zone = time_zone
        self.seconds_per_ring = seconds_per_ring
        self.presence = presence
        self.caller = caller
        self.now = now
        self.voicemail_available = voicemail_available
        self.diverted_by = diverted_by
        self.disabled = disabled

    def without(self, service: str) -> CallContext:
        return replace(self, disabled=self.disabled | {service})


# -- output --------------------------------------------------------------------------------------------------
@dataclass(init=False, unsafe_hash=True, slots=True)
class UserDevices:
    """Every registered device of a user."""

    user_id: Final[str]

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class Number:
    """A number to ring on U's behalf (simultaneous or sequential ring location): a user or an outside line."""

    number: Final[str]

    def __init__(self, number: str) -> None:
        self.number = number


Location = UserDevices | Number


@dataclass(init=False, unsafe_hash=True, slots=True)
class RingStage:
    """Locations ringing together; `seconds` None: until the caller gives up (nothing to do on no answer)."""

    locations: Final[tuple[Location, ...]]
    seconds: Final[float | None]

    def __init__(self, locations: tuple[Location, ...], seconds: float | None) -> None:
        self.locations = locations
        self.seconds = seconds


@dataclass(init=False, unsafe_hash=True, slots=True)
class Ring:
    stages: Final[tuple[RingStage, ...]]
    service: Final[str]  # which rule chose it: "ring devices", "simultaneous ring", "sequential ring"

    def __init__(self, stages: tuple[RingStage, ...], service: str) -> None:
        self.stages = stages
        self.service = service


@dataclass(init=False, unsafe_hash=True, slots=True)
class Divert:
    number: Final[str]
    reason: Final[DiversionReason]
    service: Final[Service]

    def __init__(self, number: str, reason: DiversionReason, service: Service) -> None:
        self.number = number
        self.reason = reason
        self.service = service


@dataclass(init=False, unsafe_hash=True, slots=True)
class ToVoicemail:
    reason: Final[DiversionReason]

    def __init__(self, reason: DiversionReason) -> None:
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class Reject:
    status: Final[int]
    reason: Final[str]

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


Decision = Ring | Divert | ToVoicemail | Reject

BUSY: Final = Reject(486, "Busy Here")
NO_ANSWER: Final = Reject(480, "Temporarily Unavailable")


# -- helpers -------------------------------------------------------------------------------------------------
def _usable(ctx: CallContext, service: Service, active: bool) -> bool:
    return active and service not in ctx.disabled


def _voicemail(ctx: CallContext) -> bool:
    return ctx.services.voicemail.active and ctx.voicemail_available


def _busy(ctx: CallContext) -> bool:
    """On a call with call waiting off (features.md step 4). Every device answering busy is found by ringing."""
    return ctx.presence.on_call and not ctx.services.call_waiting.active


def _unreachable(ctx: CallContext) -> bool:
    return ctx.presence.registered_devices == 0


def _applies(ctx: CallContext, service: Literal["simultaneous_ring", "sequential_ring"]) -> bool:
    settings = ctx.services.simultaneous_ring if service == "simultaneous_ring" else ctx.services.sequential_ring
    if not _usable(ctx, service, settings.active):
        return False
    when = local_time(ctx.now, ctx.time_zone)
    return service_applies(settings.criteria, ctx.caller, when, ctx.schedules)


def _no_answer_seconds(ctx: CallContext) -> float | None:
    """How long U's own ringing lasts: the no-answer rings when something follows a no answer, else as long
    as the caller waits."""
    forward = ctx.services.forward_no_answer
    if _usable(ctx, "forward_no_answer", forward.active) or _voicemail(ctx):
        return float(ctx.services.no_answer_rings * ctx.seconds_per_ring)
    return None


def _timed_ring(ctx: CallContext, locations: tuple[Location, ...], service: str) -> Decision:
    seconds = _no_answer_seconds(ctx)
    if seconds == 0:
        return on_outcome(ctx, "no-answer")  # 0 rings: no-answer handling at once
    return Ring((RingStage(locations, seconds),), service)


def _extra_numbers(ctx: CallContext) -> tuple[Location, ...]:
    sim = ctx.services.simultaneous_ring
    if sim.do_not_ring_if_on_call and ctx.presence.on_call:
        return ()
    return tuple(Number(entry.number) for entry in sim.numbers)


# -- arrival rules, in precedence order ----------------------------------------------------------------------
def _rule_forward_always(ctx: CallContext) -> Decision | None:
    forward = ctx.services.forward_always
    if _usable(ctx, "forward_always", forward.active) and forward.number:
        return Divert(forward.number, "unconditional", "forward_always")
    return None


def _rule_do_not_disturb(ctx: CallContext) -> Decision | None:
    if not ctx.services.dnd.active:
        return None
    return ToVoicemail("do-not-disturb") if _voicemail(ctx) else BUSY


def _rule_unreachable(ctx: CallContext) -> Decision | None:
    if not _unreachable(ctx):
        return None
    forward = ctx.services.forward_unreachable
    if _usable(ctx, "forward_unreachable", forward.active) and forward.number:
        return Divert(forward.number, "unavailable", "forward_unreachable")
    if _applies(ctx, "sequential_ring"):
        return None  # the locations still ring; the base is skipped
    if _applies(ctx, "simultaneous_ring") and _extra_numbers(ctx):
        return None  # the extra numbers still ring
    return on_outcome(ctx, "no-answer")  # unreachable = no answer, at once


def _rule_busy(ctx: CallContext) -> Decision | None:
    if not _busy(ctx):
        return None
    if _applies(ctx, "sequential_ring") and ctx.services.sequential_ring.continue_if_base_busy:
        return None  # "continue if base busy": the locations ring
    return on_outcome(ctx, "busy")


def _rule_sequential_ring(ctx: CallContext) -> Decision | None:
    if not _applies(ctx, "sequential_ring"):
        return None
    seq, spr = ctx.services.sequential_ring, ctx.seconds_per_ring
    stages: list[RingStage] = []
    if seq.ring_base_first:
        base: tuple[Location, ...] = ()
        if not _busy(ctx) and not _unreachable(ctx):
            base = (UserDevices(ctx.user_id),)
        if _applies(ctx, "simultaneous_ring"):
            base += _extra_numbers(ctx)
        if base:
            stages.append(RingStage(base, float(seq.base_rings * spr)))
    stages.extend(RingStage((Number(loc.number),), float(loc.rings * spr)) for loc in seq.locations)
    return Ring(tuple(stages), "sequential ring")


def _rule_simultaneous_ring(ctx: CallContext) -> Decision | None:
    if not _applies(ctx, "simultaneous_ring"):
        return None
    own: tuple[Location, ...] = () if _unreachable(ctx) else (UserDevices(ctx.user_id),)
    locations = own + _extra_numbers(ctx)
    return _timed_ring(ctx, locations, "simultaneous ring") if locations else None


def _rule_ring_devices(ctx: CallContext) -> Decision | None:
    return _timed_ring(ctx, (UserDevices(ctx.user_id),), "ring devices")


Rule = Callable[[CallContext], "Decision | None"]

ARRIVAL_RULES: Final[tuple[tuple[str, Rule], ...]] = (
    ("forward always", _rule_forward_always),      # 2. beats everything below, DND included
    ("do not disturb", _rule_do_not_disturb),      # 3. voicemail if active, else 486; never forward on busy
    ("unreachable", _rule_unreachable),            # 4/9. no device: forward unreachable, else no answer now
    ("busy", _rule_busy),                          # 4/7. on a call, call waiting off
    ("sequential ring", _rule_sequential_ring),    # 5. checked before simultaneous ring
    ("simultaneous ring", _rule_simultaneous_ring),
    ("ring devices", _rule_ring_devices),
)


def _guarded(ctx: CallContext, decision: Decision) -> Decision:
    """Step 0, the loop guard: past MAX_DIVERSIONS, a diversion becomes a final answer."""
    if isinstance(decision, Divert) and len(ctx.diverted_by) >= MAX_DIVERSIONS:
        if ctx.user_id in ctx.diverted_by:
            return Reject(482, "Loop Detected")
        return Reject(480, "Too Many Diversions")
    return decision


def on_arrival(ctx: CallContext) -> Decision:
    """The call reaches U: the first rule of `ARRIVAL_RULES` that decides."""
    for _name, rule in ARRIVAL_RULES:
        decision = rule(ctx)
        if decision is not None:
            return _guarded(ctx, decision)
    raise AssertionError("the last rule always decides")  # pragma: no cover


def on_outcome(ctx: CallContext, outcome: Outcome) -> Decision:
    """Ringing U ended without an answer: busy (step 7), no answer (step 8) or unreachable (step 9)."""
    services = ctx.services
    if outcome == "unreachable":
        forward_unreachable = services.forward_unreachable
        if _usable(ctx, "forward_unreachable", forward_unreachable.active) and forward_unreachable.number:
            return _guarded(ctx, Divert(forward_unreachable.number, "unavailable", "forward_unreachable"))
        outcome = "no-answer"
    if outcome == "busy":
        forward_busy = services.forward_busy
        if _usable(ctx, "forward_busy", forward_busy.active) and forward_busy.number:
            return _guarded(ctx, Divert(forward_busy.number, "user-busy", "forward_busy"))
        return ToVoicemail("user-busy") if _voicemail(ctx) else BUSY
    forward_no_answer = services.forward_no_answer
    if _usable(ctx, "forward_no_answer", forward_no_answer.active) and forward_no_answer.number:
        return _guarded(ctx, Divert(forward_no_answer.number, "no-answer", "forward_no_answer"))
    return ToVoicemail("no-answer") if _voicemail(ctx) else NO_ANSWER
