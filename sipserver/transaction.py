"""The sans-IO SIP transaction layer: RFC 3261 §17 as amended by RFC 6026, with §8.1.3.1, §9.1, §9.2,
§13.3.1.4 and §18.2.2.

One `TransactionLayer` per stack holds every client and server transaction. It is fed parsed messages and the
time, and it answers with values:

- `on_request(req, source, now)` -> `NewRequest | Retransmission | AckAbsorbed | StrayAck` (§17.2.3 matching,
  with the RFC 2543 fallback for branches without the `z9hG4bK` magic cookie);
- `on_response(resp, source, now)` -> `ResponseMatch | StrayResponse | None` (§17.1.3 matching);
- `find_invite_for_cancel(cancel, source)` (§9.2); `respond(txn, resp, now)` (sent where §18.2.2 says, see
  `response_destination()`); `send_trying(txn, now)` when the layer was built with `auto_trying=False`;
- `send_request(req, destination, now)` with `new_branch()` in the top Via; `build_cancel(invite)` (a CANCEL
  is held back until the INVITE has a provisional, §9.1); the ACK for a 300-699 is built and sent here;
- `start_2xx_retransmission(resp, destination, now)` / `ack_received(call_id, cseq_number)`: the UAS core's
  2xx retransmission (§13.3.1.4), stopped automatically when `on_request` sees the ACK;
- `pop_outgoing()` -> `[(bytes, Endpoint)]`, every message serialized once (retransmissions reuse the bytes);
  `send_stateless(msg, destination)` for what belongs to no transaction (a 2xx-ACK);
- `next_deadline()` / `on_timer(now)` -> `[ClientTimedOut | ServerTimedOut | AckTimedOut]`;
- `terminate(txn)` forgets a transaction (e.g. an INVITE in Proceeding the TU gave up on).

Terminated transactions leave every index at once and their timers are cancelled: `len(layer)` and
`layer.pending_timers` go back to 0 once the traffic stops and the last timer ran.

The four machines (INVITE client §17.1.1 + RFC 6026 §8.4, non-INVITE client §17.1.2, INVITE server §17.2.1 +
RFC 6026 §8.7, non-INVITE server §17.2.2) are the tables `ICT_TABLE`, `NICT_TABLE`, `IST_TABLE`, `NIST_TABLE`:
`(state, input) -> (next_state, actions)`. Timers are inputs like messages. An input with no row for the
current state is *ignored*, which is what the RFC asks for every such case: late timers (we cancel lazily),
responses in Completed/Accepted other than those listed ("absorbed"), a request retransmission before any
response, and final responses from the TU after a final one ("MUST be discarded", §17.2.2; `respond` then
returns False). Misuse of the API that no state makes legal (sending an ACK as a transaction, a request
without a magic-cookie branch, a duplicate branch, a status outside 100-699) raises `LocalProtocolError`.

Over reliable transports (`Endpoint.reliable`) there is no retransmission timer (A, E, G) and timers D, I, J,
K are zero: the transaction goes to Terminated at once (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).

Malformed messages: the views this module reads (`top_via`, `cseq`, `call_id`, `from_`, `to`) raise
`RemoteProtocolError` when a field is missing or broken; that error propagates (the stack answers or drops).
Nothing else escapes, whatever the branch looks like.

This module must not know about sockets, clocks (`now` is always an argument), users, dialogs or calls: the
dialog layer gets 2xx-ACKs and stray 2xx responses and decides what they mean.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, cast

from sipserver.address import Endpoint
from sipserver.errors import LocalProtocolError
from sipserver.headers import Via, display_name, header_key
from sipserver.ids import MAGIC_COOKIE, new_branch, new_tag
from sipserver.message import Headers, SipRequest, SipResponse, build_response, skeleton
from sipserver.timers import TimerConfig, TimerHandle, TimerQueue

__all__ = [
    "ICT_TABLE",
    "IST_TABLE",
    "MAGIC_COOKIE",
    "NICT_TABLE",
    "NIST_TABLE",
    "AckAbsorbed",
    "AckTimedOut",
    "Action",
    "ClientTimedOut",
    "ClientTransaction",
    "Incoming",
    "Input",
    "NewRequest",
    "ResponseMatch",
    "Retransmission",
    "ServerTimedOut",
    "ServerTransaction",
    "StrayAck",
    "StrayResponse",
    "TransactionLayer",
    "TransactionState",
    "TxnEvent",
    "build_ack",
    "build_cancel",
    "new_branch",
    "new_tag",
    "response_destination",
]



# ----------------------------------------------------------------------------------------------------
# States, inputs, actions and the four tables
# ----------------------------------------------------------------------------------------------------
class TransactionState(enum.IntEnum):
    """The states of all four machines (each machine uses a subset)."""

    CALLING = 0  # INVITE client, request sent
    TRYING = 1  # non-INVITE client and server
    PROCEEDING = 2
    COMPLETED = 3
    CONFIRMED = 4  # INVITE server, ACK received for a non-2xx final
    ACCEPTED = 5  # RFC 6026: INVITE client or server after a 2xx
    TERMINATED = 6


class Input(enum.IntEnum):
    """What drives a machine: a response (received by a client, or passed by the TU to a server), a request
    retransmission or ACK (servers), or a timer."""

    RESP_1XX = 0
    RESP_2XX = 1
    RESP_3XX_6XX = 2
    REQUEST = 3  # a retransmission of the request that created the server transaction
    ACK = 4
    TIMER_A = 5
    TIMER_B = 6
    TIMER_D = 7
    TIMER_E = 8
    TIMER_F = 9
    TIMER_G = 10
    TIMER_H = 11
    TIMER_I = 12
    TIMER_J = 13
    TIMER_K = 14
    TIMER_L = 15
    TIMER_M = 16
    CANCEL_WAIT = 17  # §9.1: 64*T1 after our CANCEL, the INVITE still has no final response
    RETRANSMIT_2XX = 18  # §13.3.1.4 (not a transaction timer: the UAS 2xx retransmitter)
    ACK_WAIT_2XX = 19


class Action(enum.IntEnum):
    SEND = 0  # (re)send the cached bytes: the request (client) or the last response (server), if any
    SEND_RESPONSE = 1  # server: serialize and send the response the TU passed, remember it
    SEND_ACK = 2  # INVITE client: send (the cached) ACK for the 300-699 response (§17.1.1.3)
    PASS = 3  # hand the response (client) or the ACK (server, RFC 6026 Accepted) to the TU
    REPORT_TIMEOUT = 4  # Timer B/F/H or the CANCEL wait fired: tell the TU
    ARM_A = 5  # retransmission timers (skipped on reliable transports)
    ARM_E = 6
    ARM_E_T2 = 7
    ARM_G = 8
    STOP_RETRANSMIT = 9
    ARM_B = 10  # the "main" timer of a transaction: arming one replaces the previous one
    ARM_D = 11
    ARM_F = 12
    ARM_H = 13
    ARM_I = 14
    ARM_J = 15
    ARM_K = 16
    ARM_L = 17
    ARM_M = 18
    STOP_MAIN = 19
    START_CANCEL = 20  # INVITE client got its first provisional: send the CANCEL held back by §9.1
    DROP_CANCEL = 21  # INVITE client got a final: a CANCEL still held back is never sent
    KEEP_SKELETON = 22  # INVITE client got a 2xx: for the 32 s of Accepted keep only what identifies the request


S = TransactionState
I = Input  # noqa: E741
A = Action

Row: TypeAlias = tuple[TransactionState, tuple[Action, ...]]
Table: TypeAlias = Mapping[tuple[TransactionState, Input], Row]

# INVITE client (RFC 3261 §17.1.1, Figure 5; RFC 6026 §8.4 Accepted state, Figure 5 as amended).
ICT_INITIAL: Final[Row] = (S.CALLING, (A.SEND, A.ARM_A, A.ARM_B))
ICT_TABLE: Final[Table] = {
    (S.CALLING, I.TIMER_A): (S.CALLING, (A.SEND, A.ARM_A)),
    (S.CALLING, I.TIMER_B): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.CALLING, I.RESP_1XX): (S.PROCEEDING, (A.STOP_RETRANSMIT, A.STOP_MAIN, A.PASS, A.START_CANCEL)),
    (S.CALLING, I.RESP_2XX): (S.ACCEPTED, (A.STOP_RETRANSMIT, A.DROP_CANCEL, A.PASS, A.ARM_M, A.KEEP_SKELETON)),
    (S.CALLING, I.RESP_3XX_6XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.DROP_CANCEL, A.SEND_ACK, A.PASS, A.ARM_D),
    ),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (A.PASS,)),
    (S.PROCEEDING, I.RESP_2XX): (S.ACCEPTED, (A.PASS, A.ARM_M, A.KEEP_SKELETON)),
    (S.PROCEEDING, I.RESP_3XX_6XX): (S.COMPLETED, (A.SEND_ACK, A.PASS, A.ARM_D)),
    (S.PROCEEDING, I.CANCEL_WAIT): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    # "Any retransmissions of the final response that are received while in the Completed state MUST cause
    # the ACK to be re-passed to the transport layer for retransmission, but the newly received response MUST
    # NOT be passed up to the TU."
    (S.COMPLETED, I.RESP_3XX_6XX): (S.COMPLETED, (A.SEND_ACK,)),
    (S.COMPLETED, I.TIMER_D): (S.TERMINATED, ()),
    # RFC 6026 §8.4: "any 2xx responses that match this client transaction and that are received while in the
    # Accepted state MUST be passed up to the TU" (retransmissions, and 2xx from other forks).
    (S.ACCEPTED, I.RESP_2XX): (S.ACCEPTED, (A.PASS,)),
    (S.ACCEPTED, I.TIMER_M): (S.TERMINATED, ()),
}

# Non-INVITE client (RFC 3261 §17.1.2, Figure 6).
NICT_INITIAL: Final[Row] = (S.TRYING, (A.SEND, A.ARM_E, A.ARM_F))
NICT_TABLE: Final[Table] = {
    (S.TRYING, I.TIMER_E): (S.TRYING, (A.SEND, A.ARM_E)),
    (S.TRYING, I.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.TRYING, I.RESP_1XX): (S.PROCEEDING, (A.PASS,)),
    (S.TRYING, I.RESP_2XX): (S.COMPLETED, (A.STOP_RETRANSMIT, A.PASS, A.ARM_K)),
    (S.TRYING, I.RESP_3XX_6XX): (S.COMPLETED, (A.STOP_RETRANSMIT, A.PASS, A.ARM_K)),
    # "If Timer E fires while in the Proceeding state, the request MUST be passed to the transport layer for
    # retransmission, and Timer E MUST be reset with a value of T2 seconds."
    (S.PROCEEDING, I.TIMER_E): (S.PROCEEDING, (A.SEND, A.ARM_E_T2)),
    (S.PROCEEDING, I.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (A.PASS,)),
    (S.PROCEEDING, I.RESP_2XX): (S.COMPLETED, (A.STOP_RETRANSMIT, A.PASS, A.ARM_K)),
    (S.PROCEEDING, I.RESP_3XX_6XX): (S.COMPLETED, (A.STOP_RETRANSMIT, A.PASS, A.ARM_K)),
    (S.COMPLETED, I.TIMER_K): (S.TERMINATED, ()),
}

# INVITE server (RFC 3261 §17.2.1, Figure 7; RFC 6026 §8.7 Accepted state). Responses here come from the TU.
IST_INITIAL: Final[Row] = (S.PROCEEDING, ())
IST_TABLE: Final[Table] = {
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (A.SEND,)),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, I.RESP_2XX): (S.ACCEPTED, (A.SEND_RESPONSE, A.ARM_L)),
    (S.PROCEEDING, I.RESP_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.ARM_G, A.ARM_H)),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (A.SEND,)),
    (S.COMPLETED, I.TIMER_G): (S.COMPLETED, (A.SEND, A.ARM_G)),
    (S.COMPLETED, I.TIMER_H): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.COMPLETED, I.ACK): (S.CONFIRMED, (A.STOP_RETRANSMIT, A.ARM_I)),
    # "the purpose of the Confirmed state is to absorb any additional ACK messages"
    (S.CONFIRMED, I.REQUEST): (S.CONFIRMED, ()),
    (S.CONFIRMED, I.ACK): (S.CONFIRMED, ()),
    (S.CONFIRMED, I.TIMER_I): (S.TERMINATED, ()),
    # RFC 6026 §8.7: INVITE retransmissions are absorbed, 2xx from the TU (its retransmissions) are sent, and
    # "the ACK ... MUST be passed up to the TU".
    (S.ACCEPTED, I.REQUEST): (S.ACCEPTED, ()),
    (S.ACCEPTED, I.ACK): (S.ACCEPTED, (A.PASS,)),
    (S.ACCEPTED, I.RESP_2XX): (S.ACCEPTED, (A.SEND_RESPONSE,)),
    (S.ACCEPTED, I.TIMER_L): (S.TERMINATED, ()),
}

# Non-INVITE server (RFC 3261 §17.2.2, Figure 8). In Trying a retransmission has nothing to answer with.
NIST_INITIAL: Final[Row] = (S.TRYING, ())
NIST_TABLE: Final[Table] = {
    (S.TRYING, I.REQUEST): (S.TRYING, ()),
    (S.TRYING, I.RESP_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.TRYING, I.RESP_2XX): (S.COMPLETED, (A.SEND_RESPONSE, A.ARM_J)),
    (S.TRYING, I.RESP_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.ARM_J)),
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (A.SEND,)),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, I.RESP_2XX): (S.COMPLETED, (A.SEND_RESPONSE, A.ARM_J)),
    (S.PROCEEDING, I.RESP_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.ARM_J)),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (A.SEND,)),
    (S.COMPLETED, I.TIMER_J): (S.TERMINATED, ()),
}

# A compiled row: (next state, the action handlers to run, passes something to the TU, reports a timeout).
_Step: TypeAlias = "tuple[TransactionState, tuple[_Handler, ...], bool, bool]"
_Compiled: TypeAlias = "list[list[_Step | None]]"

# Hot-path aliases (an enum attribute lookup costs more than a global one).
_TERMINATED: Final = S.TERMINATED
_ACCEPTED: Final = S.ACCEPTED
_CALLING: Final = S.CALLING
_PROCEEDING: Final = S.PROCEEDING
_REQUEST: Final = I.REQUEST
_ACK: Final = I.ACK
_RETRANSMIT_2XX: Final = I.RETRANSMIT_2XX


def _status_input(status: int) -> Input:
    if status < 200:
        return I.RESP_1XX
    if status < 300:
        return I.RESP_2XX
    return I.RESP_3XX_6XX


# ----------------------------------------------------------------------------------------------------
# Transactions
# ----------------------------------------------------------------------------------------------------
TransactionKey: TypeAlias = tuple[object, ...]


class _Transaction:
    __slots__ = (
        "_interval",
        "_main",
        "_retransmit",
        "_rows",
        "_then",
        "_wire",
        "key",
        "last_response",
        "method",
        "peer",
        "reliable",
        "request",
        "state",
        "user_data",
    )

    key: TransactionKey
    request: SipRequest
    method: str
    state: TransactionState
    last_response: SipResponse | None
    user_data: object
    reliable: bool
    peer: Endpoint  # where this transaction sends: the destination (client), the response address (server)
    _rows: _Compiled
    _wire: bytes | None  # the request's bytes (client) or the last response's bytes (server)
    _interval: float  # the next retransmission interval
    _retransmit: TimerHandle | None
    _main: TimerHandle | None
    _then: Input | None  # a zero-length timer: the input to feed right after the current transition

    @property
    def is_invite(self) -> bool:
        return self.method == "INVITE"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.name} {self.key!r}>"


class ClientTransaction(_Transaction):
    """A request we sent (§17.1): `destination`, `state`, `last_response`; `user_data` belongs to the TU.

    Once an INVITE has its 2xx (Accepted, RFC 6026), `request` keeps only the fields that identify it (Via,
    Call-ID, From, To, CSeq) and `last_response` is None: the TU has the 2xx and what came before."""

    __slots__ = ("_ack_wire", "_cancel_wait", "_held_cancel", "_invite", "destination")

    destination: Endpoint
    _ack_wire: bytes | None  # INVITE: the ACK for a 300-699, built once
    _held_cancel: ClientTransaction | None  # INVITE: a CANCEL waiting for the first provisional (§9.1)
    _invite: ClientTransaction | None  # CANCEL held back: the INVITE it waits for
    _cancel_wait: TimerHandle | None  # INVITE: 64*T1 after our CANCEL


class ServerTransaction(_Transaction):
    """A request we received (§17.2): `source`, `response_destination`, `state`, `last_response`,
    `user_data`."""

    __slots__ = ("_aliases", "source")

    source: Endpoint
    _aliases: list[TransactionKey] | None  # RFC 2543 ACK keys (known once our final response has a To tag)

    @property
    def response_destination(self) -> Endpoint:
        return self.peer


# ----------------------------------------------------------------------------------------------------
# What the layer returns
# ----------------------------------------------------------------------------------------------------
@dataclass(init=False, unsafe_hash=True, slots=True)
class NewRequest:
    """A request that created a server transaction: the TU must answer it through `respond(txn, ...)`.

    With `auto_trying` (the default) a 100 Trying is already queued for a new INVITE (§17.2.1, §8.2.6.1).
    """

    txn: Final[ServerTransaction]

    def __init__(self, txn: ServerTransaction) -> None:
        self.txn = txn


@dataclass(init=False, unsafe_hash=True, slots=True)
class Retransmission:
    """A retransmitted request, absorbed; the last response (if any) is already queued again."""

    txn: Final[ServerTransaction]

    def __init__(self, txn: ServerTransaction) -> None:
        self.txn = txn


@dataclass(init=False, unsafe_hash=True, slots=True)
class AckAbsorbed:
    """An ACK consumed by an INVITE server transaction (ACK for our non-2xx final: Completed -> Confirmed,
    a duplicate in Confirmed, or a bogus ACK before any final, ignored). Nothing for the TU."""

    txn: Final[ServerTransaction]

    def __init__(self, txn: ServerTransaction) -> None:
        self.txn = txn


@dataclass(init=False, unsafe_hash=True, slots=True)
class StrayAck:
    """An ACK for the TU / dialog layer: an ACK for a 2xx (a transaction of its own, §17.1.1.3), an ACK that
    matched an INVITE server transaction in Accepted (RFC 6026 §8.7), or one matching nothing at all.
    A running 2xx retransmission with the same Call-ID and CSeq number has already been stopped."""

    request: Final[SipRequest]

    def __init__(self, request: SipRequest) -> None:
        self.request = request


Incoming: TypeAlias = NewRequest | Retransmission | AckAbsorbed | StrayAck


@dataclass(init=False, unsafe_hash=True, slots=True)
class ResponseMatch:
    """A response the TU must see: every provisional, the first final, 2xx retransmissions in Accepted."""

    txn: Final[ClientTransaction]
    response: Final[SipResponse]

    def __init__(self, txn: ClientTransaction, response: SipResponse) -> None:
        self.txn = txn
        self.response = response


@dataclass(init=False, unsafe_hash=True, slots=True)
class StrayResponse:
    """A 2xx to an INVITE that matches no client transaction (e.g. a late 2xx from a second fork after the
    transaction ended, or after it got a 300-699): the TU must ACK it and, unless it wants the dialog, BYE it
    (§13.2.2.4)."""

    response: Final[SipResponse]

    def __init__(self, response: SipResponse) -> None:
        self.response = response


@dataclass(init=False, unsafe_hash=True, slots=True)
class ClientTimedOut:
    """Timer B or F fired (or 64*T1 passed after our CANCEL without a final): treat as a 408 (§8.1.3.1)."""

    txn: Final[ClientTransaction]

    def __init__(self, txn: ClientTransaction) -> None:
        self.txn = txn


@dataclass(init=False, unsafe_hash=True, slots=True)
class ServerTimedOut:
    """Timer H fired: our non-2xx final response to an INVITE was never ACKed (§17.2.1)."""

    txn: Final[ServerTransaction]

    def __init__(self, txn: ServerTransaction) -> None:
        self.txn = txn


@dataclass(init=False, unsafe_hash=True, slots=True)
class AckTimedOut:
    """A 2xx we retransmitted for 64*T1 was never ACKed (§13.3.1.4): the session SHOULD be ended (BYE)."""

    call_id: Final[str]
    cseq_number: Final[int]
    response: Final[SipResponse]

    def __init__(self, call_id: str, cseq_number: int, response: SipResponse) -> None:
        self.call_id = call_id
        self.cseq_number = cseq_number
        self.response = response


TxnEvent: TypeAlias = ClientTimedOut | ServerTimedOut | AckTimedOut


# ----------------------------------------------------------------------------------------------------
# Message helpers
# ----------------------------------------------------------------------------------------------------
def response_destination(request: SipRequest, source: Endpoint) -> Endpoint:
    """Where a response to `request` (received from `source`) goes, RFC 3261 §18.2.2 with RFC 3581.

    Reliable transports: back on the connection the request came in on (`source` carries `connection_id`).
    UDP: to the source address (the `received` address); the port is the source port when the top Via asked
    for `rport`, else the Via's sent-by port (default 5060). `maddr` (multicast) is not supported.
    Raises RemoteProtocolError when the request has no usable Via.
    """
    if source.reliable:
        return source
    return _udp_response_destination(request.top_via, source)


def _udp_response_destination(via: Via, source: Endpoint) -> Endpoint:
    if "rport" in via.params:
        return source
    port = via.port or 5060
    if port == source.port:
        return source
    return Endpoint(source.transport, source.host, port)


def _first_via(request: SipRequest) -> str:
    vias = request.headers.values("Via")
    if not vias:
        raise LocalProtocolError("request has no Via")
    return vias[0]


def _field(name: str) -> tuple[str, str]:
    key = header_key(name)
    return key, display_name(key, name)


_VIA, _MAX_FORWARDS, _FROM, _TO, _CALL_ID, _CSEQ, _ROUTE = (
    _field(n) for n in ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Route")
)


def _ack_or_cancel(invite: SipRequest, method: str, to: str | None) -> list[tuple[str, str, str]]:
    src = invite.headers
    fields = [
        (*_VIA, _first_via(invite)),
        (*_MAX_FORWARDS, "70"),
        (*_FROM, src.get("From") or ""),
        (*_TO, to or src.get("To") or ""),
        (*_CALL_ID, invite.call_id),
        (*_CSEQ, f"{invite.cseq.number} {method}"),
    ]
    fields.extend((*_ROUTE, route) for route in src.get_all("Route"))
    return fields


def build_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a 300-699 response to `invite` (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From and
    CSeq number, the response's To (with its tag), a single Via equal to the INVITE's top Via, its Route
    set."""
    fields = _ack_or_cancel(invite, "ACK", response.headers.get("To"))
    return SipRequest("ACK", invite.uri, Headers.from_keyed(fields))


def build_cancel(invite: SipRequest, *, headers: Iterable[tuple[str, str]] = ()) -> SipRequest:
    """A CANCEL for our `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To and CSeq number
    (method CANCEL), a single Via equal to the INVITE's top Via (same branch), the INVITE's Route set and
    Max-Forwards 70.

    `headers` are appended, e.g. `[("Reason", 'SIP;cause=200;text="Call completed elsewhere"')]` (RFC 3326).
    Send it with `send_request`: it is held back until the INVITE gets a provisional response (§9.1).
    """
    cancel = SipRequest("CANCEL", invite.uri, Headers.from_keyed(_ack_or_cancel(invite, "CANCEL", None)))
    for name, value in headers:
        cancel.headers.add(name, value)
    return cancel


def _trying(request: SipRequest) -> SipResponse:
    """100 Trying (§8.2.6.1): no To tag, and a Timestamp in the request is copied."""
    timestamp = request.headers.get("Timestamp")
    return build_response(request, 100, headers=(("Timestamp", timestamp),) if timestamp is not None else ())


# ----------------------------------------------------------------------------------------------------
# The UAS 2xx retransmitter (§13.3.1.4)
# ----------------------------------------------------------------------------------------------------
class _Pending2xx:
    __slots__ = ("destination", "interval", "key", "response", "timeout", "timer", "wire")

    def __init__(
        self, key: tuple[str, int], response: SipResponse, wire: bytes, destination: Endpoint, interval: float
    ) -> None:
        self.key = key
        self.response = response
        self.wire = wire
        self.destination = destination
        self.interval = interval
        self.timer: TimerHandle | None = None
        self.timeout: TimerHandle | None = None


_TimerTarget: TypeAlias = ClientTransaction | ServerTransaction | _Pending2xx
_TimerKey: TypeAlias = tuple[_TimerTarget, Input]


# ----------------------------------------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------------------------------------
class TransactionLayer:
    """Every transaction of one stack, the timers that drive them and the bytes they want sent."""

    def __init__(self, timers: TimerConfig = TimerConfig(), *, auto_trying: bool = True) -> None:  # noqa: B008
        self.config = timers
        self.auto_trying = auto_trying
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._aliases: dict[TransactionKey, ServerTransaction] = {}  # RFC 2543 ACK keys
        self._pending_2xx: dict[tuple[str, int], _Pending2xx] = {}
        self._timers: TimerQueue[_TimerKey] = TimerQueue()
        self._out: list[tuple[bytes, Endpoint]] = []
        self._last_serialized: tuple[SipResponse | None, bytes] = (None, b"")
        t1, t2 = timers.t1, timers.t2
        self._t1 = t1
        self._t2 = t2
        # Main timer durations indexed by input (lists: an IntEnum hashes slowly as a dict key), on unreliable
        # and on reliable transports.
        durations = [0.0] * len(Input)
        durations[I.TIMER_B] = timers.timer_b
        durations[I.TIMER_D] = timers.timer_d(False)
        durations[I.TIMER_F] = timers.timer_f
        durations[I.TIMER_H] = timers.timer_h
        durations[I.TIMER_I] = timers.timer_i(False)
        durations[I.TIMER_J] = timers.timer_j(False)
        durations[I.TIMER_K] = timers.timer_k(False)
        durations[I.TIMER_L] = timers.timer_l
        durations[I.TIMER_M] = timers.timer_m
        reliable = list(durations)
        for inp in (I.TIMER_D, I.TIMER_I, I.TIMER_J, I.TIMER_K):
            reliable[inp] = 0.0
        self._durations: tuple[list[float], list[float]] = (durations, reliable)

    # -- introspection -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """The number of live transactions (client + server)."""
        return len(self._clients) + len(self._servers)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def server_count(self) -> int:
        return len(self._servers)

    @property
    def pending_timers(self) -> int:
        return len(self._timers)

    @property
    def pending_2xx(self) -> int:
        """2xx responses being retransmitted while waiting for their ACK."""
        return len(self._pending_2xx)

    # -- server side ---------------------------------------------------------------------------------------
    def on_request(self, req: SipRequest, source: Endpoint, now: float) -> Incoming:
        """Match a received request to a server transaction (§17.2.3) or create one.

        ACK never creates a transaction: it is absorbed by the INVITE transaction it belongs to or returned as
        `StrayAck`. CANCEL gets a transaction of its own; use `find_invite_for_cancel` for the INVITE.
        """
        method = req.method
        via = req.top_via
        branch = via.branch
        is_ack = method == "ACK"
        if is_ack and self._pending_2xx:
            pending = self._pending_2xx.pop((req.call_id, req.cseq.number), None)
            if pending is not None:
                self._stop_2xx(pending)
        rfc3261 = branch is not None and len(branch) > 7 and branch.startswith(MAGIC_COOKIE)
        if rfc3261:
            # "the branch parameter in the request is equal to the one in the top Via header field of the
            # request that created the transaction, the sent-by value in the top Via of the request is equal
            # to the one in the request that created the transaction, and the method of the request matches
            # the one that created the transaction, except for ACK, where the method of the request that
            # created the transaction is INVITE."
            key: TransactionKey = (branch, via.host, via.port, "INVITE" if is_ack else method)
            txn = self._servers.get(key)
        else:
            key = self._key_2543(req, method)
            txn = self._aliases.get(key) if is_ack else self._servers.get(key)
        if txn is not None:
            step = self._fire(txn, _ACK if is_ack else _REQUEST, now, None)
            if is_ack:
                if step is not None and step[2]:
                    return StrayAck(req)
                return AckAbsorbed(txn)
            return Retransmission(txn)
        if is_ack:
            return StrayAck(req)
        txn = self._new_server(req, via, source, key)
        if self.auto_trying and method == "INVITE":
            self._fire(txn, I.RESP_1XX, now, _trying(req))
        return NewRequest(txn)

    @staticmethod
    def _key_2543(req: SipRequest, method: str) -> TransactionKey:
        """RFC 3261 §17.2.3, second half: Request-URI, To tag, From tag, Call-ID, CSeq and top Via.

        For an ACK the key holds the To tag of the ACK, which the INVITE transaction registers (as an alias)
        once its final response is known; CSeq is compared by number and method, ACK included (the alias uses
        ACK). The top Via is compared by sent-by and branch (whatever the branch holds, if anything).
        """
        via = req.top_via
        return (
            req.uri,
            req.to.tag,
            req.from_.tag,
            req.call_id,
            req.cseq.number,
            method,
            via.host,
            via.port,
            via.branch,
        )

    def _new_server(
        self, req: SipRequest, via: Via, source: Endpoint, key: TransactionKey
    ) -> ServerTransaction:
        txn = ServerTransaction()
        is_invite = req.method == "INVITE"
        txn._rows = _IST if is_invite else _NIST
        state, _ = IST_INITIAL if is_invite else NIST_INITIAL
        txn.key = key
        txn.request = req
        txn.method = req.method
        txn.state = state
        txn.last_response = None
        txn.user_data = None
        txn.reliable = source.reliable
        txn.source = source
        txn.peer = source if source.reliable else _udp_response_destination(via, source)
        txn._wire = None
        txn._interval = self._t1
        txn._retransmit = None
        txn._main = None
        txn._then = None
        txn._aliases = None
        self._servers[key] = txn
        return txn

    def find_invite_for_cancel(self, cancel: SipRequest, source: Endpoint) -> ServerTransaction | None:
        """The INVITE server transaction a received CANCEL targets (RFC 3261 §9.2), whatever its state.

        Same matching as §17.2.3 with the method INVITE: branch + sent-by, or for RFC 2543 peers Request-URI,
        To tag, From tag, Call-ID, CSeq number and top Via. `source` is not part of the match.
        """
        via = cancel.top_via
        branch = via.branch
        if branch is not None and len(branch) > 7 and branch.startswith(MAGIC_COOKIE):
            return self._servers.get((branch, via.host, via.port, "INVITE"))
        return self._servers.get(self._key_2543(cancel, "INVITE"))

    def send_trying(self, txn: ServerTransaction, now: float) -> bool:
        """Send 100 Trying for `txn` (when the layer was made with `auto_trying=False`)."""
        return self.respond(txn, _trying(txn.request), now)

    def respond(self, txn: ServerTransaction, resp: SipResponse, now: float) -> bool:
        """Pass the TU's response to its server transaction, which queues it for `txn.response_destination`.

        Returns False when the machine discards it (a response after a final one, except 2xx retransmissions
        in the INVITE Accepted state; §17.2.2 "MUST be discarded"). For an INVITE, a 2xx moves the transaction
        to Accepted (RFC 6026); retransmitting that 2xx until the ACK is the UAS core's job: call
        `start_2xx_retransmission(resp, txn.response_destination, now)`.
        """
        status = resp.status
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"cannot send a response with status {status}")
        if txn.method == "ACK":
            raise LocalProtocolError("ACK is never answered")
        return self._fire(txn, _status_input(status), now, resp) is not None

    # -- UAS core: 2xx retransmission (§13.3.1.4) ----------------------------------------------------------
    def start_2xx_retransmission(self, resp: SipResponse, destination: Endpoint, now: float) -> None:
        """Retransmit a 2xx to an INVITE (already sent once with `respond`) until its ACK arrives.

        "starting with T1 seconds ... doubled until it reaches T2" (unreliable transports only); after 64*T1
        without ACK, `on_timer` reports `AckTimedOut`. The ACK is recognised in `on_request` (same Call-ID and
        CSeq number) or reported with `ack_received`. A second call for the same Call-ID/CSeq replaces the
        first.
        """
        key = (resp.call_id, resp.cseq.number)
        old = self._pending_2xx.pop(key, None)
        if old is not None:
            self._stop_2xx(old)
        cached, wire = self._last_serialized
        if cached is not resp:
            wire = resp.serialize()
        pending = _Pending2xx(key, resp, wire, destination, self._t1)
        if not destination.reliable:
            pending.timer = self._timers.schedule_after(now, self._t1, (pending, _RETRANSMIT_2XX))
        pending.timeout = self._timers.schedule_after(now, 64 * self._t1, (pending, I.ACK_WAIT_2XX))
        self._pending_2xx[key] = pending

    def ack_received(self, call_id: str, cseq_number: int) -> bool:
        """Stop retransmitting the 2xx for this Call-ID and CSeq number; False if none was pending."""
        pending = self._pending_2xx.pop((call_id, cseq_number), None)
        if pending is None:
            return False
        self._stop_2xx(pending)
        return True

    def _stop_2xx(self, pending: _Pending2xx) -> None:
        if pending.timer is not None:
            self._timers.cancel(pending.timer)
        if pending.timeout is not None:
            self._timers.cancel(pending.timeout)

    # -- client side ---------------------------------------------------------------------------------------
    def send_request(self, req: SipRequest, destination: Endpoint, now: float) -> ClientTransaction:
        """Start a client transaction for `req`, whose top Via already carries a fresh `new_branch()`.

        INVITE: Timer A/B (§17.1.1); anything else: Timer E/F (§17.1.2). A CANCEL (see `build_cancel`) whose
        INVITE transaction has not received a provisional response yet is held back and sent when one arrives
        (§9.1 "the client MUST wait"); it is dropped (state Terminated, nothing sent) if the INVITE gets a
        final response or times out first. Once a CANCEL is sent, the INVITE transaction is given 64*T1 to get
        its final response, after which it times out (`ClientTimedOut`, §9.1).
        """
        method = req.method
        if method == "ACK":
            raise LocalProtocolError("ACK is not a transaction: a 2xx-ACK goes straight to the transport")
        branch = req.top_via.branch
        if branch is None or len(branch) <= 7 or not branch.startswith(MAGIC_COOKIE):
            raise LocalProtocolError(f"top Via branch {branch!r} lacks the magic cookie: use new_branch()")
        key: TransactionKey = (branch, method)
        if key in self._clients:
            raise LocalProtocolError(f"a client transaction with branch {branch} and method {method} exists")
        txn = ClientTransaction()
        is_invite = method == "INVITE"
        txn._rows = _ICT if is_invite else _NICT
        txn.key = key
        txn.request = req
        txn.method = method
        txn.state = S.CALLING if is_invite else S.TRYING
        txn.last_response = None
        txn.user_data = None
        txn.reliable = destination.reliable
        txn.destination = destination
        txn.peer = destination
        txn._wire = req.serialize()
        txn._interval = self._t1
        txn._retransmit = None
        txn._main = None
        txn._then = None
        txn._ack_wire = None
        txn._held_cancel = None
        txn._invite = None
        txn._cancel_wait = None
        self._clients[key] = txn
        if method == "CANCEL":
            invite = self._clients.get((branch, "INVITE"))
            if invite is not None:
                if invite.state is _CALLING:
                    if invite._held_cancel is not None:
                        raise LocalProtocolError("a CANCEL for this INVITE is already pending")
                    invite._held_cancel = txn
                    txn._invite = invite
                    return txn
                if invite.state is _PROCEEDING:
                    self._arm_cancel_wait(invite, now)
        self._start_client(txn, now)
        return txn

    def _start_client(self, txn: ClientTransaction, now: float) -> None:
        for handler in (_ICT_START if txn._rows is _ICT else _NICT_START)[1]:
            handler(self, txn, now, None)

    def _arm_cancel_wait(self, invite: ClientTransaction, now: float) -> None:
        if invite._cancel_wait is None:
            invite._cancel_wait = self._timers.schedule_after(now, 64 * self._t1, (invite, I.CANCEL_WAIT))

    def on_response(
        self, resp: SipResponse, source: Endpoint, now: float
    ) -> ResponseMatch | StrayResponse | None:
        """Match a response to a client transaction by top Via branch and CSeq method (§17.1.3).

        Returns a `ResponseMatch` for what the TU must see (every provisional, the first final response, and
        in the INVITE Accepted state every 2xx); None for what the transaction absorbed (a retransmitted
        300-699 is ACKed again), for responses to ACK and for strays; `StrayResponse` for a 2xx to an INVITE
        matching no transaction, or arriving in Completed after a 300-699 (the TU must ACK and BYE it).
        `source` is not used: the sent-by check of §18.1.2 is the stack's.
        """
        branch = resp.top_via.branch
        method = resp.cseq.method
        txn = self._clients.get((branch, method))
        status = resp.status
        if txn is None or txn._invite is not None:  # a response to a CANCEL we never sent: stray
            if method == "INVITE" and 200 <= status < 300:
                return StrayResponse(resp)
            return None
        if not 100 <= status <= 699:
            return None
        step = self._fire(txn, _status_input(status), now, resp)
        if step is None:
            if method == "INVITE" and 200 <= status < 300:  # a 2xx after our ACKed 300-699: still a dialog
                return StrayResponse(resp)
            return None
        if txn.state is not _ACCEPTED:  # Accepted: the 2xx goes to the TU, the transaction need not keep it
            txn.last_response = resp
        return ResponseMatch(txn, resp) if step[2] else None

    def terminate(self, txn: ClientTransaction | ServerTransaction) -> None:
        """Forget a transaction now (e.g. an INVITE stuck in Proceeding after the TU's own timer C):
        its timers are cancelled, nothing is sent and no event is reported."""
        if txn.state is not _TERMINATED:
            txn.state = _TERMINATED
            self._cleanup(txn)

    # -- output and time -----------------------------------------------------------------------------------
    def send_stateless(self, message: SipRequest | SipResponse, destination: Endpoint) -> None:
        """Queue a message outside any transaction (a 2xx-ACK, a stateless response)."""
        self._out.append((message.serialize(), destination))

    def send_raw(self, data: bytes, destination: Endpoint) -> None:
        """Queue bytes outside any transaction, in order with everything else this layer sends."""
        self._out.append((data, destination))

    def pop_outgoing(self) -> list[tuple[bytes, Endpoint]]:
        """Everything to put on the wire since the last call, in order."""
        out = self._out
        self._out = []
        return out

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def transport_failed(self, destination: Endpoint, now: float, *, provisional_too: bool = False
                         ) -> list[TxnEvent]:
        """RFC 3261 §17.1.4 / §18.4: the transport could not reach `destination` (a TCP connection refused or
        not opened): every client transaction sent there that has heard nothing yet ends now, reported like a
        timeout (the TU answers for it as 408/503, §8.1.3.1), instead of waiting out Timer B or F.
        `provisional_too`: the connection they went over is gone (the peer closed it or died), so those that
        only had a provisional answer end too (as PJSIP and the SIP proxies do), rather than ringing on to
        Timer C or the caller's patience."""
        where = (destination.transport, destination.host, destination.port)
        failed = [txn for txn in self._clients.values()
                  if (txn.state is _CALLING or txn.state is S.TRYING
                      or (provisional_too and txn.state is S.PROCEEDING))
                  and (txn.destination.transport, txn.destination.host, txn.destination.port) == where]
        events: list[TxnEvent] = []
        for txn in failed:
            txn.state = _TERMINATED
            self._cleanup(txn)
            events.append(ClientTimedOut(txn))
        return events

    def on_timer(self, now: float) -> list[TxnEvent]:
        """Fire every timer due at `now`; returns the timeouts the TU must hear about."""
        events: list[TxnEvent] = []
        timers = self._timers
        while True:
            due = timers.pop_due(now)
            if not due:
                return events
            for target, inp in due:
                if isinstance(target, _Pending2xx):
                    self._on_2xx_timer(target, inp, now, events)
                    continue
                step = self._fire(target, inp, now, None)
                if step is not None and step[3]:
                    if isinstance(target, ClientTransaction):
                        events.append(ClientTimedOut(target))
                    else:
                        events.append(ServerTimedOut(target))

    def _on_2xx_timer(self, pending: _Pending2xx, inp: Input, now: float, events: list[TxnEvent]) -> None:
        if self._pending_2xx.get(pending.key) is not pending:
            return
        if inp is _RETRANSMIT_2XX:
            self._out.append((pending.wire, pending.destination))
            interval = pending.interval = min(pending.interval * 2, self._t2)
            pending.timer = self._timers.schedule_after(now, interval, (pending, _RETRANSMIT_2XX))
            return
        del self._pending_2xx[pending.key]
        self._stop_2xx(pending)
        events.append(AckTimedOut(pending.key[0], pending.key[1], pending.response))

    # -- the machine ---------------------------------------------------------------------------------------
    def _fire(
        self,
        txn: ClientTransaction | ServerTransaction,
        inp: Input,
        now: float,
        msg: SipResponse | None,
    ) -> _Step | None:
        """Apply `(state, inp)` from the transaction's table; None when the table has no row (ignored)."""
        step = txn._rows[txn.state][inp]
        if step is None:
            return None
        state = txn.state = step[0]
        for handler in step[1]:
            handler(self, txn, now, msg)
        if state is _ACCEPTED and (inp is I.ACK or isinstance(txn, ClientTransaction)):
            # RFC 6026 Accepted: nothing is retransmitted from here on (2xx retransmission and the ACK for a
            # 2xx are the TU's), so the bytes kept for retransmissions can go now rather than at Timer L/M.
            txn._wire = None
        if state is _TERMINATED:
            self._cleanup(txn)
        elif txn._then is not None:  # a zero-length timer (reliable transport): it fires now
            then = txn._then
            txn._then = None
            self._fire(txn, then, now, None)
        return step

    def _register_ack_alias(self, txn: ServerTransaction, resp: SipResponse) -> None:
        """RFC 2543 INVITE transactions: the ACK will carry our final response's To tag (§17.2.3)."""
        key = txn.key
        if len(key) != 9 or txn.method != "INVITE":  # RFC 3261 transactions match ACK by branch
            return
        alias = (key[0], resp.to.tag, *key[2:5], "ACK", *key[6:])
        self._aliases[alias] = txn
        if txn._aliases is None:
            txn._aliases = []
        txn._aliases.append(alias)

    def _drop_held_cancel(self, invite: ClientTransaction) -> None:
        held = invite._held_cancel
        if held is not None:
            invite._held_cancel = None
            held._invite = None
            held.state = _TERMINATED
            self._cleanup(held)

    def _cleanup(self, txn: ClientTransaction | ServerTransaction) -> None:
        """Terminated: cancel every timer and forget every key (memory must not grow)."""
        timers = self._timers
        if txn._retransmit is not None:
            timers.cancel(txn._retransmit)
            txn._retransmit = None
        if txn._main is not None:
            timers.cancel(txn._main)
            txn._main = None
        txn._then = None
        txn._wire = None  # nothing is retransmitted any more; a TU may keep the object (e.g. a call's A leg)
        if isinstance(txn, ClientTransaction):
            if self._clients.get(txn.key) is txn:
                del self._clients[txn.key]
            if txn._cancel_wait is not None:
                timers.cancel(txn._cancel_wait)
                txn._cancel_wait = None
            self._drop_held_cancel(txn)
            invite = txn._invite
            if invite is not None:  # a held CANCEL terminated by the TU
                txn._invite = None
                if invite._held_cancel is txn:
                    invite._held_cancel = None
        else:
            if self._servers.get(txn.key) is txn:
                del self._servers[txn.key]
            if txn._aliases is not None:
                for alias in txn._aliases:
                    if self._aliases.get(alias) is txn:
                        del self._aliases[alias]
                txn._aliases = None


# ----------------------------------------------------------------------------------------------------
# Action handlers and the compiled tables
# ----------------------------------------------------------------------------------------------------
_AnyTxn: TypeAlias = ClientTransaction | ServerTransaction
_Handler: TypeAlias = Callable[[TransactionLayer, _AnyTxn, float, SipResponse | None], None]


def _do_send(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    if txn._wire is not None:
        layer._out.append((txn._wire, txn.peer))


def _do_send_response(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    resp = cast(SipResponse, msg)
    wire = resp.serialize()
    layer._last_serialized = (resp, wire)
    txn._wire = wire
    txn.last_response = resp
    layer._out.append((wire, txn.peer))
    if resp.status >= 200 and len(txn.key) == 9:
        layer._register_ack_alias(cast(ServerTransaction, txn), resp)


def _do_send_ack(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    ctxn = cast(ClientTransaction, txn)
    if ctxn._ack_wire is None:
        ctxn._ack_wire = build_ack(ctxn.request, cast(SipResponse, msg)).serialize()
    layer._out.append((ctxn._ack_wire, ctxn.peer))


def _do_keep_skeleton(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    # In Accepted the transaction only hands 2xx retransmissions to the TU (RFC 6026 §8.4): the INVITE's body
    # and other fields, pinned for 32 s per call, were a large part of the memory of an established call.
    txn.request = skeleton(txn.request)
    txn.last_response = None


def _do_stop_retransmit(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    if txn._retransmit is not None:
        layer._timers.cancel(txn._retransmit)
        txn._retransmit = None


def _do_stop_main(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    if txn._main is not None:
        layer._timers.cancel(txn._main)
        txn._main = None


def _arm_retransmit(inp: Input, rule: str) -> _Handler:
    """Timer A doubles without bound (§17.1.1.2); E and G double up to T2 (§17.1.2.2, §17.2.1); E in the
    non-INVITE Proceeding state is reset to T2. Never armed on reliable transports."""

    def handler(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
        if txn.reliable:
            return
        if rule == "t2":
            interval = txn._interval = layer._t2
        else:
            interval = txn._interval
            txn._interval = interval * 2 if rule == "double" else min(interval * 2, layer._t2)
        txn._retransmit = layer._timers.schedule_after(now, interval, (txn, inp))

    return handler


def _arm_main(inp: Input) -> _Handler:
    """(Re)arm the transaction's main timer (B, D, F, H, I, J, K, L or M); zero means "fire right now"."""

    def handler(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
        if txn._main is not None:
            layer._timers.cancel(txn._main)
            txn._main = None
        duration = layer._durations[txn.reliable][inp]
        if duration <= 0:
            txn._then = inp
        else:
            txn._main = layer._timers.schedule_after(now, duration, (txn, inp))

    return handler


def _do_start_cancel(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    invite = cast(ClientTransaction, txn)
    held = invite._held_cancel
    if held is not None:
        invite._held_cancel = None
        held._invite = None
        layer._arm_cancel_wait(invite, now)
        layer._start_client(held, now)


def _do_drop_cancel(layer: TransactionLayer, txn: _AnyTxn, now: float, msg: SipResponse | None) -> None:
    layer._drop_held_cancel(cast(ClientTransaction, txn))


_HANDLERS: Final[dict[Action, _Handler | None]] = {
    A.SEND: _do_send,
    A.SEND_RESPONSE: _do_send_response,
    A.SEND_ACK: _do_send_ack,
    A.PASS: None,  # read by the caller from the compiled row
    A.REPORT_TIMEOUT: None,
    A.ARM_A: _arm_retransmit(I.TIMER_A, "double"),
    A.ARM_E: _arm_retransmit(I.TIMER_E, "capped"),
    A.ARM_E_T2: _arm_retransmit(I.TIMER_E, "t2"),
    A.ARM_G: _arm_retransmit(I.TIMER_G, "capped"),
    A.STOP_RETRANSMIT: _do_stop_retransmit,
    A.ARM_B: _arm_main(I.TIMER_B),
    A.ARM_D: _arm_main(I.TIMER_D),
    A.ARM_F: _arm_main(I.TIMER_F),
    A.ARM_H: _arm_main(I.TIMER_H),
    A.ARM_I: _arm_main(I.TIMER_I),
    A.ARM_J: _arm_main(I.TIMER_J),
    A.ARM_K: _arm_main(I.TIMER_K),
    A.ARM_L: _arm_main(I.TIMER_L),
    A.ARM_M: _arm_main(I.TIMER_M),
    A.STOP_MAIN: _do_stop_main,
    A.START_CANCEL: _do_start_cancel,
    A.DROP_CANCEL: _do_drop_cancel,
    A.KEEP_SKELETON: _do_keep_skeleton,
}


def _compile_row(row: Row) -> _Step:
    state, actions = row
    handlers = tuple(h for h in (_HANDLERS[a] for a in actions) if h is not None)
    return (state, handlers, A.PASS in actions, A.REPORT_TIMEOUT in actions)


def _compile(table: Table) -> _Compiled:
    """The table as `steps[state][input]` lists: two C-level index operations per transition, and the actions
    already resolved to their handlers."""
    steps: _Compiled = [[None] * len(Input) for _ in TransactionState]
    for (state, inp), row in table.items():
        steps[state][inp] = _compile_row(row)
    return steps


_ICT: Final = _compile(ICT_TABLE)
_NICT: Final = _compile(NICT_TABLE)
_IST: Final = _compile(IST_TABLE)
_NIST: Final = _compile(NIST_TABLE)
_ICT_START: Final = _compile_row(ICT_INITIAL)
_NICT_START: Final = _compile_row(NICT_INITIAL)
