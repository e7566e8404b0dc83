"""The transaction layer (RFC 3261 §17 + RFC 6026, §9.1/§9.2 CANCEL, §13.3.1.4 2xx retransmission).

Two layers (a UAC and a UAS) talk over the in-memory wire of tests.helpers.wire, on a fake clock; some tests
drive one layer directly with hand-fed messages.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sipserver.address import Endpoint
from sipserver.errors import LocalProtocolError, RemoteProtocolError
from sipserver.message import Headers, SipRequest, SipResponse, build_response
from sipserver.parser import parse_message
from sipserver.timers import TimerConfig
from sipserver.transaction import (
    ICT_TABLE,
    IST_TABLE,
    NICT_TABLE,
    NIST_TABLE,
    AckAbsorbed,
    AckTimedOut,
    ClientTimedOut,
    ClientTransaction,
    Input,
    NewRequest,
    ResponseMatch,
    Retransmission,
    ServerTimedOut,
    ServerTransaction,
    StrayAck,
    StrayResponse,
    TransactionLayer,
    TransactionState,
    build_ack,
    build_cancel,
    new_branch,
    new_tag,
    response_destination,
)
from tests.helpers.wire import (
    Handler,
    LossyWire,
    Network,
    Node,
    Observed,
    make_invite,
    make_request,
    reparse,
)

UAC = Endpoint("udp", "192.0.2.1", 5060)
UAS = Endpoint("udp", "192.0.2.2", 5060)
UAS_TCP = Endpoint("tcp", "192.0.2.2", 5060)

S = TransactionState


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------
def ack_for_2xx(invite: SipRequest, resp: SipResponse) -> SipRequest:
    """The UAC core's ACK for a 2xx (§13.2.2.4): a new transaction, hence a new branch."""
    via = invite.top_via
    fields = [
        ("Via", f"SIP/2.0/{via.transport} {via.host}:{via.port};branch={new_branch()}"),
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From") or ""),
        ("To", resp.headers.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} ACK"),
    ]
    return SipRequest("ACK", invite.uri, Headers(fields))


def response(request: SipRequest, status: int, to_tag: str | None = "bob-tag") -> SipResponse:
    """A response as received from the wire."""
    resp = build_response(request, status, to_tag=to_tag)
    parsed = parse_message(resp.serialize())
    assert isinstance(parsed, SipResponse)
    return parsed


def state(txn: ClientTransaction | ServerTransaction) -> TransactionState:
    """The state, read through a function so that mypy does not narrow it across transitions."""
    return txn.state


def statuses(node: Node) -> list[int]:
    return [o.response.status for o in node.of_type(ResponseMatch) if isinstance(o, ResponseMatch)]


def kinds(node: Node) -> list[str]:
    return [type(o).__name__ for _, o in node.seen]


def uac_core(node: Node, outcome: Observed, now: float) -> None:
    """ACK every 2xx to an INVITE passed up by a transaction (its first and its retransmissions)."""
    if isinstance(outcome, ResponseMatch):
        resp = outcome.response
        if resp.cseq.method == "INVITE" and 200 <= resp.status < 300:
            node.layer.send_stateless(ack_for_2xx(outcome.txn.request, resp), outcome.txn.destination)


def uas_answering(*statuses_: int, retransmit_2xx: bool = True) -> Handler:
    """A UAS core that answers every new request with `statuses_` in order (a final last)."""

    def handler(node: Node, outcome: Observed, now: float) -> None:
        if isinstance(outcome, NewRequest) and outcome.txn.method != "CANCEL":
            txn = outcome.txn
            tag = new_tag()
            for status in statuses_:
                resp = build_response(txn.request, status, to_tag=tag)
                node.layer.respond(txn, resp, now)
                if txn.method == "INVITE" and 200 <= status < 300 and retransmit_2xx:
                    node.layer.start_2xx_retransmission(resp, txn.response_destination, now)

    return handler


def pair(
    uas_handler: Handler | None = None,
    *,
    wire: LossyWire | None = None,
    timers: TimerConfig | None = None,
) -> tuple[Network, Node, Node]:
    net = Network(wire)
    uac = net.add("uac", UAC, TransactionLayer(timers or TimerConfig()), uac_core)
    uas = net.add("uas", UAS, TransactionLayer(timers or TimerConfig()), uas_handler)
    return net, uac, uas


def assert_empty(*nodes: Node) -> None:
    for node in nodes:
        layer = node.layer
        assert len(layer) == 0, f"{node.name} still holds {len(layer)} transactions"
        assert layer.pending_timers == 0, f"{node.name} still has {layer.pending_timers} timers"
        assert layer.pending_2xx == 0
        assert not layer._aliases


# ----------------------------------------------------------------------------------------------------
# the tables themselves
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", [ICT_TABLE, NICT_TABLE, IST_TABLE, NIST_TABLE])
def test_tables_never_leave_terminated_and_timers_only_fire_where_armed(table) -> None:  # type: ignore[no-untyped-def]
    for (state, _inp), (_next, _actions) in table.items():
        assert state is not S.TERMINATED


def test_every_machine_can_reach_terminated() -> None:
    for table, start in (
        (ICT_TABLE, S.CALLING),
        (NICT_TABLE, S.TRYING),
        (IST_TABLE, S.PROCEEDING),
        (NIST_TABLE, S.TRYING),
    ):
        seen = {start}
        frontier = [start]
        while frontier:
            state = frontier.pop()
            for (src, _), (dst, _) in table.items():
                if src is state and dst not in seen:
                    seen.add(dst)
                    frontier.append(dst)
        assert S.TERMINATED in seen


# ----------------------------------------------------------------------------------------------------
# INVITE: 200 + ACK, 486 + ACK
# ----------------------------------------------------------------------------------------------------
def test_invite_200_ack_over_udp() -> None:
    net, uac, uas = pair(uas_answering(180, 200))
    invite = make_invite()
    txn = uac.layer.send_request(invite, UAS, 0.0)
    net.run_until(1.0)

    assert statuses(uac) == [100, 180, 200]  # the auto 100 Trying, then the TU's answers
    assert state(txn) is S.ACCEPTED  # RFC 6026
    assert kinds(uas) == ["NewRequest", "StrayAck"]  # the ACK for a 2xx goes to the TU
    assert uas.layer.pending_2xx == 0  # ... and stopped the 2xx retransmission
    sent = [s.first_line for s in net.wire.sent]
    assert sent == [
        f"INVITE {invite.uri} SIP/2.0",
        "SIP/2.0 100 Trying",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
        f"ACK {invite.uri} SIP/2.0",
    ]
    net.run_until(40.0)  # Timer L and M
    assert state(txn) is S.TERMINATED
    assert_empty(uac, uas)


def test_invite_486_ack_absorbed_by_server_transaction() -> None:
    net, uac, uas = pair(uas_answering(486))
    invite = make_invite()
    txn = uac.layer.send_request(invite, UAS, 0.0)
    net.run_until(1.0)

    assert statuses(uac) == [100, 486]
    assert state(txn) is S.COMPLETED
    assert kinds(uas) == ["NewRequest", "AckAbsorbed"]
    server = uas.of_type(NewRequest)[0].txn  # type: ignore[union-attr]
    assert state(server) is S.CONFIRMED
    ack = net.wire.sends_from(UAC, "ACK")
    assert len(ack) == 1
    parsed = parse_message(ack[0].data)
    assert parsed.top_via.branch == invite.top_via.branch  # §17.1.1.3: same branch as the INVITE
    assert parsed.to.tag is not None
    assert parsed.cseq.number == invite.cseq.number and parsed.cseq.method == "ACK"

    net.run_until(6.0)  # Timer I = T4
    assert len(uas.layer) == 0 and state(server) is S.TERMINATED
    assert len(uac.layer) == 1  # Timer D = 32 s
    net.run_until(33.0)
    assert_empty(uac, uas)


def test_retransmitted_final_is_acked_again_not_passed_up() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    txn = layer.send_request(invite, UAS, 0.0)
    layer.pop_outgoing()
    resp = response(invite, 486)
    assert layer.on_response(resp, UAS, 0.1) == ResponseMatch(txn, resp)
    ((ack1, dest),) = layer.pop_outgoing()
    assert dest == UAS and ack1.startswith(b"ACK ")
    assert layer.on_response(response(invite, 486), UAS, 0.2) is None
    ((ack2, _),) = layer.pop_outgoing()
    assert ack2 is ack1  # serialized once
    assert layer.on_response(response(invite, 180), UAS, 0.3) is None  # provisional after final: absorbed
    late = response(invite, 200, to_tag="other-fork")
    assert layer.on_response(late, UAS, 0.4) == StrayResponse(late)  # a 2xx is a dialog: the TU must see it


def test_build_ack_copies_route_and_uses_the_response_to() -> None:
    invite = make_invite(extra=[("Route", "<sip:p1.example;lr>"), ("Route", "<sip:p2.example;lr>")])
    ack = reparse(build_ack(invite, response(invite, 404, to_tag="zz")))
    assert isinstance(ack, SipRequest)
    assert ack.method == "ACK" and ack.uri == invite.uri
    assert ack.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert ack.headers.count("Via") == 1 and ack.top_via.branch == invite.top_via.branch
    assert ack.to.tag == "zz" and ack.from_.tag == invite.from_.tag
    assert ack.call_id == invite.call_id and str(ack.cseq.number) == str(invite.cseq.number)
    assert ack.max_forwards == 70


# ----------------------------------------------------------------------------------------------------
# Retransmission counts and timeouts (§17.1.1.2, §17.1.2.2; security.md "INVITE 7 times, non-INVITE 11 times")
# ----------------------------------------------------------------------------------------------------
def run_alone(layer: TransactionLayer, until: float) -> list[tuple[float, object]]:
    """Drive one layer's timers to `until`; returns (time, sent bytes or event)."""
    log: list[tuple[float, object]] = [(0.0, data) for data, _ in layer.pop_outgoing()]
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        for event in layer.on_timer(deadline):
            log.append((deadline, event))
        log.extend((deadline, data) for data, _ in layer.pop_outgoing())
    return log


def test_unanswered_non_invite_is_sent_11_times_then_times_out() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(make_request("OPTIONS"), UAS, 0.0)
    log = run_alone(layer, 100.0)
    sends = [(t, d) for t, d in log if isinstance(d, bytes)]
    assert [t for t, _ in sends] == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(d is sends[0][1] for _, d in sends)  # one serialization, reused
    assert [(t, e) for t, e in log if not isinstance(e, bytes)] == [(32.0, ClientTimedOut(txn))]
    assert state(txn) is S.TERMINATED and len(layer) == 0 and layer.pending_timers == 0


def test_unanswered_invite_is_sent_7_times_then_times_out() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(make_invite(), UAS, 0.0)
    log = run_alone(layer, 100.0)
    assert [t for t, d in log if isinstance(d, bytes)] == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [(t, e) for t, e in log if not isinstance(e, bytes)] == [(32.0, ClientTimedOut(txn))]
    assert len(layer) == 0 and layer.pending_timers == 0


def test_non_invite_in_proceeding_retransmits_every_t2() -> None:
    net, uac, _ = pair(uas_answering(100))  # a provisional and never a final
    txn = uac.layer.send_request(make_request("OPTIONS"), UAS, 0.0)
    net.run_until(40.0)
    times = [s.time for s in net.wire.sends_from(UAC, "OPTIONS")]
    assert times == [0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    # each retransmission was answered from the server transaction with the last provisional
    assert len(net.wire.sends_from(UAS, "SIP/2.0 100")) == len(times)
    assert uac.of_type(ClientTimedOut) == [ClientTimedOut(txn)]
    assert statuses(uac) == [100] * len(times)  # "a provisional response ... MUST be passed to the TU"
    assert len(uac.layer) == 0


def test_invite_timer_b_with_shorter_t1() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.1))
    txn = layer.send_request(make_invite(), UAS, 10.0)
    log = run_alone(layer, 100.0)
    ((when, event),) = [(t, e) for t, e in log if not isinstance(e, bytes)]
    assert when == pytest.approx(16.4) and event == ClientTimedOut(txn)


# ----------------------------------------------------------------------------------------------------
# Reliable transports: no retransmissions, zero timers D, I, J, K
# ----------------------------------------------------------------------------------------------------
def test_tcp_non_invite_no_retransmission_and_immediate_termination() -> None:
    net, uac, uas = pair(uas_answering(200))
    txn = uac.layer.send_request(
        make_request("OPTIONS", via=Endpoint("tcp", UAC.host, UAC.port)), UAS_TCP, 0.0
    )
    net.run_until(0.5)
    assert statuses(uac) == [200]
    assert state(txn) is S.TERMINATED  # Timer K = 0
    assert_empty(uac, uas)  # Timer J = 0 on the server too
    assert len(net.wire.sent) == 2
    answer = net.wire.sent[1]
    assert answer.destination.connection_id is not None  # the response reuses the connection


def test_tcp_invite_unanswered_sent_once_times_out_at_timer_b() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(make_invite(via=Endpoint("tcp", UAC.host, UAC.port)), UAS_TCP, 0.0)
    log = run_alone(layer, 100.0)
    assert [t for t, d in log if isinstance(d, bytes)] == [0.0]
    assert [(t, e) for t, e in log if not isinstance(e, bytes)] == [(32.0, ClientTimedOut(txn))]


def test_tcp_invite_486_terminates_both_sides_at_once() -> None:
    net, uac, uas = pair(uas_answering(486))
    via = Endpoint("tcp", UAC.host, UAC.port)
    uac.layer.send_request(make_invite(via=via), UAS_TCP, 0.0)
    net.run_until(0.5)
    assert statuses(uac) == [100, 486]
    assert kinds(uas) == ["NewRequest", "AckAbsorbed"]
    assert_empty(uac, uas)  # D = 0 and I = 0
    assert len(net.wire.sends_from(UAS, "SIP/2.0 486")) == 1  # no Timer G


def test_tcp_2xx_is_not_retransmitted_but_ack_still_awaited() -> None:
    layer = TransactionLayer()
    source = Endpoint("tcp", UAC.host, 40000, connection_id=7)
    outcome = layer.on_request(make_invite(via=Endpoint("tcp", UAC.host, UAC.port)), source, 0.0)
    assert isinstance(outcome, NewRequest)
    resp = build_response(outcome.txn.request, 200, to_tag="t")
    layer.respond(outcome.txn, resp, 0.0)
    layer.start_2xx_retransmission(resp, outcome.txn.response_destination, 0.0)
    log = run_alone(layer, 100.0)
    assert [t for t, d in log if isinstance(d, bytes)] == [0.0, 0.0]  # 100 Trying and the 200, once
    assert [(t, type(e)) for t, e in log if not isinstance(e, bytes)] == [(32.0, AckTimedOut)]
    assert outcome.txn.response_destination == source


# ----------------------------------------------------------------------------------------------------
# Server side: retransmissions absorbed and answered from the transaction
# ----------------------------------------------------------------------------------------------------
def test_non_invite_retransmission_absorbed_and_answered_from_the_transaction() -> None:
    layer = TransactionLayer()
    req = make_request("REGISTER")
    first = layer.on_request(reparse(req), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(first, NewRequest)
    assert state(first.txn) is S.TRYING
    again = layer.on_request(reparse(req), UAC, 0.1)  # type: ignore[arg-type]
    assert again == Retransmission(first.txn)
    assert layer.pop_outgoing() == []  # Trying: nothing to re-send yet
    assert layer.respond(first.txn, build_response(first.txn.request, 200, to_tag="x"), 0.2)
    ((wire1, dest),) = layer.pop_outgoing()
    assert dest == UAC and state(first.txn) is S.COMPLETED
    assert layer.on_request(reparse(req), UAC, 1.0) == Retransmission(first.txn)  # type: ignore[arg-type]
    ((wire2, _),) = layer.pop_outgoing()
    assert wire2 is wire1
    # a second final from the TU is discarded (§17.2.2)
    assert not layer.respond(first.txn, build_response(first.txn.request, 500, to_tag="x"), 1.1)
    assert layer.pop_outgoing() == []
    run_alone(layer, 40.0)  # Timer J
    assert len(layer) == 0


def test_invite_retransmission_gets_the_last_provisional_again() -> None:
    layer = TransactionLayer()
    req = make_invite()
    first = layer.on_request(reparse(req), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(first, NewRequest)
    ((trying, _),) = layer.pop_outgoing()
    assert trying.startswith(b"SIP/2.0 100 Trying")
    assert layer.on_request(reparse(req), UAC, 0.5) == Retransmission(first.txn)  # type: ignore[arg-type]
    assert layer.pop_outgoing() == [(trying, UAC)]
    layer.respond(first.txn, build_response(first.txn.request, 200, to_tag="x"), 0.6)
    layer.pop_outgoing()
    assert state(first.txn) is S.ACCEPTED
    assert layer.on_request(reparse(req), UAC, 1.0) == Retransmission(first.txn)  # type: ignore[arg-type]
    assert layer.pop_outgoing() == []  # RFC 6026: absorbed, the 2xx is the UAS core's business


def test_auto_trying_off_and_send_trying_copies_timestamp() -> None:
    layer = TransactionLayer(auto_trying=False)
    req = make_invite(extra=[("Timestamp", "54")])
    outcome = layer.on_request(reparse(req), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, NewRequest)
    assert layer.pop_outgoing() == []
    assert layer.send_trying(outcome.txn, 0.1)
    ((data, _),) = layer.pop_outgoing()
    trying = parse_message(data)
    assert isinstance(trying, SipResponse) and trying.status == 100
    assert trying.headers.get("Timestamp") == "54" and trying.to.tag is None


def test_invite_server_timer_g_and_h_without_ack() -> None:
    layer = TransactionLayer()
    outcome = layer.on_request(reparse(make_invite()), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, NewRequest)
    layer.pop_outgoing()
    layer.respond(outcome.txn, build_response(outcome.txn.request, 486, to_tag="x"), 0.0)
    log = run_alone(layer, 100.0)
    times = [t for t, d in log if isinstance(d, bytes)]
    assert times == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, e) for t, e in log if not isinstance(e, bytes)] == [(32.0, ServerTimedOut(outcome.txn))]
    assert len(layer) == 0 and layer.pending_timers == 0


def test_stray_ack_and_ack_for_accepted_go_to_the_tu() -> None:
    layer = TransactionLayer()
    stray = reparse(make_request("ACK"))
    assert layer.on_request(stray, UAC, 0.0) == StrayAck(stray)  # type: ignore[arg-type]
    # an ACK reusing the INVITE's branch while in Accepted (RFC 6026 §8.7: passed to the TU)
    invite = make_invite()
    outcome = layer.on_request(reparse(invite), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, NewRequest)
    resp = build_response(outcome.txn.request, 200, to_tag="x")
    layer.respond(outcome.txn, resp, 0.0)
    ack = reparse(build_ack(invite, resp))
    assert layer.on_request(ack, UAC, 0.1) == StrayAck(ack)  # type: ignore[arg-type]
    assert state(outcome.txn) is S.ACCEPTED


def test_response_destination_rules() -> None:
    # UDP, no rport: the source address with the Via port (§18.2.2)
    req = reparse(make_request("OPTIONS", via=Endpoint("udp", "10.0.0.9", 5070)))
    assert response_destination(req, Endpoint("udp", "198.51.100.7", 40000)) == Endpoint(  # type: ignore[arg-type]
        "udp", "198.51.100.7", 5070
    )
    # UDP with rport (RFC 3581): the source address and port
    req = reparse(make_request("OPTIONS", via=Endpoint("udp", "10.0.0.9", 5070), rport=True))
    src = Endpoint("udp", "198.51.100.7", 40000)
    assert response_destination(req, src) == src  # type: ignore[arg-type]
    # TCP: the connection the request came in on
    src = Endpoint("tcp", "198.51.100.7", 40001, connection_id=12)
    assert response_destination(req, src) == src  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# CANCEL (§9.1, §9.2)
# ----------------------------------------------------------------------------------------------------
def test_build_cancel_fields() -> None:
    invite = make_invite(extra=[("Route", "<sip:p1.example;lr>")], cseq=7)
    cancel = reparse(
        build_cancel(invite, headers=[("Reason", 'SIP;cause=200;text="Call completed elsewhere"')])
    )
    assert isinstance(cancel, SipRequest)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.top_via.branch == invite.top_via.branch and cancel.headers.count("Via") == 1
    assert (cancel.cseq.number, cancel.cseq.method) == (7, "CANCEL")
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert cancel.headers.get_all("Route") == ["<sip:p1.example;lr>"]
    assert cancel.max_forwards == 70 and cancel.headers.get("Reason") is not None


def test_cancel_after_ringing_end_to_end() -> None:
    def uas_tu(node: Node, outcome: Observed, now: float) -> None:
        if not isinstance(outcome, NewRequest):
            return
        txn = outcome.txn
        if txn.method == "INVITE":
            node.layer.respond(txn, build_response(txn.request, 180, to_tag="ring"), now)
        elif txn.method == "CANCEL":
            invite = node.layer.find_invite_for_cancel(txn.request, txn.source)
            assert invite is not None and state(invite) is S.PROCEEDING
            node.layer.respond(txn, build_response(txn.request, 200, to_tag="ring"), now)
            node.layer.respond(invite, build_response(invite.request, 487, to_tag="ring"), now)

    net, uac, uas = pair(uas_tu)
    invite = make_invite()
    inv_txn = uac.layer.send_request(invite, UAS, 0.0)
    net.call_at(1.0, lambda now: uac.layer.send_request(build_cancel(invite), UAS, now))
    net.run_until(2.0)
    assert [(o.txn.method, o.response.status) for o in uac.of_type(ResponseMatch)] == [  # type: ignore[union-attr]
        ("INVITE", 100),
        ("INVITE", 180),
        ("CANCEL", 200),
        ("INVITE", 487),
    ]
    assert state(inv_txn) is S.COMPLETED
    assert kinds(uas) == ["NewRequest", "NewRequest", "AckAbsorbed"]
    net.run_until(40.0)
    assert_empty(uac, uas)
    assert uac.of_type(ClientTimedOut) == []


def test_cancel_is_held_until_a_provisional_arrives() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    layer.send_request(invite, UAS, 0.0)
    layer.pop_outgoing()
    cancel_txn = layer.send_request(build_cancel(invite), UAS, 0.1)
    assert layer.pop_outgoing() == []  # §9.1: MUST wait for a provisional
    assert layer.on_response(response(invite, 180), UAS, 0.3) is not None
    ((data, dest),) = layer.pop_outgoing()
    assert data.startswith(b"CANCEL ") and dest == UAS
    assert state(cancel_txn) is S.TRYING
    # the CANCEL's own response matches the CANCEL transaction
    ok = response(cancel_txn.request, 200)
    assert layer.on_response(ok, UAS, 0.4) == ResponseMatch(cancel_txn, ok)


def test_held_cancel_is_dropped_when_the_invite_gets_a_final_first() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    layer.send_request(invite, UAS, 0.0)
    cancel_txn = layer.send_request(build_cancel(invite), UAS, 0.1)
    layer.pop_outgoing()
    layer.on_response(response(invite, 486), UAS, 0.3)
    out = layer.pop_outgoing()
    assert [d.split(b" ", 1)[0] for d, _ in out] == [b"ACK"]
    assert state(cancel_txn) is S.TERMINATED
    assert layer.client_count == 1  # only the INVITE, in Completed


def test_invite_times_out_64_t1_after_cancel_without_final() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    inv_txn = layer.send_request(invite, UAS, 0.0)
    layer.on_response(response(invite, 180), UAS, 0.1)
    cancel_txn = layer.send_request(build_cancel(invite), UAS, 5.0)
    layer.on_response(response(cancel_txn.request, 200), UAS, 5.1)  # CANCEL answered, but no 487 ever
    log = run_alone(layer, 100.0)
    assert [(t, e) for t, e in log if not isinstance(e, bytes)] == [(37.0, ClientTimedOut(inv_txn))]
    assert len(layer) == 0


def test_find_invite_for_cancel() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    outcome = layer.on_request(reparse(invite), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, NewRequest)
    cancel = reparse(build_cancel(invite))
    assert isinstance(cancel, SipRequest)
    assert layer.find_invite_for_cancel(cancel, UAC) is outcome.txn
    cancel_outcome = layer.on_request(cancel, UAC, 0.1)
    assert isinstance(cancel_outcome, NewRequest) and cancel_outcome.txn is not outcome.txn  # its own txn
    other = reparse(build_cancel(make_invite()))
    assert layer.find_invite_for_cancel(other, UAC) is None  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# RFC 2543 fallback matching (§17.2.3 second half; RFC 4475 inv2543 and badbranch)
# ----------------------------------------------------------------------------------------------------
INV2543 = (
    b"INVITE sip:UserB@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP iftgw.example.com\r\n"
    b"From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
    b"Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r\n"
    b"To: sip:+16505552222@ss1.example.net;user=phone\r\n"
    b"Call-ID: inv2543.1717@ift.client.example.com\r\n"
    b"CSeq: 56 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0\r\n"
)

BADBRANCH = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.org;tag=33242\r\n"
    b"Max-Forwards: 3\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n"
    b"Accept: application/sdp\r\n"
    b"Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n"
)

GW = Endpoint("udp", "192.0.2.5", 5060)


def parse_request(data: bytes) -> SipRequest:
    msg = parse_message(data)
    assert isinstance(msg, SipRequest)
    return msg


def test_rfc2543_invite_retransmission_486_ack_and_cancel() -> None:
    layer = TransactionLayer()
    first = layer.on_request(parse_request(INV2543), GW, 0.0)
    assert isinstance(first, NewRequest)
    txn = first.txn
    assert txn.response_destination == GW  # no port in the Via: 5060, at the source address
    assert layer.on_request(parse_request(INV2543), GW, 0.2) == Retransmission(txn)
    cancel = parse_request(build_cancel(parse_request(INV2543)).serialize())
    assert layer.find_invite_for_cancel(cancel, GW) is txn

    resp = build_response(txn.request, 486, to_tag="b2bua")
    layer.respond(txn, resp, 0.5)
    assert state(txn) is S.COMPLETED
    # the RFC 2543 ACK: same Via (no branch), the To tag of our response
    ack = parse_request(build_ack(parse_request(INV2543), resp).serialize())
    assert ack.top_via.branch is None
    assert layer.on_request(ack, GW, 0.6) == AckAbsorbed(txn)
    assert state(txn) is S.CONFIRMED
    # an ACK with another To tag does not match the transaction
    wrong = parse_request(
        build_ack(parse_request(INV2543), build_response(txn.request, 486, to_tag="zz")).serialize()
    )
    assert isinstance(layer.on_request(wrong, GW, 0.7), StrayAck)
    run_alone(layer, 40.0)
    assert len(layer) == 0 and not layer._aliases


def test_badbranch_falls_back_and_never_conflates_requests() -> None:
    layer = TransactionLayer()
    first = layer.on_request(parse_request(BADBRANCH), UAC, 0.0)
    assert isinstance(first, NewRequest)
    assert layer.on_request(parse_request(BADBRANCH), UAC, 0.1) == Retransmission(first.txn)
    other = parse_request(BADBRANCH.replace(b"Call-ID: badbranch.", b"Call-ID: other."))
    second = layer.on_request(other, UAC, 0.2)
    assert isinstance(second, NewRequest) and second.txn is not first.txn
    assert layer.server_count == 2


def test_send_request_requires_a_magic_cookie_branch() -> None:
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("OPTIONS", branch="z9hG4bK"), UAS, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("OPTIONS", branch="abc"), UAS, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("ACK"), UAS, 0.0)
    req = make_request("OPTIONS")
    layer.send_request(req, UAS, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(req, UAS, 0.0)


def test_respond_rejects_impossible_status() -> None:
    layer = TransactionLayer()
    outcome = layer.on_request(reparse(make_request("OPTIONS")), UAC, 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, NewRequest)
    with pytest.raises(LocalProtocolError):
        layer.respond(outcome.txn, SipResponse(42, "Nope"), 0.0)


def test_new_branch_is_unique_and_well_formed() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    for b in branches:
        assert b.startswith("z9hG4bK") and len(b) >= 7 + 16
        assert all(c.isalnum() or c in "-_" for c in b)


# ----------------------------------------------------------------------------------------------------
# 2xx: retransmitted by the UAS core until ACK (§13.3.1.4), passed up in the client's Accepted (RFC 6026)
# ----------------------------------------------------------------------------------------------------
def _accepted_invite(layer: TransactionLayer) -> tuple[SipRequest, SipResponse]:
    invite = reparse(make_invite())
    assert isinstance(invite, SipRequest)
    outcome = layer.on_request(invite, UAC, 0.0)
    assert isinstance(outcome, NewRequest)
    resp = build_response(invite, 200, to_tag="x")
    layer.respond(outcome.txn, resp, 0.0)
    layer.start_2xx_retransmission(resp, outcome.txn.response_destination, 0.0)
    return invite, resp


def test_2xx_retransmitted_until_timeout() -> None:
    layer = TransactionLayer()
    _, resp = _accepted_invite(layer)
    log = run_alone(layer, 100.0)
    sends = [(t, d) for t, d in log if isinstance(d, bytes)]
    assert [t for t, _ in sends] == [0, 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(d is sends[1][1] for _, d in sends[1:])  # the 200, serialized once
    events = [(t, e) for t, e in log if not isinstance(e, bytes)]
    assert events == [(32.0, AckTimedOut(resp.call_id, resp.cseq.number, resp))]
    assert len(layer) == 0 and layer.pending_2xx == 0 and layer.pending_timers == 0


def test_2xx_retransmission_stops_at_ack() -> None:
    layer = TransactionLayer()
    invite, resp = _accepted_invite(layer)
    layer.pop_outgoing()
    log = run_alone(layer, 2.0)
    assert [t for t, d in log if isinstance(d, bytes)] == [0.5, 1.5]
    ack = reparse(ack_for_2xx(invite, resp))
    assert layer.on_request(ack, UAC, 2.0) == StrayAck(ack)  # type: ignore[arg-type]
    assert layer.pending_2xx == 0
    log = run_alone(layer, 100.0)
    assert log == []  # no more retransmissions, no AckTimedOut
    assert not layer.ack_received(resp.call_id, resp.cseq.number)


def test_client_accepted_passes_2xx_retransmissions_and_forks() -> None:
    layer = TransactionLayer()
    invite = make_invite()
    txn = layer.send_request(invite, UAS, 0.0)
    ok_a = response(invite, 200, to_tag="a")
    assert layer.on_response(ok_a, UAS, 0.1) == ResponseMatch(txn, ok_a)
    assert state(txn) is S.ACCEPTED
    assert layer.on_response(ok_a, UAS, 0.6) == ResponseMatch(txn, ok_a)  # retransmission: TU re-ACKs
    ok_b = response(invite, 200, to_tag="b")
    assert layer.on_response(ok_b, UAS, 0.7) == ResponseMatch(txn, ok_b)  # another fork
    assert layer.on_response(response(invite, 486), UAS, 0.8) is None
    assert layer.on_response(response(invite, 180), UAS, 0.9) is None
    run_alone(layer, 40.0)  # Timer M
    assert len(layer) == 0
    late = response(invite, 200, to_tag="c")
    assert layer.on_response(late, UAS, 41.0) == StrayResponse(late)
    assert layer.on_response(response(invite, 180), UAS, 41.0) is None  # other strays: dropped


# ----------------------------------------------------------------------------------------------------
# Memory: nothing survives completed transactions
# ----------------------------------------------------------------------------------------------------
def test_layers_hold_nothing_after_many_complete_transactions() -> None:
    def uas_tu(node: Node, outcome: Observed, now: float) -> None:
        if isinstance(outcome, NewRequest):
            txn = outcome.txn
            status = {"OPTIONS": 200, "INVITE": 200 if txn.request.cseq.number % 4 == 1 else 486}[txn.method]
            uas_answering(status)(node, outcome, now)

    net, uac, uas = pair(uas_tu)
    n = 300
    for i in range(n):

        def start(now: float, i: int = i) -> None:
            uac.layer.send_request(make_request("INVITE" if i % 2 else "OPTIONS", cseq=i), UAS, now)

        net.call_at(i * 0.01, start)
    net.run_until(5.0)
    assert len(uas.of_type(NewRequest)) == n
    assert len([o for o in uac.of_type(ResponseMatch) if o.response.status >= 200]) == n  # type: ignore[union-attr]
    assert len(uac.layer) > 0
    net.run_until(100.0)
    assert_empty(uac, uas)


# ----------------------------------------------------------------------------------------------------
# Property: under loss, duplication and reordering every transaction completes correctly
# ----------------------------------------------------------------------------------------------------
def expected_status(i: int) -> tuple[str, int]:
    return [("OPTIONS", 200), ("INVITE", 200), ("INVITE", 486), ("REGISTER", 403)][i % 4]


@pytest.mark.parametrize("seed", range(1, 21))
def test_all_transactions_complete_under_loss_duplication_and_reordering(seed: int) -> None:
    wire = LossyWire(seed, drop=0.2, duplicate=0.2, reorder=0.3, max_extra_delay=0.3)
    created: Counter[str] = Counter()

    def uas_tu(node: Node, outcome: Observed, now: float) -> None:
        if not isinstance(outcome, NewRequest):
            return
        txn = outcome.txn
        created[txn.request.call_id] += 1
        i = txn.request.cseq.number
        _, status = expected_status(i)
        tag = f"uas{i}"
        if txn.method == "INVITE":
            node.layer.respond(txn, build_response(txn.request, 180, to_tag=tag), now)

        def answer(t: float) -> None:
            resp = build_response(txn.request, status, to_tag=tag)
            node.layer.respond(txn, resp, t)
            if txn.method == "INVITE" and status == 200:
                node.layer.start_2xx_retransmission(resp, txn.response_destination, t)

        net.call_at(now + 0.2 + (i % 5) * 0.1, answer)

    net, uac, uas = pair(uas_tu, wire=wire)
    n = 100
    txns: dict[int, ClientTransaction] = {}
    for i in range(n):
        method, _ = expected_status(i)

        def start(now: float, i: int = i, method: str = method) -> None:
            txns[i] = uac.layer.send_request(make_request(method, cseq=i, call_id=f"c{i}"), UAS, now)

        net.call_at(i * 0.05, start)
    net.run_until(100.0)  # the last timers (J, L, M, D) run out

    assert wire.dropped > 0
    finals: dict[int, list[int]] = {}
    for o in uac.of_type(ResponseMatch):
        assert isinstance(o, ResponseMatch)
        if o.response.status >= 200:
            finals.setdefault(o.response.cseq.number, []).append(o.response.status)
    for i in range(n):
        method, status = expected_status(i)
        got = finals.get(i)
        assert got, f"transaction {i} ({method}) got no final response"
        assert set(got) == {status}
        if not (method == "INVITE" and status == 200):
            assert len(got) == 1, f"{method} {i}: the final was passed up {len(got)} times"
    assert set(created.values()) == {1} and len(created) == n  # each request reached the TU exactly once
    for node in (uac, uas):
        bad = [o for o in node.of_type(ClientTimedOut)] + [o for o in node.of_type(ServerTimedOut)]
        bad += [o for o in node.of_type(AckTimedOut)]
        assert bad == [], f"{node.name}: {bad}"
    assert_empty(uac, uas)
    assert all(state(t) is S.TERMINATED for t in txns.values())


def test_inputs_cover_every_timer() -> None:
    names = {i.name for i in Input}
    for letter in "ABDEFGHIJKLM":
        assert f"TIMER_{letter}" in names


# ------------------------------------------------------------------------------------------------------------
# Robustness: every torture message either goes through the layer or raises RemoteProtocolError
# ------------------------------------------------------------------------------------------------------------
TORTURE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "torture"


def torture_messages() -> list[Path]:
    return sorted(TORTURE.glob("*/*.dat")) if TORTURE.is_dir() else []


@pytest.mark.skipif(not torture_messages(), reason="shared torture corpus not found")
def test_torture_corpus_never_crashes_the_layer() -> None:
    layer = TransactionLayer()
    handled = 0
    for path in torture_messages():
        data = path.read_bytes()
        try:
            msg = parse_message(data)
        except RemoteProtocolError:
            continue
        try:
            if isinstance(msg, SipRequest):
                outcome = layer.on_request(msg, UAC, 0.0)
                if isinstance(outcome, NewRequest) and msg.method != "ACK":
                    layer.respond(outcome.txn, build_response(msg, 486, to_tag="t"), 0.0)
                    layer.on_request(parse_request(data), UAC, 0.1)  # its retransmission
                    layer.find_invite_for_cancel(msg, UAC)
            else:
                layer.on_response(msg, UAS, 0.0)
            handled += 1
        except RemoteProtocolError:
            continue
    assert handled > 30
    run_alone(layer, 100.0)
    assert len(layer) == 0 and layer.pending_timers == 0


def test_request_without_via_raises_remote_protocol_error() -> None:
    layer = TransactionLayer()
    req = make_request("OPTIONS")
    req.headers.remove("Via")
    with pytest.raises(RemoteProtocolError):
        layer.on_request(req, UAC, 0.0)


def test_a_transport_failure_ends_what_waited_for_that_destination_at_once() -> None:
    """RFC 3261 §17.1.4: a refused TCP connection fails the INVITE and the OPTIONS sent there now, not at
    Timer B/F; a request to another address, and one that already had a response, are left alone."""
    layer = TransactionLayer()
    via = Endpoint("tcp", UAC.host, UAC.port)
    invite = layer.send_request(make_invite(via=via), UAS_TCP, 0.0)
    options = layer.send_request(make_request("OPTIONS", via=via), UAS_TCP, 0.0)
    elsewhere = layer.send_request(make_invite(via=via), Endpoint("tcp", "192.0.2.3", 5060), 0.0)
    answered = layer.send_request(make_invite(via=via), UAS_TCP, 0.0)
    layer.on_response(reparse(build_response(answered.request, 180, "Ringing", to_tag="t")), UAS_TCP, 0.0)
    assert layer.transport_failed(Endpoint("udp", UAS.host, UAS.port), 0.1) == []  # another transport
    events = layer.transport_failed(UAS_TCP, 0.1)
    assert events == [ClientTimedOut(invite), ClientTimedOut(options)]
    assert invite.state is S.TERMINATED and options.state is S.TERMINATED
    assert elsewhere.state is S.CALLING and answered.state is S.PROCEEDING
    assert layer.client_count == 2
    assert layer.transport_failed(UAS_TCP, 0.2) == []  # reported once


def test_a_lost_connection_also_ends_what_had_a_provisional_answer() -> None:
    """The connection to the UAS closed (a killed voicemail worker): the INVITE that had its 100/180 fails
    now too, as does one that heard nothing; one that got its final answer, and one elsewhere, stay."""
    layer = TransactionLayer()
    via = Endpoint("tcp", UAC.host, UAC.port)
    ringing = layer.send_request(make_invite(via=via), UAS_TCP, 0.0)
    layer.on_response(reparse(build_response(ringing.request, 180, "Ringing", to_tag="t")), UAS_TCP, 0.0)
    silent = layer.send_request(make_request("OPTIONS", via=via), UAS_TCP, 0.0)
    refused = layer.send_request(make_invite(via=via), UAS_TCP, 0.0)
    layer.on_response(reparse(build_response(refused.request, 486, "Busy Here", to_tag="b")), UAS_TCP, 0.0)
    elsewhere = layer.send_request(make_invite(via=via), Endpoint("tcp", "192.0.2.3", 5060), 0.0)
    events = layer.transport_failed(UAS_TCP, 0.1, provisional_too=True)
    assert events == [ClientTimedOut(ringing), ClientTimedOut(silent)]
    assert ringing.state is S.TERMINATED and silent.state is S.TERMINATED
    assert elsewhere.state is S.CALLING and ClientTimedOut(refused) not in events
