"""Phone key sync (`blf.feature_sync`): the phone's Set requests, applied through the settings model, and the
feature documents its keys show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from blf.feature_sync import (
    NAMESPACE,
    Refusal,
    SetDoNotDisturb,
    SetForwarding,
    apply_request,
    feature_events,
    parse_request,
)
from features.model import ForwardAlways, ServiceSettings

NS = f"{{{NAMESPACE}}}"


def body(xml: str) -> bytes:
    return f'<?xml version="1.0" encoding="ISO-8859-1"?>\n{xml}'.encode()


def test_set_do_not_disturb() -> None:
    request = parse_request(body(f'<SetDoNotDisturb xmlns="{NAMESPACE}"><device>203</device>'
                                 "<doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>"))
    assert request == SetDoNotDisturb(True)
    settings = apply_request(request, ServiceSettings())
    assert isinstance(settings, ServiceSettings) and settings.dnd.active


def test_set_forwarding_keeps_the_stored_number_when_the_phone_sends_none() -> None:
    services = replace(ServiceSettings(), forward_always=ForwardAlways(active=False, number="0470123456"))
    request = parse_request(body("<SetForwarding><forwardingType>forwardImmediate</forwardingType>"
                                 "<activateForward>true</activateForward><forwardDN></forwardDN></SetForwarding>"))
    assert request == SetForwarding("forwardImmediate", True, None, None)
    settings = apply_request(request, services)
    assert isinstance(settings, ServiceSettings)
    assert (settings.forward_always.active, settings.forward_always.number) == (True, "0470123456")


def test_no_answer_ring_count() -> None:
    request = parse_request(body("<SetForwarding><forwardingType>forwardNoAns</forwardingType>"
                                 "<activateForward>true</activateForward><forwardDN>203</forwardDN>"
                                 "<ringCount>4</ringCount></SetForwarding>"))
    settings = apply_request(request, ServiceSettings())  # type: ignore[arg-type]
    assert isinstance(settings, ServiceSettings)
    assert (settings.forward_no_answer.number, settings.forward_no_answer.rings) == ("203", 4)


@pytest.mark.parametrize(("xml", "status"), [
    ("<SetDoNotDisturb><doNotDisturbOn>maybe</doNotDisturbOn></SetDoNotDisturb>", 400),
    ("<SetForwarding><forwardingType>forwardSometimes</forwardingType></SetForwarding>", 400),
    ("<Unknown/>", 400),
    ("<SetDoNotDisturb>", 400),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><SetDoNotDisturb>&a;</SetDoNotDisturb>', 400),
])
def test_bad_requests_are_refused(xml: str, status: int) -> None:
    refusal = parse_request(body(xml))
    assert isinstance(refusal, Refusal) and refusal.status == status


def test_a_value_the_settings_model_refuses() -> None:
    no_number = SetForwarding("forwardBusy", True, None, None)  # on, with no number stored: not dialable
    refusal = apply_request(no_number, ServiceSettings())
    assert isinstance(refusal, Refusal) and refusal.status == 488
    bad_rings = SetForwarding("forwardNoAns", True, "203", 1)
    assert isinstance(apply_request(bad_rings, ServiceSettings()), Refusal)


def test_feature_documents() -> None:
    services = replace(ServiceSettings(), forward_always=ForwardAlways(active=True, number="+32470123456"))
    documents = feature_events(services, 'jean<&>"')
    roots = [ET.fromstring(d) for d in documents]
    assert [r.tag for r in roots] == [f"{NS}DoNotDisturbEvent"] + [f"{NS}ForwardingEvent"] * 3
    assert roots[0].findtext(f"{NS}doNotDisturbOn") == "false"
    assert roots[1].findtext(f"{NS}forwardTo") == "+32470123456"
    assert roots[1].findtext(f"{NS}forwardStatus") == "true"
    assert roots[0].findtext(f"{NS}device") == 'jean<&>"'
    assert roots[3].findtext(f"{NS}ringCount") == "3"
    assert feature_events(services, 'jean<&>"') == documents  # deterministic: compared to what was sent
