"""Message parsing, validation and stream framing (RFC 3261 §7, §8.2, §18.3; RFC 5626 §3.5.1), with property tests:
random bytes only ever raise RemoteProtocolError, and generated well-formed messages survive a round trip."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipserver.errors import RemoteProtocolError
from sipserver.headers import header_key, is_known_header
from sipserver.message import Headers, SipRequest, SipResponse, build_response
from sipserver.parser import (
    KEEP_ALIVE,
    MAX_UDP_MESSAGE,
    KeepAlive,
    StreamFramer,
    parse_message,
    validate_request,
    validate_response,
)

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def invite(body: bytes = SDP, *, extra: str = "", cl: str | None = None, start: str | None = None) -> bytes:
    head = (
        f"{start or 'INVITE sip:bob@biloxi.example.com SIP/2.0'}\r\n"
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
        "Max-Forwards: 70\r\n"
        "To: Bob <sip:bob@biloxi.example.com>\r\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
        "CSeq: 314159 INVITE\r\n"
        "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
    )
    if cl is None:
        cl = str(len(body))
    if cl != "none":
        head += f"Content-Length: {cl}\r\n"
    return head.encode() + b"\r\n" + body


RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def rejected(data: bytes, *, datagram: bool = True) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        msg = parse_message(data, datagram=datagram)
        if isinstance(msg, SipRequest):
            validate_request(msg)
        else:
            validate_response(msg)
    return info.value


# -- parse_message: the good cases -----------------------------------------------------------------------------
def test_request() -> None:
    msg = parse_message(invite())
    assert isinstance(msg, SipRequest)
    assert (msg.method, msg.uri, msg.version) == ("INVITE", "sip:bob@biloxi.example.com", "SIP/2.0")
    assert msg.body == SDP
    assert [name for name, _ in msg.headers] == [
        "Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq", "Contact", "Content-Type", "Content-Length",
    ]
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.cseq.number == 314159 and msg.cseq.method == "INVITE"
    assert msg.from_.tag == "1928301774" and msg.to.tag is None
    assert msg.request_uri.user == "bob" and msg.max_forwards == 70
    validate_request(msg)


def test_response() -> None:
    msg = parse_message(RESPONSE)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason, msg.body) == (180, "Ringing", b"")
    assert msg.to.tag == "a6c85cf" and msg.top_via.received == "192.0.2.1"
    validate_response(msg)


def test_compact_names_case_and_spacing_before_colon() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nT : <sip:a@b>\r\n"
        b"f  :<sip:c@d>;tag=1\r\ni:\t x@y \r\ncseq: 1 OPTIONS\r\nMAX-FORWARDS: 5\r\nX-Odd-Name : v\r\n"
        b"l:0\r\n\r\n"
    )
    msg = parse_message(data)
    assert isinstance(msg, SipRequest)
    assert list(msg.headers) == [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("To", "<sip:a@b>"), ("From", "<sip:c@d>;tag=1"),
        ("Call-ID", "x@y"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "5"), ("X-Odd-Name", "v"),
        ("Content-Length", "0"),
    ]
    assert msg.headers.get("x-odd-name") == "v" and msg.headers.get("X-ODD-NAME") == "v"
    validate_request(msg)


def test_any_octet_survives_in_values() -> None:
    data = invite(extra="Subject: caf\xe9 \u2028 \x85 ok\r\n").replace("caf\xe9".encode(), b"caf\xff\xfe")
    msg = parse_message(data)
    assert msg.serialize() == data


def test_folding_is_unfolded() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n"
        b"From: <sip:c@d>\r\n\t;tag=1\r\nCall-ID: x@y\r\nCSeq: 1\r\n  \t OPTIONS\r\nSubject: a\r\n b\r\n  c\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert msg.headers.get("Via") == "SIP/2.0/UDP h ;branch=z9hG4bK1"
    assert msg.headers.get("CSeq") == "1 OPTIONS"
    assert msg.headers.get("Subject") == "a b c"
    assert msg.from_.tag == "1"
    assert isinstance(msg, SipRequest)
    validate_request(msg)


def test_bare_lf_messages_and_leading_crlf() -> None:
    lf_body = SDP.replace(b"\r\n", b"\n")
    lf = invite(b"", cl=str(len(lf_body))).replace(b"\r\n", b"\n") + lf_body
    msg = parse_message(lf)
    assert isinstance(msg, SipRequest) and msg.body == lf_body and msg.top_via.branch == "z9hG4bK776asdhds"
    validate_request(msg)
    assert parse_message(b"\r\n\r\n" + invite()).method == "INVITE"  # type: ignore[union-attr]
    assert parse_message(b"\n" + RESPONSE).status == 180  # type: ignore[union-attr]


def test_unterminated_header_section_in_a_datagram() -> None:
    data = invite(b"").rstrip(b"\r\n") + b"\r\n"  # no empty line at all
    msg = parse_message(data)
    assert isinstance(msg, SipRequest) and msg.body == b"" and msg.headers.get("Content-Length") == "0"


def test_body_rules_for_datagrams() -> None:
    assert parse_message(invite(cl="none")).body == SDP  # rest of the datagram
    assert parse_message(invite(SDP + b"garbage after", cl=str(len(SDP)))).body == SDP  # dblreq: truncate
    assert parse_message(invite(b"")).body == b""
    assert parse_message(invite(b"\x00\xff\n\n\r\n", cl="5")).body == b"\x00\xff\n\n\r"
    for cl in ("9999", "-1", "abc", "1.5", "0x10", "", "٣", "9" * 5000):
        err = rejected(invite(cl=cl))
        assert err.status_hint == 400 and isinstance(err.partial, SipRequest)
        assert err.partial.call_id == "a84b4c76e66710@pc33.atlanta.example.com"


def test_multiple_content_lengths() -> None:
    differing = invite(extra=f"l: {len(SDP) - 1}\r\n")
    err = rejected(differing)
    assert err.status_hint == 400 and err.partial is not None
    same = parse_message(invite(extra=f"l: {len(SDP)}\r\n"))
    assert same.body == SDP
    assert isinstance(same, SipRequest)
    with pytest.raises(RemoteProtocolError, match="duplicate Content-Length"):
        validate_request(same)


def test_streams_need_content_length() -> None:
    assert parse_message(invite(), datagram=False).body == SDP
    err = rejected(invite(cl="none"), datagram=False)
    assert err.status_hint == 400 and err.partial is not None


# -- parse_message: bad start lines, names, versions -------------------------------------------------------------
@pytest.mark.parametrize(
    "start",
    [
        "INVITE  sip:bob@b SIP/2.0",  # lwsstart
        "INVITE sip:bob@b SIP/2.0  ",  # trws
        "INVITE sip:bob@b; lr SIP/2.0",  # lwsruri
        "INVITE <sip:bob@b> SIP/2.0",  # ltgtruri
        "INVITE sip:bob@b",  # test.dat
        "INVITE sip:bob@b SIP/2.0 extra",
        "INV@ITE sip:bob@b SIP/2.0",
        "INVITE sip:bob@b HTTP/1.1",
        "INVITE sip:bob@b SIP/2",
        " INVITE sip:bob@b SIP/2.0",
    ],
)
def test_bad_request_lines_are_400_with_partial(start: str) -> None:
    err = rejected(invite(start=start))
    assert err.status_hint == 400
    assert isinstance(err.partial, SipRequest)
    assert err.partial.headers.get("Call-ID") == "a84b4c76e66710@pc33.atlanta.example.com"
    response = build_response(err.partial, 400)  # the caller can answer
    assert response.headers.get("CSeq") == "314159 INVITE"


def test_other_sip_version_is_505() -> None:
    err = rejected(invite(start="INVITE sip:bob@b SIP/7.0"))
    assert err.status_hint == 505 and isinstance(err.partial, SipRequest)
    assert err.partial.version == "SIP/2.0"  # the answer goes out as SIP/2.0
    ok = parse_message(invite(start="INVITE sip:bob@b sip/2.0"))
    assert isinstance(ok, SipRequest) and ok.version == "SIP/2.0"


def test_unknown_but_valid_methods_parse() -> None:
    msg = parse_message(invite(start="NEWMETHOD sip:bob@b SIP/2.0").replace(b"314159 INVITE", b"1 NEWMETHOD"))
    assert isinstance(msg, SipRequest) and msg.method == "NEWMETHOD"
    validate_request(msg)


@pytest.mark.parametrize(
    "line",
    [
        "Bad Name: x",  # whitespace inside a name
        "Bad\x00Name: x",
        "Bad\x7fName: x",
        "Na(me): x",
        ": no name",
        "no colon at all",
        "Subject: a\rInjected: header",  # bare CR
    ],
)
def test_bad_header_lines_are_400(line: str) -> None:
    err = rejected(invite(extra=line + "\r\n"))
    assert err.status_hint == 400 and isinstance(err.partial, SipRequest)
    assert err.partial.headers.get("Via") is not None


def test_bare_lf_inside_a_crlf_message_is_a_line_end() -> None:
    msg = parse_message(invite(extra="Subject: one\nX-Two: two\r\n"))
    assert msg.headers.get("Subject") == "one" and msg.headers.get("X-Two") == "two"


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 4294967301 better not break the receiver\r\nContent-Length: 0\r\n\r\n",  # bigcode
        b"SIP/2.0 700 Too Big\r\nl: 0\r\n\r\n",
        b"SIP/2.0 099 Too Small\r\nl: 0\r\n\r\n",
        b"SIP/2.0 20x OK\r\nl: 0\r\n\r\n",
        b"SIP/2.0\r\nl: 0\r\n\r\n",
        b"SIP/3.0 200 OK\r\nl: 0\r\n\r\n",
        RESPONSE.replace(b"Content-Length: 0", b"Content-Length: 10"),
        RESPONSE.replace(b"Content-Length: 0", b"Content-Length: -1"),
        RESPONSE.replace(b"CSeq: 314159", b"CSeq: 9292394834772304023312"),  # scalarlg
        RESPONSE.replace(b"Call-ID:", b"Bad Name:"),
        RESPONSE.replace(b"To: Bob", b"To: Bob, Jr."),
        RESPONSE + b"garbage",
    ],
)
def test_bad_responses_are_dropped(data: bytes) -> None:
    if data.endswith(b"garbage"):  # extra octets after Content-Length: 0 are discarded, not an error
        validate_response(parse_message(data))  # type: ignore[arg-type]
        return
    assert rejected(data).status_hint is None


def test_noreason_and_utf8_reason() -> None:
    msg = parse_message(RESPONSE.replace(b"180 Ringing", b"100 "))
    assert isinstance(msg, SipResponse) and (msg.status, msg.reason) == (100, "")
    msg = parse_message(RESPONSE.replace(b"Ringing", "Très bien ✓".encode()))
    assert isinstance(msg, SipResponse) and msg.reason == "Très bien ✓"


def test_empty_and_garbage_datagrams() -> None:
    for data in (b"", b"\r\n", b"\r\n\r\n", b"\x00" * 10, b"hello", b"SIP/2.0", b":::\r\n\r\n"):
        with pytest.raises(RemoteProtocolError):
            parse_message(data)


# -- validate_request / validate_response ---------------------------------------------------------------------
def test_validate_request_rejections() -> None:
    cases = {
        "missing Call-ID": invite().replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", b""),
        "duplicate To": invite(extra="To: <sip:other@example.net>\r\n"),
        "duplicate Max-Forwards": invite(extra="Max-Forwards: 5\r\n"),
        "CSeq method": invite().replace(b"314159 INVITE", b"314159 OPTIONS"),
        "Max-Forwards": invite().replace(b"Max-Forwards: 70", b"Max-Forwards: 300"),
        "Via": invite().replace(b"SIP/2.0/UDP pc33", b"SIP/2.0/UDP pc 33"),
        "missing Via": invite().replace(b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n", b""),
        "URI": invite(start="INVITE sip:2001:db8::10 SIP/2.0"),
        "headers in the Request-URI": invite(start="INVITE sip:bob@b?Route=%3Csip:x%3E SIP/2.0"),
        "Contact": invite().replace(b"Contact: <sip:alice@pc33.atlanta.example.com>", b"Contact: sip:a@b?x=y"),
        "Call-ID": invite().replace(b"Call-ID: a84b", b"Call-ID: a84b, c"),
    }
    for what, data in cases.items():
        msg = parse_message(data)
        assert isinstance(msg, SipRequest), what
        with pytest.raises(RemoteProtocolError) as info:
            validate_request(msg)
        assert info.value.status_hint == 400, what
        assert info.value.partial is msg, what


def test_validate_request_acceptances() -> None:
    unknown_scheme = parse_message(invite(start="INVITE urn:service:sos SIP/2.0"))
    assert isinstance(unknown_scheme, SipRequest)
    validate_request(unknown_scheme)
    assert unknown_scheme.request_uri.opaque == "service:sos"
    no_branch = parse_message(invite().replace(b";branch=z9hG4bK776asdhds", b""))
    assert isinstance(no_branch, SipRequest)
    validate_request(no_branch)  # RFC 2543 peers
    with pytest.raises(RemoteProtocolError, match="branch"):
        validate_request(no_branch, require_branch=True)
    no_mf = parse_message(invite().replace(b"Max-Forwards: 70\r\n", b""))
    assert isinstance(no_mf, SipRequest)
    validate_request(no_mf)
    assert no_mf.max_forwards is None


def test_validate_response_rejections_drop() -> None:
    for data in (
        RESPONSE.replace(b"From:", b"X-From:"),
        RESPONSE.replace(b"Via: SIP/2.0/UDP pc33", b"Via: junk pc33"),
        RESPONSE + b"",
    ):
        msg = parse_message(data)
        assert isinstance(msg, SipResponse)
        if data is RESPONSE:
            continue
        with pytest.raises(RemoteProtocolError) as info:
            validate_response(msg)
        assert info.value.status_hint is None


# -- serializer round trip ----------------------------------------------------------------------------------------
def fields_of(msg: SipRequest | SipResponse) -> list[tuple[str, str]]:
    return list(msg.headers)


def test_serialize_round_trip() -> None:
    for data in (invite(), RESPONSE, invite(b"")):
        msg = parse_message(data)
        again = parse_message(msg.serialize())
        assert fields_of(again) == fields_of(msg) and again.body == msg.body
        assert msg.serialize() == data


def test_serialize_writes_canonical_names() -> None:
    msg = parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni: x\r\nl: 0\r\n\r\n")
    assert msg.serialize() == (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    )


# -- stream framing ------------------------------------------------------------------------------------------------
def test_framer_pipelined_messages() -> None:
    framer = StreamFramer()
    out = framer.feed(invite() + RESPONSE + invite(b""))
    assert out == [invite(), RESPONSE, invite(b"")]
    assert framer.buffered == 0


def test_framer_byte_by_byte() -> None:
    framer = StreamFramer()
    stream = invite() + b"\r\n" + RESPONSE
    out: list[bytes | KeepAlive] = []
    for i in range(len(stream)):
        out.extend(framer.feed(stream[i : i + 1]))
    assert out == [invite(), RESPONSE]


def test_framer_keep_alives_and_crlf_between_messages() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [KEEP_ALIVE]
    assert framer.feed(b"\r\n") == []  # maybe the first half of a ping
    assert framer.feed(b"\r\n") == [KEEP_ALIVE]
    assert framer.feed(b"\r\n\r\n\r\n\r\n" + RESPONSE) == [KEEP_ALIVE, KEEP_ALIVE, RESPONSE]
    assert framer.feed(b"\r\n" + RESPONSE) == [RESPONSE]  # a lone CRLF (a pong) is skipped
    assert framer.feed(RESPONSE + b"\r\n\r\n") == [RESPONSE, KEEP_ALIVE]
    assert isinstance(KEEP_ALIVE, KeepAlive) and repr(KEEP_ALIVE) == "KEEP_ALIVE"


def test_framer_waits_for_the_body() -> None:
    framer = StreamFramer()
    data = invite()
    assert framer.feed(data[:-10]) == []
    assert framer.buffered == len(data) - 10
    assert framer.feed(data[-10:]) == [data]


def test_framer_body_with_crlfcrlf_and_binary() -> None:
    body = b"\r\n\r\n\x00binary\r\n\r\n"
    framer = StreamFramer()
    assert framer.feed(invite(body) + invite(body)) == [invite(body), invite(body)]


def test_framer_missing_or_bad_content_length() -> None:
    for bad in (invite(cl="none"), invite(cl="-999"), invite(extra="l: 5\r\n")):
        with pytest.raises(RemoteProtocolError) as info:
            StreamFramer().feed(bad)
        assert info.value.status_hint == 400
        assert isinstance(info.value.partial, SipRequest)
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(RESPONSE.replace(b"Content-Length: 0\r\n", b""))
    assert info.value.status_hint is None
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(b"SIP/2.0 200 OK\r\nl: 1\r\nl: 2\r\n\r\n")
    assert info.value.status_hint is None
    # Request-like garbage gets a 400 with a partial request; whether it can be answered (it has no Via) is
    # the transport's business.
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(b"garbage without any structure\r\n\r\n")
    assert info.value.status_hint == 400 and isinstance(info.value.partial, SipRequest)
    assert info.value.partial.headers.get("Via") is None


def test_framer_returns_good_messages_before_an_error() -> None:
    framer = StreamFramer()
    out = framer.feed(RESPONSE + b"C\r\n\r\n")  # RFC 4475 dblreq over TCP ends like this
    assert out == [RESPONSE]
    assert framer.pending_error is not None and "Content-Length" in framer.pending_error.reason
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"")
    with pytest.raises(RemoteProtocolError):
        framer.feed(RESPONSE)  # the framer stays broken: close the connection


def test_framer_limits() -> None:
    small = StreamFramer(max_message_size=400, max_header_size=300)
    with pytest.raises(RemoteProtocolError) as info:
        small.feed(invite())  # its header section is larger than 300
    assert info.value.status_hint == 513 and isinstance(info.value.partial, SipRequest)
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer(max_header_size=1000).feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 200)
    assert info.value.status_hint is None  # never ends: nothing to answer
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer(max_message_size=600).feed(invite(b"x" * 1000))
    assert info.value.status_hint == 513
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(invite(b"", cl="70000"))
    assert info.value.status_hint == 513


def test_framer_is_linear() -> None:
    """A 60 kB message fed one byte at a time: each byte is looked at a bounded number of times."""
    body = b"a=x\r\n" * 12000
    data = invite(body)
    framer = StreamFramer()
    t0 = time.perf_counter()
    out: list[bytes | KeepAlive] = []
    for i in range(len(data)):
        out.extend(framer.feed(data[i : i + 1]))
    assert out == [data]
    assert time.perf_counter() - t0 < 5.0  # quadratic would be minutes


def test_max_udp_message() -> None:
    assert MAX_UDP_MESSAGE == 65535


# -- property tests ------------------------------------------------------------------------------------------------
def _exercise(data: bytes) -> None:
    """Everything a server does with a received datagram before routing: only our own error may escape."""
    try:
        msg = parse_message(data)
        if isinstance(msg, SipRequest):
            validate_request(msg)
            msg.request_uri  # noqa: B018
            msg.contacts  # noqa: B018
            msg.vias  # noqa: B018
        else:
            validate_response(msg)
        msg.serialize()
    except RemoteProtocolError as exc:
        assert exc.status_hint in (None, 400, 505)
        if exc.partial is not None:
            assert isinstance(exc.partial, SipRequest)
            build_response(exc.partial, exc.status_hint or 400).serialize()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    _exercise(data)


_SEEDS = [invite(), RESPONSE, invite(b"", extra="Subject: x\r\n folded\r\nRoute: <sip:p;lr>, <sip:q;lr>\r\n")]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 5), st.binary(max_size=6)), max_size=6),
)
def test_mutated_messages_only_raise_remote_protocol_error(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(seed)
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data[pos : pos + cut] = insert
    _exercise(bytes(data))


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)
_VALUE = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), min_size=0, max_size=30
).map(lambda v: v.strip(" \t"))  # values are written stripped of SP/HT, any other character survives


_USER = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._!~*'()&=+$,", min_size=1, max_size=12)


@st.composite
def well_formed_messages(draw: st.DrawFn) -> SipRequest | SipResponse:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} host{draw(st.integers(0, 99))}"
                f".example.com;branch=z9hG4bK{draw(_TOKEN)}")
    headers.add("From", f"<sip:{draw(_USER)}@example.com>;tag={draw(_TOKEN)}")
    headers.add("To", f"<sip:{draw(_USER)}@example.com>")
    headers.add("Call-ID", draw(_TOKEN))
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "BYE", "REGISTER"]) | _TOKEN)
    headers.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    for name, value in draw(st.lists(st.tuples(_TOKEN, _VALUE), max_size=6)):
        if is_known_header(header_key(name)):
            continue  # random values only in extension headers, which nothing parses
        headers.add(name, value)
    body = draw(st.binary(max_size=50))
    if draw(st.booleans()):
        return SipRequest(method, f"sip:{draw(_USER)}@example.com", headers, body)
    return SipResponse(draw(st.integers(100, 699)), draw(_VALUE), headers, body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(well_formed_messages(), st.booleans())
def test_round_trip_oracle(msg: SipRequest | SipResponse, datagram: bool) -> None:
    wire = msg.serialize()
    parsed = parse_message(wire, datagram=datagram)
    assert type(parsed) is type(msg)
    if isinstance(msg, SipRequest):
        assert isinstance(parsed, SipRequest)
        assert (parsed.method, parsed.uri) == (msg.method, msg.uri)
        validate_request(parsed)
    else:
        assert isinstance(parsed, SipResponse)
        assert (parsed.status, parsed.reason) == (msg.status, msg.reason)
        validate_response(parsed)
    expected = [*msg.headers, ("Content-Length", str(len(msg.body)))]
    assert list(parsed.headers) == expected
    assert parsed.body == msg.body
    assert parsed.serialize() == wire
    framed = StreamFramer().feed(wire)
    assert framed == [wire]
