"""Registrar decisions (RFC 3261 §10.3) on parsed REGISTERs, with wall time passed in."""

from __future__ import annotations

import pytest

from sipserver.address import Endpoint
from sipserver.b2bua.location import LocationService
from sipserver.b2bua.registrar import RegistrarPolicy, handle_register
from sipserver.errors import RemoteProtocolError
from sipserver.message import SipRequest
from sipserver.parser import parse_message

AOR = "sip:201@callconnect.local"
SOURCE = Endpoint("udp", "127.0.0.1", 5061)
POLICY = RegistrarPolicy(min_expires=60, max_expires=3600, default_expires=3600, max_contacts_per_aor=3)


def register(*contacts: str, expires: int | None = None, call_id: str = "reg-1", cseq: int = 1) -> SipRequest:
    lines = [
        "REGISTER sip:callconnect.local SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-test",
        "From: <sip:201@callconnect.local>;tag=abc",
        "To: <sip:201@callconnect.local>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "Max-Forwards: 70",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def apply(location: LocationService, request: SipRequest, now: float = 1000.0):  # type: ignore[no-untyped-def]
    outcome = handle_register(request, aor=AOR, source=SOURCE, location=location, policy=POLICY, wall_now=now)
    location.apply(outcome.changes)
    return outcome


def test_new_binding_reports_contact_with_granted_expiry() -> None:
    location = LocationService()
    outcome = apply(location, register("<sip:201@127.0.0.1:5061;ob>", expires=300))
    assert outcome.status == 200
    assert outcome.headers == (("Contact", "<sip:201@127.0.0.1:5061;ob>;expires=300"),)
    [binding] = location.current(AOR, 1000.0)
    assert binding.expires_at == 1300.0 and binding.source == SOURCE


def test_contact_expires_param_beats_header_and_max_is_enforced() -> None:
    location = LocationService()
    outcome = apply(location, register("<sip:a@10.0.0.1>;expires=7200", "<sip:b@10.0.0.2>", expires=120))
    assert sorted(outcome.headers) == [
        ("Contact", "<sip:a@10.0.0.1>;expires=3600"),
        ("Contact", "<sip:b@10.0.0.2>;expires=120"),
    ]


def test_interval_too_brief_gets_423_with_min_expires_and_changes_nothing() -> None:
    location = LocationService()
    outcome = apply(location, register("<sip:a@10.0.0.1>", expires=10))
    assert outcome.status == 423
    assert ("Min-Expires", "60") in outcome.headers
    assert outcome.changes == ()
    assert location.current(AOR, 1000.0) == []


def test_query_without_contact_lists_bindings() -> None:
    location = LocationService()
    apply(location, register("<sip:a@10.0.0.1>", expires=600))
    outcome = apply(location, register(call_id="other", cseq=5), now=1100.0)
    assert outcome.headers == (("Contact", "<sip:a@10.0.0.1>;expires=500"),)


def test_expires_zero_removes_one_binding() -> None:
    location = LocationService()
    apply(location, register("<sip:a@10.0.0.1>", "<sip:b@10.0.0.2>", expires=600))
    apply(location, register("<sip:a@10.0.0.1>;expires=0", cseq=2))
    assert [b.contact for b in location.current(AOR, 1000.0)] == ["sip:b@10.0.0.2"]


def test_star_removes_everything_but_needs_expires_zero() -> None:
    location = LocationService()
    apply(location, register("<sip:a@10.0.0.1>", expires=600))
    with pytest.raises(RemoteProtocolError):
        apply(location, register("*", cseq=2))
    outcome = apply(location, register("*", expires=0, cseq=3))
    assert outcome.status == 200 and outcome.headers == ()
    assert location.current(AOR, 1000.0) == []


def test_out_of_order_cseq_on_same_call_id_is_refused() -> None:
    location = LocationService()
    apply(location, register("<sip:a@10.0.0.1>", expires=600, cseq=5))
    outcome = apply(location, register("<sip:a@10.0.0.1>", expires=600, cseq=4))
    assert outcome.status == 400


def test_q_values_order_the_bindings() -> None:
    location = LocationService()
    apply(location, register("<sip:low@10.0.0.1>;q=0.1", "<sip:high@10.0.0.2>;q=0.9", expires=600))
    assert [b.contact for b in location.current(AOR, 1000.0)] == ["sip:high@10.0.0.2", "sip:low@10.0.0.1"]


def test_too_many_contacts_evicts_the_stalest() -> None:
    location = LocationService()
    for i in range(3):
        apply(location, register(f"<sip:d{i}@10.0.0.{i}>", expires=600, call_id=f"c{i}"), now=1000.0 + i)
    apply(location, register("<sip:new@10.0.0.9>", expires=600, call_id="c9"), now=1010.0)
    contacts = {b.contact for b in location.current(AOR, 1010.0)}
    assert contacts == {"sip:d1@10.0.0.1", "sip:d2@10.0.0.2", "sip:new@10.0.0.9"}


def test_expired_bindings_are_swept() -> None:
    location = LocationService()
    apply(location, register("<sip:a@10.0.0.1>", expires=60))
    assert location.expired(1059.0) == []
    changes = location.expired(1060.0)
    location.apply(changes)
    assert len(location) == 0
