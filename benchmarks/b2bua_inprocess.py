"""CPU cost of one B2BUA call through the whole server core, without sockets: prints µs/call and a profile.

A simulated carrier (trusted trunk address, so no digest round trip) calls the DID of demo user 202, whose
phone is registered at a fake address; the simulated phone answers 180/200, the carrier ACKs and hangs up, the
phone answers the BYE. Every message goes through the real parser, transaction layer, application, call
controller and serializer; only the sockets are missing. The simulators build their messages from templates
and read what they need with `bytes.find`, so nearly all the measured time is the server's.

    python benchmarks/b2bua_inprocess.py [--calls 5000] [--profile]
    python benchmarks/b2bua_inprocess.py --memory 5000   # tracemalloc bytes per established call

With `--memory N`, N calls are set up and left established (no BYE), fake time is moved past every transaction
timer, and the growth of Python's heap (tracemalloc) divided by N is printed: the steady-state memory of an
established call, without allocator fragmentation or the transactions of the last 32 s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import time
import tracemalloc

from provisioning.demo import demo_group_description
from provisioning.store import InMemorySubscriberStore
from sipserver.address import Endpoint
from sipserver.aio.application import Application
from sipserver.aio.batching import BindingWriter
from sipserver.aio.calls import CallController
from sipserver.b2bua.admission import Admission, AdmissionPolicy
from sipserver.b2bua.call import LocalAddress
from sipserver.b2bua.cdr import InMemoryCallLogStore
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import Binding, BindingChange, InMemoryLocationStore, LocationService
from sipserver.digest import DigestAuthenticator
from sipserver.stack import SipStack

CARRIER = Endpoint("udp", "127.0.0.1", 5090)
PHONE = Endpoint("udp", "127.0.0.1", 7002)
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def field(message: bytes, name: bytes) -> bytes:
    start = message.find(b"\r\n" + name + b": ") + len(name) + 4
    return message[start:message.find(b"\r\n", start)]


def carrier_invite(n: int) -> bytes:
    return (
        f"INVITE sip:+3222211202@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-c{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:+3225550{n % 1000:03d}@carrier.example>;tag=cf{n}\r\n"
        f"To: <sip:+3222211202@callconnect.local>\r\n"
        f"Call-ID: carrier-{n}@127.0.0.1\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Contact: <sip:carrier@127.0.0.1:5090>\r\n"
        f"User-Agent: carrier-sim\r\n"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n"
    ).encode() + SDP


def in_dialog(method: str, n: int, cseq: int, to_tag: bytes) -> bytes:
    return (
        f"{method} sip:b2bua@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-c{n}-{method}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:+3225550{n % 1000:03d}@carrier.example>;tag=cf{n}\r\n"
        f"To: <sip:+3222211202@callconnect.local>;tag={to_tag.decode()}\r\n"
        f"Call-ID: carrier-{n}@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def phone_response(request: bytes, status: int, reason: str, tag: str, body: bytes = b"") -> bytes:
    head = [f"SIP/2.0 {status} {reason}"]
    for name in (b"Via", b"From"):
        head.append(f"{name.decode()}: {field(request, name).decode()}")
    to = field(request, b"To").decode()
    head.append(f"To: {to}" if ";tag=" in to else f"To: {to};tag={tag}")
    for name in (b"Call-ID", b"CSeq"):
        head.append(f"{name.decode()}: {field(request, name).decode()}")
    head.append("Contact: <sip:202@127.0.0.1:7002>")
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def build() -> tuple[SipStack, Application]:
    store = InMemorySubscriberStore()
    await store.apply_group(demo_group_description("callconnect.local"))
    directory = await store.load_directory()
    location = LocationService()
    location.apply([BindingChange("sip:marie.martin@callconnect.local", "sip:202@127.0.0.1:7002", Binding(
        aor="sip:marie.martin@callconnect.local", contact="sip:202@127.0.0.1:7002", call_id="r", cseq=1,
        expires_at=time.time() + 3600, source=PHONE))])
    stack = SipStack()
    calls = CallController(stack=stack, local_for=lambda peer: LocalAddress("127.0.0.1", 5060), live=LiveCalls(),
                           call_log=InMemoryCallLogStore())
    app = Application(stack=stack, subscribers=store, directory=directory, location=location,
                      binding_writer=BindingWriter(InMemoryLocationStore()), calls=calls,
                      authenticator=DigestAuthenticator(b"x" * 32), flush=lambda: None, now=time.monotonic)
    return stack, app


def deliver(stack: SipStack, app: Application, data: bytes, source: Endpoint, now: float) -> list[bytes]:
    for event in stack.receive(data, source, now):
        app.handle(event, now)
    return [out for out, _ in stack.pop_outgoing()]


def establish(stack: SipStack, app: Application, n: int, now: float) -> bytes:
    """Set up call `n` and leave it established; returns the To tag of the carrier's leg."""
    out = deliver(stack, app, carrier_invite(n), CARRIER, now)
    b_invite = next(m for m in out if m.startswith(b"INVITE"))
    deliver(stack, app, phone_response(b_invite, 180, "Ringing", f"p{n}"), PHONE, now)
    out = deliver(stack, app, phone_response(b_invite, 200, "OK", f"p{n}", SDP), PHONE, now)
    to_tag = field(next(m for m in out if m.startswith(b"SIP/2.0 200")), b"To").split(b"tag=")[1]
    deliver(stack, app, in_dialog("ACK", n, 1, to_tag), CARRIER, now)
    return to_tag


def memory_per_call(stack: SipStack, app: Application, count: int) -> float:
    app.calls.admission = Admission(AdmissionPolicy(max_calls_per_second=1e9, burst=1e9))
    for n in range(100):
        establish(stack, app, n, 0.0)
    stack.on_timer(1000.0)
    stack.pop_outgoing()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for n in range(1000, 1000 + count):
        establish(stack, app, n, 1000.0 + n * 0.0001)
    stack.on_timer(2000.0)  # past Timer L/M of every transaction
    stack.pop_outgoing()
    gc.collect()
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename")) / count


def one_call(stack: SipStack, app: Application, n: int, now: float) -> None:
    out = deliver(stack, app, carrier_invite(n), CARRIER, now)
    b_invite = next(m for m in out if m.startswith(b"INVITE"))
    deliver(stack, app, phone_response(b_invite, 180, "Ringing", f"p{n}"), PHONE, now)
    out = deliver(stack, app, phone_response(b_invite, 200, "OK", f"p{n}", SDP), PHONE, now)
    a_ok = next(m for m in out if m.startswith(b"SIP/2.0 200"))
    to_tag = field(a_ok, b"To").split(b"tag=")[1]
    deliver(stack, app, in_dialog("ACK", n, 1, to_tag), CARRIER, now)
    out = deliver(stack, app, in_dialog("BYE", n, 2, to_tag), CARRIER, now)
    b_bye = next(m for m in out if m.startswith(b"BYE"))
    deliver(stack, app, phone_response(b_bye, 200, "OK", f"p{n}"), PHONE, now)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", type=int, metavar="N", help="measure memory per established call instead")
    args = parser.parse_args()
    stack, app = await build()
    if args.memory:
        per_call = memory_per_call(stack, app, args.memory)
        print(f"{args.memory} established calls: {per_call / 1024:.1f} KiB of Python heap per call "
              f"(transactions left: {len(stack.transactions)}, calls: {len(app.calls)})")
        return
    for n in range(200):  # warm-up
        one_call(stack, app, n, float(n))
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for n in range(1000, 1000 + args.calls):
        one_call(stack, app, n, 300.0 + n * 0.001)
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - start
    per_call = elapsed / args.calls * 1e6
    print(f"{args.calls} calls, {per_call:.1f} µs CPU per call -> {1e6 / per_call:,.0f} calls/s on one core "
          f"(7 messages in, 7 out per call); transactions left: {len(stack.transactions)}, "
          f"calls left: {len(app.calls)}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
