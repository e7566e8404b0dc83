"""The whole server core without sockets: a simulated carrier and phone exchanging bytes with it in one process.

A simulated carrier (the trusted trunk address, so no digest round trip) calls the DID of demo user 202, whose
phone is registered at a fake address; the simulated phone answers 180/200, the carrier ACKs and hangs up, the
phone answers the BYE. Every message goes through the real parser, transaction layer, application, call
controller and serializer. The simulators build their messages from templates and read what they need with
`bytes.find`, so nearly all the time spent is the server's. Used by `benchmarks/b2bua_inprocess.py` (CPU and
memory per call) and by the unit test that holds the call path free of reference cycles.
"""

from __future__ import annotations

import time

from features.model import ServiceSettings
from provisioning.demo import demo_group_description
from provisioning.store import InMemorySubscriberStore
from sipserver.address import Endpoint
from sipserver.aio.application import Application
from sipserver.aio.batching import BindingWriter
from sipserver.aio.calls import CallController
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


async def build(callee_services: ServiceSettings | None = None) -> tuple[SipStack, Application]:
    """The demo group in memory, Marie's phone registered; `callee_services` replaces her settings."""
    store = InMemorySubscriberStore()
    await store.apply_group(demo_group_description("callconnect.local"))
    if callee_services is not None:
        await store.update_services("marie.martin", callee_services)
    directory = await store.load_directory()
    location = LocationService()
    location.apply([BindingChange("sip:marie.martin@callconnect.local", "sip:202@127.0.0.1:7002", Binding(
        aor="sip:marie.martin@callconnect.local", contact="sip:202@127.0.0.1:7002", call_id="r", cseq=1,
        expires_at=time.time() + 3600, source=PHONE))])
    stack = SipStack()
    calls = CallController(stack=stack, local_for=lambda peer: LocalAddress("127.0.0.1", 5060), live=LiveCalls(),
                           location=location, call_log=InMemoryCallLogStore())
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


def run_timers(stack: SipStack, app: Application, now: float) -> None:
    """What the server's one timer does: expire transactions (Timer K/J/L/M...) and the application's timers."""
    for event in stack.on_timer(now):
        app.handle(event, now)
    app.on_timer(now)
    stack.pop_outgoing()


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
