"""Parser throughput: a typical 650-byte INVITE through `parse_message` plus the accessors routing needs.

Run: `python benchmarks/parser_bench.py [--seconds N] [--profile]`. Prints parses per second on one core for:
tokenizing only; tokenizing + the accessors routing needs (top Via branch, CSeq, Call-ID, From tag, To tag,
Request-URI: the figure the target is about, >= 100,000/s); the same + `validate_request`; the same INVITE made
unique per message (branch, From tag, Call-ID, CSeq: what a real peer sends, so the value memos miss); a
180 Ringing with its accessors.
The figures are the best batch of 2,000 parses over the time given: this machine is shared and noisy, run it
twice and compare ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sipserver.message import SipRequest
from sipserver.parser import parse_message, validate_request

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY\r\n"
    b"User-Agent: Yealink SIP-T46U 108.86.0.20\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 130\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0 8 101\r\n"
)


RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;received=192.0.2.101;rport=5060\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n'
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _unique_invites(n: int) -> list[bytes]:
    """`n` variants of INVITE as a real peer sends them: each with its own branch, From tag, Call-ID and CSeq
    (more than the parsers' memos hold, so those lines and values are parsed for real every time)."""
    out = []
    for i in range(n):
        msg = (
            INVITE.replace(b"z9hG4bK776asdhds", b"z9hG4bK%08dx" % i)
            .replace(b"tag=1928301774", b"tag=%010d" % (i * 7919))
            .replace(b"a84b4c76e66710", b"%014x" % (i * 104729))
            .replace(b"314159 INVITE", b"%d INVITE" % (i % 1000000 + 1))
        )
        out.append(msg)
    return out


_COLD = _unique_invites(20000)
_cold_index = 0


def _route_cold() -> None:
    global _cold_index
    _cold_index = (_cold_index + 1) % len(_COLD)
    msg = parse_message(_COLD[_cold_index])
    assert isinstance(msg, SipRequest)
    msg.top_via.branch  # noqa: B018
    msg.cseq  # noqa: B018
    msg.call_id  # noqa: B018
    msg.from_.tag  # noqa: B018
    msg.to.tag  # noqa: B018
    msg.request_uri  # noqa: B018


def _parse_only() -> None:
    parse_message(INVITE)


def _route() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, SipRequest)
    msg.top_via.branch  # noqa: B018
    msg.cseq  # noqa: B018
    msg.call_id  # noqa: B018
    msg.from_.tag  # noqa: B018
    msg.to.tag  # noqa: B018
    msg.request_uri  # noqa: B018


def _route_response() -> None:
    msg = parse_message(RINGING)
    msg.top_via.branch  # noqa: B018
    msg.cseq  # noqa: B018
    msg.call_id  # noqa: B018
    msg.from_.tag  # noqa: B018
    msg.to.tag  # noqa: B018


def _route_validate() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, SipRequest)
    validate_request(msg)
    msg.top_via.branch  # noqa: B018
    msg.from_.tag  # noqa: B018
    msg.to.tag  # noqa: B018


def _rates(workloads: list[Callable[[], None]], seconds: float) -> list[float]:
    """Best rate of each workload, the workloads interleaved batch by batch (so that a noisy neighbour
    slows them all alike)."""
    best = [0.0] * len(workloads)
    deadline = time.perf_counter() + seconds * len(workloads)
    while time.perf_counter() < deadline:
        for i, fn in enumerate(workloads):
            n = 2000
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[i] = max(best[i], n / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per workload")
    ap.add_argument("--profile", action="store_true", help="profile the routing workload")
    args = ap.parse_args()
    print(f"message: {len(INVITE)} bytes; best of {args.seconds:.0f} s per workload, one core")
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("for _ in range(50000): _route()", globals(), locals(), "/tmp/parser_bench.prof")
        pstats.Stats("/tmp/parser_bench.prof").sort_stats("tottime").print_stats(20)
        return
    workloads = [
        ("parse_message only", _parse_only),
        ("parse_message + routing accessors", _route),
        ("parse_message + validate_request + accessors", _route_validate),
        ("same INVITE, unique branch/tag/Call-ID/CSeq: accessors", _route_cold),
        ("180 Ringing + routing accessors", _route_response),
    ]
    for (label, _), rate in zip(workloads, _rates([fn for _, fn in workloads], args.seconds), strict=True):
        print(f"{label:56} {rate:>10,.0f} /s  ({1e6 / rate:.2f} us)")


if __name__ == "__main__":
    main()
