"""Click-to-dial: third-party call control (RFC 3725 §4.3, "Flow III") — the user's own phone first, then the call.

The portal's "Appel" asks the server to connect user U with a number. `ClickToDial` is U's side of that call:

1. INVITE without a session description to every registered phone of U at once (forking; the first 2xx wins,
   the others get CANCEL "completed elsewhere"), with the auto-answer hints Yealink phones act on
   (`Alert-Info: <http://127.0.0.1>;info=alert-autoanswer;delay=0`, `Call-Info: <sip:SERVER>;answer-after=0`).
   The From shown on the phone is the party being called.
2. The phone answers with its offer; we ACK at once with an answer that keeps every stream `inactive` on the
   discard port (the "black hole" of RFC 3725 §4.3, RFC 3264 §5.1), so the phone's 2xx never waits the 32 s of
   §13.3.1.4 however long the target rings. Then `UserAnswered` hands the shell a *virtual* INVITE from U:
   as if U's phone had sent it in this very dialog (Call-ID, tags, Contact of the phone's dialog), without a
   body. The shell makes it the A leg of an ordinary `Call` and routes the number as if U had dialled it, so
   the callee's features, CLIR, the call logs and the lamps are those of any call U places.
3. That `Call` rings the target with a late-offer INVITE (no body); the target's 2xx brings its offer. The
   `Call` "answers its A leg" with it: `on_call_response()` turns that into a re-INVITE of U's phone carrying
   the target's offer (with our `o=` line: we are the phone's session peer); the phone's answer comes back in
   the 2xx, we ACK the phone and give the answer to the `Call` as its A leg's ACK, which ACKs the target
   with it. Media then flows directly between the two phones.

Failures: U's phones refuse or do not answer in `answer_timeout` — nothing is placed (`SessionEnded`). The
target fails (busy, no answer after its own features) — the `Call` answers its A leg with the failure, which
becomes a BYE of U's phone with `Reason: SIP;cause=<status>` (RFC 3326). U hangs up while the target rings —
the phone's BYE becomes the `Call`'s CANCEL of the target. Once connected the phone's dialog *is* the `Call`'s
A dialog: BYE, re-INVITEs, probes go through the `Call` as for any call.

Pure: messages and `now` in, actions out; the shell (`sipserver/aio/calls.py`) sends them and owns the index of
dialogs and timers. It knows nothing of sockets, users' settings, routing or storage: which phones to call and
how the called party is shown come in as `Target`s and a `Party`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from sipserver.address import Endpoint
from sipserver.b2bua.call import (
    CALL_COMPLETED_ELSEWHERE,
    Action,
    Call,
    LocalAddress,
    Party,
    Respond,
    SendAck,
    Target,
)
from sipserver.b2bua.sdp import inactive_session
from sipserver.dialog import Dialog, uac_dialog
from sipserver.ids import new_call_id, new_tag
from sipserver.message import Headers, SipRequest, SipResponse, build_response
from sipserver.transaction import ServerTransaction, build_cancel

AUTO_ANSWER_ALERT_INFO: Final = "<http://127.0.0.1>;info=alert-autoanswer;delay=0"
DEFAULT_ANSWER_TIMEOUT: Final = 30.0  # seconds U's phones ring (an auto-answering phone answers at once)


# -- what the portal sees -----------------------------------------------------------------------------------
class ClickToDialError(Exception):
    """Click-to-dial cannot start; `str(error)` is a message for the user."""


class UnknownUser(ClickToDialError):
    pass


class NotDialable(ClickToDialError):
    pass


class NoRegisteredPhone(ClickToDialError):
    pass


def auto_answer_headers(server_host: str) -> tuple[tuple[str, str], ...]:
    """The hints that make a Yealink phone (and most desk phones) answer at once (reference/yealink.md)."""
    host = f"[{server_host}]" if ":" in server_host else server_host
    return (("Alert-Info", AUTO_ANSWER_ALERT_INFO), ("Call-Info", f"<sip:{host}>;answer-after=0"))


class Phase(enum.Enum):
    CALLING_USER = "calling user"      # INVITEs out to U's phones
    CALLING_TARGET = "calling target"  # U answered (held on an inactive session); the Call rings the target
    CONNECTING = "connecting"          # the target answered; our re-INVITE with its offer is at U's phone
    BRIDGED = "bridged"                # both sides have each other's session; the Call carries on alone
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class PhoneLeg:
    """One INVITE to one of U's registered phones."""

    target: Target
    invite: SipRequest
    state: str = "calling"  # "calling" | "early" | "answered" | "cancelling" | "failed" | "ended"
    dialog: Dialog | None = None


@dataclass(eq=False, slots=True)
class ClickContext:
    """What one of our client transactions towards U's phones is for (the shell's `user_data`)."""

    session: ClickToDial
    leg: PhoneLeg | None
    purpose: str  # "invite" | "cancel" | "ack" | "reinvite" | "bye"


# -- actions for the shell (besides the Call's own actions, which it executes as for any call) ---------------
@dataclass(frozen=True, slots=True)
class SendToPhone:
    """Send in a new client transaction whose `user_data` is `context` (its answers come back here)."""

    request: SipRequest
    destination: Endpoint
    context: ClickContext


@dataclass(frozen=True, slots=True)
class UserAnswered:
    """U answered: build the `Call` whose A leg is `a_invite` (as if sent by U's phone from `a_source`, our tag
    `a_tag`), route the number as dialled by U, then `attach()` the call here."""

    a_invite: SipRequest
    a_source: Endpoint
    a_tag: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """Nothing more happens on U's side; `reason` says why ("no answer", "refused 486", "connected" ...)."""

    reason: str


ClickAction = SendToPhone | UserAnswered | SessionEnded | Action


@dataclass(eq=False, slots=True)
class ClickToDial:
    """One click-to-dial request of `user_id` to `number`. `start()`, then feed it what comes back."""

    user_id: str
    number: str
    phones: tuple[Target, ...]
    shown_as: Party  # how the called party is shown on U's phone (the From of our INVITEs)
    local: LocalAddress
    started_at: float
    session_id: int  # our o= line towards U's phone
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT
    phase: Phase = Phase.CALLING_USER
    legs: list[PhoneLeg] = field(default_factory=list)
    winner: PhoneLeg | None = None
    call: Call | None = None
    outcome: str = ""
    _ack: SipRequest | None = None  # our ACK of the winner's 2xx (sent again if the 2xx is)
    _reinvite: SipRequest | None = None
    _reinvite_ack: SipRequest | None = None
    _session_version: int = 0

    # -- U's phones -------------------------------------------------------------------------------------
    def start(self, now: float) -> list[ClickAction]:
        actions: list[ClickAction] = []
        for phone in self.phones:
            leg = PhoneLeg(phone, self._invite(phone))
            self.legs.append(leg)
            actions.append(SendToPhone(leg.invite, phone.destination, ClickContext(self, leg, "invite")))
        return actions

    def next_deadline(self) -> float | None:
        return self.started_at + self.answer_timeout if self.phase is Phase.CALLING_USER else None

    def on_timer(self, now: float) -> list[ClickAction]:
        """Nobody answered on U's side in time: stop ringing, place nothing."""
        actions: list[ClickAction] = []
        if self.phase is Phase.CALLING_USER and now >= self.started_at + self.answer_timeout:
            for leg in self.legs:
                self._cancel(leg, None, actions)
            self._end("no answer", actions)
        return actions

    def on_response(self, context: ClickContext, response: SipResponse, now: float) -> list[ClickAction]:
        actions: list[ClickAction] = []
        leg = context.leg
        if context.purpose == "invite" and leg is not None:
            self._on_invite_response(leg, response, actions)
        elif context.purpose == "reinvite":
            self._on_reinvite_response(response, now, actions)
        return actions

    def on_timeout(self, context: ClickContext, now: float) -> list[ClickAction]:
        actions: list[ClickAction] = []
        leg = context.leg
        if context.purpose == "invite" and leg is not None and leg.state in ("calling", "early", "cancelling"):
            self._leg_failed(leg, 408, actions)
        elif context.purpose == "reinvite" and self.phase is Phase.CONNECTING:
            self._drop_call(now, actions)
        return actions

    def _invite(self, phone: Target) -> SipRequest:
        transport = phone.destination.transport
        headers = Headers()
        headers.add("Via", self.local.via(transport))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"{self.shown_as.from_uri};tag={new_tag()}")
        headers.add("To", phone.to_uri)
        headers.add("Call-ID", new_call_id(self.local.host))
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.local.contact(transport))
        if self.shown_as.asserted is not None:
            headers.add("P-Asserted-Identity", self.shown_as.asserted)
        for name, value in auto_answer_headers(self.local.host):
            headers.add(name, value)
        headers.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO")
        headers.add("Supported", "replaces")
        headers.add("Content-Length", "0")
        return SipRequest("INVITE", phone.request_uri, headers)

    def _on_invite_response(self, leg: PhoneLeg, response: SipResponse, actions: list[ClickAction]) -> None:
        status = response.status
        if status < 200:
            if status > 100 and leg.state == "calling":
                leg.state = "early"
            return
        if status >= 300:
            if leg.state in ("calling", "early", "cancelling"):
                self._leg_failed(leg, status, actions)
            return
        if leg is self.winner:
            if self._ack is not None:  # a retransmitted 2xx (§13.2.2.4)
                actions.append(SendAck(self._ack, leg.target.destination))
            return
        dialog = uac_dialog(leg.invite, response)
        dialog.early = False
        leg.dialog = dialog
        offer = response.body
        answer = inactive_session(offer, self.local.host, self.session_id)
        ack = dialog.new_request("ACK", via=self.local.via(leg.target.destination.transport), body=answer,
                                 content_type="application/sdp", cseq=leg.invite.cseq.number)
        actions.append(SendAck(ack, leg.target.destination))
        if self.phase is not Phase.CALLING_USER or not offer:
            # Another phone of U won, or the session ended, or a 2xx without the offer it owed (RFC 3264 §4):
            # ACK it and hang it up.
            leg.state = "ended"
            reason = CALL_COMPLETED_ELSEWHERE if self.winner is not None and self.phase is not Phase.ENDED else None
            actions.append(self._bye(leg, reason))
            if self.phase is Phase.CALLING_USER:
                self._end_if_all_failed(actions)
            return
        leg.state = "answered"
        self.winner, self._ack = leg, ack
        for other in self.legs:
            if other is not leg:
                self._cancel(other, CALL_COMPLETED_ELSEWHERE, actions)
        self.phase = Phase.CALLING_TARGET
        actions.append(UserAnswered(self._virtual_invite(leg, dialog), leg.target.destination, dialog.local_tag))

    def _virtual_invite(self, leg: PhoneLeg, dialog: Dialog) -> SipRequest:
        """The INVITE U's phone would have sent to dial the number in this dialog: From U (the phone's tag),
        To the number, the phone's Contact, no body (the Call rings the target with a late offer)."""
        uri = f"sip:{self.number.replace('#', '%23')}@{_host_of(leg.target.to_uri)}"  # `#31#` (RFC 3261 §25.1)
        headers = Headers()
        headers.add("Via", self.local.via(leg.target.destination.transport))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"{dialog.remote_uri};tag={dialog.remote_tag}")
        headers.add("To", f"<{uri}>")
        headers.add("Call-ID", dialog.call_id)
        headers.add("CSeq", f"{leg.invite.cseq.number} INVITE")
        headers.add("Contact", f"<{dialog.remote_target}>")
        headers.add("Content-Length", "0")
        return SipRequest("INVITE", uri, headers)

    def _leg_failed(self, leg: PhoneLeg, status: int, actions: list[ClickAction]) -> None:
        leg.state = "failed"
        if self.phase is Phase.CALLING_USER:
            self._end_if_all_failed(actions, status)

    def _end_if_all_failed(self, actions: list[ClickAction], status: int | None = None) -> None:
        if all(leg.state in ("failed", "ended") for leg in self.legs):
            self._end("no answer" if status in (None, 408, 480, 487) else f"refused {status}", actions)

    def _cancel(self, leg: PhoneLeg, reason: str | None, actions: list[ClickAction]) -> None:
        if leg.state not in ("calling", "early"):
            return
        leg.state = "cancelling"
        cancel = build_cancel(leg.invite, headers=(("Reason", reason),) if reason else ())
        actions.append(SendToPhone(cancel, leg.target.destination, ClickContext(self, leg, "cancel")))

    def _bye(self, leg: PhoneLeg, reason: str | None) -> SendToPhone:
        assert leg.dialog is not None
        request = leg.dialog.new_request("BYE", via=self.local.via(leg.target.destination.transport),
                                         extra=(("Reason", reason),) if reason else ())
        return SendToPhone(request, leg.target.destination, ClickContext(self, leg, "bye"))

    def _end(self, why: str, actions: list[ClickAction]) -> None:
        if self.phase is Phase.ENDED:
            return
        self.phase = Phase.ENDED
        self.outcome = why
        actions.append(SessionEnded(why))

    # -- the Call towards the target ---------------------------------------------------------------------
    def attach(self, call: Call) -> None:
        """The `Call` the shell built from `UserAnswered` (it must not answer its A leg itself)."""
        self.call = call

    def on_call_response(self, response: SipResponse, now: float) -> list[ClickAction]:
        """What the `Call` answered its (virtual) A leg: provisional — nothing (U's phone is answered already);
        2xx — the target's offer goes to U's phone in a re-INVITE; failure — U's phone gets BYE with the
        status as Reason."""
        actions: list[ClickAction] = []
        leg, call = self.winner, self.call
        if self.phase is not Phase.CALLING_TARGET or leg is None or leg.dialog is None or call is None:
            return actions
        status = response.status
        if status < 200:
            return actions
        if status >= 300:
            leg.state = "ended"
            text = response.reason.replace('"', "").replace("\\", "")
            cause = f'SIP;cause={status};text="{text}"'  # RFC 3326
            actions.append(self._bye(leg, cause))
            self._end(f"target {status}", actions)
            return actions
        call.a_dialog = leg.dialog  # from now on the phone's dialog is the Call's A dialog
        if not response.body:
            self._drop_call(now, actions)
            return actions
        self._session_version += 1
        offer = our_origin(response.body, self.session_id, self.session_id + self._session_version,
                           self.local.host)
        self._reinvite = leg.dialog.new_request("INVITE", via=self.local.via(leg.target.destination.transport),
                                                body=offer, content_type="application/sdp")
        self.phase = Phase.CONNECTING
        actions.append(SendToPhone(self._reinvite, leg.target.destination, ClickContext(self, leg, "reinvite")))
        return actions

    def _on_reinvite_response(self, response: SipResponse, now: float, actions: list[ClickAction]) -> None:
        leg, call, reinvite = self.winner, self.call, self._reinvite
        if leg is None or leg.dialog is None or call is None or reinvite is None or response.status < 200:
            return
        if response.status >= 300:
            if self.phase is Phase.CONNECTING:
                self._drop_call(now, actions)
            return
        if self._reinvite_ack is None:
            leg.dialog.refresh_target(response)
            self._reinvite_ack = leg.dialog.new_request(
                "ACK", via=self.local.via(leg.target.destination.transport), cseq=reinvite.cseq.number)
        actions.append(SendAck(self._reinvite_ack, leg.target.destination))
        if self.phase is not Phase.CONNECTING:
            return  # a retransmitted 2xx: ACKed again
        self.phase = Phase.BRIDGED
        if not response.body:
            self._drop_call(now, actions)
            return
        self.outcome = "connected"
        actions.extend(call.on_a_ack(self._answer_as_ack(call, response), now))

    def _answer_as_ack(self, call: Call, response: SipResponse) -> SipRequest:
        """U's answer as the ACK of the Call's A leg (the late-offer answer it passes to the target)."""
        a = call.a_invite
        headers = Headers()
        headers.add("Call-ID", a.call_id)
        headers.add("CSeq", f"{a.cseq.number} ACK")
        headers.add("Content-Type", response.content_type or "application/sdp")
        headers.add("Content-Length", str(len(response.body)))
        return SipRequest("ACK", a.uri, headers, response.body)

    def _drop_call(self, now: float, actions: list[ClickAction]) -> None:
        """The target answered but U's phone cannot take its session: hang up both (the Call BYEs both)."""
        self.phase = Phase.ENDED
        self.outcome = "no session with the user's phone"
        if self.call is not None:
            actions.extend(self.call.on_a_ack_timeout(now))
        actions.append(SessionEnded(self.outcome))

    # -- requests from U's phone in its dialog -----------------------------------------------------------
    def on_phone_request(self, request: SipRequest, txn: ServerTransaction, now: float) -> list[ClickAction]:
        """A request from U's phone in the dialog of the winning leg (BYE, re-INVITE, INFO...)."""
        actions: list[ClickAction] = []
        call = self.call
        if self.phase in (Phase.CONNECTING, Phase.BRIDGED) and call is not None:
            actions.extend(call.on_a_request(request, txn, now))
            return actions
        if self.phase is Phase.CALLING_TARGET and call is not None:
            if request.method == "BYE":
                actions.append(Respond(txn, build_response(request, 200)))
                if self.winner is not None:
                    self.winner.state = "ended"
                self._end("user hung up", actions)
                actions.extend(call.on_a_cancel(now))
            elif request.method in ("INVITE", "UPDATE"):
                # The session is held on our inactive answer until the target answers (RFC 3261 §14.1).
                actions.append(Respond(txn, build_response(request, 491, headers=(("Retry-After", "2"),))))
            else:
                actions.append(Respond(txn, build_response(request, 200)))
            return actions
        actions.append(Respond(txn, build_response(request, 481)))
        return actions


def our_origin(description: bytes, session_id: int, version: int, host: str) -> bytes:
    """`description` with its `o=` line replaced by ours (RFC 4566 §5.2; RFC 3264 §8: towards U's phone we are one
    session peer whose version grows, whoever's streams we relay)."""
    family = "IP6" if ":" in host else "IP4"
    origin = f"o=callconnect {session_id} {version} IN {family} {host}"
    lines = description.decode("utf-8", "replace").splitlines()
    out = [origin if line.startswith("o=") else line for line in lines]
    return ("\r\n".join(out) + "\r\n").encode()


def _host_of(to_uri: str) -> str:
    """The host part of a `"Name" <sip:user@host>` value (the domain U's phones are addressed in)."""
    inner = to_uri[to_uri.find("<") + 1:to_uri.rfind(">")] if "<" in to_uri else to_uri
    host = inner.split("@", 1)[-1]
    return host.split(";", 1)[0]


def detached_transaction(request: SipRequest, source: Endpoint) -> ServerTransaction:
    """A server transaction object for the virtual A leg: never registered with the stack (nothing is ever sent
    in it: the click-to-dial session takes every answer the Call gives it)."""
    txn = ServerTransaction()
    txn.request = request
    txn.method = request.method
    txn.last_response = None
    txn.user_data = None
    txn.reliable = source.reliable
    txn.source = source
    txn.peer = source
    return txn
