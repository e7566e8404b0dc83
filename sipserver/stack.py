"""The sans-IO SIP stack: bytes and `now` in, events and bytes out (RFC 3261 §8.2, §9.2, §17, §18).

`receive(data, source, now)` parses a message (only as far as routing needs), rejects what is malformed with the
RFC's answer or drops it, runs it through the transaction layer and returns events for the application.
`pop_outgoing()` returns what to put on the wire, `next_deadline()`/`on_timer(now)` drive every timer.
The shell (sipserver.aio) owns sockets and the clock; this module must not know about either, nor about users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from sipserver import transaction as tx
from sipserver.address import Endpoint
from sipserver.errors import RemoteProtocolError
from sipserver.events import (
    AckReceived,
    CancelReceived,
    ClientTransactionTimedOut,
    RequestReceived,
    ResponseReceived,
    ServerTransactionTimedOut,
    StackEvent,
    StrayResponseReceived,
)
from sipserver.headers import has_tag
from sipserver.ids import new_tag
from sipserver.message import REASON_PHRASES, SipRequest, SipResponse, build_response
from sipserver.parser import parse_message, validate_request, validate_response
from sipserver.timers import TimerConfig

# New work a server may refuse when overloaded; everything else (in-dialog requests, ACK, CANCEL, BYE, OPTIONS,
# which costs no more than its refusal) is always processed.
SHED_WHEN_OVERLOADED: Final = frozenset({"INVITE", "REGISTER", "SUBSCRIBE", "MESSAGE", "REFER", "PUBLISH"})


class StackStats:
    """Counters the shell can expose (and tests can read)."""

    __slots__ = ("dropped", "rejected", "requests", "responses", "shed")

    def __init__(self) -> None:
        self.shed = 0
        self.requests = 0
        self.responses = 0
        self.rejected = 0
        self.dropped = 0


class SipStack:
    def __init__(self, timers: TimerConfig | None = None, *, server_header: str | None = None,
                 overloaded: Callable[[], bool] | None = None) -> None:
        self.transactions = tx.TransactionLayer(timers or TimerConfig())
        self._server_header = server_header
        self._overloaded = overloaded
        self.stats = StackStats()

    # -- input ---------------------------------------------------------------------------------------------
    def receive(self, data: bytes, source: Endpoint, now: float) -> list[StackEvent]:
        """Handle one message's bytes (a datagram, or one frame of a stream)."""
        if len(data) <= 4 and not data.strip(b"\r\n"):
            return []  # a bare CRLF keep-alive on UDP (RFC 5626 §4.4.1): nothing to do
        try:
            message = parse_message(data, datagram=not source.reliable)
        except RemoteProtocolError as exc:
            self._reject(exc, source)
            return []
        if isinstance(message, SipResponse):
            return self._receive_response(message, source, now)
        if self._overloaded is not None and message.method in SHED_WHEN_OVERLOADED and self._overloaded() \
                and self._shed(message, source):
            return []
        return self._receive_request(message, source, now)

    def _shed(self, request: SipRequest, source: Endpoint) -> bool:
        """Overload: refuse new work with a stateless 503 before any validation or transaction, so a refusal
        costs a fraction of what it refuses (RFC 3261 §21.5.4, RFC 7339 §1; security.md: goodput stays near
        capacity at twice the load). In-dialog requests (To with a tag) are never shed."""
        to = request.headers.get("To")
        if to is None or has_tag(to) or "Via" not in request.headers:
            return False
        self.stats.shed += 1
        response = build_response(request, 503, "Service Unavailable", to_tag=new_tag(),
                                  headers=(("Retry-After", "2"),))
        self.send_stateless(response, request, source)
        return True

    def _receive_request(self, request: SipRequest, source: Endpoint, now: float) -> list[StackEvent]:
        try:
            validate_request(request)
        except RemoteProtocolError as exc:
            if request.method != "ACK":
                self._reject(exc, source)
            else:
                self.stats.dropped += 1
            return []
        self.stats.requests += 1
        _stamp_top_via(request, source)
        if request.method == "CANCEL":
            return self._receive_cancel(request, source, now)
        outcome = self.transactions.on_request(request, source, now)
        if isinstance(outcome, tx.NewRequest):
            return [RequestReceived(request=request, source=source, transaction=outcome.txn)]
        if isinstance(outcome, tx.StrayAck):
            return [AckReceived(request=request, source=source)]
        return []  # a retransmission or an ACK for our non-2xx: absorbed by its transaction

    def _receive_cancel(self, cancel: SipRequest, source: Endpoint, now: float) -> list[StackEvent]:
        outcome = self.transactions.on_request(cancel, source, now)
        if not isinstance(outcome, tx.NewRequest):
            return []  # retransmitted CANCEL: the transaction re-sent our answer
        invite = self.transactions.find_invite_for_cancel(cancel, source)
        if invite is None:
            self.respond(outcome.txn, build_response(cancel, 481), now)  # RFC 3261 §9.2
            return []
        to_tag = invite.last_response.to.tag if invite.last_response is not None else None
        self.respond(outcome.txn, build_response(cancel, 200, to_tag=to_tag or new_tag()), now)
        return [CancelReceived(request=cancel, source=source, invite=invite)]

    def _receive_response(self, response: SipResponse, source: Endpoint, now: float) -> list[StackEvent]:
        try:
            validate_response(response)
        except RemoteProtocolError:
            self.stats.dropped += 1  # RFC 3261 §18.1.2: malformed responses are discarded
            return []
        self.stats.responses += 1
        match = self.transactions.on_response(response, source, now)
        if isinstance(match, tx.ResponseMatch):
            return [ResponseReceived(response=response, source=source, transaction=match.txn)]
        if isinstance(match, tx.StrayResponse):
            return [StrayResponseReceived(response=response, source=source)]
        return []

    def _reject(self, exc: RemoteProtocolError, source: Endpoint) -> None:
        """Answer a bad request statelessly (RFC 3261 §8.2: 400, 505...), or drop what cannot be answered."""
        request = exc.partial
        if exc.status_hint is None or not isinstance(request, SipRequest) or request.method == "ACK":
            self.stats.dropped += 1
            return
        if "Via" not in request.headers:
            self.stats.dropped += 1  # nowhere to send an answer
            return
        self.stats.rejected += 1
        reason = _reason_phrase(exc)
        response = build_response(
            request, exc.status_hint, reason, to_tag=new_tag(), headers=exc.extra_headers
        )
        self.send_stateless(response, request, source)

    # -- output --------------------------------------------------------------------------------------------
    def respond(self, txn: tx.ServerTransaction, response: SipResponse, now: float) -> None:
        if self._server_header is not None and "Server" not in response.headers:
            response.headers.add("Server", self._server_header)
        self.transactions.respond(txn, response, now)
        if response.status >= 200 and txn.method != "INVITE":
            # The transaction lives on for Timer J (32 s on UDP) to absorb retransmissions, which it matches by
            # key: the parsed views of its request are garbage from now on (a smaller heap, shorter GC pauses).
            txn.request.headers.drop_parsed()

    def reply(
        self,
        txn: tx.ServerTransaction,
        status: int,
        now: float,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> SipResponse:
        """Build and send a response to `txn`'s request (a To tag is added for every status but 100)."""
        response = build_response(
            txn.request, status, reason, to_tag=new_tag(), headers=headers, body=body
        )
        self.respond(txn, response, now)
        return response

    def send_stateless(self, response: SipResponse, request: SipRequest, source: Endpoint) -> None:
        """A response outside any transaction (RFC 3261 §8.2.7), sent where §18.2.2 says."""
        if self._server_header is not None and "Server" not in response.headers:
            response.headers.add("Server", self._server_header)
        try:
            destination = tx.response_destination(request, source)
        except RemoteProtocolError:
            # The top Via itself is what is broken (RFC 4475 badinv01): the only address we know is the
            # packet's source, and the peer is told why its request failed.
            destination = source
        self.transactions.send_raw(response.serialize(), destination)

    def send_request(self, request: SipRequest, destination: Endpoint, now: float) -> tx.ClientTransaction:
        return self.transactions.send_request(request, destination, now)

    def send_raw(self, data: bytes, destination: Endpoint) -> None:
        """Bytes outside any transaction: a 2xx-ACK or a keep-alive."""
        self.transactions.send_raw(data, destination)

    def pop_outgoing(self) -> list[tuple[bytes, Endpoint]]:
        """Everything to send, in the order it was queued (a 2xx ACK before the BYE that follows it)."""
        return self.transactions.pop_outgoing()

    # -- time ----------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        return self.transactions.next_deadline()

    def transport_failed(self, destination: Endpoint, now: float, *, provisional_too: bool = False
                         ) -> list[StackEvent]:
        """The shell could not open a connection to `destination` (or, `provisional_too`, the connection there
        was lost): the requests waiting there fail now."""
        return [ClientTransactionTimedOut(transaction=event.txn)
                for event in self.transactions.transport_failed(destination, now, provisional_too=provisional_too)
                if isinstance(event, tx.ClientTimedOut)]

    def on_timer(self, now: float) -> list[StackEvent]:
        events: list[StackEvent] = []
        for event in self.transactions.on_timer(now):
            if isinstance(event, tx.ClientTimedOut):
                events.append(ClientTransactionTimedOut(transaction=event.txn))
            elif isinstance(event, tx.ServerTimedOut):
                events.append(ServerTransactionTimedOut(transaction=event.txn))
            elif isinstance(event, tx.AckTimedOut):
                events.append(ServerTransactionTimedOut(transaction=None, call_id=event.call_id))
        return events


def _reason_phrase(exc: RemoteProtocolError) -> str:
    """The reason phrase for a rejection: the standard one plus what was wrong, on one safe line."""
    base = REASON_PHRASES.get(exc.status_hint or 400, "Bad Request")
    detail = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in exc.reason)[:80]
    return f"{base} ({detail})" if detail else base


def _stamp_top_via(request: SipRequest, source: Endpoint) -> None:
    """RFC 3261 §18.2.1 `received` when the sent-by host is not where the request came from, and RFC 3581 §4
    `rport` filled in when the client asked for it; responses copy the Via, so the client learns both."""
    via = request.top_via
    rport = via.rport
    sent_by = via.host[1:-1] if via.host.startswith("[") else via.host
    if rport != "" and sent_by == source.host:
        return
    params = dict(via.params)
    if sent_by != source.host or rport == "":
        params["received"] = source.host
    if rport == "":
        params["rport"] = str(source.port)
    stamped = type(via)(protocol=via.protocol, transport=via.transport, host=via.host, port=via.port,
                        params=params)
    request.headers.replace_first_value("Via", str(stamped))
