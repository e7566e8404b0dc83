"""Click-to-dial (RFC 3725 Flow III): the user's phones first, then a `Call` whose A leg is the answered phone.

The session and a real `Call` are driven together with a fake clock, through the same rule as the shell: what
the `Call` answers its virtual A leg goes to `ClickToDial.on_call_response`. Every message the phones and the
target would get is serialized and parsed again.
"""

from __future__ import annotations

from sipserver.address import Endpoint
from sipserver.b2bua.call import (
    CALL_COMPLETED_ELSEWHERE,
    Call,
    CallEnded,
    CallState,
    LocalAddress,
    Party,
    Respond,
    SendAck,
    SendRequest,
    Stage,
    Target,
)
from sipserver.b2bua.cdr import Presentation, call_log_rows
from sipserver.b2bua.click_to_dial import (
    AUTO_ANSWER_ALERT_INFO,
    ClickAction,
    ClickToDial,
    Phase,
    SendToPhone,
    SessionEnded,
    UserAnswered,
    detached_transaction,
    our_origin,
)
from sipserver.message import SipRequest, SipResponse, build_response
from sipserver.parser import parse_message
from sipserver.transaction import TransactionLayer

PHONE1 = Endpoint("udp", "127.0.0.1", 7001)
PHONE2 = Endpoint("tcp", "127.0.0.1", 7002)
TARGET = Endpoint("udp", "127.0.0.1", 7202)
LOCAL = LocalAddress("127.0.0.1", 5060)
PHONE_OFFER = (b"v=0\r\no=jean 11 11 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               b"m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")
TARGET_OFFER = (b"v=0\r\no=marie 22 22 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 4100 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
PHONE_ANSWER = (b"v=0\r\no=jean 11 12 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")


def phase(c2d: ClickToDial) -> Phase:
    return c2d.phase


def state(call: Call) -> CallState:
    return call.state


def reparse(request: SipRequest) -> SipRequest:
    message = parse_message(request.serialize())
    assert isinstance(message, SipRequest)
    return message


def phones(*where: Endpoint) -> tuple[Target, ...]:
    return tuple(Target(request_uri=f"sip:201@{e.host}:{e.port};ob", destination=e,
                        to_uri='"Jean Dupont" <sip:201@callconnect.local>', user_id="u201") for e in where)


def session(*where: Endpoint) -> ClickToDial:
    return ClickToDial(user_id="u201", number="202", phones=phones(*where),
                       shown_as=Party('"Marie Martin" <sip:202@callconnect.local>'), local=LOCAL, started_at=0.0,
                       session_id=1000)


def reply(request: SipRequest, status: int, tag: str, body: bytes = b"", port: int = 7001) -> SipResponse:
    headers = [("Contact", f"<sip:201@127.0.0.1:{port};ob>")]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    response = parse_message(build_response(request, status, to_tag=tag, headers=headers, body=body).serialize())
    assert isinstance(response, SipResponse)
    return response


def to_phone(actions: list[ClickAction], purpose: str) -> list[SendToPhone]:
    return [a for a in actions if isinstance(a, SendToPhone) and a.context.purpose == purpose]


def to_target(actions: list[ClickAction], purpose: str) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest) and a.context.purpose == purpose]


def through(c2d: ClickToDial, actions: list[ClickAction], now: float) -> list[ClickAction]:
    """What the shell does: the Call's answers to its virtual A leg go to the session."""
    out: list[ClickAction] = []
    pending = list(actions)
    while pending:
        action = pending.pop(0)
        if isinstance(action, Respond) and c2d.call is not None and action.txn is c2d.call.a_txn:
            pending.extend(c2d.on_call_response(action.response, now))
            continue
        out.append(action)
    return out


def answered_by_phone(c2d: ClickToDial, now: float = 1.0) -> tuple[SendToPhone, list[ClickAction], Call]:
    """Start, let the first phone answer with its offer, build the Call like the shell and ring the target."""
    [invite] = to_phone(c2d.start(0.0), "invite")
    actions = c2d.on_response(invite.context, reply(invite.request, 200, "ph1", PHONE_OFFER), now)
    [answered] = [a for a in actions if isinstance(a, UserAnswered)]
    a_invite = answered.a_invite
    call = Call(a_invite=a_invite, a_txn=detached_transaction(a_invite, answered.a_source),
                a_source=answered.a_source, a_tag=answered.a_tag, local=LOCAL,
                caller=Party('"Jean Dupont" <sip:201@callconnect.local>'), caller_user_id="u201", overall_limit=180.0,
                started_at=now, late_offer=True)
    c2d.attach(call)
    target = Target(request_uri="sip:202@127.0.0.1:7202", destination=TARGET, to_uri="<sip:202@callconnect.local>",
                    user_id="u202", number="202", name="Marie Martin")
    ringing = through(c2d, list(call.ring([Stage((target,))], now)), now)
    return invite, actions + ringing, call


def phone_request(c2d: ClickToDial, method: str, cseq: int, body: bytes = b"") -> tuple[SipRequest, object]:
    """An in-dialog request from the answered phone, and its server transaction."""
    leg = c2d.winner
    assert leg is not None and leg.dialog is not None
    dialog = leg.dialog
    text = (f"{method} sip:b2bua@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:7001;branch=z9hG4bK-ph-{method}-{cseq}\r\n"
            f"Max-Forwards: 70\r\nFrom: {dialog.remote_uri};tag={dialog.remote_tag}\r\n"
            f"To: {dialog.local_uri};tag={dialog.local_tag}\r\nCall-ID: {dialog.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nContent-Length: {len(body)}\r\n\r\n")
    request = parse_message(text.encode() + body)
    assert isinstance(request, SipRequest)
    txn = TransactionLayer().on_request(request, PHONE1, 0.0).txn  # type: ignore[union-attr]
    return request, txn


# -- the user's phones --------------------------------------------------------------------------------------
def test_every_phone_of_the_user_gets_an_invite_without_offer_and_the_auto_answer_hints() -> None:
    c2d = session(PHONE1, PHONE2)
    invites = to_phone(c2d.start(0.0), "invite")
    assert [i.destination for i in invites] == [PHONE1, PHONE2]
    for invite in invites:
        request = reparse(invite.request)
        assert request.body == b"" and request.uri.startswith("sip:201@127.0.0.1:")
        assert request.headers.get("Alert-Info") == AUTO_ANSWER_ALERT_INFO
        assert request.headers.get("Call-Info") == "<sip:127.0.0.1>;answer-after=0"
        assert request.from_.display == "Marie Martin"  # the phone shows whom it is about to call
        assert str(request.to.uri) == "sip:201@callconnect.local"
    assert invites[0].request.call_id != invites[1].request.call_id
    assert "transport=tcp" in (invites[1].request.headers.get("Contact") or "")


def test_the_first_phone_to_answer_is_acked_on_hold_and_the_others_are_cancelled() -> None:
    c2d = session(PHONE1, PHONE2)
    first, second = to_phone(c2d.start(0.0), "invite")
    c2d.on_response(first.context, reply(first.request, 180, "ph1"), 0.5)
    actions = c2d.on_response(second.context, reply(second.request, 200, "ph2", PHONE_OFFER, port=7002), 1.0)
    [ack] = [a for a in actions if isinstance(a, SendAck)]
    assert ack.destination == PHONE2
    ack_request = reparse(ack.request)
    assert ack_request.cseq.number == 1 and ack_request.to.tag == "ph2"
    assert ack_request.uri == "sip:201@127.0.0.1:7002;ob"
    text = ack_request.body.decode()
    assert "m=audio 9 RTP/AVP 0" in text and "a=inactive" in text  # held until the target answers
    [cancel] = to_phone(actions, "cancel")
    assert cancel.destination == PHONE1 and cancel.request.headers.get("Reason") == CALL_COMPLETED_ELSEWHERE
    [answered] = [a for a in actions if isinstance(a, UserAnswered)]
    virtual = answered.a_invite
    # the INVITE the phone would have sent in this dialog: its tag in From, ours as the A tag, no body
    assert virtual.call_id == second.request.call_id and virtual.from_.tag == "ph2"
    assert answered.a_tag == second.request.from_.tag and answered.a_source == PHONE2
    assert virtual.body == b"" and virtual.request_uri.user == "202"
    assert virtual.contacts[0].uri is not None and str(virtual.contacts[0].uri) == "sip:201@127.0.0.1:7002;ob"
    assert phase(c2d) is Phase.CALLING_TARGET
    # a 2xx retransmission is ACKed again; a late 2xx from the cancelled phone is ACKed and hung up
    again = c2d.on_response(second.context, reply(second.request, 200, "ph2", PHONE_OFFER, port=7002), 1.1)
    assert [a.destination for a in again if isinstance(a, SendAck)] == [PHONE2]
    late = c2d.on_response(first.context, reply(first.request, 200, "ph1", PHONE_OFFER), 1.2)
    assert [a.destination for a in late if isinstance(a, SendAck)] == [PHONE1]
    [bye] = to_phone(late, "bye")
    assert bye.destination == PHONE1 and bye.request.headers.get("Reason") == CALL_COMPLETED_ELSEWHERE
    assert not [a for a in late if isinstance(a, UserAnswered)]


def test_phones_that_refuse_place_no_call() -> None:
    c2d = session(PHONE1, PHONE2)
    first, second = to_phone(c2d.start(0.0), "invite")
    assert not c2d.on_response(first.context, reply(first.request, 486, "ph1"), 1.0)
    actions = c2d.on_response(second.context, reply(second.request, 603, "ph2"), 1.5)
    assert [a.reason for a in actions if isinstance(a, SessionEnded)] == ["refused 603"]
    assert phase(c2d) is Phase.ENDED and c2d.call is None


def test_phones_that_do_not_answer_are_cancelled_at_the_answer_timeout() -> None:
    c2d = session(PHONE1)
    [invite] = to_phone(c2d.start(0.0), "invite")
    c2d.on_response(invite.context, reply(invite.request, 180, "ph1"), 0.2)
    assert c2d.next_deadline() == 30.0
    assert not c2d.on_timer(29.9)
    actions = c2d.on_timer(30.0)
    [cancel] = to_phone(actions, "cancel")
    assert cancel.request.method == "CANCEL" and cancel.destination == PHONE1
    assert [a.reason for a in actions if isinstance(a, SessionEnded)] == ["no answer"]
    assert c2d.next_deadline() is None
    # the phone's 487 afterwards changes nothing
    assert not c2d.on_response(invite.context, reply(invite.request, 487, "ph1"), 30.1)


# -- the call to the target ---------------------------------------------------------------------------------
def test_target_answer_reaches_the_phone_in_a_reinvite_and_the_phones_answer_reaches_the_target() -> None:
    c2d = session(PHONE1)
    _, actions, call = answered_by_phone(c2d)
    [b_invite] = to_target(actions, "invite")
    assert b_invite.destination == TARGET and b_invite.request.body == b""  # late offer: the target offers
    assert b_invite.request.headers.get("Alert-Info") is None  # the auto-answer hint is for the user's phone only
    assert reparse(b_invite.request).from_.display == "Jean Dupont"
    # ringing at the target: nothing for the phone (it is answered already)
    assert not to_phone(through(c2d, list(call.on_response(b_invite.context, reply(
        b_invite.request, 180, "tg", port=7202), 2.0)), 2.0), "reinvite")
    actions = through(c2d, list(call.on_response(b_invite.context, reply(
        b_invite.request, 200, "tg", TARGET_OFFER, port=7202), 3.0)), 3.0)
    assert not [a for a in actions if isinstance(a, SendAck)]  # the target's ACK waits for the phone's answer
    [reinvite] = to_phone(actions, "reinvite")
    request = reparse(reinvite.request)
    assert reinvite.destination == PHONE1 and request.uri == "sip:201@127.0.0.1:7001;ob"
    assert request.cseq.number == 2 and request.to.tag == "ph1"
    body = request.body.decode()
    assert "o=callconnect 1000 1001 IN IP4 127.0.0.1" in body and "m=audio 4100 RTP/AVP 8 0" in body
    assert body.replace("o=callconnect 1000 1001 IN IP4 127.0.0.1", "") == \
        TARGET_OFFER.decode().replace("o=marie 22 22 IN IP4 127.0.0.1", "")
    assert phase(c2d) is Phase.CONNECTING and state(call) is CallState.ANSWERED
    actions = through(c2d, c2d.on_response(reinvite.context, reply(reinvite.request, 200, "ph1", PHONE_ANSWER), 3.1),
                      3.1)
    acks = [a for a in actions if isinstance(a, SendAck)]
    assert [a.destination for a in acks] == [PHONE1, TARGET]
    assert reparse(acks[0].request).cseq.number == 2 and acks[0].request.body == b""
    assert acks[1].request.body == PHONE_ANSWER and reparse(acks[1].request).to.tag == "tg"
    assert phase(c2d) is Phase.BRIDGED and state(call) is CallState.CONFIRMED
    # the phone hangs up: the Call takes it like any caller's BYE and hangs up the target
    bye, txn = phone_request(c2d, "BYE", 5)
    actions = through(c2d, c2d.on_phone_request(bye, txn, 10.0), 10.0)  # type: ignore[arg-type]
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [200]
    [b_bye] = to_target(actions, "bye")
    assert b_bye.destination == TARGET
    assert any(isinstance(a, CallEnded) for a in actions)
    rows = call_log_rows(call, Presentation(caller_as_seen=("201", "Jean Dupont"), dialled=("202", "")), 0.0)
    assert {(r.user_id, r.direction) for r in rows} == {("u201", "placed"), ("u202", "received")}
    assert all(r.call_id == call.a_invite.call_id and r.answered_at == 3.0 for r in rows)


def test_the_target_hanging_up_is_a_bye_in_the_phones_own_dialog() -> None:
    c2d = session(PHONE1)
    _, actions, call = answered_by_phone(c2d)
    [b_invite] = to_target(actions, "invite")
    actions = through(c2d, list(call.on_response(b_invite.context, reply(
        b_invite.request, 200, "tg", TARGET_OFFER, port=7202), 3.0)), 3.0)
    [reinvite] = to_phone(actions, "reinvite")
    through(c2d, c2d.on_response(reinvite.context, reply(reinvite.request, 200, "ph1", PHONE_ANSWER), 3.1), 3.1)
    assert c2d.winner is not None and c2d.winner.dialog is not None
    text = (f"BYE sip:b2bua@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7202;branch=z9hG4bK-tb\r\n"
            f"From: <sip:202@callconnect.local>;tag=tg\r\nTo: {b_invite.request.headers.get('From')}\r\n"
            f"Call-ID: {b_invite.request.call_id}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n")
    bye = parse_message(text.encode())
    assert isinstance(bye, SipRequest)
    txn = TransactionLayer().on_request(bye, TARGET, 4.0).txn  # type: ignore[union-attr]
    assert call.winner is not None
    actions = through(c2d, list(call.on_b_request(call.winner, bye, txn, 9.0)), 9.0)
    [to_a] = [a for a in actions if isinstance(a, SendRequest) and a.context.leg is None]
    request = reparse(to_a.request)
    assert to_a.destination == PHONE1 and request.method == "BYE"
    assert request.call_id == c2d.winner.dialog.call_id and request.to.tag == "ph1" and request.cseq.number == 3


def test_target_busy_hangs_up_the_phone_with_the_reason() -> None:
    c2d = session(PHONE1)
    _, actions, call = answered_by_phone(c2d)
    [b_invite] = to_target(actions, "invite")
    actions = through(c2d, list(call.on_response(b_invite.context, reply(b_invite.request, 486, "tg",
                                                                              port=7202), 2.0)), 2.0)
    [bye] = to_phone(actions, "bye")
    request = reparse(bye.request)
    assert bye.destination == PHONE1 and request.to.tag == "ph1" and request.cseq.number == 2
    assert request.headers.get("Reason") == 'SIP;cause=486;text="Busy Here"'
    assert any(isinstance(a, CallEnded) for a in actions) and phase(c2d) is Phase.ENDED
    rows = call_log_rows(call, Presentation(caller_as_seen=("201", "Jean Dupont"), dialled=("202", "")), 0.0)
    assert {(r.user_id, r.direction) for r in rows} == {("u201", "placed"), ("u202", "missed")}


def test_user_hanging_up_while_the_target_rings_cancels_the_target() -> None:
    c2d = session(PHONE1)
    _, actions, call = answered_by_phone(c2d)
    [b_invite] = to_target(actions, "invite")
    through(c2d, list(call.on_response(b_invite.context, reply(b_invite.request, 180, "tg", port=7202), 2.0)), 2.0)
    bye, txn = phone_request(c2d, "BYE", 1)
    actions = through(c2d, c2d.on_phone_request(bye, txn, 4.0), 4.0)  # type: ignore[arg-type]
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [200]  # the 487 stays inside
    [cancel] = to_target(actions, "cancel")
    assert cancel.destination == TARGET
    assert not to_phone(actions, "bye")
    assert any(isinstance(a, CallEnded) for a in actions) and phase(c2d) is Phase.ENDED
    assert call.end_reason == "cancelled"


def test_a_reinvite_from_the_phone_while_the_target_rings_is_asked_to_wait() -> None:
    c2d = session(PHONE1)
    answered_by_phone(c2d)
    reinvite, txn = phone_request(c2d, "INVITE", 2, PHONE_OFFER)
    actions = c2d.on_phone_request(reinvite, txn, 2.0)  # type: ignore[arg-type]
    assert [a.response.status for a in actions if isinstance(a, Respond)] == [491]


def test_a_phone_that_refuses_the_targets_session_ends_both_sides() -> None:
    c2d = session(PHONE1)
    _, actions, call = answered_by_phone(c2d)
    [b_invite] = to_target(actions, "invite")
    actions = through(c2d, list(call.on_response(b_invite.context, reply(
        b_invite.request, 200, "tg", TARGET_OFFER, port=7202), 3.0)), 3.0)
    [reinvite] = to_phone(actions, "reinvite")
    actions = through(c2d, c2d.on_response(reinvite.context, reply(reinvite.request, 488, "ph1"), 3.1), 3.1)
    byes = [a for a in actions if isinstance(a, SendRequest) and a.context.purpose == "bye"]
    assert sorted(b.destination.port for b in byes) == [7001, 7202]
    assert any(isinstance(a, CallEnded) for a in actions)
    assert [a.reason for a in actions if isinstance(a, SessionEnded)] == ["no session with the user's phone"]


def test_our_origin_replaces_only_the_o_line() -> None:
    out = our_origin(TARGET_OFFER, 5, 6, "::1").decode()
    assert out.splitlines()[1] == "o=callconnect 5 6 IN IP6 ::1"
    assert out.splitlines()[2:] == TARGET_OFFER.decode().splitlines()[2:]


def test_a_gsm_style_prefix_is_escaped_in_the_virtual_invite() -> None:
    c2d = ClickToDial(user_id="u201", number="#31#0470123456", phones=phones(PHONE1),
                      shown_as=Party('"0470123456" <sip:0470123456@callconnect.local>'), local=LOCAL, started_at=0.0,
                      session_id=1000)
    [invite] = to_phone(c2d.start(0.0), "invite")
    actions = c2d.on_response(invite.context, reply(invite.request, 200, "ph1", PHONE_OFFER), 1.0)
    [answered] = [a for a in actions if isinstance(a, UserAnswered)]
    virtual = reparse(answered.a_invite)
    assert virtual.request_uri.unescaped_user == "#31#0470123456"
    assert virtual.to.uri is not None and virtual.to.uri.unescaped_user == "#31#0470123456"
