"""History-Info (RFC 7044 + RFC 4458 causes), Diversion (RFC 5806), voicemail Request-URI, incoming counts."""

from __future__ import annotations

from sipserver.b2bua.diversion import Hop, diversion, diversions_in, headers_for, history_info, voicemail_request_uri
from sipserver.message import SipRequest
from sipserver.parser import parse_message

U, V, W = "sip:+3222211202@d;user=phone", "sip:+3222211203@d;user=phone", "sip:+3222211204@d;user=phone"


def test_history_info_of_a_chain() -> None:
    hops = [Hop(U, "user-busy"), Hop(V, "no-answer")]
    assert history_info(U, hops, W) == (
        "<sip:+3222211202@d;user=phone?Reason=SIP%3Bcause%3D486>;index=1, "
        "<sip:+3222211203@d;user=phone;cause=486?Reason=SIP%3Bcause%3D408>;index=1.1;mp=1, "
        "<sip:+3222211204@d;user=phone;cause=408>;index=1.1.1;mp=1.1")


def test_unconditional_forward_has_cause_302() -> None:
    assert history_info(U, [Hop(U, "unconditional")], V) == (
        "<sip:+3222211202@d;user=phone?Reason=SIP%3Bcause%3D302>;index=1, "
        "<sip:+3222211203@d;user=phone;cause=302>;index=1.1;mp=1")


def test_diversion_is_newest_first() -> None:
    assert diversion([Hop(U, "unconditional"), Hop(V, "no-answer")]) == (
        f"<{V}>;reason=no-answer;counter=1, <{U}>;reason=unconditional;counter=1")


def test_no_headers_without_a_diversion() -> None:
    assert headers_for(U, [], V) == ()
    assert [name for name, _ in headers_for(U, [Hop(U, "user-busy")], V)] == ["History-Info", "Diversion"]


def test_a_voicemail_target_keeps_its_own_cause_once() -> None:
    vm = "sip:voicemail@127.0.0.1:5080;target=sip:u%40d;cause=486;tz=Europe/Brussels"
    assert history_info(U, [Hop(U, "user-busy")], vm) == (
        "<sip:+3222211202@d;user=phone?Reason=SIP%3Bcause%3D486>;index=1, "
        f"<{vm}>;index=1.1;mp=1")


def test_voicemail_request_uri_rfc_4458() -> None:
    assert voicemail_request_uri("sip:voicemail@127.0.0.1:5080", "sip:marie.martin@callconnect.local",
                                 "no-answer") == \
        "sip:voicemail@127.0.0.1:5080;target=sip:marie.martin%40callconnect.local;cause=408"
    assert voicemail_request_uri("sip:vm@127.0.0.1:5080;transport=tcp", "sip:u@d", "user-busy") == \
        "sip:vm@127.0.0.1:5080;transport=tcp;target=sip:u%40d;cause=486"
    assert voicemail_request_uri("sip:vm@127.0.0.1:5080", "sip:u@d", None) == "sip:vm@127.0.0.1:5080;target=sip:u%40d"
    assert voicemail_request_uri("sip:vm@h", "sip:u@d", "no-answer", "Europe/Brussels") == \
        "sip:vm@h;target=sip:u%40d;cause=408;tz=Europe/Brussels"
    assert voicemail_request_uri("sip:vm@h", "sip:u@d", None, "America/Port-au-Prince") == \
        "sip:vm@h;target=sip:u%40d;tz=America/Port-au-Prince"


def request(*headers: str) -> SipRequest:
    text = ("INVITE sip:202@d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\n"
            "From: <sip:a@d>;tag=1\r\nTo: <sip:202@d>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
            + "".join(h + "\r\n" for h in headers) + "Content-Length: 0\r\n\r\n")
    message = parse_message(text.encode())
    assert isinstance(message, SipRequest)
    return message


def test_diversions_reported_by_the_carrier_are_counted() -> None:
    assert diversions_in(request()) == 0
    assert diversions_in(request("Diversion: <sip:1@d>;reason=user-busy;counter=2, <sip:2@d>;reason=no-answer")) == 3
    hi = "History-Info: <sip:1@d>;index=1, <sip:2@d;cause=486>;index=1.1;mp=1, <sip:3@d;cause=408>;index=1.1.1;mp=1.1"
    assert diversions_in(request(hi)) == 2
    assert diversions_in(request('Diversion: "unterminated')) == 1  # odd input never breaks a call
