"""Phone key synchronisation of DND and forwarding: the `as-feature-event` package (BroadSoft "Device Feature
Key Synchronization", ECMA-323 CSTA names), as Yealink phones speak it with `features.feature_key_sync.enable`.

The phone subscribes to its own AOR with `Event: as-feature-event`; every NOTIFY carries one
`application/x-as-feature-event+xml` document: `DoNotDisturbEvent` (doNotDisturbOn) or `ForwardingEvent`
(forwardingType forwardImmediate / forwardBusy / forwardNoAns, forwardStatus, forwardTo, ringCount). When the
user presses the phone's DND or forward key, the phone sends a SUBSCRIBE whose body is `SetDoNotDisturb` or
`SetForwarding`: `parse_request` reads it, `apply_request` turns it into new settings through the settings
model (so a bad number is refused exactly as in the portal), and the NOTIFYs that follow show the stored
state. `feature_events(services)` is what the phone's keys must show, one document per feature; comparing
it with what was last sent tells the notifier what changed (the portal, a feature code, `provision apply`).

Pure: bodies and settings in, bodies and settings out. It knows no subscriptions or SIP messages.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import Final, Literal
from xml.sax.saxutils import escape

from features.model import ServiceSettings, SettingError

CONTENT_TYPE: Final = "application/x-as-feature-event+xml"
NAMESPACE: Final = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
ForwardingType = Literal["forwardImmediate", "forwardBusy", "forwardNoAns"]
FORWARDING_TYPES: Final[tuple[ForwardingType, ...]] = ("forwardImmediate", "forwardBusy", "forwardNoAns")
MAX_BODY: Final = 4096  # a Set request is a few hundred bytes


@dataclass(frozen=True, slots=True)
class SetDoNotDisturb:
    on: bool


@dataclass(frozen=True, slots=True)
class SetForwarding:
    kind: ForwardingType
    on: bool
    number: str | None
    ring_count: int | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request we cannot use: `status` for the SUBSCRIBE (400 bad document, 488 a value the model refuses)."""

    status: int
    reason: str


Request = SetDoNotDisturb | SetForwarding


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def _flag(text: str | None) -> bool | None:
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def parse_request(body: bytes) -> Request | Refusal:
    """The `SetDoNotDisturb` / `SetForwarding` a phone sent in its SUBSCRIBE body."""
    if len(body) > MAX_BODY:
        return Refusal(413, "Feature Request Too Large")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return Refusal(400, "No Document Type Declarations")  # no entity expansion, ever
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return Refusal(400, "Malformed Feature Request")
    name = _local(root.tag)
    if name == "SetDoNotDisturb":
        on = _flag(_child_text(root, "doNotDisturbOn"))
        if on is None:
            return Refusal(400, "doNotDisturbOn Must Be true Or false")
        return SetDoNotDisturb(on)
    if name == "SetForwarding":
        kind = _child_text(root, "forwardingType")
        on = _flag(_child_text(root, "activateForward"))
        if kind not in FORWARDING_TYPES:
            return Refusal(400, "Unknown forwardingType")
        if on is None:
            return Refusal(400, "activateForward Must Be true Or false")
        number = _child_text(root, "forwardDN") or None
        rings_text = _child_text(root, "ringCount")
        ring_count = int(rings_text) if rings_text and rings_text.isdigit() else None
        return SetForwarding(kind, on, number, ring_count)
    return Refusal(400, f"Unknown Feature Request {name[:40]}")


def apply_request(request: Request, services: ServiceSettings) -> ServiceSettings | Refusal:
    """The settings after the phone's request, validated by the settings model."""
    try:
        if isinstance(request, SetDoNotDisturb):
            return replace(services, dnd=replace(services.dnd, active=request.on))
        if request.kind == "forwardImmediate":
            current = services.forward_always
            return replace(services, forward_always=replace(
                current, active=request.on, number=request.number or current.number))
        if request.kind == "forwardBusy":
            busy = services.forward_busy
            return replace(services, forward_busy=replace(
                busy, active=request.on, number=request.number or busy.number))
        no_answer = services.forward_no_answer
        rings = no_answer.rings if request.ring_count is None else request.ring_count
        return replace(services, forward_no_answer=replace(
            no_answer, active=request.on, number=request.number or no_answer.number, rings=rings))
    except SettingError as exc:
        return Refusal(488, f"Refused: {exc.message}"[:120])


def feature_events(services: ServiceSettings, device: str) -> tuple[bytes, ...]:
    """One document per feature key, in a fixed order: DND, then forward immediate / busy / no answer."""
    documents = [_document("DoNotDisturbEvent", device,
                           f"<doNotDisturbOn>{_bool(services.dnd.active)}</doNotDisturbOn>")]
    forwards = (("forwardImmediate", services.forward_always.active, services.forward_always.number, None),
                ("forwardBusy", services.forward_busy.active, services.forward_busy.number, None),
                ("forwardNoAns", services.forward_no_answer.active, services.forward_no_answer.number,
                 services.forward_no_answer.rings))
    for kind, active, number, rings in forwards:
        inner = (f"<forwardingType>{kind}</forwardingType><forwardStatus>{_bool(active)}</forwardStatus>"
                 f"<forwardTo>{escape(number or '')}</forwardTo>")
        if rings is not None:
            inner += f"<ringCount>{rings}</ringCount>"
        documents.append(_document("ForwardingEvent", device, inner))
    return tuple(documents)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _document(name: str, device: str, inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{name} xmlns="{NAMESPACE}">'
            f"<device>{escape(device)}</device>{inner}</{name}>\n").encode()
