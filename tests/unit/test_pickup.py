"""Call pickup: the codes and `Replaces` a picker sends, joining two offers, and `Call.pick_up` itself."""

from __future__ import annotations

import pytest

from sipserver.address import Endpoint
from sipserver.b2bua.call import CALL_COMPLETED_ELSEWHERE, CallState, LegStateChanged, Respond, Stage, Target
from sipserver.b2bua.pickup import PickupCode, ReplacesTarget, parse_pickup_code, parse_replaces
from sipserver.b2bua.sdp_bridge import cross_answers, is_hold, parse_description
from sipserver.message import SipRequest
from sipserver.parser import parse_message
from sipserver.transaction import TransactionLayer
from tests.unit.test_call import B1, B2, SDP, answer, new_call, sent, targets

CALLER_SDP = (b"v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
              b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")
PICKER_SDP = (b"v=0\r\no=picker 7 7 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
              b"m=audio 6000 RTP/AVP 8 9 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n")
PICKER = Endpoint("udp", "127.0.0.9", 7000)


@pytest.mark.parametrize(("dialled", "expected"), [
    ("*97202", PickupCode("202")),
    ("*97202#", PickupCode("202")),
    ("*8", PickupCode(None)),
    ("*8#", PickupCode(None)),
    ("*97", None),
    ("202", None),
    ("*72202", None),
])
def test_pickup_codes(dialled: str, expected: PickupCode | None) -> None:
    assert parse_pickup_code(dialled) == expected


def test_replaces_header() -> None:
    assert parse_replaces("abc@h;to-tag=t1;from-tag=f1") == ReplacesTarget("abc@h", ("t1", "f1"), False)
    assert parse_replaces("abc@h; from-tag=f1 ;to-tag=t1;early-only") == ReplacesTarget("abc@h", ("t1", "f1"), True)
    assert parse_replaces("abc@h;to-tag=t1") is None
    assert parse_replaces(";to-tag=t1;from-tag=f") is None


def test_cross_answers_keep_each_side_numbering_and_only_common_formats() -> None:
    answers = cross_answers(CALLER_SDP, PICKER_SDP)
    assert answers is not None
    to_caller, to_picker = (parse_description(a) for a in answers)
    assert to_caller is not None and to_picker is not None
    # The caller is told where the picker receives, in the picker's numbering: PCMA (8) and its DTMF type 96.
    assert (to_caller.media[0].port, to_caller.media[0].formats) == ("6000", ["8", "96"])
    assert "c=IN IP4 127.0.0.9" in to_caller.session
    # The picker is told where the caller receives, in the caller's numbering.
    assert (to_picker.media[0].port, to_picker.media[0].formats) == ("4000", ["8", "101"])
    assert "a=fmtp:101 0-16" in to_picker.media[0].lines


def test_no_common_codec_gives_no_answer() -> None:
    g729 = PICKER_SDP.replace(b"RTP/AVP 8 9 96", b"RTP/AVP 18")
    assert cross_answers(CALLER_SDP, g729) is None
    assert cross_answers(CALLER_SDP, b"not sdp") is None


@pytest.mark.parametrize(("body", "held"), [
    (CALLER_SDP, False),
    (CALLER_SDP.replace(b"a=sendrecv", b"a=sendonly"), True),
    (CALLER_SDP.replace(b"a=sendrecv", b"a=inactive"), True),
    (CALLER_SDP.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0"), True),
    (CALLER_SDP.replace(b"a=sendrecv", b"a=recvonly"), False),
    (b"", None),
])
def test_hold_detection(body: bytes, held: bool | None) -> None:
    assert is_hold(body) is held


def picker_invite(body: bytes = PICKER_SDP) -> tuple[SipRequest, object]:
    text = ("INVITE sip:202@callconnect.local SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.9:7000;branch=z9hG4bK-p1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:203@callconnect.local>;tag=picker\r\n"
            "To: <sip:202@callconnect.local>\r\nCall-ID: p-call\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:203@127.0.0.9:7000>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    invite = parse_message(text.encode() + body)
    assert isinstance(invite, SipRequest)
    txn = TransactionLayer().on_request(invite, PICKER, 0.0).txn  # type: ignore[union-attr]
    return invite, txn


def picker_target() -> Target:
    return Target(request_uri="sip:203@127.0.0.9:7000", destination=PICKER, to_uri="<sip:203@callconnect.local>",
                  user_id="u203")


def test_pick_up_joins_the_caller_and_the_picker_and_cancels_the_ringing_phones() -> None:
    call, _ = new_call(CALLER_SDP)
    invites = sent(call.ring([Stage(targets(B1, B2))], now=0.0), "invite")
    call.on_response(invites[0].context, answer(invites[0].request, 180, "t1"), 1.0)
    invite, txn = picker_invite()
    actions = call.pick_up(invite, txn, picker_target(), 2.0)  # type: ignore[arg-type]
    assert not isinstance(actions, int)
    cancels = sent(actions, "cancel")
    assert sorted(c.destination.port for c in cancels) == [B1.port, B2.port]
    assert all(c.request.headers.get("Reason") == CALL_COMPLETED_ELSEWHERE for c in cancels)
    to_picker, to_caller = (a for a in actions if isinstance(a, Respond))
    assert to_picker.txn is txn and to_picker.response.status == 200 and to_picker.retransmit_until_ack
    assert b"m=audio 4000 RTP/AVP 8 101" in to_picker.response.body
    assert to_caller.txn is call.a_txn and to_caller.response.status == 200
    assert b"m=audio 6000 RTP/AVP 8 96" in to_caller.response.body
    assert to_caller.response.headers.get("Content-Type") == "application/sdp"
    assert call.state is CallState.ANSWERED and call.winner is not None
    assert call.winner.local_tag == to_picker.response.to.tag and call.winner.call_id == "p-call"
    states = [(a.user_id, a.state) for a in actions if isinstance(a, LegStateChanged)]
    assert ("u203", "confirmed") in states and ("u201", "confirmed") in states
    # a second picker is too late
    again, txn2 = picker_invite()
    assert call.pick_up(again, txn2, picker_target(), 2.1) == 481  # type: ignore[arg-type]


def test_pick_up_needs_two_offers() -> None:
    call, _ = new_call(CALLER_SDP)
    call.ring([Stage(targets(B1))], now=0.0)
    invite, txn = picker_invite(b"")
    assert call.pick_up(invite, txn, picker_target(), 1.0) == 488  # type: ignore[arg-type]
    late, _ = new_call(b"")
    late.ring([Stage(targets(B1))], now=0.0)
    invite, txn = picker_invite()
    assert late.pick_up(invite, txn, picker_target(), 1.0) == 488  # type: ignore[arg-type]


def test_ringing_leg_of() -> None:
    call, _ = new_call(SDP)
    invites = sent(call.ring([Stage(targets(B1))], now=0.0), "invite")
    assert call.ringing_leg_of("u202") is invites[0].context.leg
    assert call.ringing_leg_of("u203") is None
