"""Every RFC 4475 / RFC 5118 torture message through `parse_message` + `validate_request` / `validate_response`
(the checks a server makes before routing), and through the TCP `StreamFramer`, against an explicit table.

The table is driven by `shared/conformance/torture/MANIFEST.tsv` (it must name exactly the manifest's files) and
states, for each file, the outcome of parse + validate as a datagram:
- OK: parses and validates (application-class files included: their 416/420/415/... are the server's business);
- reject(400) / reject(505): RemoteProtocolError with that status_hint and a partial request to answer with;
- DROP: RemoteProtocolError with status_hint None (a bad response is discarded silently).
and the outcome on a stream (`STREAM`): the messages framed, "wait" for more, or a framing error.
Where the RFCs leave a choice, the choice is written next to the file. The `rfc5118/` originals end their
lines with a bare LF and two have a wrong Content-Length (archive quirks): they must never raise anything but
RemoteProtocolError, and their outcome is stated too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipserver.errors import RemoteProtocolError
from sipserver.message import SipRequest, SipResponse
from sipserver.parser import KeepAlive, StreamFramer, parse_message, validate_request, validate_response


def torture_dir() -> Path:
    """`shared/conformance/torture`, next to the checkout (or under $CALLCONNECT_SHARED): loudly missing."""
    override = os.environ.get("CALLCONNECT_SHARED")
    shared = Path(override) if override else Path(__file__).resolve().parents[3] / "shared"
    path = shared / "conformance" / "torture"
    if not (path / "MANIFEST.tsv").is_file():
        raise RuntimeError(
            f"torture corpus not found at {path}: place shared/ next to the repository or set CALLCONNECT_SHARED"
        )
    return path


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok", "reject", "drop"
    status: int | None = None
    why: str = ""


OK = Outcome("ok")
DROP = Outcome("drop", None, "a malformed response is discarded silently")


def ok(why: str = "") -> Outcome:
    return Outcome("ok", None, why)


def reject(status: int, why: str = "") -> Outcome:
    return Outcome("reject", status, why)


EXPECTED: dict[str, Outcome] = {
    # RFC 4475 §3.1.1 valid messages
    "rfc4475/wsinv.dat": OK,
    "rfc4475/intmeth.dat": ok("an unknown method parses; the server answers 501"),
    "rfc4475/esc01.dat": OK,
    "rfc4475/escnull.dat": OK,
    "rfc4475/esc02.dat": ok("RE%47IST%45R is an unknown method (501 from the server), not REGISTER"),
    "rfc4475/lwsdisp.dat": OK,
    "rfc4475/longreq.dat": ok("its top Via has no branch: a branch is not required (see inv2543)"),
    "rfc4475/dblreq.dat": ok("the octets after Content-Length: 0 are discarded"),
    "rfc4475/semiuri.dat": OK,
    "rfc4475/transports.dat": OK,
    "rfc4475/mpart01.dat": OK,
    "rfc4475/unreason.dat": OK,
    "rfc4475/noreason.dat": OK,
    # RFC 4475 §3.1.2 invalid messages
    "rfc4475/badinv01.dat": reject(400, "empty Via parameters"),
    "rfc4475/clerr.dat": reject(400, "UDP: the datagram is all there is"),
    "rfc4475/ncl.dat": reject(400, "negative Content-Length, readable header section"),
    "rfc4475/scalar02.dat": reject(400, "CSeq above 2**32-1"),
    "rfc4475/scalarlg.dat": DROP,
    "rfc4475/quotbal.dat": reject(400),
    "rfc4475/ltgtruri.dat": reject(400),
    "rfc4475/lwsruri.dat": reject(400),
    "rfc4475/lwsstart.dat": reject(400, "choice: reject, so the extra SP is never forwarded"),
    "rfc4475/trws.dat": reject(400, "choice: reject, as lwsstart"),
    "rfc4475/escruri.dat": reject(400, "choice: ?headers are not allowed in a Request-URI"),
    "rfc4475/baddate.dat": ok("choice: the Date header field is not read"),
    "rfc4475/regbadct.dat": reject(400, "every Contact is parsed by validate_request"),
    "rfc4475/badaspec.dat": reject(400),
    "rfc4475/baddn.dat": reject(400, "the unterminated header section ends with the datagram"),
    "rfc4475/badvers.dat": reject(505),
    "rfc4475/mismatch01.dat": reject(400),
    "rfc4475/mismatch02.dat": reject(400, "choice: 400 (RFC 4475 allows it; 501 needs a look at the method first)"),
    "rfc4475/bigcode.dat": DROP,
    # RFC 4475 §3.2, §3.3 transaction and application layers
    "rfc4475/badbranch.dat": ok("choice: a bare z9hG4bK branch is accepted (not an RFC 3261 branch)"),
    "rfc4475/insuf.dat": reject(400, "no Call-ID, From, To"),
    "rfc4475/unkscm.dat": ok("unknown Request-URI scheme: the server answers 416"),
    "rfc4475/novelsc.dat": ok("the server answers 416"),
    "rfc4475/unksm2.dat": ok("non-SIP To/From/Contact parse (opaque): the registrar answers 400"),
    "rfc4475/bext01.dat": ok("the server answers 420"),
    "rfc4475/invut.dat": ok("the server answers 415"),
    "rfc4475/regaut01.dat": ok("the registrar challenges"),
    "rfc4475/multi01.dat": reject(400),
    "rfc4475/mcl01.dat": reject(400, "two differing Content-Length values"),
    "rfc4475/bcast.dat": ok("parses; whom to forward to is not the parser's business"),
    "rfc4475/zeromf.dat": OK,
    "rfc4475/cparam01.dat": OK,
    "rfc4475/cparam02.dat": OK,
    "rfc4475/regescrt.dat": OK,
    "rfc4475/sdp01.dat": ok("the server answers 406"),
    "rfc4475/inv2543.dat": ok("choice: RFC 2543 syntax is tolerated in a datagram (no branch, no Content-Length)"),
    "rfc4475/test.dat": reject(400, "no SIP-Version, a header line without ':'"),
    # RFC 5118, archive copies (bare LF)
    "rfc5118/ipv6-good.dat": OK,
    "rfc5118/ipv6-bad.dat": reject(400),
    "rfc5118/port-ambiguous.dat": OK,
    "rfc5118/port-unambiguous.dat": OK,
    "rfc5118/via-received-param-with-delim.dat": OK,
    "rfc5118/via-received-param-no-delim.dat": OK,
    "rfc5118/ipv6-in-sdp.dat": reject(400, "archive quirk: Content-Length 268 for a 242-octet body"),
    "rfc5118/mult-ip-in-header.dat": OK,
    "rfc5118/mult-ip-in-sdp.dat": reject(400, "archive quirk: Content-Length 181 for a 180-octet body"),
    "rfc5118/ipv4-mapped-ipv6.dat": OK,
    "rfc5118/ipv6-bug-abnf-3-colons.dat": ok("tolerated; no empty line after the headers"),
    "rfc5118/ipv6-correct-abnf-2-colons.dat": OK,
    # RFC 5118, wire copies (CRLF, corrected Content-Length)
    "rfc5118-wire/ipv6-good.dat": OK,
    "rfc5118-wire/ipv6-bad.dat": reject(400, "IPv6 without [] in the Request-URI"),
    "rfc5118-wire/port-ambiguous.dat": OK,
    "rfc5118-wire/port-unambiguous.dat": OK,
    "rfc5118-wire/via-received-param-with-delim.dat": ok("tolerated (RFC 5118 §4.5)"),
    "rfc5118-wire/via-received-param-no-delim.dat": OK,
    "rfc5118-wire/ipv6-in-sdp.dat": OK,
    "rfc5118-wire/mult-ip-in-header.dat": OK,
    "rfc5118-wire/mult-ip-in-sdp.dat": OK,
    "rfc5118-wire/ipv4-mapped-ipv6.dat": OK,
    "rfc5118-wire/ipv6-bug-abnf-3-colons.dat": ok("RFC 5118 §4.10: must tolerate both"),
    "rfc5118-wire/ipv6-correct-abnf-2-colons.dat": OK,
    # variants
    "variants/baddn.ersip-phpsip-terminated.dat": reject(400),
}

# On a stream (TCP): "one" = exactly one message framed, the whole file; "wait" = nothing framed, the framer
# waits for more; ("error", status) = a framing error (the connection closes); "first+error" = messages
# framed, then a pending error. Files not listed here (the bare-LF originals) never end a header section with
# CRLFCRLF: the framer waits.
STREAM: dict[str, object] = {
    "rfc4475/dblreq.dat": "first+error",  # REGISTER, INVITE (Content-Length 150 of 155), then "C": framing lost
    "rfc4475/clerr.dat": "wait",  # Content-Length 9999: more is coming
    "rfc4475/baddn.dat": "wait",  # the header section never ends
    "rfc4475/ncl.dat": ("error", 400),
    "rfc4475/mcl01.dat": ("error", 400),
    "rfc4475/inv2543.dat": ("error", 400),  # no Content-Length on a stream
}


def manifest() -> list[dict[str, str]]:
    lines = (torture_dir() / "MANIFEST.tsv").read_text("utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]


MANIFEST = manifest()
FILES = [row["file"] for row in MANIFEST]


def test_table_covers_the_manifest_and_the_bytes_are_intact() -> None:
    assert set(EXPECTED) == set(FILES)
    for row in MANIFEST:
        data = (torture_dir() / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]
        expected = EXPECTED[row["file"]]
        if "response" in row["class"]:
            assert expected.kind in ("ok", "drop"), row["file"]
        if row["expected"].startswith("REJECT 505"):
            assert expected == reject(505), row["file"]
        if row["class"].startswith("valid") and not row["file"].startswith("rfc5118/"):
            assert expected.kind == "ok", row["file"]


def parse_and_validate(data: bytes) -> SipRequest | SipResponse:
    msg = parse_message(data)
    if isinstance(msg, SipRequest):
        validate_request(msg)
    else:
        validate_response(msg)
    return msg


@pytest.mark.parametrize("name", FILES)
def test_datagram_outcome(name: str) -> None:
    data = (torture_dir() / name).read_bytes()
    expected = EXPECTED[name]
    try:
        msg = parse_and_validate(data)
    except RemoteProtocolError as exc:
        assert expected.kind != "ok", f"{name}: unexpected rejection {exc.status_hint} {exc.reason}"
        if expected.kind == "drop":
            assert exc.status_hint is None, name
        else:
            assert exc.status_hint == expected.status, f"{name}: {exc.status_hint} {exc.reason}"
            assert isinstance(exc.partial, SipRequest), f"{name}: nothing to answer with"
            if b"\nVia:" in data:  # test.dat has none
                assert exc.partial.headers.get("Via") is not None, f"{name}: partial without its Via"
        return
    assert expected.kind == "ok", f"{name}: accepted, expected {expected}"
    msg.serialize()


@pytest.mark.parametrize("name", FILES)
def test_stream_outcome(name: str) -> None:
    data = (torture_dir() / name).read_bytes()
    expected = STREAM.get(name, "wait" if name.startswith("rfc5118/") else "one")
    framer = StreamFramer()
    if isinstance(expected, tuple):
        with pytest.raises(RemoteProtocolError) as info:
            framer.feed(data)
        assert info.value.status_hint == expected[1]
        return
    out = framer.feed(data)
    if expected == "wait":
        assert out == [] and framer.buffered == len(data) and framer.pending_error is None
    elif expected == "one":
        assert out == [data] and framer.buffered == 0
        # the framed message parses on the stream exactly as the datagram did (or fails the same way)
        try:
            parse_message(data, datagram=False)
        except RemoteProtocolError:
            assert EXPECTED[name].kind != "ok"
    else:
        assert len(out) >= 1 and framer.pending_error is not None


def test_stream_outcome_byte_by_byte() -> None:
    """The whole corpus of framable files as one TCP stream, fed in 7-octet pieces."""
    names = [n for n in FILES if not n.startswith("rfc5118/") and n not in STREAM]
    stream = b"".join((torture_dir() / n).read_bytes() for n in names)
    framer = StreamFramer()
    out: list[bytes | KeepAlive] = []
    for i in range(0, len(stream), 7):
        out.extend(framer.feed(stream[i : i + 7]))
    assert out == [(torture_dir() / n).read_bytes() for n in names]


# -- what the accepted messages mean ------------------------------------------------------------------------------
def load(name: str) -> SipRequest | SipResponse:
    return parse_and_validate((torture_dir() / name).read_bytes())


def req(name: str) -> SipRequest:
    msg = load(name)
    assert isinstance(msg, SipRequest)
    return msg


def check_wsinv() -> None:
    m = req("rfc4475/wsinv.dat")
    assert m.request_uri.params == {"unknownparam": None}
    assert m.to.tag == "1918181833n" and m.from_.tag == "98asjd8"
    assert m.from_.display == 'J Rosenberg \\"'
    assert m.max_forwards == 68 and m.cseq.number == 9 and m.cseq.method == "INVITE"
    assert [v.branch for v in m.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"  # kept opaque
    (contact,) = m.contacts
    assert contact.display == 'Quoted string ""' and contact.params["newparam"] == "newvalue"
    assert len(m.body) == 150


def check_intmeth() -> None:
    m = req("rfc4475/intmeth.dat")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~" == m.cseq.method
    assert m.request_uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.request_uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def check_escapes() -> None:
    m = req("rfc4475/esc01.dat")
    assert m.request_uri.unescaped_user == "sips:user@example.com" and m.request_uri.host == "example.net"
    assert m.to.uri is not None and m.to.uri.unescaped_user == "user"
    assert m.from_.uri is not None and m.from_.uri.unescaped_user == "I have spaces"
    n = req("rfc4475/escnull.dat")
    users = [c.uri.unescaped_user for c in n.contacts if c.uri is not None]
    assert users == ["\x00", "\x00\x00"]
    assert n.to.uri is not None and n.to.uri.unescaped_user == "null-\x00-null"
    e = req("rfc4475/esc02.dat")
    assert e.method == "RE%47IST%45R" and e.to.display == "%Z%45"
    assert len(e.contacts) == 2 and e.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def check_misc_valid() -> None:
    assert req("rfc4475/lwsdisp.dat").from_.display == "caller"
    long = req("rfc4475/longreq.dat")
    assert len(long.vias) == 34 and long.vias[-1].branch is not None and long.top_via.branch is None
    assert long.to.uri is not None and long.to.uri.port == 6000
    dbl = req("rfc4475/dblreq.dat")
    assert dbl.method == "REGISTER" and dbl.body == b""
    semi = req("rfc4475/semiuri.dat")
    assert semi.request_uri.user == "user;par=u%40example.net" and semi.request_uri.host == "example.com"
    assert len(semi.headers.values("Accept")) == 6
    assert [v.transport for v in req("rfc4475/transports.dat").vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    mpart = req("rfc4475/mpart01.dat")
    assert len(mpart.body) == 553 and b"\x00" in mpart.body
    unreason = load("rfc4475/unreason.dat")
    assert isinstance(unreason, SipResponse) and unreason.reason.startswith("= 2**3 * 5**2 но")
    noreason = load("rfc4475/noreason.dat")
    assert isinstance(noreason, SipResponse) and noreason.status == 100 and noreason.reason == ""


def check_application() -> None:
    assert req("rfc4475/unkscm.dat").request_uri.opaque == "totallyopaquecontent"
    assert req("rfc4475/novelsc.dat").request_uri.scheme == "soap.beep"
    unk = req("rfc4475/unksm2.dat")
    assert unk.to.uri is not None and unk.to.uri.scheme == "isbn" and not unk.to.uri.is_sip
    assert [c.uri.scheme for c in unk.contacts if c.uri is not None] == ["name"]
    (c1,) = req("rfc4475/cparam01.dat").contacts
    assert c1.uri is not None and c1.uri.params == {} and c1.params == {"unknownparam": None}
    (c2,) = req("rfc4475/cparam02.dat").contacts
    assert c2.uri is not None and c2.uri.params == {"unknownparam": None} and c2.params == {}
    (c3,) = req("rfc4475/regescrt.dat").contacts
    assert c3.uri is not None and c3.uri.headers == "Route=%3Csip:sip.example.com%3E"
    assert req("rfc4475/zeromf.dat").max_forwards == 0
    assert not req("rfc4475/badbranch.dat").top_via.has_rfc3261_branch
    inv = req("rfc4475/inv2543.dat")
    assert inv.top_via.branch is None and inv.body.startswith(b"v=0") and inv.max_forwards is None
    with pytest.raises(RemoteProtocolError):
        validate_request(inv, require_branch=True)


def check_ipv6() -> None:
    for prefix in ("rfc5118/", "rfc5118-wire/"):
        amb = req(prefix + "port-ambiguous.dat").request_uri
        assert (amb.host, amb.port) == ("[2001:db8::10:5070]", None)
        unamb = req(prefix + "port-unambiguous.dat").request_uri
        assert (unamb.host, unamb.port) == ("[2001:db8::10]", 5070)
        assert req(prefix + "via-received-param-with-delim.dat").top_via.received == "[2001:db8::9:255]"
        no_delim = req(prefix + "via-received-param-no-delim.dat").top_via
        assert no_delim.received == "2001:db8::9:255" and no_delim.branch == "z9hG4bKas3"
        vias = req(prefix + "mult-ip-in-header.dat").vias
        assert [(v.host, v.port) for v in vias] == [("[2001:db8::9:1]", 6050), ("192.0.2.1", None),
                                                    ("[2001:db8::9:255]", None)]
        assert vias[2].received == "192.0.2.200"
        mapped = req(prefix + "ipv4-mapped-ipv6.dat")
        assert (mapped.top_via.host, mapped.top_via.port) == ("[::ffff:192.0.2.10]", 19823)
        assert mapped.contacts[0].uri is not None and mapped.contacts[0].uri.host == "[::ffff:192.0.2.2]"
        assert req(prefix + "ipv6-bug-abnf-3-colons.dat").request_uri.host == "[2001:db8:::192.0.2.1]"
        assert req(prefix + "ipv6-correct-abnf-2-colons.dat").request_uri.host == "[2001:db8::192.0.2.1]"
        assert req(prefix + "ipv6-good.dat").request_uri.host == "[2001:db8::10]"
    assert len(req("rfc5118-wire/ipv6-in-sdp.dat").body) == 251


CHECKS: list[Callable[[], None]] = [check_wsinv, check_intmeth, check_escapes, check_misc_valid,
                                    check_application, check_ipv6]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_meaning(check: Callable[[], None]) -> None:
    check()
