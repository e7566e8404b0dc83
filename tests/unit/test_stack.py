"""The sans-IO stack: stateless answers to bad requests, received/rport stamping, overload shedding."""

from __future__ import annotations

from sipserver.address import Endpoint
from sipserver.events import RequestReceived
from sipserver.stack import SipStack

SOURCE = Endpoint("udp", "127.0.0.1", 40000)


def request(method: str = "INVITE", to_tag: str = "", via_extra: str = "", branch: str = "z9hG4bK-1") -> bytes:
    to = "<sip:202@callconnect.local>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:202@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}{via_extra}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:201@callconnect.local>;tag=a\r\n"
        f"To: {to}\r\n"
        "Call-ID: stack-test\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def first_line(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


def test_new_work_is_shed_statelessly_while_overloaded_and_dialogs_are_not() -> None:
    overloaded = True
    stack = SipStack(overloaded=lambda: overloaded)
    assert stack.receive(request(), SOURCE, 0.0) == []
    [(data, destination)] = stack.pop_outgoing()
    assert first_line(data) == b"SIP/2.0 503 Service Unavailable" and b"Retry-After: 2" in data
    assert destination == SOURCE and len(stack.transactions) == 0 and stack.stats.shed == 1
    # in-dialog requests and cheap ones are always processed
    assert isinstance(stack.receive(request("BYE", to_tag="x", branch="z9hG4bK-2"), SOURCE, 0.0)[0],
                      RequestReceived)
    assert isinstance(stack.receive(request("OPTIONS", branch="z9hG4bK-3"), SOURCE, 0.0)[0], RequestReceived)
    overloaded = False
    assert isinstance(stack.receive(request(branch="z9hG4bK-4"), SOURCE, 0.0)[0], RequestReceived)


def test_received_and_rport_are_stamped_when_asked_for() -> None:
    stack = SipStack()
    [event] = stack.receive(request("OPTIONS", via_extra=";rport"), SOURCE, 0.0)
    assert isinstance(event, RequestReceived)
    via = event.request.top_via
    assert via.rport == "40000" and via.received == "127.0.0.1"


def test_a_request_without_mandatory_headers_gets_400_and_the_stack_keeps_going() -> None:
    stack = SipStack()
    broken = request().replace(b"Call-ID: stack-test\r\n", b"")
    assert stack.receive(broken, SOURCE, 0.0) == []
    [(data, _)] = stack.pop_outgoing()
    assert first_line(data).startswith(b"SIP/2.0 400")
    assert isinstance(stack.receive(request("OPTIONS"), SOURCE, 0.0)[0], RequestReceived)
