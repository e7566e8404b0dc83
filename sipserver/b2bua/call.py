"""The two-leg call of a back-to-back user agent (RFC 3261 §12-§15, §9; RFC 3326 Reason; RFC 6026).

A `Call` owns one A leg (the INVITE we answer) and any number of B legs (the INVITEs we send), grouped in ring
*stages*: every leg of a stage rings at once (forking), a stage ends when one leg answers, when every leg has
failed or when its time is up, and then the next stage starts or the call fails with the best response. That is
the shape the feature engine needs: forward = a new stage, sequential ring = several stages, voicemail = a last
stage. The first 2xx wins; the other legs get CANCEL with `Reason: SIP;cause=200;text="Call completed
elsewhere"`, and a 2xx arriving after another leg won is ACKed and BYEd.

Pure: inputs are messages, transactions and `now`; outputs are `Action`s for the shell (send a request, answer a
transaction, publish a leg state, end the call). It knows nothing of sockets, users, features or storage: who to
ring, and how each party is presented, comes in as `Target`s built by routing and identity code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sipserver.address import Endpoint
from sipserver.b2bua.sdp_bridge import cross_answers, is_hold
from sipserver.b2bua.uac_auth import ClientCredentials, answer_challenge
from sipserver.dialog import Dialog, uac_dialog, uas_dialog
from sipserver.ids import new_call_id, new_tag
from sipserver.message import Headers, SipRequest, SipResponse, build_response, skeleton
from sipserver.transaction import ClientTransaction, ServerTransaction, build_cancel, new_branch

CALL_COMPLETED_ELSEWHERE: Final = 'SIP;cause=200;text="Call completed elsewhere"'
_BUSY: Final = frozenset({486, 600, 603})  # what a leg answers when its user is busy or declines

# Headers relayed end to end on requests and responses; everything else is per leg.
# (Content-Type travels with the body: requests get it from `Dialog.new_request`, responses copy it.)
_RELAYED_REQUEST_HEADERS: Final = frozenset({"Content-Disposition", "Content-Encoding", "Content-Language", "Allow",
                                      "Supported", "Accept", "Session-Expires", "Min-SE", "Event", "Info-Package",
                                      "Recv-Info", "Alert-Info", "Call-Info", "Subject", "Priority", "Reason"})
_RELAYED_RESPONSE_HEADERS: Final = frozenset({"Content-Type", "Content-Disposition", "Content-Encoding",
                                       "Content-Language", "Allow", "Supported", "Accept", "Unsupported",
                                       "Retry-After", "Warning", "Reason", "Min-SE", "Session-Expires"})


class CallState(enum.Enum):
    ROUTING = "routing"      # A leg received, no B leg yet
    RINGING = "ringing"      # B legs out, no answer yet
    ANSWERED = "answered"    # 200 sent to A, its ACK not yet seen
    CONFIRMED = "confirmed"  # both legs established
    ENDED = "ended"


class LegState(enum.Enum):
    CALLING = "calling"        # INVITE sent, nothing back
    EARLY = "early"            # provisional response received
    ANSWERED = "answered"      # 2xx received: this leg won
    CANCELLING = "cancelling"  # CANCEL sent (or owed, until a provisional arrives)
    FAILED = "failed"          # final non-2xx, timeout, or cancelled
    ENDED = "ended"            # BYE sent or received after answer


@dataclass(init=False, unsafe_hash=True, slots=True)
class Party:
    """How one side is shown to the other: the From/To/PAI values rendered by identity code."""

    from_uri: Final[str]          # e.g. '"Jean Dupont" <sip:022211201@callconnect.local>'
    asserted: Final[str | None]   # P-Asserted-Identity value, or None to send none
    privacy: Final[str | None]    # Privacy header value ("id"), or None

    def __init__(self, from_uri: str, asserted: str | None = None, privacy: str | None = None) -> None:
        self.from_uri = from_uri
        self.asserted = asserted
        self.privacy = privacy


@dataclass(init=False, unsafe_hash=True, slots=True)
class Target:
    """One leg to ring: Request-URI, where to send it, and how each side sees the other on this leg.

    `caller_view` overrides the call's caller presentation for this leg (each callee's CLID delivery settings
    differ); `connected` is how the answering party is shown to the caller if this leg answers (None: COLR or
    unknown); `number`/`name` is the party as the caller may see it (for the caller's call log). `user_id` is
    the user whose phone this leg rings (live state, BLF); `served_user` the user on whose behalf it rings
    (the call-log owner: a simultaneous-ring number rings for its user), by default `user_id`.
    """

    request_uri: Final[str]
    destination: Final[Endpoint]
    to_uri: Final[str]
    user_id: Final[str | None]       # the user this leg rings (None for a trunk leg)
    caller_view: Final[Party | None]
    number: Final[str]
    name: Final[str]
    extra_headers: Final[tuple[tuple[str, str], ...]]
    credentials: Final[ClientCredentials | None]  # ours towards a trunk that challenges (401/407)
    connected: Final[Party | None]
    served_user: Final[str | None]

    def __init__(self, request_uri: str, destination: Endpoint, to_uri: str, user_id: str | None = None,
                 caller_view: Party | None = None, number: str = "", name: str = "",
                 extra_headers: tuple[tuple[str, str], ...] = (),
                 credentials: ClientCredentials | None = None, connected: Party | None = None,
                 served_user: str | None = None) -> None:
        self.request_uri = request_uri
        self.destination = destination
        self.to_uri = to_uri
        self.user_id = user_id
        self.caller_view = caller_view
        self.number = number
        self.name = name
        self.extra_headers = extra_headers
        self.credentials = credentials
        self.connected = connected
        self.served_user = user_id if served_user is None else served_user


@dataclass(init=False, unsafe_hash=True, slots=True)
class Stage:
    targets: Final[tuple[Target, ...]]
    ring_seconds: Final[float | None]  # None: until the call's overall limit

    def __init__(self, targets: tuple[Target, ...], ring_seconds: float | None = None) -> None:
        self.targets = targets
        self.ring_seconds = ring_seconds


@dataclass(init=False, unsafe_hash=True, slots=True)
class LocalAddress:
    """What we put in Via and Contact for a transport: e.g. host "127.0.0.1", port 5060."""

    host: Final[str]
    port: Final[int]

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def via(self, transport: str) -> str:
        return f"SIP/2.0/{transport.upper()} {self._hostport()};branch={new_branch()};rport"

    def contact(self, transport: str, user: str = "b2bua") -> str:
        param = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{user}@{self._hostport()}{param}>"

    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# -- actions for the shell ----------------------------------------------------------------------------------
@dataclass(init=False, unsafe_hash=True, slots=True)
class Respond:
    txn: Final[ServerTransaction]
    response: Final[SipResponse]
    retransmit_until_ack: Final[bool]  # a 2xx to an INVITE (§13.3.1.4)

    def __init__(self, txn: ServerTransaction, response: SipResponse, retransmit_until_ack: bool = False) -> None:
        self.txn = txn
        self.response = response
        self.retransmit_until_ack = retransmit_until_ack


@dataclass(init=False, unsafe_hash=True, slots=True)
class SendRequest:
    """Send in a new client transaction whose `user_data` the shell sets to `context`, so that the responses
    and the timeout of that transaction come back to `Call.on_response` / `Call.on_timeout` with it."""

    request: Final[SipRequest]
    destination: Final[Endpoint]
    context: Final[TxnContext]

    def __init__(self, request: SipRequest, destination: Endpoint, context: TxnContext) -> None:
        self.request = request
        self.destination = destination
        self.context = context


@dataclass(init=False, unsafe_hash=True, slots=True)
class SendAck:
    """An ACK for a 2xx: no transaction of its own (§17.1.1.3)."""

    request: Final[SipRequest]
    destination: Final[Endpoint]

    def __init__(self, request: SipRequest, destination: Endpoint) -> None:
        self.request = request
        self.destination = destination


@dataclass(init=False, unsafe_hash=True, slots=True)
class LegStateChanged:
    """For BLF and the portal: a leg touching `user_id` moved to `state` (RFC 4235 states)."""

    user_id: Final[str]
    call_id: Final[str]
    local_tag: Final[str]
    remote_tag: Final[str | None]
    direction: Final[str]  # "initiator" (the user called) / "recipient" (the user is called)
    state: Final[str]      # "trying" | "early" | "confirmed" | "terminated"
    peer: Final[str]       # who the user sees on the other side
    held: Final[bool]      # the user put this call on hold (their last offer was sendonly/inactive)

    def __init__(self, user_id: str, call_id: str, local_tag: str, remote_tag: str | None, direction: str,
                 state: str, peer: str, held: bool = False) -> None:
        self.user_id = user_id
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.direction = direction
        self.state = state
        self.peer = peer
        self.held = held


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallEnded:
    call: Final[Call]

    def __init__(self, call: Call) -> None:
        self.call = call


@dataclass(init=False, unsafe_hash=True, slots=True)
class RingingEnded:
    """Every stage ended unanswered and the call asked to be told (`Call.ring(..., ask_when_done=True)`): the
    shell decides what follows (forward, voicemail: `Call.continue_with`) or how it fails (`Call.reject`).
    `busy`: the last stage's legs answered busy (486, 600, 603); else nobody answered in time or they failed
    otherwise. `status` is the answer the caller would get now."""

    busy: Final[bool]
    status: Final[int]

    def __init__(self, busy: bool, status: int) -> None:
        self.busy = busy
        self.status = status


Action = Respond | SendRequest | SendAck | LegStateChanged | CallEnded | RingingEnded


@dataclass(init=False, eq=False, slots=True)
class BLeg:
    target: Target
    invite: SipRequest
    txn: ClientTransaction | None
    state: LegState
    dialog: Dialog | None
    final_status: int | None
    cancel_reason: str | None
    stage_index: int
    auth_tried: bool
    last_rseq: int | None
    own_tag: str | None  # our tag when the leg is a dialog we answered (a picker's INVITE), not one we sent
    held: bool  # this side put the call on hold

    def __init__(self, target: Target, invite: SipRequest, stage_index: int = 0) -> None:
        self.target = target
        self.invite = invite
        self.txn = None
        self.state = LegState.CALLING
        self.dialog = None
        self.final_status = None
        self.cancel_reason = None
        self.stage_index = stage_index
        self.auth_tried = False
        self.last_rseq = None
        self.own_tag = None
        self.held = False

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def local_tag(self) -> str:
        if self.own_tag is not None:
            return self.own_tag
        return self.invite.from_.tag or ""


@dataclass(init=False, slots=True, eq=False)
class TxnContext:
    """What a client transaction of this call is for. `leg` is None for requests towards the A side;
    `origin` is the server transaction whose request we relay (purpose "relay")."""

    # eq=False: compared and hashed by identity, as before (unsafe_hash would hash the fields instead).
    call: Final[Call]
    leg: Final[BLeg | None]
    purpose: Final[str]  # "invite", "cancel", "bye", "relay", "prack", "probe"
    origin: Final[ServerTransaction | None]

    def __init__(self, call: Call, leg: BLeg | None, purpose: str, origin: ServerTransaction | None = None) -> None:
        self.call = call
        self.leg = leg
        self.purpose = purpose
        self.origin = origin


@dataclass(init=False, eq=False, slots=True)
class Call:
    """One B2BUA call. Build with `Call.create(...)`; feed it events; execute the actions it returns."""

    a_invite: SipRequest
    a_txn: ServerTransaction
    a_source: Endpoint
    a_tag: str
    local: LocalAddress
    caller: Party                   # how the caller is shown to the callees
    caller_user_id: str | None      # who placed the call (None: from a trunk)
    overall_limit: float
    started_at: float
    state: CallState
    stages: list[Stage]
    stage_index: int
    stage_deadline: float | None
    legs: list[BLeg]
    winner: BLeg | None
    a_dialog: Dialog | None
    answered_by: Party | None  # how the answering party is shown to the caller (COLR)
    ringing_since: float | None
    answered_at: float | None
    ended_at: float | None
    end_reason: str
    final_status: int | None
    b_acks: dict[int, tuple[BLeg, int]]  # A's re-INVITE CSeq -> (leg, B CSeq)
    pending_a_reinvites: dict[int, int]  # B's INVITE CSeq -> A's INVITE CSeq
    late_offer: bool
    pending_b_2xx: SipResponse | None  # the winner's 2xx, ACKed when A's ACK brings the answer
    probe_interval: float  # seconds between liveness probes of an established call
    next_probe_at: float | None
    stage_ring_seconds: float | None
    ask_when_done: bool  # at the end of the stages, emit RingingEnded instead of failing the A leg
    release_after: float | None  # answered here (answer_here): hang up this long after the caller's ACK
    releasing: bool  # the next timer of the confirmed call is that hang-up, not a probe
    a_held: bool  # the caller put the call on hold

    # -- construction ------------------------------------------------------------------------------------
    def __init__(self, a_invite: SipRequest, a_txn: ServerTransaction, a_source: Endpoint, a_tag: str,
                 local: LocalAddress, caller: Party, caller_user_id: str | None, overall_limit: float,
                 started_at: float, late_offer: bool = False) -> None:
        """The call as it starts (state ROUTING, nothing rung yet); the rest of the state begins empty."""
        self.a_invite = a_invite
        self.a_txn = a_txn
        self.a_source = a_source
        self.a_tag = a_tag
        self.local = local
        self.caller = caller
        self.caller_user_id = caller_user_id
        self.overall_limit = overall_limit
        self.started_at = started_at
        self.state = CallState.ROUTING
        self.stages = []
        self.stage_index = -1
        self.stage_deadline = None
        self.legs = []
        self.winner = None
        self.a_dialog = None
        self.answered_by = None
        self.ringing_since = None
        self.answered_at = None
        self.ended_at = None
        self.end_reason = ""
        self.final_status = None
        self.b_acks = {}
        self.pending_a_reinvites = {}
        self.late_offer = late_offer
        self.pending_b_2xx = None
        self.probe_interval = 300.0
        self.next_probe_at = None
        self.stage_ring_seconds = None
        self.ask_when_done = False
        self.release_after = None
        self.releasing = False
        self.a_held = False

    @classmethod
    def create(cls, *, a_invite: SipRequest, a_txn: ServerTransaction, a_source: Endpoint, local: LocalAddress,
               caller: Party, caller_user_id: str | None, now: float, overall_limit: float = 180.0) -> Call:
        return cls(a_invite=a_invite, a_txn=a_txn, a_source=a_source, a_tag=new_tag(), local=local,
                   caller=caller, caller_user_id=caller_user_id, overall_limit=overall_limit, started_at=now,
                   late_offer=not a_invite.body)

    @property
    def a_key(self) -> tuple[str, str]:
        return (self.a_invite.call_id, self.a_tag)

    # -- decisions from above ----------------------------------------------------------------------------
    def reject(self, status: int, now: float, reason: str | None = None,
               headers: Iterable[tuple[str, str]] = ()) -> list[Action]:
        """Answer the A leg with a final failure and end (404, 480, 486, 403...)."""
        actions: list[Action] = []
        self._fail_a(status, now, actions, reason, tuple(headers))
        return actions

    def ring(self, stages: Iterable[Stage], now: float, *, ask_when_done: bool = False) -> list[Action]:
        """Start ringing: the first stage's legs go out at once; later stages follow on no answer/failure.
        With `ask_when_done`, the end of the last stage is a `RingingEnded` for the shell to decide on."""
        self.stages = list(stages)
        self.ask_when_done = ask_when_done
        actions: list[Action] = []
        if self.caller_user_id is not None:
            actions.append(self._a_state("trying"))
        self._next_stage(now, actions)
        return actions

    def answer_here(self, body: bytes, content_type: str, now: float, *, hang_up_after: float) -> list[Action]:
        """Answer the caller ourselves, with no B leg (the confirmation of a feature access code), and hang up
        `hang_up_after` seconds after the caller's ACK. `body` is our session description (answer or offer)."""
        actions: list[Action] = []
        if self.state is not CallState.ROUTING and self.state is not CallState.RINGING:
            return actions
        contact = self.local.contact(self.a_source.transport)
        self.a_dialog = uas_dialog(self.a_invite, self.a_tag, contact)
        self.a_dialog.early = False
        self.state = CallState.ANSWERED
        self.answered_at = now
        self.release_after = hang_up_after
        headers = [("Contact", contact), ("Content-Type", content_type)] if body else [("Contact", contact)]
        response = build_response(self.a_invite, 200, "OK", to_tag=self.a_tag, headers=headers, body=body)
        actions.append(Respond(self.a_txn, response, retransmit_until_ack=True))
        return actions

    def continue_with(self, stages: Iterable[Stage], now: float, *, ask_when_done: bool = False) -> list[Action]:
        """After `RingingEnded`: ring further stages (a forward, voicemail), the caller still hearing ringback."""
        actions: list[Action] = []
        if self.state is not CallState.RINGING and self.state is not CallState.ROUTING:
            return actions
        self.stages.extend(stages)
        self.ask_when_done = ask_when_done
        self._next_stage(now, actions)
        return actions

    def pick_up(self, invite: SipRequest, txn: ServerTransaction, picker: Target, now: float
                ) -> list[Action] | int:
        """`picker` takes this ringing call (directed pickup, RFC 3891 `Replaces`): its INVITE `invite` is
        answered with the caller's session, the caller is answered with the picker's (`sdp_bridge`), and
        every ringing leg is cancelled as "completed elsewhere". Returns the actions, or the status the
        picker gets when it cannot be done: 481 when the call is no longer ringing, 488 without two
        compatible offers (a late-offer caller or picker)."""
        if self.state is not CallState.RINGING or self.winner is not None:
            return 481
        if self.late_offer or not invite.body:
            return 488
        answers = cross_answers(self.a_invite.body, invite.body)
        if answers is None:
            return 488
        to_caller, to_picker = answers
        actions: list[Action] = []
        leg = BLeg(picker, invite, stage_index=self.stage_index)
        leg.own_tag = new_tag()
        picker_contact = self.local.contact(picker.destination.transport)
        leg.dialog = uas_dialog(invite, leg.own_tag, picker_contact)
        leg.dialog.early = False
        leg.state = LegState.ANSWERED
        leg.final_status = 200
        for other in self.legs:
            self._cancel_leg(other, CALL_COMPLETED_ELSEWHERE, actions)
        self.legs.append(leg)
        self.winner = leg
        self.answered_at = now
        self.stage_deadline = None
        self.answered_by = picker.connected
        headers = [("Contact", picker_contact), ("Content-Type", "application/sdp")]
        actions.append(Respond(txn, build_response(invite, 200, "OK", to_tag=leg.own_tag, headers=headers,
                                                   body=to_picker), retransmit_until_ack=True))
        a_200 = self._a_response(200, "OK", None)
        a_200.headers.add("Content-Type", "application/sdp")
        a_200.body = to_caller
        self.a_dialog = uas_dialog(self.a_invite, self.a_tag, self.local.contact(self.a_source.transport))
        self.a_dialog.early = False
        self.state = CallState.ANSWERED
        actions.append(Respond(self.a_txn, a_200, retransmit_until_ack=True))
        self._publish_b(leg, "confirmed", actions)
        if self.caller_user_id is not None:
            actions.append(self._a_state("confirmed"))
        return actions

    def ringing_leg_of(self, user_id: str) -> BLeg | None:
        """The leg ringing `user_id`'s phone, while the call is still unanswered (what a pickup takes)."""
        if self.state is not CallState.RINGING:
            return None
        for leg in self.legs:
            if leg.target.user_id == user_id and leg.state in (LegState.CALLING, LegState.EARLY):
                return leg
        return None

    # -- responses and timeouts of our client transactions -----------------------------------------------
    def on_response(self, context: TxnContext, response: SipResponse, now: float) -> list[Action]:
        actions: list[Action] = []
        if context.purpose == "invite" and context.leg is not None:
            self._on_b_invite_response(context.leg, response, now, actions)
        elif context.purpose == "relay" and context.origin is not None:
            self._relay_response(context, response, actions)
        elif context.purpose == "probe" and response.status in (404, 408, 410, 416, 480, 481):
            # RFC 5057 §5.1: these mean the dialog is gone on that side; end the other side too.
            self._end(now, actions, "dialog lost", bye_a=context.leg is not None)
        # Responses to our CANCEL and BYE need nothing: the INVITE's 487 / the call end already did the work.
        return actions

    def on_timeout(self, context: TxnContext, now: float) -> list[Action]:
        """Timer B/F: an INVITE timeout counts as a 408 from that leg; a relayed request gets a 408 back."""
        actions: list[Action] = []
        leg = context.leg
        if context.purpose == "invite" and leg is not None:
            if leg.state in (LegState.CALLING, LegState.EARLY, LegState.CANCELLING):
                self._leg_failed(leg, 408, now, actions)
        elif context.purpose == "relay" and context.origin is not None:
            actions.append(Respond(context.origin, build_response(context.origin.request, 408)))
        elif context.purpose == "probe":
            self._end(now, actions, "peer unreachable", bye_a=context.leg is not None)
        return actions

    def _on_b_invite_response(self, leg: BLeg, response: SipResponse, now: float, actions: list[Action]) -> None:
        status = response.status
        if status < 200:
            if status == 100:
                return
            if not self._acknowledge_reliable(leg, response, actions):
                return  # a retransmission of a reliable provisional we already PRACKed and relayed
            if leg.state is LegState.CALLING:
                leg.state = LegState.EARLY
                self._publish_b(leg, "early", actions, remote_tag=response.to.tag)
            if leg.cancel_reason is not None:
                return  # the stack releases our held CANCEL now
            if self.state is CallState.RINGING and leg.state is LegState.EARLY:
                if self.ringing_since is None:
                    self.ringing_since = now
                    self._arm_stage_timer(now)
                actions.append(Respond(self.a_txn, self._a_response(status, response.reason, response)))
            return
        if status < 300:
            self._on_b_answer(leg, response, now, actions)
            return
        if status in (401, 407) and self._retry_with_credentials(leg, response, actions):
            return
        if leg.state in (LegState.CALLING, LegState.EARLY, LegState.CANCELLING):
            self._leg_failed(leg, status, now, actions, response)

    def _acknowledge_reliable(self, leg: BLeg, response: SipResponse, actions: list[Action]) -> bool:
        """RFC 3262: a provisional with `Require: 100rel` and RSeq is PRACKed on the callee's early dialog by
        us (the caller's side gets it as an ordinary provisional). False for a retransmitted one."""
        rseq_text = response.headers.get("RSeq")
        if rseq_text is None or not any(tag.strip().lower() == "100rel"
                                        for raw in response.headers.get_all("Require") for tag in raw.split(",")):
            return True
        try:
            rseq = int(rseq_text)
        except ValueError:
            return True
        if leg.last_rseq is not None and rseq <= leg.last_rseq:
            return False
        leg.last_rseq = rseq
        if leg.dialog is None or leg.dialog.remote_tag != (response.to.tag or ""):
            leg.dialog = uac_dialog(leg.invite, response)
        prack = leg.dialog.new_request("PRACK", via=self.local.via(leg.target.destination.transport),
                                       extra=(("RAck", f"{rseq} {leg.invite.cseq.number} INVITE"),))
        actions.append(SendRequest(prack, leg.target.destination, TxnContext(self, leg, "prack")))
        return True

    def _retry_with_credentials(self, leg: BLeg, response: SipResponse, actions: list[Action]) -> bool:
        """A trunk challenged our INVITE: send it again, once, with our credentials (RFC 3261 §22.2)."""
        credentials = leg.target.credentials
        if credentials is None or leg.auth_tried or leg.cancel_reason is not None or self.state is not \
                CallState.RINGING:
            return False
        answer = answer_challenge(response, "INVITE", leg.invite.uri, credentials)
        if answer is None:
            return False
        retry = SipRequest("INVITE", leg.invite.uri, leg.invite.headers.copy(), leg.invite.body)
        retry.headers.set("Via", self.local.via(leg.target.destination.transport))
        retry.headers.set("CSeq", f"{leg.invite.cseq.number + 1} INVITE")
        retry.headers.set(answer[0], answer[1])
        leg.invite = retry
        leg.auth_tried = True
        leg.state = LegState.CALLING
        actions.append(SendRequest(retry, leg.target.destination, TxnContext(self, leg, "invite")))
        return True

    def _on_b_answer(self, leg: BLeg, response: SipResponse, now: float, actions: list[Action]) -> None:
        if leg.dialog is None:
            leg.dialog = uac_dialog(leg.invite, response)
            leg.dialog.early = False
        if (self.winner is not None and self.winner is not leg) or self.state is CallState.ENDED \
                or leg.cancel_reason is not None:
            # A 2xx after another leg won, after CANCEL, or after the call ended: ACK it, then BYE it (§15).
            actions.append(self._ack_b(leg, response))
            if leg.state is not LegState.ENDED:
                leg.state = LegState.ENDED
                actions.append(self._bye_b(leg, CALL_COMPLETED_ELSEWHERE))
                self._publish_b(leg, "terminated", actions)
            return
        if self.winner is leg:
            actions.append(self._ack_b(leg, response))  # a retransmitted 2xx: ACK again (§13.2.2.4)
            return
        self.winner = leg
        leg.state = LegState.ANSWERED
        leg.final_status = response.status
        self.answered_at = now
        self.stage_deadline = None
        self.answered_by = leg.target.connected
        for other in self.legs:
            if other is not leg:
                self._cancel_leg(other, CALL_COMPLETED_ELSEWHERE, actions)
        if not self.late_offer:
            actions.append(self._ack_b(leg, response))
        else:
            self.pending_b_2xx = response
        a_200 = self._a_response(200, "OK", response)
        self.a_dialog = uas_dialog(self.a_invite, self.a_tag, self.local.contact(self.a_source.transport))
        self.a_dialog.early = False
        self.state = CallState.ANSWERED
        actions.append(Respond(self.a_txn, a_200, retransmit_until_ack=True))
        self._publish_b(leg, "confirmed", actions)
        if self.caller_user_id is not None:
            actions.append(self._a_state("confirmed"))

    def _leg_failed(self, leg: BLeg, status: int, now: float, actions: list[Action],
                    response: SipResponse | None = None) -> None:
        was_cancelled = leg.cancel_reason is not None
        leg.state = LegState.FAILED
        leg.final_status = status
        self._publish_b(leg, "terminated", actions)
        if was_cancelled or self.state is not CallState.RINGING:
            return
        if status >= 600:
            # RFC 3261 §16.7 step 5: a 6xx ends the search: cancel every other leg; the caller gets it, unless
            # the shell asked to decide (a user's decline is that user's busy: forward on busy, voicemail).
            for other in self.legs:
                self._cancel_leg(other, None, actions)
            if self.ask_when_done:
                self._ringing_ended(self.stage_index, actions, declined=True)
                return
            self._fail_a(status, now, actions, response.reason if response else None)
            return
        if all(b.state is LegState.FAILED for b in self._stage_legs()):
            self._next_stage(now, actions)

    # -- inputs from the A side --------------------------------------------------------------------------
    def on_a_cancel(self, now: float) -> list[Action]:
        actions: list[Action] = []
        if self.state in (CallState.ROUTING, CallState.RINGING):
            for leg in self.legs:
                self._cancel_leg(leg, None, actions)
            self._fail_a(487, now, actions, end_reason="cancelled")
        return actions

    def on_a_ack(self, ack: SipRequest, now: float) -> list[Action]:
        actions: list[Action] = []
        number = ack.cseq.number
        if self.state is CallState.ANSWERED and number == self.a_invite.cseq.number:
            self.state = CallState.CONFIRMED
            self.next_probe_at = now + self.probe_interval
            if self.release_after is not None:
                self.next_probe_at, self.releasing = now + self.release_after, True
            if self.late_offer and self.winner is not None and self.pending_b_2xx is not None:
                actions.append(self._ack_b(self.winner, self.pending_b_2xx, body=ack.body,
                                           content_type=ack.content_type))
            self._compact()
            return actions
        relayed = self.b_acks.pop(number, None)
        if relayed is not None:
            leg, b_cseq = relayed
            assert leg.dialog is not None
            request = leg.dialog.new_request("ACK", via=self.local.via(leg.target.destination.transport),
                                             body=ack.body, content_type=ack.content_type, cseq=b_cseq)
            actions.append(SendAck(request, self._b_destination(leg)))
        return actions

    def on_b_ack(self, leg: BLeg, ack: SipRequest, now: float) -> list[Action]:
        """ACK from the B side for a 2xx we relayed to its re-INVITE: pass it to A."""
        actions: list[Action] = []
        a_cseq = self.pending_a_reinvites.pop(ack.cseq.number, None)
        if a_cseq is not None and self.a_dialog is not None:
            request = self.a_dialog.new_request("ACK", via=self.local.via(self.a_source.transport),
                                                body=ack.body, content_type=ack.content_type, cseq=a_cseq)
            actions.append(SendAck(request, self._a_destination()))
        return actions

    def on_a_request(self, request: SipRequest, txn: ServerTransaction, now: float) -> list[Action]:
        """An in-dialog request from the caller's side (BYE, re-INVITE, UPDATE, INFO, OPTIONS, PRACK...)."""
        actions: list[Action] = []
        dialog = self.a_dialog
        if dialog is None and request.method == "UPDATE" and self.state is CallState.RINGING:
            # An UPDATE in the early dialog: we have no early B dialog to carry it; RFC 3311 allows 491/500.
            actions.append(Respond(txn, build_response(request, 500, to_tag=self.a_tag,
                                                       headers=(("Retry-After", "1"),))))
            return actions
        if dialog is None or not dialog.accept_remote_cseq(request):
            actions.append(Respond(txn, build_response(request, 500 if dialog else 481, to_tag=self.a_tag)))
            return actions
        if request.method == "BYE":
            actions.append(Respond(txn, build_response(request, 200)))
            self._end(now, actions, "caller hung up", bye_a=False)
            return actions
        if request.method == "INVITE":
            dialog.refresh_target(request)
        leg = self.winner
        if leg is None or leg.dialog is None or leg.state is not LegState.ANSWERED:
            actions.append(Respond(txn, build_response(request, 481)))
            return actions
        held = is_hold(request.body) if request.method in ("INVITE", "UPDATE") else None
        if held is not None and held != self.a_held:
            self.a_held = held
            if self.caller_user_id is not None:
                actions.append(self._a_state("confirmed"))
        relay = leg.dialog.new_request(
            request.method, via=self.local.via(leg.target.destination.transport), body=request.body,
            content_type=request.content_type, extra=_copy(request.headers, _RELAYED_REQUEST_HEADERS),
        )
        if request.method == "INVITE":
            self.b_acks[request.cseq.number] = (leg, relay.cseq.number)
        actions.append(SendRequest(relay, self._b_destination(leg), TxnContext(self, leg, "relay", txn)))
        return actions

    def on_b_request(self, leg: BLeg, request: SipRequest, txn: ServerTransaction, now: float) -> list[Action]:
        """An in-dialog request from a callee's side."""
        actions: list[Action] = []
        dialog = leg.dialog
        if dialog is None or leg is not self.winner or self.a_dialog is None:
            if request.method == "BYE" and dialog is not None:
                actions.append(Respond(txn, build_response(request, 200)))
                leg.state = LegState.ENDED
                return actions
            actions.append(Respond(txn, build_response(request, 481)))
            return actions
        if not dialog.accept_remote_cseq(request):
            actions.append(Respond(txn, build_response(request, 500)))
            return actions
        if request.method == "BYE":
            actions.append(Respond(txn, build_response(request, 200)))
            leg.state = LegState.ENDED
            self._end(now, actions, "callee hung up", bye_a=True)
            return actions
        if request.method == "INVITE":
            dialog.refresh_target(request)
        held = is_hold(request.body) if request.method in ("INVITE", "UPDATE") else None
        if held is not None and held != leg.held:
            leg.held = held
            self._publish_b(leg, "confirmed", actions)
        relay = self.a_dialog.new_request(
            request.method, via=self.local.via(self.a_source.transport), body=request.body,
            content_type=request.content_type, extra=_copy(request.headers, _RELAYED_REQUEST_HEADERS),
        )
        if request.method == "INVITE":
            self.pending_a_reinvites[request.cseq.number] = relay.cseq.number
        actions.append(SendRequest(relay, self._a_destination(), TxnContext(self, None, "relay", txn)))
        return actions

    def _relay_response(self, context: TxnContext, response: SipResponse, actions: list[Action]) -> None:
        """Pass the answer to a relayed in-dialog request back to where the request came from."""
        origin = context.origin
        assert origin is not None
        if response.status == 100:
            return
        towards_a = context.leg is None  # the request went to A, so the answer goes back to the B side
        out = build_response(origin.request, response.status, response.reason,
                             headers=_copy(response.headers, _RELAYED_RESPONSE_HEADERS), body=response.body)
        if origin.request.method == "INVITE" and 200 <= response.status < 300:
            winner = self.winner
            transport = winner.target.destination.transport if towards_a and winner else self.a_source.transport
            out.headers.add("Contact", self.local.contact(transport))
            actions.append(Respond(origin, out, retransmit_until_ack=True))
        else:
            actions.append(Respond(origin, out))

    # -- time --------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        if self.state is CallState.CONFIRMED:
            return self.next_probe_at
        if self.state is not CallState.RINGING:
            return None
        overall = self.started_at + self.overall_limit
        return overall if self.stage_deadline is None else min(overall, self.stage_deadline)

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        if self.state is CallState.CONFIRMED:
            if self.next_probe_at is not None and now >= self.next_probe_at:
                if self.releasing:
                    self._end(now, actions, "released", bye_a=True)
                else:
                    self._probe(now, actions)
            return actions
        if self.state is not CallState.RINGING:
            return actions
        if now >= self.started_at + self.overall_limit:
            for leg in self.legs:
                self._cancel_leg(leg, None, actions)
            self._fail_a(408, now, actions, "Request Timeout", end_reason="no answer")
        elif self.stage_deadline is not None and now >= self.stage_deadline:
            for leg in self._stage_legs():
                self._cancel_leg(leg, None, actions)
            self._next_stage(now, actions)
        return actions

    def _probe(self, now: float, actions: list[Action]) -> None:
        """Both legs up for a while with no BYE: ask each side whether its dialog still exists (an in-dialog
        OPTIONS, RFC 3261 §11 / RFC 5057). A 481 or no answer ends the call on both sides, so a lost BYE or a
        phone that vanished never leaves the other party — and our memory — holding a call forever."""
        self.next_probe_at = now + self.probe_interval
        winner = self.winner
        if self.a_dialog is None or winner is None or winner.dialog is None:
            return
        a_probe = self.a_dialog.new_request("OPTIONS", via=self.local.via(self.a_source.transport))
        actions.append(SendRequest(a_probe, self._a_destination(), TxnContext(self, None, "probe")))
        b_probe = winner.dialog.new_request("OPTIONS", via=self.local.via(winner.target.destination.transport))
        actions.append(SendRequest(b_probe, self._b_destination(winner), TxnContext(self, winner, "probe")))

    def on_a_ack_timeout(self, now: float) -> list[Action]:
        """Our 2xx to A was never ACKed (§13.3.1.4): end both sides."""
        actions: list[Action] = []
        if self.state is CallState.ANSWERED:
            self._end(now, actions, "no ACK from caller", bye_a=True)
        return actions

    # -- internals ---------------------------------------------------------------------------------------
    def _compact(self) -> None:
        """Once both legs are up, drop what only call setup needed: of each INVITE only the fields that still
        identify it remain (the dialogs hold the rest). Keeps an established call small in memory."""
        self.a_invite = skeleton(self.a_invite)
        # The A leg's INVITE transaction lives on until Timer L, matching retransmissions by key only: it need
        # not pin the full INVITE and 200 (with their bodies) in memory for every established call.
        self.a_txn.request = self.a_invite
        self.a_txn.last_response = None
        for leg in self.legs:
            leg.invite = skeleton(leg.invite)
        self.pending_b_2xx = None

    def _stage_legs(self) -> list[BLeg]:
        return [leg for leg in self.legs if leg.stage_index == self.stage_index]

    def _next_stage(self, now: float, actions: list[Action]) -> None:
        self.stage_index += 1
        if self.stage_index >= len(self.stages):
            if self.ask_when_done:
                self._ringing_ended(self.stage_index - 1, actions)
                return
            self._fail_a(self._best_failure(), now, actions, end_reason="no answer")
            return
        stage = self.stages[self.stage_index]
        if not stage.targets:
            self._next_stage(now, actions)
            return
        self.state = CallState.RINGING
        self.stage_ring_seconds = stage.ring_seconds
        self.stage_deadline = None
        if self.ringing_since is not None:
            self._arm_stage_timer(now)
        for target in stage.targets:
            leg = BLeg(target=target, invite=self._b_invite(target), stage_index=self.stage_index)
            self.legs.append(leg)
            actions.append(SendRequest(leg.invite, target.destination, TxnContext(self, leg, "invite")))
            self._publish_b(leg, "trying", actions)

    def _ringing_ended(self, ended_stage: int, actions: list[Action], declined: bool = False) -> None:
        """Hand the end of the stages to the shell, once (it answers with continue_with or reject). Busy when a
        leg declined (6xx), or when every leg of the stage that ended has failed and one of them said busy (a
        timer's CANCEL leaves the cancelled legs without a status yet: that is no answer)."""
        self.ask_when_done = False
        self.stage_index = len(self.stages) - 1  # continue_with's stages follow the last one
        self.stage_deadline = None
        last = [leg.final_status for leg in self.legs if leg.stage_index == ended_stage]
        busy = declined or (all(status is not None for status in last) and any(status in _BUSY for status in last))
        actions.append(RingingEnded(busy=busy, status=self._best_failure()))

    def _arm_stage_timer(self, now: float) -> None:
        seconds = self.stage_ring_seconds
        self.stage_deadline = None if seconds is None else now + seconds

    def _best_failure(self) -> int:
        """RFC 3261 §16.7 step 6, simplified: busy if anyone was busy, else the lowest 4xx, else 480."""
        # A challenge from a callee or trunk is not the caller's to answer: it becomes 403 (RFC 3261 §16.7 step 6
        # lets a proxy forward it, but as a B2BUA the credentials would be ours, not the caller's).
        statuses = [403 if leg.final_status in (401, 407) else leg.final_status
                    for leg in self.legs if leg.final_status is not None]
        if 486 in statuses or 600 in statuses:
            return 486
        client = sorted(s for s in statuses if 400 <= s < 500 and s not in (408, 487))
        if client:
            return client[0]
        if 408 in statuses or not statuses:
            return 480
        return sorted(statuses)[0] if statuses else 480

    def _b_invite(self, target: Target) -> SipRequest:
        a = self.a_invite
        transport = target.destination.transport
        headers = Headers()
        headers.add("Via", self.local.via(transport))
        max_forwards = a.max_forwards
        headers.add("Max-Forwards", str(69 if max_forwards is None else max(0, max_forwards - 1)))
        caller = target.caller_view or self.caller
        headers.add("From", f"{caller.from_uri};tag={new_tag()}")
        headers.add("To", target.to_uri)
        headers.add("Call-ID", new_call_id(self.local.host))
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.local.contact(transport))
        if caller.asserted is not None:
            headers.add("P-Asserted-Identity", caller.asserted)
        if caller.privacy is not None:
            headers.add("Privacy", caller.privacy)
        for name, value in _copy(a.headers, _RELAYED_REQUEST_HEADERS):
            if name != "Supported" and name != "Reason":
                headers.add(name, value)
        headers.add("Supported", "100rel, replaces")  # we PRACK reliable provisionals ourselves (RFC 3262)
        if a.body:
            headers.add("Content-Type", a.content_type or "application/sdp")
        for name, value in target.extra_headers:
            headers.add(name, value)
        headers.add("Content-Length", str(len(a.body)))
        return SipRequest("INVITE", target.request_uri, headers, a.body)

    def _a_response(self, status: int, reason: str, from_b: SipResponse | None) -> SipResponse:
        headers: list[tuple[str, str]] = []
        if from_b is not None:
            headers.extend(_copy(from_b.headers, _RELAYED_RESPONSE_HEADERS))
        if status < 300:
            headers.append(("Contact", self.local.contact(self.a_source.transport)))
            if self.answered_by is not None and self.answered_by.asserted is not None:
                headers.append(("P-Asserted-Identity", self.answered_by.asserted))
        body = from_b.body if from_b is not None else b""
        return build_response(self.a_invite, status, reason, to_tag=self.a_tag, headers=headers, body=body)

    def _ack_b(self, leg: BLeg, response: SipResponse, body: bytes = b"", content_type: str | None = None
               ) -> SendAck:
        dialog = leg.dialog or uac_dialog(leg.invite, response)
        request = dialog.new_request("ACK", via=self.local.via(leg.target.destination.transport), body=body,
                                     content_type=content_type, cseq=leg.invite.cseq.number)
        return SendAck(request, self._b_destination(leg))

    def _bye_b(self, leg: BLeg, reason: str | None = None) -> SendRequest:
        assert leg.dialog is not None
        extra = (("Reason", reason),) if reason else ()
        request = leg.dialog.new_request("BYE", via=self.local.via(leg.target.destination.transport),
                                         extra=extra)
        return SendRequest(request, self._b_destination(leg), TxnContext(self, leg, "bye"))

    def _cancel_leg(self, leg: BLeg, reason: str | None, actions: list[Action]) -> None:
        if leg.state is LegState.ANSWERED and leg is not self.winner:
            return
        if leg.state not in (LegState.CALLING, LegState.EARLY):
            return
        leg.state = LegState.CANCELLING
        leg.cancel_reason = reason or ""
        cancel = build_cancel(leg.invite, headers=(("Reason", reason),) if reason else ())
        actions.append(SendRequest(cancel, leg.target.destination, TxnContext(self, leg, "cancel")))

    def _b_destination(self, leg: BLeg) -> Endpoint:
        return leg.target.destination

    def _a_destination(self) -> Endpoint:
        return self.a_source

    def _fail_a(self, status: int, now: float, actions: list[Action], reason: str | None = None,
                headers: tuple[tuple[str, str], ...] = (), end_reason: str = "") -> None:
        if self.state is CallState.ENDED:
            return
        actions.append(Respond(self.a_txn, build_response(self.a_invite, status, reason, to_tag=self.a_tag,
                                                          headers=headers)))
        self.final_status = status
        self._finish(now, actions, end_reason or f"failed {status}")

    def _end(self, now: float, actions: list[Action], why: str, *, bye_a: bool) -> None:
        if self.state is CallState.ENDED:
            return
        if bye_a and self.a_dialog is not None:
            bye = self.a_dialog.new_request("BYE", via=self.local.via(self.a_source.transport))
            actions.append(SendRequest(bye, self._a_destination(), TxnContext(self, None, "bye")))
        winner = self.winner
        if winner is not None and winner.state is LegState.ANSWERED:
            winner.state = LegState.ENDED
            actions.append(self._bye_b(winner))
        for leg in self.legs:
            self._cancel_leg(leg, None, actions)
        self._finish(now, actions, why)

    def _finish(self, now: float, actions: list[Action], why: str) -> None:
        self.state = CallState.ENDED
        self.ended_at = now
        self.end_reason = why
        self.stage_deadline = None
        if self.caller_user_id is not None:
            actions.append(self._a_state("terminated"))
        for leg in self.legs:
            if leg.state in (LegState.ANSWERED, LegState.ENDED) and leg is self.winner:
                self._publish_b(leg, "terminated", actions)
        actions.append(CallEnded(self))

    def _a_state(self, state: str) -> LegStateChanged:
        assert self.caller_user_id is not None
        peer = self.winner.target.to_uri if self.winner else self.a_invite.to.__str__()
        return LegStateChanged(user_id=self.caller_user_id, call_id=self.a_invite.call_id,
                               local_tag=self.a_invite.from_.tag or "", remote_tag=self.a_tag,
                               direction="initiator", state=state, peer=peer, held=self.a_held)

    def _publish_b(self, leg: BLeg, state: str, actions: list[Action], remote_tag: str | None = None) -> None:
        if leg.target.user_id is None:
            return
        actions.append(LegStateChanged(
            user_id=leg.target.user_id, call_id=leg.call_id, local_tag=leg.local_tag,
            remote_tag=remote_tag or (leg.dialog.remote_tag if leg.dialog else None),
            direction="recipient", state=state, peer=(leg.target.caller_view or self.caller).from_uri,
            held=leg.held,
        ))


def _copy(headers: Headers, wanted: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The fields of `headers` whose key is in `wanted` (canonical names), in order."""
    return tuple((name, value) for key, name, value in headers._fields if key in wanted)
