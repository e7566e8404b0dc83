"""RFC 4475 / RFC 5118 torture messages replayed on the wire against one running server, over UDP and TCP.

Every file of `shared/conformance/torture/MANIFEST.tsv` meant for the wire is sent as one datagram (UDP)
and on its own connection (TCP), and the outcome class is checked against the table below: a rejection with
exactly the status named there, silence (DISCARD), or, for messages that are valid or that we choose to
tolerate, any final answer that is not a parse rejection. After the whole corpus the server must still
answer OPTIONS on UDP and TCP, be alive, and have logged no Traceback.

Not sent: the `rfc5118/` originals. Their lines end with a bare LF, which RFC 3261 §7 does not allow on the
wire, and two of their bodies do not match their Content-Length (archive quirks noted in the manifest);
`rfc5118-wire/` holds the same messages with CRLF and a corrected Content-Length, and those are sent.

How the bytes are sent (TCP first, then UDP, for each file):
- TCP: the file's bytes on a fresh connection. RFC 3261 §18.3 frames a stream by Content-Length only, so a
  file whose Content-Length is larger than its body (clerr) or whose header section never ends (the archive
  copy of baddn) must make the server WAIT for more (no answer); one without a usable Content-Length (ncl,
  mcl01, inv2543) must make it CLOSE the connection (a 400 first is allowed).
- UDP: the server answers where RFC 3261 §18.2.2 says, i.e. to the source address but to the port of the top
  Via's sent-by (5060 when absent), a port these tests may not bind. So `;rport` (RFC 3581) is inserted right
  after the top Via's sent-by, so that the answer comes back to the test socket.
- Both: several files reuse one transaction identifier (e.g. unkscm and novelsc, cparam01 and cparam02, four
  RFC 5118 REGISTERs share branch z9hG4bKas3-111 and sent-by), and each file is sent twice. A correct server
  takes such a repeat for a retransmission and re-sends its first answer to the first sender. So the top Via's
  branch value gets a unique suffix (`-r<N><u|t>`), except badbranch's bare `z9hG4bK`, whose emptiness is the
  point of that file. Files without a branch (longreq, inv2543) are kept as they are: TCP goes first and every
  non-2xx final answer to an INVITE is ACKed like a real client would, which ends the server transaction at
  once on TCP (RFC 3261 §17.2.1 timer I = 0), so the UDP copy starts a new one.
- Responses (unreason, noreason, scalarlg, bigcode, bcast) are sent unchanged and must never be answered.
These are the only changes made to the corpus' bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.server import (
    ServerError,
    ServerProcess,
    header_values,
    options_ok,
    status_code,
)
from tests.helpers.shared import torture_dir

pytestmark = pytest.mark.integration

# Final statuses that mean "I could not parse / will not read this": never acceptable for a valid message.
PARSE_REJECTIONS = frozenset({400, 413, 414, 505, 513})
# A 500 means the server failed on the message: never acceptable either.
NEVER_FOR_VALID = PARSE_REJECTIONS | {500}

DISCARD_WAIT = 0.5  # seconds of silence that count as "no answer"
ANSWER_WAIT = 3.0  # seconds to wait for an answer that must come


@dataclass(frozen=True)
class Expect:
    """One outcome class.

    kind: "reject" (a final answer whose status is in `codes`), "accept" (a final answer not in
    NEVER_FOR_VALID, and in `codes` when `codes` is given), "discard" (no answer at all), "wait" (TCP: no
    answer, the server waits for the rest), "close" (TCP: the server closes the connection; answers before
    the close, if any, have a status in `codes`).
    """

    kind: str
    codes: frozenset[int] = frozenset()
    why: str = ""
    server_gap: str = ""  # non-empty: a known server shortcoming, run as a strict xfail until it is fixed


def reject(*codes: int, why: str = "") -> Expect:
    return Expect("reject", frozenset(codes), why)


def accept(*codes: int, why: str = "") -> Expect:
    return Expect("accept", frozenset(codes), why)


DISCARD = Expect("discard", why="a response matching none of our transactions: dropped (RFC 3261 §18.1.2)")
WAIT = Expect("wait", why="TCP: Content-Length says more is coming: wait for it (no answer)")
CLOSE = Expect("close", frozenset({400}), why="TCP: framing is lost without a usable Content-Length: close")

# (UDP expectation, TCP expectation) for every file meant for the wire. Where RFC 4475 / RFC 5118 allow a
# choice, the choice made for a registrar / B2BUA (which is the UAS of every request it receives) is stated.
EXPECTED: dict[str, tuple[Expect, Expect]] = {
    # --- RFC 4475 §3.1.1: valid messages --------------------------------------------------------------------
    "rfc4475/wsinv.dat": (accept(), accept()),
    "rfc4475/intmeth.dat": (
        reject(501, why="an endpoint answers an unknown method with 501 + Allow (RFC 4475 §3.1.1.2)"),
        reject(501),
    ),
    "rfc4475/esc01.dat": (accept(), accept()),
    "rfc4475/escnull.dat": (accept(), accept()),
    "rfc4475/esc02.dat": (
        reject(501, why="RE%47IST%45R is an unknown method, not REGISTER: 501 (RFC 4475 §3.1.1.5)"),
        reject(501),
    ),
    "rfc4475/lwsdisp.dat": (accept(), accept()),
    "rfc4475/longreq.dat": (accept(), accept()),
    "rfc4475/dblreq.dat": (
        accept(why="the REGISTER is answered; the trailing INVITE octets of the datagram are ignored"),
        accept(why="TCP: the REGISTER (Content-Length 0) is answered first"),
    ),
    "rfc4475/semiuri.dat": (accept(), accept()),
    "rfc4475/transports.dat": (accept(), accept()),
    "rfc4475/mpart01.dat": (accept(), accept()),
    "rfc4475/unreason.dat": (DISCARD, DISCARD),
    "rfc4475/noreason.dat": (DISCARD, DISCARD),
    # --- RFC 4475 §3.1.2: invalid messages ------------------------------------------------------------------
    "rfc4475/badinv01.dat": (
        reject(400, why="the top Via itself does not parse: the 400 goes to the packet's source"),
        reject(400),
    ),
    "rfc4475/clerr.dat": (reject(400, why="UDP: the datagram is all there is"), WAIT),
    "rfc4475/ncl.dat": (reject(400, why="negative Content-Length, readable header section: 400"), CLOSE),
    "rfc4475/scalar02.dat": (reject(400), reject(400)),
    "rfc4475/scalarlg.dat": (DISCARD, DISCARD),
    "rfc4475/quotbal.dat": (reject(400), reject(400)),
    "rfc4475/ltgtruri.dat": (reject(400), reject(400)),
    "rfc4475/lwsruri.dat": (reject(400), reject(400)),
    "rfc4475/lwsstart.dat": (
        reject(400, why="choice: reject rather than tolerate, so the extra SP can never be forwarded"),
        reject(400),
    ),
    "rfc4475/trws.dat": (reject(400, why="choice: reject, as lwsstart"), reject(400)),
    "rfc4475/escruri.dat": (
        reject(400, why="choice: ?headers are not allowed in a Request-URI (RFC 3261 §19.1.1): 400"),
        reject(400),
    ),
    "rfc4475/baddate.dat": (accept(why="the Date header field does not matter here: ignored"), accept()),
    "rfc4475/regbadct.dat": (
        reject(400, why="the Contact is checked with the other header fields, before authentication"),
        reject(400),
    ),
    "rfc4475/badaspec.dat": (reject(400), reject(400)),
    "rfc4475/baddn.dat": (
        reject(400, why="UDP: the datagram ends the (unterminated) header section; the display name is bad"),
        Expect("wait", why="TCP: the archive copy never ends its header section: wait for the rest"),
    ),
    "rfc4475/badvers.dat": (reject(505), reject(505)),
    "rfc4475/mismatch01.dat": (reject(400), reject(400)),
    "rfc4475/mismatch02.dat": (
        reject(400, why="choice: the CSeq/method mismatch makes the message malformed before the method is "
                        "looked at (RFC 4475 §3.1.2.18 allows 400)"),
        reject(400),
    ),
    "rfc4475/bigcode.dat": (DISCARD, DISCARD),
    # --- RFC 4475 §3.2 / §3.3: transaction and application layer --------------------------------------------
    "rfc4475/badbranch.dat": (
        accept(why="choice: a bare z9hG4bK branch falls back to RFC 2543 matching; the OPTIONS is answered"),
        accept(),
    ),
    "rfc4475/insuf.dat": (reject(400), reject(400)),
    "rfc4475/unkscm.dat": (reject(416), reject(416)),
    "rfc4475/novelsc.dat": (reject(416, why="choice: 416 rather than 404 (RFC 4475 §3.3.3)"), reject(416)),
    "rfc4475/unksm2.dat": (
        reject(400, why="a registrar: To must be a SIP/SIPS AOR (RFC 3261 §10.3 step 3)"),
        reject(400),
    ),
    "rfc4475/bext01.dat": (reject(420), reject(420)),
    "rfc4475/invut.dat": (
        reject(415, why="the B2BUA is the UAS of the INVITE: 415 + Accept (an endpoint, RFC 4475 §3.3.6)"),
        reject(415),
    ),
    "rfc4475/regaut01.dat": (
        reject(401, why="a registrar that authenticates: a new Digest challenge"),
        reject(401),
    ),
    "rfc4475/multi01.dat": (reject(400), reject(400)),
    "rfc4475/mcl01.dat": (
        reject(400, why="UDP: two differing Content-Length values, header section readable: 400"),
        CLOSE,
    ),
    "rfc4475/bcast.dat": (DISCARD, DISCARD),
    "rfc4475/zeromf.dat": (
        accept(200, why="Max-Forwards 0 matters to proxies only: the UAS answers the OPTIONS (never 483)"),
        accept(200),
    ),
    "rfc4475/cparam01.dat": (
        accept(401, why="RFC 4475 expects a 200 from a registrar that accepts it; ours authenticates first "
                        "(RFC 3261 §10.3 step 4)"),
        accept(401),
    ),
    "rfc4475/cparam02.dat": (accept(401, why="as cparam01"), accept(401)),
    "rfc4475/regescrt.dat": (accept(401, why="as cparam01"), accept(401)),
    "rfc4475/sdp01.dat": (
        reject(406, why="choice: 406 (+ Warning), the answer RFC 4475 §3.3.15 names first"),
        reject(406),
    ),
    "rfc4475/inv2543.dat": (
        accept(why="RFC 2543 syntax is tolerated over UDP (body = rest of the datagram)"),
        CLOSE,  # no Content-Length on a stream (RFC 3261 §20.14: mandatory on TCP)
    ),
    "rfc4475/test.dat": (
        Expect("discard", why="the archive's leftover (no SIP-Version, a header without ':') has no Via and "
                              "no CSeq: no response can be built (RFC 3261 §8.2.6.2), so it is dropped"),
        Expect("discard", why="as over UDP"),
    ),
    # --- RFC 5118, wire form (CRLF, corrected Content-Length) -----------------------------------------------
    "rfc5118-wire/ipv6-good.dat": (accept(), accept()),
    "rfc5118-wire/ipv6-bad.dat": (reject(400), reject(400)),
    "rfc5118-wire/port-ambiguous.dat": (accept(), accept()),
    "rfc5118-wire/port-unambiguous.dat": (accept(), accept()),
    "rfc5118-wire/via-received-param-with-delim.dat": (
        accept(why="tolerated (RFC 5118 §4.5: robust implementations parse the top Via and go on)"),
        accept(),
    ),
    "rfc5118-wire/via-received-param-no-delim.dat": (accept(), accept()),
    "rfc5118-wire/ipv6-in-sdp.dat": (accept(), accept()),
    "rfc5118-wire/mult-ip-in-header.dat": (accept(), accept()),
    "rfc5118-wire/mult-ip-in-sdp.dat": (accept(), accept()),
    "rfc5118-wire/ipv4-mapped-ipv6.dat": (accept(), accept()),
    "rfc5118-wire/ipv6-bug-abnf-3-colons.dat": (
        accept(why="RFC 5118 §4.10: an implementation must tolerate both constructs"),
        accept(),
    ),
    "rfc5118-wire/ipv6-correct-abnf-2-colons.dat": (accept(), accept()),
    # --- variants -------------------------------------------------------------------------------------------
    "variants/baddn.ersip-phpsip-terminated.dat": (reject(400), reject(400)),
}

NOT_FOR_THE_WIRE_PREFIX = "rfc5118/"  # bare-LF originals: see the module docstring


# -- the manifest ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestEntry:
    file: str
    cls: str
    expected: str
    sha256: str


def manifest() -> list[ManifestEntry]:
    lines = (torture_dir() / "MANIFEST.tsv").read_text("utf-8").splitlines()
    header = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split("\t"), strict=False))
        out.append(ManifestEntry(row["file"], row["class"], row["expected"], row["sha256"]))
    return out


def test_table_covers_every_wire_file_of_the_manifest() -> None:
    """The expectation table names exactly the manifest's wire files, whose bytes are intact."""
    entries = manifest()
    wire = {e.file for e in entries if not e.file.startswith(NOT_FOR_THE_WIRE_PREFIX)}
    assert set(EXPECTED) == wire, (
        f"missing from the table: {sorted(wire - set(EXPECTED))}; not in the manifest: "
        f"{sorted(set(EXPECTED) - wire)}"
    )
    for entry in entries:
        data = (torture_dir() / entry.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256, f"{entry.file} does not match the manifest"
    for name, (udp, tcp) in EXPECTED.items():
        for expect in (udp, tcp):
            assert expect.kind in ("reject", "accept", "discard", "wait", "close"), name
            assert not (expect.kind == "reject" and not expect.codes), name
    for entry in entries:
        if entry.file in EXPECTED and "response" in entry.cls:
            assert EXPECTED[entry.file] == (DISCARD, DISCARD), f"{entry.file}: a response is never answered"


# -- sending -----------------------------------------------------------------------------------------------
_W = rb"(?:[ \t]|\r\n[ \t])*"  # linear white space, folding included
_TOP_VIA = re.compile(
    rb"(?im)^(?:via|v)" + _W + rb":" + _W + rb"SIP" + _W + rb"/" + _W + rb"[0-9]+\.[0-9]+" + _W + rb"/" + _W
    + rb"[A-Za-z]+" + _W + rb"(\[[^\]\r\n]*\](?::[0-9]+)?|[^;,\s]+)"
)


_BRANCH = re.compile(rb"(?i);" + _W + rb"branch" + _W + rb"=" + _W + rb"([^;,\s]*)")
_counter = itertools.count(1)


def _top_via_params_span(head: bytes, start: int) -> int:
    """End of the top Via's parameters: the first comma (next Via value) or end of the header field."""
    m = re.search(rb",|\r\n(?![ \t])", head[start:])
    return len(head) if m is None else start + m.start()


def prepare(data: bytes, transport: str, *, unique: bool = True) -> bytes:
    """The bytes to send (see the module docstring): `;rport` for UDP, a unique branch suffix."""
    if data.startswith(b"SIP/"):
        return data
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    match = _TOP_VIA.search(head)
    if match is None:
        return data
    params_end = _top_via_params_span(head, match.end())
    params = head[match.end():params_end]
    out = data
    branch = _BRANCH.search(params)
    if unique and branch is not None and branch.group(1) and branch.group(1).lower() != b"z9hg4bk":
        at = match.end() + branch.end(1)
        out = out[:at] + f"-r{next(_counter)}{transport[0]}".encode() + out[at:]
    if transport == "udp" and not re.search(rb"(?i);" + _W + rb"rport", params):
        out = out[: match.end()] + b";rport" + out[match.end():]
    return out


def with_rport(data: bytes) -> bytes:
    """`data` with `;rport` after the top Via's sent-by (requests only), branch untouched."""
    return prepare(data, "udp", unique=False)


def test_with_rport_only_touches_the_top_via() -> None:
    sample = (b"OPTIONS sip:a@b SIP/2.0\r\nv:  SIP  /  2.0\r\n  /UDP\r\n    192.0.2.2;branch=x\r\n"
              b"Via: SIP/2.0/UDP 192.0.2.3;branch=y\r\nl: 0\r\n\r\n")
    assert with_rport(sample) == sample.replace(b"192.0.2.2;branch=x", b"192.0.2.2;rport;branch=x")
    v6 = b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z\r\n\r\n"
    assert b"[2001:db8::9:1]:5060;rport;branch=z" in with_rport(v6)
    already = b"MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z;rport\r\n\r\n"
    assert with_rport(already) == already
    assert with_rport(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z\r\n\r\n").count(b"rport") == 0
    for name in EXPECTED:
        data = (torture_dir() / name).read_bytes()
        if not data.startswith(b"SIP/"):
            changed = with_rport(data)
            assert changed == data or len(changed) == len(data) + len(b";rport"), name


def test_prepare_makes_branches_unique_but_keeps_the_traps() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5060 ; branch = z9hG4bKkdjuw, SIP/2.0/UDP g\r\n\r\n"
    once, twice = prepare(data, "tcp"), prepare(data, "tcp")
    assert once != twice and b"rport" not in once
    assert re.search(rb"branch = z9hG4bKkdjuw-r[0-9]+t, SIP/2.0/UDP g", once), once
    bare = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK\r\n\r\n"
    assert prepare(bare, "tcp") == bare  # badbranch's trap stays
    assert prepare(bare, "udp") == bare.replace(b"UDP h;", b"UDP h;rport;")
    none = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nl: 0\r\n\r\n"
    assert prepare(none, "tcp") == none


@dataclass
class Outcome:
    responses: list[bytes]
    closed: bool  # TCP: the server closed the connection

    @property
    def finals(self) -> list[bytes]:
        return [r for r in self.responses if (status_code(r) or 0) >= 200]

    def codes(self) -> list[int | None]:
        return [status_code(r) for r in self.responses]


def _split_messages(buffer: bytearray) -> list[bytes]:
    """Complete messages at the start of `buffer` (removed from it); leading CRLFs (pongs) are skipped."""
    out: list[bytes] = []
    while True:
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return out
        length = 0
        for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                with contextlib.suppress(ValueError):
                    length = int(value.strip())
        total = end + 4 + length
        if len(buffer) < total:
            return out
        out.append(bytes(buffer[:total]))
        del buffer[:total]


def ack_for(request: bytes, response: bytes) -> bytes | None:
    """The ACK a client sends for a 300-699 answer to its INVITE (RFC 3261 §17.1.1.3), built from the answer
    (its top Via, From, To with tag, Call-ID, CSeq number) and the request's Request-URI; None otherwise."""
    code = status_code(response) or 0
    cseq = header_values(response, "CSeq") or header_values(response, "c")
    if code < 300 or code in PARSE_REJECTIONS or not cseq or not cseq[0].upper().endswith("INVITE"):
        return None
    start_line = request.split(b"\r\n", 1)[0].split()
    vias = header_values(response, "Via") or header_values(response, "v")
    if len(start_line) != 3 or not vias:
        return None
    number = cseq[0].split()[0]
    fields = [
        f"Via: {vias[0].split(',', 1)[0]}",
        "Max-Forwards: 70",
        *(f"From: {v}" for v in (header_values(response, "From") or header_values(response, "f"))[:1]),
        *(f"To: {v}" for v in (header_values(response, "To") or header_values(response, "t"))[:1]),
        *(f"Call-ID: {v}" for v in (header_values(response, "Call-ID") or header_values(response, "i"))[:1]),
        f"CSeq: {number} ACK",
        "Content-Length: 0",
    ]
    return b"ACK " + start_line[1] + b" SIP/2.0\r\n" + "\r\n".join(fields).encode() + b"\r\n\r\n"


def send_udp(server: ServerProcess, data: bytes, expect: Expect) -> Outcome:
    responses: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((server.host, 0))
        sock.sendto(data, (server.host, server.port))
        wait = DISCARD_WAIT if expect.kind in ("discard", "wait") else ANSWER_WAIT
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                reply, _ = sock.recvfrom(65535)
            except TimeoutError:
                break
            responses.append(reply)
            if (status_code(reply) or 0) >= 200:
                ack = ack_for(data, reply)
                if ack is not None:
                    sock.sendto(ack, (server.host, server.port))
                # one more short look: a second final answer (e.g. to dblreq's trailing INVITE) is a failure
                deadline = min(deadline, time.monotonic() + 0.3)
    return Outcome(responses, closed=False)


def send_tcp(server: ServerProcess, data: bytes, expect: Expect) -> Outcome:
    responses: list[bytes] = []
    closed = False
    buffer = bytearray()
    with socket.create_connection((server.host, server.port), timeout=ANSWER_WAIT) as sock:
        sock.sendall(data)
        wait = DISCARD_WAIT if expect.kind in ("discard", "wait") else ANSWER_WAIT
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buffer.extend(chunk)
            for message in _split_messages(buffer):
                responses.append(message)
                ack = ack_for(data, message) if (status_code(message) or 0) >= 200 else None
                if ack is not None:
                    with contextlib.suppress(OSError):
                        sock.sendall(ack)
            if expect.kind in ("accept", "reject") and any((status_code(r) or 0) >= 200 for r in responses):
                break
    if buffer.strip(b"\r\n"):
        responses.append(bytes(buffer))  # a partial answer: shown in the failure message
    return Outcome(responses, closed)


def check(name: str, transport: str, expect: Expect, outcome: Outcome) -> None:
    codes = outcome.codes()
    finals = [status_code(r) for r in outcome.finals]
    shown = "\n".join(r[:300].decode("utf-8", "replace") for r in outcome.responses) or "(nothing)"
    where = (f"{name} over {transport} (expected {expect.kind} {sorted(expect.codes)} {expect.why}); "
             f"got {codes}, closed={outcome.closed}\n{shown}")
    if expect.kind == "discard" or expect.kind == "wait":
        assert not outcome.responses, where
    elif expect.kind == "close":
        assert outcome.closed, where
        assert all(code in expect.codes for code in codes if code is not None and code >= 200), where
    elif expect.kind == "reject":
        assert len(finals) >= 1, where
        assert finals[0] in expect.codes, where
    elif expect.kind == "accept":
        assert len(finals) >= 1, where
        assert finals[0] not in NEVER_FOR_VALID, where
        if expect.codes:
            assert finals[0] in expect.codes, where
    if transport == "udp" and expect.kind in ("accept", "reject"):
        assert len(finals) == 1, f"one request, one final answer expected: {where}"


# -- the server --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("torture")
    server = ServerProcess.start(base / "data", log_dir=base)
    try:
        yield server
    finally:
        with contextlib.suppress(ServerError):
            server.stop()


CASES = [(name, transport) for name in EXPECTED for transport in ("tcp", "udp")]  # TCP first: see the docstring


@pytest.mark.parametrize(("name", "transport"), CASES, ids=[f"{n.split('/', 1)[1]}-{t}" for n, t in CASES])
def test_torture_message(request: pytest.FixtureRequest, torture_server: ServerProcess, name: str,
                         transport: str) -> None:
    path: Path = torture_dir() / name
    data = path.read_bytes()
    udp_expect, tcp_expect = EXPECTED[name]
    gap = (udp_expect if transport == "udp" else tcp_expect).server_gap
    if gap:
        request.applymarker(pytest.mark.xfail(reason=f"server gap: {gap}", strict=True))
    if transport == "udp":
        outcome = send_udp(torture_server, prepare(data, "udp"), udp_expect)
        expect = udp_expect
    else:
        outcome = send_tcp(torture_server, prepare(data, "tcp"), tcp_expect)
        expect = tcp_expect
    assert torture_server.alive(), f"the server died on {name} over {transport}\n{torture_server.describe()}"
    check(name, transport, expect, outcome)
    if expect.kind == "reject" and 420 in expect.codes:
        assert header_values(outcome.finals[0], "Unsupported"), "420 must list the Unsupported option tags"


def test_server_survives_the_corpus(torture_server: ServerProcess) -> None:
    """After every torture message (this test runs last in this module): still answering, alive, no
    Traceback in its log. Also replays the whole corpus back to back on one TCP connection per file first,
    in case ordering matters."""
    for name in EXPECTED:
        data = (torture_dir() / name).read_bytes()
        with contextlib.suppress(OSError), socket.create_connection(
            (torture_server.host, torture_server.port), timeout=1
        ) as sock:
            sock.sendall(prepare(data, "tcp"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(prepare(data, "udp"), (torture_server.host, torture_server.port))
    assert torture_server.alive(), torture_server.describe()
    assert options_ok(torture_server.host, torture_server.port, transport="udp", timeout=2.0), \
        torture_server.describe()
    assert options_ok(torture_server.host, torture_server.port, transport="tcp", timeout=2.0), \
        torture_server.describe()
    assert torture_server.alive(), torture_server.describe()
    assert "Traceback" not in torture_server.stderr_text(), torture_server.describe()
