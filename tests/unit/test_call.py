"""The two-leg call machine: forking, first 2xx wins, CANCEL with Reason, late 2xx ACK+BYE, hang-ups, relays."""

from __future__ import annotations

from sipserver.address import Endpoint
from sipserver.b2bua.call import (
    CALL_COMPLETED_ELSEWHERE,
    Action,
    Call,
    CallEnded,
    CallState,
    LocalAddress,
    Party,
    Respond,
    RingingEnded,
    SendAck,
    SendRequest,
    Stage,
    Target,
)
from sipserver.message import SipRequest, SipResponse, build_response
from sipserver.parser import parse_message
from sipserver.transaction import TransactionLayer

A_SOURCE = Endpoint("udp", "127.0.0.1", 6001)
B1 = Endpoint("udp", "127.0.0.1", 6002)
B2 = Endpoint("udp", "127.0.0.1", 6003)
LOCAL = LocalAddress("127.0.0.1", 5060)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def a_invite(body: bytes = SDP) -> SipRequest:
    text = (
        "INVITE sip:202@callconnect.local SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-a1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:201@callconnect.local>;tag=caller\r\n"
        "To: <sip:202@callconnect.local>\r\n"
        "Call-ID: a-call\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:201@127.0.0.1:6001>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    message = parse_message(text.encode() + body)
    assert isinstance(message, SipRequest)
    return message


def new_call(body: bytes = SDP) -> tuple[Call, TransactionLayer]:
    layer = TransactionLayer()
    invite = a_invite(body)
    outcome = layer.on_request(invite, A_SOURCE, 0.0)
    txn = outcome.txn  # type: ignore[union-attr]
    call = Call.create(a_invite=invite, a_txn=txn, a_source=A_SOURCE, local=LOCAL,
                       caller=Party('"Jean" <sip:201@callconnect.local>'), caller_user_id="u201", now=0.0)
    return call, layer


def targets(*destinations: Endpoint) -> tuple[Target, ...]:
    return tuple(Target(request_uri=f"sip:202@{d.host}:{d.port}", destination=d,
                        to_uri="<sip:202@callconnect.local>", user_id="u202") for d in destinations)


def sent(actions: list[Action], purpose: str) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest) and a.context.purpose == purpose]


def answer(request: SipRequest, status: int, tag: str, body: bytes = b"") -> SipResponse:
    headers = [("Contact", f"<sip:202@127.0.0.1:{6000 + len(tag)}>")]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return build_response(request, status, to_tag=tag, headers=headers, body=body)


def test_fork_first_answer_wins_and_others_are_cancelled_with_reason() -> None:
    call, _ = new_call()
    actions = call.ring([Stage(targets(B1, B2))], now=0.0)
    invites = sent(actions, "invite")
    assert [i.destination for i in invites] == [B1, B2]
    assert all(i.request.body == SDP for i in invites)
    leg1, leg2 = (i.context for i in invites)
    # both ring; the caller hears one 180 per ringing leg
    ringing = call.on_response(leg1, answer(invites[0].request, 180, "t1"), 1.0)
    assert [a.response.status for a in ringing if isinstance(a, Respond)] == [180]
    call.on_response(leg2, answer(invites[1].request, 180, "t2"), 1.0)
    # leg 2 answers
    actions = call.on_response(leg2, answer(invites[1].request, 200, "t2", SDP), 2.0)
    cancels = sent(actions, "cancel")
    assert len(cancels) == 1 and cancels[0].destination == B1
    assert cancels[0].request.headers.get("Reason") == CALL_COMPLETED_ELSEWHERE
    acks = [a for a in actions if isinstance(a, SendAck)]
    assert len(acks) == 1 and acks[0].destination == B2
    [ok] = [a for a in actions if isinstance(a, Respond)]
    assert ok.response.status == 200 and ok.retransmit_until_ack and ok.response.body == SDP
    assert call.state is CallState.ANSWERED and call.winner is leg2.leg


def test_late_2xx_from_losing_fork_is_acked_and_byed() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 200, "t1", SDP), 1.0)
    actions = call.on_response(invites[1].context, answer(invites[1].request, 200, "t2", SDP), 1.1)
    assert [a.destination for a in actions if isinstance(a, SendAck)] == [B2]
    byes = sent(actions, "bye")
    assert len(byes) == 1 and byes[0].destination == B2


def test_all_busy_gives_486_and_ends() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 486, "t1"), 1.0)
    actions = call.on_response(invites[1].context, answer(invites[1].request, 486, "t2"), 1.0)
    [final] = [a for a in actions if isinstance(a, Respond)]
    assert final.response.status == 486
    assert any(isinstance(a, CallEnded) for a in actions)


def test_decline_6xx_cancels_the_other_legs() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0), "invite")
    call.on_response(invites[1].context, answer(invites[1].request, 180, "t2"), 0.5)
    actions = call.on_response(invites[0].context, answer(invites[0].request, 603, "t1"), 1.0)
    assert [c.destination for c in sent(actions, "cancel")] == [B2]
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [603]


def test_caller_cancel_gives_487_and_cancels_every_leg() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 180, "t1"), 0.5)
    actions = call.on_a_cancel(1.0)
    assert len(sent(actions, "cancel")) == 1
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [487]
    assert call.state is CallState.ENDED


def test_no_answer_stage_moves_on_then_times_out_with_408() -> None:
    call, _ = new_call()
    call.overall_limit = 60.0
    stages = [Stage(targets(B1), ring_seconds=15.0), Stage(targets(B2))]
    first = sent(call.ring(stages, now=0.0), "invite")
    call.on_response(first[0].context, answer(first[0].request, 180, "t1"), 1.0)
    assert call.next_deadline() == 16.0
    actions = call.on_timer(16.0)
    assert [c.destination for c in sent(actions, "cancel")] == [B1]
    assert [i.destination for i in sent(actions, "invite")] == [B2]
    actions = call.on_timer(60.0)
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [408]


def test_bye_from_caller_hangs_up_the_callee() -> None:
    call, layer = new_call()
    invites = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 200, "t1", SDP), 1.0)
    ack = a_invite()
    ack.method = "ACK"
    ack.headers.set("CSeq", "1 ACK")
    call.on_a_ack(ack, 1.1)
    assert call.state is CallState.CONFIRMED
    bye = a_invite(b"")
    bye.method = "BYE"
    bye.headers.set("CSeq", "2 BYE")
    bye.headers.set("To", f"<sip:202@callconnect.local>;tag={call.a_tag}")
    txn = layer.on_request(bye, A_SOURCE, 2.0).txn  # type: ignore[union-attr]
    actions = call.on_a_request(bye, txn, 2.0)
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [200]
    assert [b.destination for b in sent(actions, "bye")] == [B1]
    assert any(isinstance(a, CallEnded) for a in actions)


def test_late_offer_acks_the_callee_with_the_callers_answer() -> None:
    call, _ = new_call(body=b"")
    invites = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    assert invites[0].request.body == b""
    actions = call.on_response(invites[0].context, answer(invites[0].request, 200, "t1", SDP), 1.0)
    assert not [a for a in actions if isinstance(a, SendAck)]
    ack = a_invite(SDP)
    ack.method = "ACK"
    ack.headers.set("CSeq", "1 ACK")
    [b_ack] = [a for a in call.on_a_ack(ack, 1.2) if isinstance(a, SendAck)]
    assert b_ack.request.body == SDP and b_ack.destination == B1


def test_trunk_challenge_is_answered_once_with_our_credentials() -> None:
    from sipserver.b2bua.uac_auth import ClientCredentials
    from sipserver.digest import DigestAuthenticator, parse_credentials

    call, _ = new_call()
    trunk = Target(request_uri="sip:+3225551234@127.0.0.1:5090;user=phone", destination=B1,
                   to_uri="<sip:+3225551234@127.0.0.1;user=phone>",
                   credentials=ClientCredentials("acme", "s3cret", "carrier.example"))
    [invite] = sent(call.ring([Stage((trunk,))], now=0.0), "invite")
    carrier = DigestAuthenticator(b"k" * 32)
    challenge = build_response(invite.request, 407, to_tag="c1",
                               headers=carrier.challenge_headers("carrier.example", 0.0, proxy=True))
    [retry] = sent(call.on_response(invite.context, challenge, 0.1), "invite")
    assert retry.request.cseq.number == 2
    assert retry.request.top_via.branch != invite.request.top_via.branch
    assert retry.request.call_id == invite.request.call_id
    creds = parse_credentials(retry.request.headers.get("Proxy-Authorization") or "")
    assert creds is not None and creds.username == "acme"
    # a second challenge is a failure, not a loop
    again = build_response(retry.request, 407, to_tag="c2",
                           headers=carrier.challenge_headers("carrier.example", 0.2, proxy=True))
    actions = call.on_response(retry.context, again, 0.2)
    assert not sent(actions, "invite")
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [403]


def test_reliable_provisional_from_callee_is_pracked_once_and_relayed_once() -> None:
    call, _ = new_call()
    [invite] = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    assert "100rel" in (invite.request.headers.get("Supported") or "")
    ringing = build_response(invite.request, 183, to_tag="t1",
                             headers=[("Require", "100rel"), ("RSeq", "7"), ("Contact", "<sip:202@127.0.0.1:6002>"),
                                      ("Content-Type", "application/sdp")], body=SDP)
    actions = call.on_response(invite.context, ringing, 0.5)
    [prack] = sent(actions, "prack")
    assert prack.request.headers.get("RAck") == "7 1 INVITE"
    assert prack.request.uri == "sip:202@127.0.0.1:6002"
    assert prack.request.to.tag == "t1"
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [183]
    again = call.on_response(invite.context, ringing, 1.0)
    assert not sent(again, "prack") and not [a for a in again if isinstance(a, Respond)]


def _confirmed_call() -> tuple[Call, TransactionLayer, SendRequest]:
    call, layer = new_call()
    [invite] = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    call.on_response(invite.context, answer(invite.request, 200, "t1", SDP), 1.0)
    ack = a_invite()
    ack.method = "ACK"
    ack.headers.set("CSeq", "1 ACK")
    call.on_a_ack(ack, 1.1)
    return call, layer, invite


def _in_dialog_from_a(call: Call, method: str, cseq: int, body: bytes = b"") -> SipRequest:
    request = a_invite(body)
    request.method = method
    request.headers.set("CSeq", f"{cseq} {method}")
    request.headers.set("To", f"<sip:202@callconnect.local>;tag={call.a_tag}")
    request.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-a{cseq}{method}")
    return request


HOLD_SDP = SDP + b"a=sendonly\r\n"


def test_hold_reinvite_from_caller_is_relayed_and_its_answer_comes_back() -> None:
    call, layer, _ = _confirmed_call()
    reinvite = _in_dialog_from_a(call, "INVITE", 2, HOLD_SDP)
    txn = layer.on_request(reinvite, A_SOURCE, 2.0).txn  # type: ignore[union-attr]
    [relay] = sent(call.on_a_request(reinvite, txn, 2.0), "relay")
    assert relay.destination == B1 and relay.request.body == HOLD_SDP
    assert relay.request.to.tag == "t1" and relay.request.uri == "sip:202@127.0.0.1:6002"
    answer_sdp = SDP + b"a=recvonly\r\n"
    ok = build_response(relay.request, 200, headers=[("Content-Type", "application/sdp")], body=answer_sdp)
    [back] = [a for a in call.on_response(relay.context, ok, 2.1) if isinstance(a, Respond)]
    assert back.txn is txn and back.response.status == 200 and back.response.body == answer_sdp
    assert back.retransmit_until_ack
    # the caller's ACK for the re-INVITE goes on to the callee with the callee-side CSeq
    ack = _in_dialog_from_a(call, "ACK", 2)
    [b_ack] = [a for a in call.on_a_ack(ack, 2.2) if isinstance(a, SendAck)]
    assert b_ack.request.cseq.number == relay.request.cseq.number and b_ack.request.cseq.method == "ACK"


def test_info_from_callee_is_relayed_to_the_caller() -> None:
    call, layer, invite = _confirmed_call()
    leg = invite.context.leg
    assert leg is not None and leg.dialog is not None
    info = leg.dialog.new_request("INFO", via="SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bK-binfo",
                                  body=b"Signal=5\r\n", content_type="application/dtmf-relay")
    # from the callee's point of view From/To are swapped
    info.headers.set("From", f"<sip:202@callconnect.local>;tag={leg.dialog.remote_tag}")
    info.headers.set("To", f"{leg.dialog.local_uri};tag={leg.dialog.local_tag}")
    info.headers.set("CSeq", "5 INFO")
    txn = layer.on_request(info, B1, 3.0).txn  # type: ignore[union-attr]
    [relay] = sent(call.on_b_request(leg, info, txn, 3.0), "relay")
    assert relay.destination == A_SOURCE and relay.request.body == b"Signal=5\r\n"
    assert relay.request.headers.get("Content-Type") == "application/dtmf-relay"
    assert relay.request.to.tag == "caller" and relay.request.from_.tag == call.a_tag


def test_bye_crossing_a_reinvite_ends_the_call_and_the_reinvite_still_gets_an_answer() -> None:
    call, layer, invite = _confirmed_call()
    reinvite = _in_dialog_from_a(call, "INVITE", 2, HOLD_SDP)
    txn = layer.on_request(reinvite, A_SOURCE, 2.0).txn  # type: ignore[union-attr]
    [relay] = sent(call.on_a_request(reinvite, txn, 2.0), "relay")
    leg = invite.context.leg
    assert leg is not None and leg.dialog is not None
    bye = leg.dialog.new_request("BYE", via="SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bK-bbye")
    bye.headers.set("From", f"<sip:202@callconnect.local>;tag={leg.dialog.remote_tag}")
    bye.headers.set("To", f"{leg.dialog.local_uri};tag={leg.dialog.local_tag}")
    bye.headers.set("CSeq", "9 BYE")
    bye_txn = layer.on_request(bye, B1, 2.05).txn  # type: ignore[union-attr]
    actions = call.on_b_request(leg, bye, bye_txn, 2.05)
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [200]
    assert [b.destination for b in sent(actions, "bye")] == [A_SOURCE]
    assert call.state is CallState.ENDED
    # the callee answers the crossed re-INVITE 481; the caller still gets an answer to its re-INVITE
    gone = build_response(relay.request, 481)
    [back] = [a for a in call.on_response(relay.context, gone, 2.1) if isinstance(a, Respond)]
    assert back.txn is txn and back.response.status == 481


def test_an_established_call_whose_callee_vanished_is_ended_on_both_sides() -> None:
    call, _, _ = _confirmed_call()
    assert call.next_deadline() == 1.1 + call.probe_interval
    assert call.on_timer(100.0) == []
    probes = sent(call.on_timer(1.1 + call.probe_interval), "probe")
    assert sorted(p.destination.port for p in probes) == [6001, 6002]
    assert all(p.request.method == "OPTIONS" for p in probes)
    b_probe = next(p for p in probes if p.destination == B1)
    gone = build_response(b_probe.request, 481)
    actions = call.on_response(b_probe.context, gone, 302.0)
    assert [b.destination for b in sent(actions, "bye")] == [A_SOURCE, B1]
    assert call.state is CallState.ENDED


def test_a_live_call_keeps_probing() -> None:
    call, _, _ = _confirmed_call()
    probes = sent(call.on_timer(1.1 + call.probe_interval), "probe")
    fine = build_response(probes[0].request, 200)
    assert call.on_response(probes[0].context, fine, 302.0) == []
    assert call.state is CallState.CONFIRMED and call.next_deadline() == 1.1 + 2 * call.probe_interval


# -- the shell decides what follows the last stage (feature engine fallbacks) --------------------------------
def ringing_ended(actions: list[Action]) -> list[RingingEnded]:
    return [a for a in actions if isinstance(a, RingingEnded)]


def test_all_legs_busy_asks_the_shell_and_continue_with_rings_a_new_stage() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0, ask_when_done=True), "invite")
    first = call.on_response(invites[0].context, answer(invites[0].request, 486, "b1"), 1.0)
    assert not ringing_ended(first) and call.state is CallState.RINGING
    last = call.on_response(invites[1].context, answer(invites[1].request, 486, "b2"), 1.1)
    assert ringing_ended(last) == [RingingEnded(busy=True, status=486)]
    assert not [a for a in last if isinstance(a, Respond)], "the caller is not answered yet"
    forward = sent(call.continue_with([Stage(targets(B2), ring_seconds=10.0)], 1.2), "invite")
    assert [i.destination for i in forward] == [B2]
    answered = call.on_response(forward[0].context, answer(forward[0].request, 200, "b3", SDP), 2.0)
    assert [a.response.status for a in answered if isinstance(a, Respond)] == [200]


def test_stage_timer_ends_as_no_answer_and_cancels_the_ringing_legs() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1), ring_seconds=15.0)], now=0.0, ask_when_done=True), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 180, "b1"), 1.0)
    assert call.next_deadline() == 16.0  # counted from the first ringing, not from the INVITE
    actions = call.on_timer(16.0)
    assert len(sent(actions, "cancel")) == 1
    assert ringing_ended(actions) == [RingingEnded(busy=False, status=480)]


def test_a_decline_is_busy_for_the_shell() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0, ask_when_done=True), "invite")
    actions = call.on_response(invites[0].context, answer(invites[0].request, 603, "b1"), 1.0)
    assert len(sent(actions, "cancel")) == 1  # the other fork stops
    assert ringing_ended(actions) == [RingingEnded(busy=True, status=603)]


def test_without_asking_the_end_of_the_stages_fails_the_caller_as_before() -> None:
    call, _ = new_call()
    invites = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    actions = call.on_response(invites[0].context, answer(invites[0].request, 486, "b1"), 1.0)
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [486]
    assert not ringing_ended(actions)


def test_answer_here_then_hang_up_after_the_ack() -> None:
    """A feature code's confirmation: answered by us (no B leg), released by our BYE a moment after the ACK."""
    call, _ = new_call()
    actions = call.answer_here(SDP, "application/sdp", 0.0, hang_up_after=1.5)
    (respond,) = [a for a in actions if isinstance(a, Respond)]
    assert respond.response.status == 200 and respond.retransmit_until_ack and respond.response.body == SDP
    assert call.state is CallState.ANSWERED and call.next_deadline() is None
    ack = parse_message(
        b"ACK sip:b2bua@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-ack\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:201@callconnect.local>;tag=caller\r\n"
        b"To: <sip:202@callconnect.local>;tag=" + call.a_tag.encode() + b"\r\nCall-ID: a-call\r\nCSeq: 1 ACK\r\n"
        b"Content-Length: 0\r\n\r\n")
    assert isinstance(ack, SipRequest)
    call.on_a_ack(ack, 0.2)
    assert call.next_deadline() == 1.7
    ended = call.on_timer(1.7)
    assert [a.request.method for a in sent(ended, "bye")] == ["BYE"]
    assert call.state is CallState.ENDED and any(isinstance(a, CallEnded) for a in ended)
