"""Call control in the shell: turns stack events into `Call` inputs and a call's actions into stack calls.

Owns the index of calls by dialog key (Call-ID + our tag, for the A leg and for every B leg), the calls' timers,
admission control and the call-log writes. Deciding whom to ring is done by pure code (routing, identity);
the two-leg machine is `sipserver.b2bua.call`. This module must not parse headers or pick features itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

import structlog

from features.engine import Reject
from provisioning.model import Directory, Group, Trunk, User
from sipserver.address import Endpoint
from sipserver.aio.batching import GroupCommit, ignore_failure
from sipserver.b2bua import identity
from sipserver.b2bua.admission import Admission, AdmissionPolicy
from sipserver.b2bua.call import (
    Action,
    BLeg,
    Call,
    CallEnded,
    CallState,
    LegStateChanged,
    LocalAddress,
    Party,
    Respond,
    RingingEnded,
    SendAck,
    SendRequest,
    Stage,
    Target,
    TxnContext,
)
from sipserver.b2bua.cdr import CallLogRow, CallLogStore, Presentation, call_log_rows
from sipserver.b2bua.click_to_dial import (
    DEFAULT_ANSWER_TIMEOUT,
    ClickAction,
    ClickContext,
    ClickToDial,
    NoRegisteredPhone,
    NotDialable,
    SendToPhone,
    SessionEnded,
    UserAnswered,
    detached_transaction,
)
from sipserver.b2bua.diversion import diversions_in
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import LocationService
from sipserver.b2bua.routing import ToTrunk, ToUser, Unroutable, parse_dialled, route, route_from_trunk
from sipserver.b2bua.sdp import inactive_session
from sipserver.b2bua.termination import CallerInfo, Plan, Termination, Terminator, VoicemailService, trunk_target
from sipserver.events import (
    AckReceived,
    CancelReceived,
    ClientTransactionTimedOut,
    RequestReceived,
    ResponseReceived,
    ServerTransactionTimedOut,
    StrayResponseReceived,
)
from sipserver.headers import quote
from sipserver.stack import SipStack
from sipserver.timers import TimerHandle, TimerQueue

log: Final = structlog.get_logger("callconnect.calls")
MAILBOX_ACCESS_CODE: Final = "*98"  # the owner's mailbox, like the group's voicemail number (1969)


class CallController:
    def __init__(
        self,
        *,
        stack: SipStack,
        local_for: Callable[[Endpoint], LocalAddress],
        live: LiveCalls,
        location: LocationService,
        call_log: CallLogStore,
        admission: AdmissionPolicy | None = None,
        ring_limit: float = 180.0,
        probe_interval: float = 300.0,
        voicemail: tuple[VoicemailService, ...] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.stack = stack
        self.local_for = local_for
        self.live = live
        self.terminator = Terminator(location=location, live=live, voicemail=voicemail, wall_clock=wall_clock)
        self._directory: Directory | None = None  # the newest subscriber snapshot a call was routed with
        self._terminations: dict[int, Termination] = {}
        self.call_log = call_log
        self.admission = Admission(admission or AdmissionPolicy())
        self.ring_limit = ring_limit  # Timer C: a call nobody answers ends with 408 after this many seconds
        self.probe_interval = probe_interval  # an established call checks both dialogs this often
        self._wall_clock = wall_clock
        self.calls: dict[tuple[str, str], Call] = {}
        self._presentations: dict[int, Presentation] = {}
        self._timers: TimerQueue[Call] = TimerQueue()
        self._timer_of: dict[int, TimerHandle] = {}
        self._ringing: dict[tuple[str, str, int], Call] = {}  # (Call-ID, From tag, CSeq) of A legs: loop check
        self._by_a_call_id: dict[str, Call] = {}  # the A leg's Call-ID (unique: merged requests get 482)
        # Nobody waits for call-log rows: gather them for 50 ms per commit (BENCHMARKS.md).
        self._log_writer: GroupCommit[CallLogRow] = GroupCommit(call_log.add_rows, "call_log", window=0.05)
        self.completed = 0
        # Click-to-dial (RFC 3725): sessions still ringing the user's phones, by id(session), with what routes
        # the number once the user answers; and the calls they became, by id(call).
        self._dialling: dict[int, tuple[ClickToDial, User, Group, Directory]] = {}
        self._sessions: dict[int, ClickToDial] = {}
        self._session_timers: TimerQueue[ClickToDial] = TimerQueue()
        self._session_timer_of: dict[int, TimerHandle] = {}
        self.click_answer_timeout = DEFAULT_ANSWER_TIMEOUT  # how long the user's phones ring for click-to-dial

    def __len__(self) -> int:
        return len(self._presentations)

    # -- new calls ---------------------------------------------------------------------------------------
    def start_from_user(self, event: RequestReceived, caller: User, group: Group, directory: Directory,
                        now: float) -> None:
        request = event.request
        call = self._new_call(event, identity.ANONYMOUS, caller.user_id, now)
        if call is None:
            return
        self._route_from_user(call, caller, group, directory, request.request_uri.unescaped_user or "", now,
                              incoming_diversions=diversions_in(request))

    def _route_from_user(self, call: Call, caller: User, group: Group, directory: Directory, dialled_text: str,
                         now: float, *, incoming_diversions: int = 0) -> None:
        """Route what `caller` dialled: the callee's features, the caller's identity rules (CLIR, `*67`)."""
        self._directory = directory
        dialled = parse_dialled(dialled_text)
        if dialled.digits == group.voicemail_number or dialled.digits == MAILBOX_ACCESS_CODE:
            self._presentations[id(call)] = Presentation(caller_as_seen=("", ""), dialled=(dialled.digits, ""))
            plan = self.terminator.mailbox_access(caller, group)
            if isinstance(plan, Reject):
                self._execute(call, call.reject(plan.status, now, plan.reason or None), now)
            else:
                self._execute(call, call.ring(plan, now), now)
            return
        destination = route(dialled.digits, group, directory)
        if isinstance(destination, ToTrunk):
            call.caller = identity.caller_for_trunk(caller, group, hide_for_this_call=dialled.hide_identity,
                                                    emergency=dialled.emergency)
        info = CallerInfo.of(identity.user_caller_id(caller), internal=True, user=caller, group=group,
                             hide_identity=dialled.hide_identity)
        self._route(call, destination, info, now, dialled=(dialled.digits, ""), directory=directory,
                    incoming_diversions=incoming_diversions)

    def start_from_trunk(self, event: RequestReceived, trunk: Trunk, directory: Directory, now: float) -> None:
        request = event.request
        trunk_group = directory.group_by_id(trunk.group_id) or directory.default_group
        call = self._new_call(event, identity.ANONYMOUS, None, now)
        if call is None:
            return
        self._directory = directory
        digits = request.request_uri.unescaped_user or ""
        info = CallerInfo.of(identity.trunk_caller_id(request, trunk_group), internal=False, user=None,
                             group=trunk_group)
        destination = route_from_trunk(digits, trunk, directory)
        self._route(call, destination, info, now, dialled=(digits, ""), directory=directory,
                    incoming_diversions=diversions_in(request))

    # -- calls answered here: feature access codes -------------------------------------------------------
    def start_local(self, event: RequestReceived, caller: User, now: float) -> Call | None:
        """A call from `caller` that we answer ourselves (a feature code); None when it was refused already
        (loop, Max-Forwards, overload). Finish it with `confirm_local` or `refuse_local`."""
        call = self._new_call(event, identity.ANONYMOUS, caller.user_id, now)
        if call is not None:
            dialled = event.request.request_uri.unescaped_user or ""
            self._presentations[id(call)] = Presentation(caller_as_seen=("", ""), dialled=(dialled, ""))
        return call

    def confirm_local(self, call: Call, now: float, hang_up_after: float = 1.0) -> None:
        """Answer with an inactive session and hang up a moment after the ACK: "done"."""
        body = inactive_session(call.a_invite.body, call.local.host, int(self._wall_clock()))
        self._execute(call, call.answer_here(body, "application/sdp", now, hang_up_after=hang_up_after), now)

    def refuse_local(self, call: Call, status: int, reason: str, now: float) -> None:
        self._execute(call, call.reject(status, now, reason), now)

    def _new_call(self, event: RequestReceived, caller: Party, caller_user_id: str | None, now: float
                  ) -> Call | None:
        request, txn = event.request, event.transaction
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            self.stack.reply(txn, 483, now, "Too Many Hops")
            return None
        merge_key = (request.call_id, request.from_.tag or "", request.cseq.number)
        if merge_key in self._ringing:
            # RFC 3261 §8.2.2.2: the same request reached us again by another path (a forking loop).
            self.stack.reply(txn, 482, now, "Loop Detected")
            return None
        if not self.admission.admit(now, len(self)):
            self.stack.reply(txn, 503, now, "Service Unavailable",
                             (("Retry-After", str(self.admission.policy.retry_after)),))
            return None
        call = Call.create(a_invite=request, a_txn=txn, a_source=event.source, local=self.local_for(event.source),
                           caller=caller, caller_user_id=caller_user_id, now=now, overall_limit=self.ring_limit)
        call.probe_interval = self.probe_interval
        self.calls[call.a_key] = call
        self._ringing[merge_key] = call
        self._by_a_call_id[request.call_id] = call
        self._presentations[id(call)] = Presentation(caller_as_seen=("", ""), dialled=("", ""))
        return call

    def _route(self, call: Call, destination: ToUser | ToTrunk | Unroutable, caller: CallerInfo, now: float, *,
               dialled: tuple[str, str], directory: Directory, incoming_diversions: int = 0) -> None:
        callee_id = destination.user.user_id if isinstance(destination, ToUser) else None
        self._presentations[id(call)] = Presentation(
            caller_as_seen=caller.caller_id.for_log(caller.group.country_code), dialled=dialled,
            callee_user_id=callee_id)
        if isinstance(destination, Unroutable):
            self._execute(call, call.reject(destination.status, now, destination.reason), now)
            return
        if isinstance(destination, ToTrunk):
            target = trunk_target(destination.trunk, destination.number, shown_as=dialled[0])
            self._execute(call, call.ring([Stage((target,))], now), now)
            return
        term = Termination(caller=caller, incoming_diversions=incoming_diversions)
        self._terminations[id(call)] = term
        plan = self.terminator.arrive(term, destination.user, destination.group, directory)
        self._execute(call, self._start_plan(call, plan, now), now)

    def _start_plan(self, call: Call, plan: Plan, now: float) -> list[Action]:
        if isinstance(plan, Reject):
            return call.reject(plan.status, now, plan.reason or None)
        if call.state is CallState.ROUTING:
            return call.ring(plan, now, ask_when_done=True)
        return call.continue_with(plan, now, ask_when_done=True)

    def _after_ringing(self, call: Call, ended: RingingEnded, now: float) -> list[Action]:
        """Every stage ended unanswered: the served user's busy / no-answer handling decides what follows."""
        term = self._terminations.get(id(call))
        if term is None or self._directory is None:
            return call.reject(ended.status, now)
        plan = self.terminator.after_ringing(term, busy=ended.busy, status=ended.status,
                                             directory=self._directory)
        return self._start_plan(call, plan, now)

    # -- pickup ------------------------------------------------------------------------------------------
    def ringing_call_of(self, user_ids: Iterable[str]) -> tuple[Call, str] | None:
        """The oldest unanswered call ringing one of `user_ids`, with whom it rings (directed/group pickup)."""
        wanted = set(user_ids)
        best: tuple[Call, str] | None = None
        for call in self._by_a_call_id.values():
            if call.state is not CallState.RINGING or (best is not None and call.started_at >= best[0].started_at):
                continue
            for user_id in wanted:
                if call.ringing_leg_of(user_id) is not None:
                    best = (call, user_id)
                    break
        return best

    def replaced_call(self, call_id: str, tags: tuple[str, str]) -> tuple[Call, str] | None:
        """The call whose ringing B leg is the early dialog a `Replaces` names (either tag order, RFC 3891),
        with the user that leg rings; None when no such ringing leg exists (the picker gets 481)."""
        for tag in tags:
            call = self.calls.get((call_id, tag))
            if call is None:
                continue
            leg = self._leg_of(call, call_id)
            if leg is not None and leg.target.user_id is not None \
                    and call.ringing_leg_of(leg.target.user_id) is leg:
                return call, leg.target.user_id
        return None

    def pick_up(self, event: RequestReceived, picker: User, group: Group, call: Call, now: float) -> None:
        """Connect `picker`'s INVITE to the ringing `call` (its ringing phones stop), or refuse it."""
        request = event.request
        term = self._terminations.get(id(call))
        internal = term.caller.internal if term is not None else True
        contacts = request.contacts
        contact_uri = contacts[0].uri if contacts and contacts[0].uri is not None else request.from_.uri
        target = Target(
            request_uri=str(contact_uri), destination=event.source,
            to_uri=f"{quote(picker.display_name)} "
                   f"<sip:{picker.extension or picker.user_id}@{group.domain}>",
            user_id=picker.user_id, number=picker.extension or picker.main_number or picker.user_id,
            name=picker.display_name, connected=identity.connected_party(picker, group, caller_internal=internal),
            served_user=picker.user_id)
        outcome = call.pick_up(request, event.transaction, target, now)
        if isinstance(outcome, int):
            reason = "No Call To Pick Up" if outcome == 481 else "No Common Media"
            self.stack.reply(event.transaction, outcome, now, reason)
            return
        leg = call.winner
        assert leg is not None
        self.calls[(leg.call_id, leg.local_tag)] = call
        log.info("picked_up", picker=picker.user_id, call_id=call.a_invite.call_id)
        self._execute(call, outcome, now)

    # -- click-to-dial (RFC 3725): the user's phones first, then the number as if the user dialled it ---------
    def click_to_dial(self, user: User, group: Group, directory: Directory, number: str, now: float
                      ) -> ClickToDial:
        """Call `user`'s registered phones (with auto-answer hints); when one answers, call `number` as if the
        user had dialled it and join the two. Raises NotDialable / NoRegisteredPhone before anything is sent."""
        digits = "".join(ch for ch in number if not ch.isspace() and ch not in "-./()")
        dialled = parse_dialled(digits)
        destination = route(dialled.digits, group, directory) if dialled.digits else Unroutable(404, "Not Found")
        if isinstance(destination, Unroutable):
            raise NotDialable(f"{number!r} cannot be dialled ({destination.reason})")
        if isinstance(destination, ToUser) and destination.user.user_id == user.user_id:
            raise NotDialable(f"{number!r} is the user's own number")
        bindings = self.terminator.location.current(f"sip:{user.user_id}@{group.domain}", self._wall_clock())
        if not bindings:
            raise NoRegisteredPhone(f"no phone of {user.user_id} is registered")
        to_uri = f"{quote(user.display_name)} <sip:{user.extension or user.user_id}@{group.domain}>"
        phones = tuple(Target(request_uri=b.contact, destination=b.source, to_uri=to_uri, user_id=user.user_id)
                       for b in bindings)
        if isinstance(destination, ToUser):
            callee = destination.user
            shown = Party(f"{quote(callee.display_name)} <sip:{callee.extension or callee.user_id}@{group.domain}>")
        else:
            shown = Party(f"{quote(dialled.digits)} <sip:{dialled.digits}@{group.domain}>")
        session = ClickToDial(user_id=user.user_id, number=digits, phones=phones, shown_as=shown,
                              local=self.local_for(bindings[0].source), started_at=now,
                              session_id=int(self._wall_clock()), answer_timeout=self.click_answer_timeout)
        self._dialling[id(session)] = (session, user, group, directory)
        log.info("click_to_dial", user=user.user_id, number=digits, phones=len(phones))
        self._execute_session(session, session.start(now), now)
        return session

    def _execute_session(self, session: ClickToDial, actions: Iterable[ClickAction], now: float) -> None:
        for_call: list[ClickAction] = []
        for action in actions:
            if isinstance(action, SendToPhone):
                self._send_to_phone(action, now)
            elif isinstance(action, SendAck):
                self.stack.send_raw(action.request.serialize(), action.destination)
            elif isinstance(action, UserAnswered):
                self._start_click_call(session, action, now)
            elif isinstance(action, SessionEnded):
                self._session_done(session, action)
            else:
                for_call.append(action)
        if for_call and session.call is not None:
            self._execute(session.call, for_call, now)
        handle = self._session_timer_of.pop(id(session), None)
        if handle is not None:
            self._session_timers.cancel(handle)
        deadline = session.next_deadline()
        if deadline is not None and id(session) in self._dialling:
            self._session_timer_of[id(session)] = self._session_timers.schedule(deadline, session)

    def _send_to_phone(self, action: SendToPhone, now: float) -> None:
        txn = self.stack.send_request(action.request, action.destination, now)
        txn.user_data = action.context

    def _start_click_call(self, session: ClickToDial, answered: UserAnswered, now: float) -> None:
        """The user answered: their side becomes the A leg of an ordinary call to the number."""
        entry = self._dialling.pop(id(session), None)
        if entry is None:
            return
        _, user, group, directory = entry
        a_invite, source = answered.a_invite, answered.a_source
        call = Call(a_invite=a_invite, a_txn=detached_transaction(a_invite, source), a_source=source,
                    a_tag=answered.a_tag, local=session.local, caller=identity.ANONYMOUS,
                    caller_user_id=user.user_id, overall_limit=self.ring_limit, started_at=now, late_offer=True)
        call.probe_interval = self.probe_interval
        session.attach(call)
        self.calls[call.a_key] = call
        self._by_a_call_id[a_invite.call_id] = call
        self._sessions[id(call)] = session
        self._presentations[id(call)] = Presentation(caller_as_seen=("", ""), dialled=(session.number, ""))
        log.info("click_to_dial_answered", user=user.user_id, number=session.number, call_id=a_invite.call_id)
        self._route_from_user(call, user, group, directory, session.number, now)

    def _session_done(self, session: ClickToDial, ended: SessionEnded) -> None:
        if self._dialling.pop(id(session), None) is not None or ended.reason != "connected":
            log.info("click_to_dial_ended", user=session.user_id, number=session.number, outcome=ended.reason)

    # -- events ------------------------------------------------------------------------------------------
    def on_in_dialog_request(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self.calls.get((request.call_id, request.to.tag or ""))
        if call is None:
            self.stack.reply(event.transaction, 481, now)
            return
        leg = self._leg_of(call, request.call_id)
        actions: list[ClickAction] | list[Action]
        if leg is None:
            session = self._sessions.get(id(call)) if self._sessions else None
            if session is None:
                actions = call.on_a_request(request, event.transaction, now)
            else:
                actions = session.on_phone_request(request, event.transaction, now)
        else:
            actions = call.on_b_request(leg, request, event.transaction, now)
        self._execute(call, actions, now)

    def on_ack(self, event: AckReceived, now: float) -> None:
        request = event.request
        call = self.calls.get((request.call_id, request.to.tag or ""))
        if call is None:
            return
        leg = self._leg_of(call, request.call_id)
        actions = call.on_a_ack(request, now) if leg is None else call.on_b_ack(leg, request, now)
        self._execute(call, actions, now)

    def on_cancel(self, event: CancelReceived, now: float) -> None:
        # Found by Call-ID, not through the transaction: a transaction pointing back at its call would make a
        # reference cycle, and every call would wait for the cyclic garbage collector to be freed.
        call = self._by_a_call_id.get(event.invite.request.call_id)
        if call is not None and call.a_txn is event.invite:  # a CANCEL of a re-INVITE cancels nothing here
            self._execute(call, call.on_a_cancel(now), now)

    def on_response(self, event: ResponseReceived, now: float) -> None:
        context = event.transaction.user_data
        if isinstance(context, TxnContext):
            self._execute(context.call, context.call.on_response(context, event.response, now), now)
        elif isinstance(context, ClickContext):
            session = context.session
            self._execute_session(session, session.on_response(context, event.response, now), now)

    def on_stray_response(self, event: StrayResponseReceived, now: float) -> None:
        """A 2xx whose INVITE transaction is gone: give it to its call, which ACKs (and BYEs if needed)."""
        response = event.response
        call = self.calls.get((response.call_id, response.from_.tag or ""))
        leg = self._leg_of(call, response.call_id) if call is not None else None
        if call is not None and leg is not None:
            self._execute(call, call.on_response(TxnContext(call, leg, "invite"), response, now), now)

    def on_client_timeout(self, event: ClientTransactionTimedOut, now: float) -> None:
        context = event.transaction.user_data
        if isinstance(context, TxnContext):
            self._execute(context.call, context.call.on_timeout(context, now), now)
        elif isinstance(context, ClickContext):
            session = context.session
            self._execute_session(session, session.on_timeout(context, now), now)

    def on_server_timeout(self, event: ServerTransactionTimedOut, now: float) -> None:
        if event.call_id is None:
            return
        call = self._by_a_call_id.get(event.call_id)
        if call is not None:
            self._execute(call, call.on_a_ack_timeout(now), now)

    # -- timers ------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadline = self._timers.next_deadline()
        if self._session_timer_of:
            sessions = self._session_timers.next_deadline()
            if deadline is None or (sessions is not None and sessions < deadline):
                return sessions
        return deadline

    def on_timer(self, now: float) -> None:
        for call in self._timers.pop_due(now):
            self._timer_of.pop(id(call), None)
            self._execute(call, call.on_timer(now), now)
        if self._session_timer_of:
            for session in self._session_timers.pop_due(now):
                self._session_timer_of.pop(id(session), None)
                self._execute_session(session, session.on_timer(now), now)

    def _rearm(self, call: Call) -> None:
        handle = self._timer_of.pop(id(call), None)
        if handle is not None:
            self._timers.cancel(handle)
        deadline = call.next_deadline()
        if deadline is not None:
            self._timer_of[id(call)] = self._timers.schedule(deadline, call)

    # -- actions -----------------------------------------------------------------------------------------
    def _execute(self, call: Call, actions: Iterable[ClickAction], now: float) -> None:
        ended = False
        pending: list[ClickAction] = list(actions)
        session = self._sessions.get(id(call)) if self._sessions else None
        index = 0
        while index < len(pending):
            action = pending[index]
            index += 1
            if isinstance(action, Respond):
                if session is not None and action.txn is call.a_txn:
                    # A click-to-dial call's A leg is the user's phone, answered already: the session turns
                    # the call's answer into a re-INVITE (the target's offer) or a BYE (its failure).
                    pending.extend(session.on_call_response(action.response, now))
                    continue
                self.stack.respond(action.txn, action.response, now)
                if action.retransmit_until_ack:
                    self.stack.transactions.start_2xx_retransmission(
                        action.response, action.txn.response_destination, now)
            elif isinstance(action, SendRequest):
                txn = self.stack.send_request(action.request, action.destination, now)
                txn.user_data = action.context
                leg = action.context.leg
                if action.context.purpose == "invite" and leg is not None:
                    self.calls[(leg.call_id, leg.local_tag)] = call
            elif isinstance(action, SendAck):
                self.stack.send_raw(action.request.serialize(), action.destination)
            elif isinstance(action, LegStateChanged):
                self.live.publish(action)
            elif isinstance(action, RingingEnded):
                pending.extend(self._after_ringing(call, action, now))
            elif isinstance(action, CallEnded):
                ended = True
            elif isinstance(action, SendToPhone):
                self._send_to_phone(action, now)
            elif isinstance(action, SessionEnded) and session is not None:
                self._session_done(session, action)
        if ended:
            self._ended(call, now)
        else:
            self._rearm(call)

    def _ended(self, call: Call, now: float) -> None:
        handle = self._timer_of.pop(id(call), None)
        if handle is not None:
            self._timers.cancel(handle)
        presentation = self._presentations.pop(id(call), None)
        self._terminations.pop(id(call), None)
        if self._sessions:
            self._sessions.pop(id(call), None)
        # Keep the dialog keys for a little while? In-dialog stragglers get 481: that is the RFC's answer.
        self.calls.pop(call.a_key, None)
        a = call.a_invite
        self._ringing.pop((a.call_id, a.from_.tag or "", a.cseq.number), None)
        if self._by_a_call_id.get(a.call_id) is call:
            del self._by_a_call_id[a.call_id]
        for leg in call.legs:
            self.calls.pop((leg.call_id, leg.local_tag), None)
        self.completed += 1
        if presentation is not None:
            written = self._log_writer.submit(call_log_rows(call, presentation, self._wall_clock() - now))
            written.add_done_callback(ignore_failure)  # failures are logged by the writer

    async def flush(self) -> None:
        await self._log_writer.flush()

    @staticmethod
    def _leg_of(call: Call, call_id: str) -> BLeg | None:
        if call.a_invite.call_id == call_id:
            return None
        return next((leg for leg in call.legs if leg.call_id == call_id), None)
