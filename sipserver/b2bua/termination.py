"""The terminating side of a call: the feature engine's decisions turned into ring stages of the B2BUA.

When a call reaches user U, `Terminator.arrive()` builds U's `CallContext` (settings, schedules, registered
devices, established calls, who calls, diversions so far), asks `features.engine.on_arrival()`, and carries
the decision out: a `Ring` becomes `Stage`s of `Target`s (U's registered devices, simultaneous/sequential
ring numbers that are users or outside lines), a `Divert` re-targets the call (to a user, whose own features
then decide, or to the trunk) with History-Info and Diversion, `ToVoicemail` becomes one leg to the voicemail
service (RFC 4458 Request-URI), and a `Reject` the caller's final answer. When those stages end unanswered,
`after_ringing()` asks `on_outcome()` (busy / no answer) and carries that out the same way. The per-call
state (`Termination`) is plain data kept by the shell between the two.

No I/O: reads the in-memory location service, live call state and subscriber snapshot it is given; the
shell (`sipserver/aio/calls.py`) sends what the `Call` machine makes of the stages. It must not parse SIP
messages beyond what routing already did, nor know sockets or storage.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from features.engine import (
    BUSY,
    NO_ANSWER,
    CallContext,
    Decision,
    Divert,
    Number,
    Outcome,
    Presence,
    Reject,
    Ring,
    RingStage,
    ToVoicemail,
    UserDevices,
    on_arrival,
    on_outcome,
)
from features.model import HolidaySchedule, Schedule
from features.schedules import CallerNumbers, ScheduleBook
from provisioning.model import Directory, Group, Trunk, User
from provisioning.numbers import NumberError, to_national
from sipserver.address import Endpoint
from sipserver.b2bua import identity
from sipserver.b2bua.call import Party, Stage, Target
from sipserver.b2bua.diversion import Hop, headers_for, voicemail_request_uri
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import LocationService
from sipserver.b2bua.routing import ToTrunk, ToUser, route
from sipserver.b2bua.uac_auth import ClientCredentials
from sipserver.errors import RemoteProtocolError
from sipserver.headers import quote
from sipserver.uri import parse_uri

MAX_STEPS: Final = 16  # decisions per routing step (diversions are bounded by the engine's loop guard)
_BUSY_REASONS: Final = frozenset({"user-busy", "do-not-disturb"})
VOICEMAIL_ANSWER_SECONDS: Final = 5.0  # a voicemail worker answers at once; one that rings this long is stuck

Plan = tuple[Stage, ...] | Reject


@dataclass(init=False, unsafe_hash=True, slots=True)
class VoicemailService:
    """Where the voicemail service listens: `uri` as configured (`sip:voicemail@127.0.0.1:5080`)."""

    uri: Final[str]
    destination: Final[Endpoint]

    def __init__(self, uri: str, destination: Endpoint) -> None:
        self.uri = uri
        self.destination = destination

    @classmethod
    def from_uri(cls, text: str) -> VoicemailService:
        """`sip:voicemail@127.0.0.1:5080[;transport=tcp]`; the host must be an IP address. Raises ValueError."""
        try:
            uri = parse_uri(text)
        except RemoteProtocolError as exc:
            raise ValueError(f"not a SIP URI: {text!r}") from exc
        host = uri.host.strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"the voicemail URI needs an IP address as host, got {uri.host!r}") from None
        if uri.scheme != "sip":
            raise ValueError(f"the voicemail URI must be sip:, got {text!r}")
        transport = (uri.params.get("transport") or "udp").lower()
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, got {transport!r}")
        return cls(uri=text, destination=Endpoint(transport, host, uri.port or 5060))


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallerInfo:
    """Who calls, fixed for the whole call."""

    caller_id: Final[identity.CallerId]
    internal: Final[bool]
    user: Final[User | None]  # the calling user, for a call from a phone of ours
    group: Final[Group]       # the caller's group (or the trunk's)
    hide_identity: Final[bool | None]  # *67 / *65 for this call
    numbers: Final[CallerNumbers]

    def __init__(self, caller_id: identity.CallerId, internal: bool, user: User | None, group: Group,
                 hide_identity: bool | None, numbers: CallerNumbers) -> None:
        self.caller_id = caller_id
        self.internal = internal
        self.user = user
        self.group = group
        self.hide_identity = hide_identity
        self.numbers = numbers

    @classmethod
    def of(cls, caller_id: identity.CallerId, *, internal: bool, user: User | None, group: Group,
           hide_identity: bool | None = None) -> CallerInfo:
        if caller_id.private:
            numbers = CallerNumbers("anonymous")
        elif caller_id.number is None and caller_id.extension is None:
            numbers = CallerNumbers("unavailable")
        else:
            forms = [form for form in (caller_id.number, caller_id.extension) if form]
            if caller_id.number is not None:
                try:
                    forms.append(to_national(caller_id.number, group.country_code))
                except NumberError:
                    pass
            numbers = CallerNumbers("internal" if internal else "external", tuple(forms))
        return cls(caller_id, internal, user, group, hide_identity, numbers)


@dataclass(init=False, eq=False, slots=True)
class Termination:
    """One call's terminating state between decisions: whose features apply now (`served`, None once the call
    left our users: trunk, voicemail), the diversions so far, and the answer if the current stages fail."""

    caller: CallerInfo
    incoming_diversions: int
    served: User | None
    served_group: Group | None
    first_uri: str | None
    hops: list[Hop]
    diverted_by: list[str]
    final: Reject | None

    def __init__(self, caller: CallerInfo, incoming_diversions: int = 0) -> None:
        self.caller = caller
        self.incoming_diversions = incoming_diversions
        self.served = None
        self.served_group = None
        self.first_uri = None
        self.hops = []
        self.diverted_by = []
        self.final = None


def user_uri(user: User, group: Group) -> str:
    """How a user is named in History-Info/Diversion: their main number (what carriers need), else extension."""
    if user.main_number is not None:
        return f"sip:{user.main_number}@{group.domain};user=phone"
    return f"sip:{user.extension or user.user_id}@{group.domain}"


def trunk_target(trunk: Trunk, e164: str, *, shown_as: str, caller_view: Party | None = None,
                 extra_headers: tuple[tuple[str, str], ...] = (), served_user: str | None = None) -> Target:
    """A leg out through `trunk` to `e164`."""
    host = f"[{trunk.host}]" if ":" in trunk.host else trunk.host
    credentials = None
    if trunk.username and trunk.password:
        credentials = ClientCredentials(trunk.username, trunk.password, trunk.realm)
    return Target(request_uri=f"sip:{e164}@{host}:{trunk.port};user=phone",
                  destination=Endpoint(trunk.transport, trunk.host, trunk.port),
                  to_uri=f"<sip:{e164}@{host};user=phone>", caller_view=caller_view, number=shown_as, name="",
                  extra_headers=extra_headers, credentials=credentials, served_user=served_user)


class Terminator:
    def __init__(self, *, location: LocationService, live: LiveCalls, voicemail: tuple[VoicemailService, ...],
                 wall_clock: Callable[[], float]) -> None:
        self.location = location
        self.live = live
        self.voicemail = voicemail  # the voicemail workers, tried in turn (empty: no voicemail)
        self._voicemail_turn = 0
        self._wall_clock = wall_clock
        self._books: dict[str, tuple[tuple[Schedule, ...], tuple[HolidaySchedule, ...]]] = {}
        self._books_revision: tuple[int, int] = (-1, -1)

    # -- entry points ------------------------------------------------------------------------------------
    def arrive(self, term: Termination, user: User, group: Group, directory: Directory) -> Plan:
        """The call reaches `user` (dialled, or from the trunk)."""
        term.served, term.served_group = user, group
        term.first_uri = user_uri(user, group)
        ctx = self._context(term, user, group, directory)
        return self._carry_out(term, ctx, on_arrival(ctx), on_arrival, directory)

    def after_ringing(self, term: Termination, *, busy: bool, status: int, directory: Directory) -> Plan:
        """The stages ended unanswered: the served user's fallback, or the final answer."""
        user, group = term.served, term.served_group
        if user is None or group is None:
            return term.final or Reject(status, "")
        # The user's state may have changed while it rang: decide on the current one.
        ctx = self._context(term, user, group, directory)
        outcome: Outcome = "busy" if busy else "no-answer"
        decision = on_outcome(ctx, outcome)
        if decision is BUSY or decision is NO_ANSWER:
            return Reject(status, "")  # nothing follows: the caller gets what the callee said (486, 603, 404…)
        return self._carry_out(term, ctx, decision, lambda c: on_outcome(c, outcome), directory)

    # -- carrying decisions out --------------------------------------------------------------------------
    def _carry_out(self, term: Termination, ctx: CallContext, decision: Decision,
                   redecide: Callable[[CallContext], Decision], directory: Directory) -> Plan:
        for _ in range(MAX_STEPS):
            user, group = term.served, term.served_group
            assert user is not None and group is not None
            if isinstance(decision, Reject):
                return decision
            if isinstance(decision, Ring):
                stages = tuple(self._stage(term, user, group, stage, directory) for stage in decision.stages)
                if any(stage.targets for stage in stages):
                    return stages
                decision, redecide = on_outcome(ctx, "unreachable"), lambda c: on_outcome(c, "unreachable")
                continue
            if isinstance(decision, ToVoicemail):
                return self._to_voicemail(term, user, group, decision)
            destination = route(decision.number, group, directory)
            if not isinstance(destination, (ToTrunk, ToUser)):  # not dialable after all: as if that service was off
                ctx = ctx.without(decision.service)
                decision = redecide(ctx)
                continue
            term.hops.append(Hop(user_uri(user, group), decision.reason))
            term.diverted_by.append(user.user_id)
            if isinstance(destination, ToTrunk):
                return self._divert_to_trunk(term, destination, decision)
            term.served, term.served_group = destination.user, destination.group
            ctx = self._context(term, destination.user, destination.group, directory)
            decision, redecide = on_arrival(ctx), on_arrival
        return Reject(482, "Loop Detected")

    def _divert_to_trunk(self, term: Termination, destination: ToTrunk, decision: Divert) -> Plan:
        target = trunk_target(
            destination.trunk, destination.number, shown_as=decision.number,
            caller_view=self._caller_towards_trunk(term),
            extra_headers=headers_for(term.first_uri, term.hops,
                                      f"sip:{destination.number}@{destination.trunk.host};user=phone"))
        term.served = term.served_group = None
        term.final = None
        return (Stage((target,)),)

    def _to_voicemail(self, term: Termination, user: User, group: Group, decision: ToVoicemail) -> Plan:
        fallback = Reject(486, "Busy Here") if decision.reason in _BUSY_REASONS else \
            Reject(480, "Temporarily Unavailable")
        if not self.voicemail:
            return fallback
        hops = [*term.hops, Hop(user_uri(user, group), decision.reason)]
        caller_view = identity.caller_for_internal_callee(term.caller.caller_id, user, group,
                                                          caller_internal=term.caller.internal)
        # The voicemail's answer counts as nobody's (a call left on voicemail is a missed call for the user);
        # if every worker fails, the caller gets the busy / no-answer answer it replaced.
        term.served = term.served_group = None
        term.final = fallback
        return self._voicemail_stages(user, group, decision.reason, caller_view,
                                      lambda uri: headers_for(term.first_uri, hops, uri))

    def mailbox_access(self, owner: User, group: Group) -> Plan:
        """The owner dialled the voicemail number (1969) or `*98` from their own phone: their mailbox's menu,
        no PIN (the server authenticated the phone). 480 when there is no voicemail service."""
        if not self.voicemail:
            return Reject(480, "Voicemail Unavailable")
        caller_view = Party(f"{quote(owner.display_name)} <sip:{owner.extension or owner.user_id}@{group.domain}>")
        return self._voicemail_stages(owner, group, None, caller_view, lambda uri: ())

    def _voicemail_stages(self, user: User, group: Group, reason: str | None, caller_view: Party,
                          headers: Callable[[str], tuple[tuple[str, str], ...]]) -> tuple[Stage, ...]:
        """One stage per voicemail worker, starting with the next one in turn: a full worker answers 486 and a
        dead one refuses the connection, so the call moves on to the next; `VOICEMAIL_ANSWER_SECONDS` bounds a
        worker that accepted the call but does not answer."""
        services = self.voicemail
        first = self._voicemail_turn % len(services)
        self._voicemail_turn = first + 1
        mailbox = f"sip:{user.user_id}@{group.domain}"
        to_uri = self._to_uri(user, group)
        number = user.extension or user.main_number or user.user_id
        stages: list[Stage] = []
        for k in range(len(services)):
            service = services[(first + k) % len(services)]
            request_uri = voicemail_request_uri(service.uri, mailbox, reason, group.time_zone)
            target = Target(request_uri=request_uri, destination=service.destination, to_uri=to_uri,
                            caller_view=caller_view, number=number, name=user.display_name,
                            extra_headers=(*headers(request_uri), ("Accept-Language", user.language)))
            stages.append(Stage((target,), VOICEMAIL_ANSWER_SECONDS))
        return tuple(stages)

    def _stage(self, term: Termination, user: User, group: Group, stage: RingStage, directory: Directory) -> Stage:
        targets: list[Target] = []
        for location in stage.locations:
            if isinstance(location, UserDevices):
                owner = directory.user_by_id(location.user_id)
                if owner is not None:
                    targets.extend(self._device_targets(term, owner, directory.group_of(owner), user))
                continue
            targets.extend(self._number_targets(term, location, user, group, directory))
        return Stage(tuple(targets), stage.seconds)

    def _device_targets(self, term: Termination, owner: User, group: Group, served: User) -> list[Target]:
        aor = f"sip:{owner.user_id}@{group.domain}"
        bindings = self.location.current(aor, self._wall_clock())
        if not bindings:
            return []
        internal = term.caller.internal
        caller_view = identity.caller_for_internal_callee(term.caller.caller_id, owner, group,
                                                          caller_internal=internal)
        connected = identity.connected_party(owner, group, caller_internal=internal)
        headers = headers_for(term.first_uri, term.hops, user_uri(owner, group))
        to_uri = self._to_uri(owner, group)
        number = owner.extension or owner.main_number or owner.user_id
        return [Target(request_uri=b.contact, destination=b.source, to_uri=to_uri, user_id=owner.user_id,
                       caller_view=caller_view, number=number, name=owner.display_name, extra_headers=headers,
                       connected=connected, served_user=served.user_id)
                for b in bindings]

    def _number_targets(self, term: Termination, location: Number, served: User, group: Group,
                        directory: Directory) -> list[Target]:
        """A simultaneous/sequential ring location: a colleague's phones (their own features do not apply:
        they ring as one of `served`'s locations) or an outside number."""
        destination = route(location.number, group, directory)
        if isinstance(destination, ToUser):
            if destination.user.user_id == served.user_id:
                return []
            return self._device_targets(term, destination.user, destination.group, served)
        if isinstance(destination, ToTrunk):
            # The carrier sees a call on behalf of `served` (follow-me): Diversion names them.
            hops = [*term.hops, Hop(user_uri(served, group), "follow-me")]
            target_uri = f"sip:{destination.number}@{destination.trunk.host};user=phone"
            return [trunk_target(destination.trunk, destination.number, shown_as=location.number,
                                 caller_view=self._caller_towards_trunk(term),
                                 extra_headers=headers_for(term.first_uri or user_uri(served, group), hops,
                                                           target_uri),
                                 served_user=served.user_id)]
        return []

    # -- context -----------------------------------------------------------------------------------------
    def _context(self, term: Termination, user: User, group: Group, directory: Directory) -> CallContext:
        wall_now = self._wall_clock()
        bindings = self.location.current(f"sip:{user.user_id}@{group.domain}", wall_now)
        group_time, group_holiday = self._group_schedules(group, directory)
        services = user.services
        return CallContext(
            user_id=user.user_id, services=services,
            schedules=ScheduleBook(services.schedules, services.holiday_schedules, group_time, group_holiday),
            time_zone=group.time_zone, seconds_per_ring=group.seconds_per_ring,
            presence=Presence(registered_devices=len(bindings), calls=self.live.calls_of(user.user_id)),
            caller=term.caller.numbers, now=wall_now, voicemail_available=bool(self.voicemail),
            diverted_by=("",) * term.incoming_diversions + tuple(term.diverted_by),
        )

    def _group_schedules(self, group: Group, directory: Directory
                         ) -> tuple[tuple[Schedule, ...], tuple[HolidaySchedule, ...]]:
        """The group's schedules, indexed once per subscriber snapshot."""
        revision = (id(directory), directory.revision)
        if revision != self._books_revision:
            self._books, self._books_revision = {}, revision
        book = self._books.get(group.id)
        if book is None:
            description = directory.description(group.id)
            schedules = description.schedules if description is not None else ()
            book = (tuple(s.schedule for s in schedules if isinstance(s.schedule, Schedule)),
                    tuple(s.schedule for s in schedules if isinstance(s.schedule, HolidaySchedule)))
            self._books[group.id] = book
        return book

    @staticmethod
    def _to_uri(user: User, group: Group) -> str:
        return f"{quote(user.display_name)} <sip:{user.extension or user.user_id}@{group.domain}>"

    @staticmethod
    def _caller_towards_trunk(term: Termination) -> Party:
        """The caller as an outside party sees them on a forwarded or follow-me leg."""
        caller = term.caller
        if caller.user is not None:
            return identity.caller_for_trunk(caller.user, caller.group, hide_for_this_call=caller.hide_identity,
                                             emergency=False)
        return identity.forwarded_external_caller(caller.caller_id, caller.group)
