"""The BLF / message-waiting notifier (`blf.notifier.Notifier`) against a real sans-IO `SipStack`, a real
`LiveCalls` and the demo group's `Directory`, with a fake clock: every assertion reads the bytes the stack
would put on the wire (`pop_outgoing()`, parsed back with `parse_message`).

Covered: SUBSCRIBE -> 200 (Expires, Contact) and the full state at once (RFC 6665 §4.2.1.2); one NOTIFY per
call-state change with `version` +1 (RFC 4235 §4.1.2), none for a state the key already shows; the caller's
identity, the dialog identifiers and `+sip.rendering=no` in the bodies; refresh, unsubscribe, 481 for an
unknown dialog, expiry (`reason=timeout`); a NOTIFY answered 481 or timed out ends its subscription
(RFC 6665 §4.2.2) with nothing left behind, and one whose TCP connection is gone moves to its Contact;
one NOTIFY in flight per subscription (the next wait in order; a backlog becomes one full state); the
refusals (404, 403, 489, 423, 406) and the Expires ceiling;
message-summary (RFC 3842); BLF lists (RFC 4662: 421, `Require: eventlist`, full and partial RLMI state,
selection changes, 403 for someone else's list) and a 200-member list moved from UDP to TCP
(RFC 3261 §18.1.1).

Tests named `test_fixed_...` each showed a defect of `blf/notifier.py` (found by this module, fixed since):
a user of another group watched by number, a list owner's own calls on the list subscription, key sync ended
by a privacy change, the Event id not repeated, a removed list URI, a large single NOTIFY over UDP, a large
NOTIFY timed out over TCP left waiting forever.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from blf.notifier import MAX_WAITING, Notifier, NotifyContext
from features.model import MAX_BLF_MONITORED, Blf
from provisioning.demo import DEMO_DOMAIN, demo_group_description
from provisioning.model import Directory, Enterprise, Group, GroupDescription, User
from sipserver.address import Endpoint
from sipserver.b2bua.call import LegStateChanged, LocalAddress
from sipserver.b2bua.live import LiveCalls
from sipserver.events import ClientTransactionTimedOut, RequestReceived, ResponseReceived, StackEvent
from sipserver.message import SipRequest, SipResponse, build_response
from sipserver.parser import parse_message
from sipserver.stack import SipStack
from tests.helpers.wire import FakeClock

SERVER = LocalAddress("192.0.2.10", 5060)
PHONE = Endpoint("udp", "192.0.2.21", 5062)  # Jean Dupont's phone (201)
TCP_PHONE = Endpoint("tcp", "192.0.2.21", 5062, connection_id=7)
START = 1000.0
DI = "{urn:ietf:params:xml:ns:dialog-info}"
RL = "{urn:ietf:params:xml:ns:rlmi}"
LIST_ACCEPT = "application/dialog-info+xml, application/rlmi+xml, multipart/related"
JEAN_LIST = "jean.dupont-blf"  # the demo list URI of Jean Dupont (user part)
CALLER = '"Jean Dupont" <sip:201@callconnect.local>'

_numbers = itertools.count(1)


# -- the test rig --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Out:
    """One message the stack would send, parsed back, and where it goes."""

    message: SipRequest | SipResponse
    destination: Endpoint
    size: int

    @property
    def request(self) -> SipRequest:
        assert isinstance(self.message, SipRequest), self.message
        return self.message

    @property
    def response(self) -> SipResponse:
        assert isinstance(self.message, SipResponse), self.message
        return self.message


@dataclass(slots=True)
class PhoneSide:
    """The phone's side of one SUBSCRIBE dialog: what it needs to refresh or end it."""

    call_id: str
    from_tag: str
    to_tag: str | None
    target: str
    event: str
    watcher: str
    source: Endpoint
    cseq: int = 1
    contact_port: int | None = None  # the Contact's port when it is not the source's (a TCP client's own port)


class Rig:
    """A notifier wired like `sipserver.app` does it, with the SIP stack, the clock and the directory in
    the test's hands."""

    def __init__(self, *descriptions: GroupDescription) -> None:
        self.clock = FakeClock(START)
        self.stack = SipStack()
        self.live = LiveCalls()
        self.directory = Directory(descriptions or (demo_group_description(),))
        self.notifier = Notifier(stack=self.stack, local_for=lambda peer: SERVER, live=self.live,
                                 directory=lambda: self.directory, now=lambda: self.clock.now)
        self.unanswered: list[Out] = []  # NOTIFYs sent that the phone has not answered yet

    # the phone's requests
    def subscribe(self, target: str, *, watcher: str = "jean.dupont", event: str = "dialog",
                  expires: str | None = "600", accept: str | None = None, supported: str | None = None,
                  source: Endpoint = PHONE, contact_port: int | None = None,
                  extra: Iterable[str] = ()) -> tuple[PhoneSide, list[Out]]:
        """A new SUBSCRIBE from `watcher`'s phone for `target` (a user part of the watcher's domain),
        handed to `Notifier.on_subscribe` as the application does once the digest is checked."""
        number = next(_numbers)
        side = PhoneSide(call_id=f"sub-{number}@192.0.2.21", from_tag=f"ph{number}", to_tag=None,
                         target=target, event=event, watcher=watcher, source=source, contact_port=contact_port)
        headers = [f"Accept: {accept}"] if accept is not None else []
        if supported is not None:
            headers.append(f"Supported: {supported}")
        headers += extra
        self._receive(side, expires, headers)
        return side, self.sent()

    def resubscribe(self, side: PhoneSide, expires: str | None, *, to_tag: str | None = None,
                    answered: bool = True) -> list[Out]:
        """A SUBSCRIBE inside `side`'s dialog (a refresh, or an unsubscribe with "0"), by default once the
        phone has answered the NOTIFYs it got."""
        if answered:
            self.answer_all()
        side.cseq += 1
        self._receive(side, expires, [], to_tag=to_tag or side.to_tag)
        return self.sent()

    def _receive(self, side: PhoneSide, expires: str | None, headers: list[str], *,
                 to_tag: str | None = None) -> None:
        watcher = self.directory.user_by_id(side.watcher)
        assert watcher is not None
        group = self.directory.group_of(watcher)
        transport = side.source.transport
        contact_param = "" if transport == "udp" else f";transport={transport}"
        lines = [
            f"SUBSCRIBE sip:{side.target}@{group.domain} SIP/2.0",
            f"Via: SIP/2.0/{transport.upper()} {side.source.host}:{side.source.port};branch=z9hG4bK-s"
            f"{next(_numbers)};rport",
            "Max-Forwards: 70",
            f'From: "{watcher.display_name}" <sip:{watcher.sip_username}@{group.domain}>;tag={side.from_tag}',
            f"To: <sip:{side.target}@{group.domain}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {side.call_id}",
            f"CSeq: {side.cseq} SUBSCRIBE",
            f"Contact: <sip:{watcher.sip_username}@{side.source.host}:{side.contact_port or side.source.port}"
            f"{contact_param}>",
            f"Event: {side.event}",
            *([f"Expires: {expires}"] if expires is not None else []),
            *headers,
            "User-Agent: Yealink SIP-T48S 66.86.0.15",
            "Content-Length: 0",
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        [event] = self.stack.receive(data, side.source, self.clock.now)
        assert isinstance(event, RequestReceived)
        if to_tag is None:
            self.notifier.on_subscribe(event, watcher, group, self.clock.now)
        else:
            self.notifier.on_in_dialog_subscribe(event, self.clock.now)

    def accept(self, side: PhoneSide, out: list[Out]) -> SipResponse:
        """The 200 in `out`, remembering its To tag in `side` (the dialog's identifier)."""
        [ok] = [o.response for o in out if isinstance(o.message, SipResponse)]
        assert ok.status == 200, ok
        side.to_tag = ok.to.tag
        return ok

    # what happens around the notifier
    def publish(self, *legs: LegStateChanged, answered: bool = True) -> list[Out]:
        """Call-state changes; by default the phone first answers 200 to every NOTIFY it got (a phone answers
        long before the next change), `answered=False` leaves them in flight."""
        if answered:
            self.answer_all()
        for leg in legs:
            self.live.publish(leg)
        return self.sent()

    def sent(self) -> list[Out]:
        out = [Out(parse_message(data), destination, len(data)) for data, destination in self.stack.pop_outgoing()]
        self.unanswered += [o for o in out if isinstance(o.message, SipRequest) and o.message.method == "NOTIFY"]
        return out

    def answer_all(self) -> list[Out]:
        """The phone answers 200 to each NOTIFY it has not answered yet; returns what the server sent next."""
        while self.unanswered:
            self.answer(self.unanswered[0], 200)
        return self.sent()

    def answer(self, notify: Out, status: int) -> list[StackEvent]:
        """The phone answers `notify` with `status`: through the stack, then to the notifier as the
        application does (`on_response` reads the transaction's `user_data`)."""
        if notify in self.unanswered:
            self.unanswered.remove(notify)
        response = build_response(notify.request, status)
        events = self.stack.receive(response.serialize(), notify.destination, self.clock.now)
        for event in events:
            if isinstance(event, ResponseReceived):
                self.notifier.on_response(event)
        return events

    def run_stack_timers(self, until: float) -> list[StackEvent]:
        """Move the clock to `until`, firing every transaction timer on its deadline; timeouts go to the
        notifier as the application sends them."""
        events: list[StackEvent] = []
        while (deadline := self.stack.next_deadline()) is not None and deadline <= until:
            self.clock.set(max(deadline, self.clock.now))
            for event in self.stack.on_timer(self.clock.now):
                events.append(event)
                if isinstance(event, ClientTransactionTimedOut):
                    self.notifier.on_timeout(event, self.clock.now)
        self.clock.set(until)
        return events

    def change_directory(self, *descriptions: GroupDescription) -> list[Out]:
        self.answer_all()
        self.directory = Directory(descriptions)
        self.notifier.on_directory_changed(self.clock.now)
        return self.sent()

    def assert_nothing_left(self) -> None:
        """No subscription and none of the notifier's per-subscription state (a leak would grow forever)."""
        assert len(self.notifier.subscriptions) == 0
        assert self.notifier.next_deadline() is None
        assert self.notifier._shown == {} and self.notifier._lists == {} and self.notifier._list_members == {}
        assert self.notifier._in_flight == {} and self.notifier._waiting == {} and self.notifier._resync == set()


def leg(state: str, *, user: str = "marie.martin", call_id: str = "call-1@192.0.2.10", held: bool = False,
        peer: str = CALLER, phone_tag: str | None = "phone-202", direction: str = "recipient") -> LegStateChanged:
    """A call leg of `user` as the call machine publishes it: `local_tag` is the B2BUA's, `remote_tag` the
    phone's (unknown while trying)."""
    return LegStateChanged(user_id=user, call_id=call_id, local_tag="b2bua-tag", remote_tag=phone_tag,
                           direction=direction, state=state, peer=peer, held=held)


# -- reading what was sent -----------------------------------------------------------------------------------
def only_notify(out: list[Out]) -> Out:
    [notify] = [o for o in out if isinstance(o.message, SipRequest)]
    assert notify.request.method == "NOTIFY"
    return notify


def notifies(out: list[Out]) -> list[SipRequest]:
    found = [o.request for o in out if isinstance(o.message, SipRequest)]
    assert all(r.method == "NOTIFY" for r in found)
    return found


def only_response(out: list[Out]) -> SipResponse:
    [response] = [o.response for o in out]  # a refusal is the only thing sent
    return response


def state_of(notify: SipRequest) -> str | None:
    return notify.headers.get("Subscription-State")


def dialog_info(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{DI}dialog-info" and root.get("state") == "full"
    return root


def version_of(notify: SipRequest) -> int:
    return int(dialog_info(notify.body).get("version") or "-1")


def shown_states(root: ET.Element) -> list[str]:
    return [d.findtext(f"{DI}state") or "" for d in root.findall(f"{DI}dialog")]


def is_idle(root: ET.Element) -> bool:
    """Idle is one terminated dialog without a call (never an empty document)."""
    [dialog] = root.findall(f"{DI}dialog")
    return dialog.findtext(f"{DI}state") == "terminated" and dialog.get("call-id") is None


@dataclass(frozen=True, slots=True)
class ListBody:
    """A list NOTIFY read back: the RLMI document and each member's dialog-info, by member URI."""

    rlmi: ET.Element
    members: dict[str, ET.Element]

    @property
    def version(self) -> int:
        return int(self.rlmi.get("version") or "-1")

    @property
    def full_state(self) -> str | None:
        return self.rlmi.get("fullState")

    @property
    def names(self) -> list[str]:
        return [r.findtext(f"{RL}name") or "" for r in self.rlmi.findall(f"{RL}resource")]

    @property
    def uris(self) -> list[str]:
        return [r.get("uri") or "" for r in self.rlmi.findall(f"{RL}resource")]

    def member_version(self, uri: str) -> int:
        return int(self.members[uri].get("version") or "-1")


def list_body(notify: SipRequest) -> ListBody:
    """Split the multipart/related body (RFC 2387) and check that the RLMI's cids name the parts."""
    content_type = notify.headers.get("Content-Type") or ""
    assert content_type.startswith('multipart/related;type="application/rlmi+xml"'), content_type
    found = re.search(r'boundary="([^"]+)"', content_type)
    assert found is not None
    chunks = notify.body.split(b"--" + found.group(1).encode())
    assert chunks[0] == b"" and chunks[-1] == b"--\r\n"
    parts: dict[str, tuple[str, bytes]] = {}
    for chunk in chunks[1:-1]:
        head, _, body = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts[headers["Content-ID"].strip("<>")] = (headers["Content-Type"], body.removesuffix(b"\r\n"))
    start = re.search(r'start="<([^>]+)>"', content_type)
    assert start is not None
    rlmi_type, rlmi_bytes = parts.pop(start.group(1))
    assert rlmi_type.startswith("application/rlmi+xml")
    rlmi = ET.fromstring(rlmi_bytes)
    members: dict[str, ET.Element] = {}
    for resource in rlmi.findall(f"{RL}resource"):
        instance = resource.find(f"{RL}instance")
        assert instance is not None and instance.get("state") == "active"
        member_type, member_bytes = parts.pop(instance.get("cid") or "")
        assert member_type.startswith("application/dialog-info+xml")
        root = dialog_info(member_bytes)
        assert root.get("entity") == resource.get("uri")
        members[resource.get("uri") or ""] = root
    assert parts == {}, "a part no RLMI resource points to"
    return ListBody(rlmi, members)


# -- directories ---------------------------------------------------------------------------------------------
def demo_with(blf: Mapping[str, Blf], description: GroupDescription | None = None) -> GroupDescription:
    """The demo group (or `description`) with the BLF settings of some users replaced."""
    description = description or demo_group_description()
    users = tuple(replace(u, services=replace(u.services, blf=blf[u.user_id])) if u.user_id in blf else u
                  for u in description.users)
    return replace(description, users=users)


def jean_list(*members: str) -> Blf:
    return Blf(monitored_users=members, list_uri=JEAN_LIST)


def uri(extension: str) -> str:
    return f"sip:{extension}@{DEMO_DOMAIN}"


def subscribed(rig: Rig, target: str = "202", *, watcher: str = "jean.dupont", event: str = "dialog",
               expires: str | None = "600", accept: str | None = None, supported: str | None = None,
               source: Endpoint = PHONE, extra: Iterable[str] = ()) -> tuple[PhoneSide, Out]:
    """An accepted subscription and its first NOTIFY."""
    side, out = rig.subscribe(target, watcher=watcher, event=event, expires=expires, accept=accept,
                              supported=supported, source=source, extra=extra)
    rig.accept(side, out)
    return side, only_notify(out)


# -- SUBSCRIBE for a colleague (RFC 4235) --------------------------------------------------------------------
def test_subscribe_for_a_colleague_gets_200_then_at_once_an_idle_full_state() -> None:
    rig = Rig()
    side, out = rig.subscribe("202", accept="application/dialog-info+xml")
    assert [type(o.message) for o in out] == [SipResponse, SipRequest]  # the answer first, then the NOTIFY
    ok = rig.accept(side, out)
    assert out[0].destination == PHONE
    assert ok.headers.get("Expires") == "600" and ok.headers.get("Contact") == "<sip:b2bua@192.0.2.10:5060>"
    assert ok.to.tag and ok.call_id == side.call_id

    notify = out[1]
    request = notify.request
    assert request.method == "NOTIFY" and notify.destination == PHONE
    assert request.uri == "sip:201@192.0.2.21:5062"  # the phone's Contact (the dialog's remote target)
    assert request.call_id == side.call_id and request.from_.tag == ok.to.tag and request.to.tag == side.from_tag
    assert request.headers.get("Event") == "dialog"
    assert state_of(request) == "active;expires=600"
    assert request.headers.get("Content-Type") == "application/dialog-info+xml"
    assert request.headers.get("Contact") == "<sip:b2bua@192.0.2.10:5060>"
    root = dialog_info(request.body)
    assert root.get("version") == "0" and root.get("entity") == uri("202")
    assert is_idle(root)
    assert len(rig.notifier.subscriptions) == 1 and rig.notifier.next_deadline() == START + 600


def test_a_colleague_can_be_addressed_by_user_id_or_number() -> None:
    rig = Rig()
    for target in ("marie.martin", "+3222211202", "022211202"):
        _, notify = subscribed(rig, target)
        assert dialog_info(notify.request.body).get("entity") == uri("202")
    assert len(rig.notifier.subscriptions) == 3


def test_each_call_state_change_is_one_notify_with_the_next_version() -> None:
    rig = Rig()
    subscribed(rig)
    rig.clock.advance(100)
    seen: list[tuple[int, list[str], str | None]] = []
    for change in (leg("trying", phone_tag=None), leg("early"), leg("confirmed"), leg("terminated")):
        notify = only_notify(rig.publish(change)).request
        seen.append((version_of(notify), shown_states(dialog_info(notify.body)), state_of(notify)))
    assert seen == [
        (1, ["trying"], "active;expires=500"),  # what is left of the 600 s, on the fake clock
        (2, ["early"], "active;expires=500"),
        (3, ["confirmed"], "active;expires=500"),
        (4, ["terminated"], "active;expires=500"),
    ]
    assert rig.publish(leg("terminated", call_id="another")) == []  # still idle: nothing to say


def test_a_state_the_key_already_shows_sends_nothing() -> None:
    rig = Rig()
    subscribed(rig)
    assert version_of(only_notify(rig.publish(leg("early"))).request) == 1
    assert rig.publish(leg("early")) == []  # a 183 after the 180
    assert rig.publish(leg("early", user="pieter.peeters")) == []  # a colleague nobody watches
    assert version_of(only_notify(rig.publish(leg("confirmed"))).request) == 2  # no version skipped
    assert rig.publish(leg("confirmed")) == []  # a re-INVITE that changes nothing the key shows


def test_the_early_notify_shows_the_caller_and_the_dialog_identifiers() -> None:
    rig = Rig()
    subscribed(rig)
    notify = only_notify(rig.publish(leg("early", call_id="abc-123@192.0.2.10", phone_tag="marie-tag")))
    [dialog] = dialog_info(notify.request.body).findall(f"{DI}dialog")
    assert dialog.get("call-id") == "abc-123@192.0.2.10"
    assert dialog.get("local-tag") == "marie-tag"  # the monitored phone's side (what Replaces names)
    assert dialog.get("remote-tag") == "b2bua-tag"
    assert dialog.get("direction") == "recipient" and dialog.findtext(f"{DI}state") == "early"
    remote = dialog.find(f"{DI}remote/{DI}identity")
    assert remote is not None and remote.text == uri("201") and remote.get("display") == "Jean Dupont"
    target = dialog.find(f"{DI}remote/{DI}target")
    assert target is not None and target.get("uri") == uri("201")
    local = dialog.find(f"{DI}local/{DI}identity")
    assert local is not None and local.text == uri("202") and local.get("display") == "Marie Martin"


def test_a_withheld_caller_is_shown_as_anonymous() -> None:
    rig = Rig()
    subscribed(rig)
    notify = only_notify(rig.publish(leg("early", peer='"Anonymous" <sip:anonymous@anonymous.invalid>')))
    remote = dialog_info(notify.request.body).find(f"{DI}dialog/{DI}remote/{DI}identity")
    assert remote is not None and remote.text == "sip:anonymous@anonymous.invalid"
    assert remote.get("display") == "Anonymous"


def test_a_held_call_is_confirmed_with_rendering_no_and_resuming_clears_it() -> None:
    rig = Rig()
    subscribed(rig)
    rig.publish(leg("confirmed"))

    def rendering(notify: Out) -> list[tuple[str | None, str | None]]:
        params = dialog_info(notify.request.body).findall(f"{DI}dialog/{DI}local/{DI}target/{DI}param")
        return [(p.get("pname"), p.get("pvalue")) for p in params]

    held = only_notify(rig.publish(leg("confirmed", held=True)))
    assert shown_states(dialog_info(held.request.body)) == ["confirmed"]
    assert rendering(held) == [("+sip.rendering", "no")]
    resumed = only_notify(rig.publish(leg("confirmed", held=False)))
    assert rendering(resumed) == [] and version_of(resumed.request) == 3


def test_with_several_calls_the_key_shows_the_most_urgent() -> None:
    rig = Rig()
    subscribed(rig)
    rig.publish(leg("confirmed", call_id="talking"))
    ringing = only_notify(rig.publish(leg("early", call_id="waiting")))  # call waiting: ringing wins
    [dialog] = dialog_info(ringing.request.body).findall(f"{DI}dialog")
    assert dialog.get("call-id") == "waiting" and dialog.findtext(f"{DI}state") == "early"
    back = only_notify(rig.publish(leg("terminated", call_id="waiting")))
    [dialog] = dialog_info(back.request.body).findall(f"{DI}dialog")
    assert dialog.get("call-id") == "talking" and dialog.findtext(f"{DI}state") == "confirmed"


# -- refresh, unsubscribe, unknown dialogs, expiry -----------------------------------------------------------
def test_an_in_dialog_refresh_gets_the_new_expires_and_the_full_state() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    rig.clock.advance(300)
    out = rig.resubscribe(side, "1200")
    ok = out[0].response
    assert ok.status == 200 and ok.to.tag == side.to_tag and ok.headers.get("Expires") == "1200"
    assert ok.headers.get("Contact") == "<sip:b2bua@192.0.2.10:5060>"
    notify = only_notify(out).request
    assert state_of(notify) == "active;expires=1200" and version_of(notify) == 1
    assert notify.cseq.number == 2  # the dialog's CSeq goes on
    assert rig.notifier.next_deadline() == START + 300 + 1200
    assert len(rig.notifier.subscriptions) == 1


def test_unsubscribe_gets_200_and_a_terminated_notify_then_nothing_more() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    out = rig.resubscribe(side, "0")
    ok = out[0].response
    assert ok.status == 200 and ok.headers.get("Expires") == "0"
    notify = only_notify(out).request
    assert state_of(notify) == "terminated" and version_of(notify) == 1 and is_idle(dialog_info(notify.body))
    rig.assert_nothing_left()
    assert rig.publish(leg("early")) == []
    assert only_response(rig.resubscribe(side, "600")).status == 481  # the dialog is gone


def test_an_in_dialog_subscribe_for_an_unknown_subscription_gets_481() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    out = rig.resubscribe(side, "600", to_tag="not-ours")
    response = only_response(out)
    assert response.status == 481 and response.to.tag == "not-ours"
    assert len(rig.notifier.subscriptions) == 1  # the real one is untouched
    stranger = PhoneSide(call_id="never-seen", from_tag="x", to_tag="y", target="202", event="dialog",
                         watcher="jean.dupont", source=PHONE)
    assert only_response(rig.resubscribe(stranger, "600")).status == 481


def test_an_expired_subscription_gets_a_final_timeout_notify_and_is_gone() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    rig.publish(leg("early"))
    assert rig.notifier.next_deadline() == START + 600
    rig.clock.set(START + 599)
    rig.notifier.on_timer(rig.clock.now)
    assert rig.sent() == [] and len(rig.notifier.subscriptions) == 1
    rig.clock.set(START + 601)
    rig.notifier.on_timer(rig.clock.now)
    notify = only_notify(rig.sent()).request
    assert state_of(notify) == "terminated;reason=timeout"
    assert version_of(notify) == 2 and shown_states(dialog_info(notify.body)) == ["early"]  # the full state
    rig.assert_nothing_left()
    assert rig.publish(leg("confirmed")) == []
    assert only_response(rig.resubscribe(side, "600")).status == 481


# -- NOTIFY failures (RFC 6665 §4.2.2) -----------------------------------------------------------------------
def test_a_notify_answered_481_ends_the_subscription() -> None:
    rig = Rig()
    _, first = subscribed(rig)
    [event] = rig.answer(first, 200)
    assert isinstance(event, ResponseReceived) and event.response.status == 200
    assert isinstance(event.transaction.user_data, NotifyContext)
    assert len(rig.notifier.subscriptions) == 1  # a 200 changes nothing

    change = only_notify(rig.publish(leg("early")))
    [event] = rig.answer(change, 481)
    assert isinstance(event, ResponseReceived) and event.response.status == 481
    context = event.transaction.user_data
    assert isinstance(context, NotifyContext) and context.subscription.resource == "marie.martin"
    rig.assert_nothing_left()
    assert rig.publish(leg("confirmed")) == []


def test_a_notify_that_times_out_ends_the_subscription() -> None:
    rig = Rig()
    subscribed(rig)  # the phone never answers its NOTIFY
    events = rig.run_stack_timers(START + 40)
    assert [type(e) for e in events if isinstance(e, ClientTransactionTimedOut)] == [ClientTransactionTimedOut]
    retransmitted = notifies(rig.sent())
    assert retransmitted and all(r.cseq.number == 1 for r in retransmitted)  # Timer E over UDP, then Timer F
    rig.assert_nothing_left()
    assert rig.publish(leg("early")) == []


def test_a_list_notify_answered_481_leaves_nothing_behind() -> None:
    rig = Rig()
    _, first = subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    assert rig.notifier._list_members != {}
    rig.answer(first, 481)
    rig.assert_nothing_left()
    assert rig.publish(leg("early")) == []


def test_a_list_notify_that_times_out_leaves_nothing_behind() -> None:
    rig = Rig()
    subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    events = rig.run_stack_timers(START + 40)  # over TCP only Timer F: 64*T1
    assert any(isinstance(e, ClientTransactionTimedOut) for e in events)
    rig.assert_nothing_left()
    assert rig.publish(leg("early")) == []



def test_a_lost_stream_moves_the_subscription_to_its_contact_with_a_full_state() -> None:
    """The phone's TCP connection (from an ephemeral port) is gone and nothing listens there: the NOTIFYs in
    flight fail at once; the subscription moves to the Contact (RFC 3261 §12.2.1.1) with one full state
    there, and ends only when that fails too."""
    rig = Rig()
    flow = Endpoint("tcp", "192.0.2.21", 40112, connection_id=9)
    contact = Endpoint("tcp", "192.0.2.21", 5062)
    side, out = rig.subscribe("202", source=flow, contact_port=contact.port)
    rig.accept(side, out)
    first = only_notify(out)
    assert first.destination == flow
    trying = only_notify(rig.publish(leg("trying")))
    assert trying.destination == flow
    assert rig.publish(leg("early"), answered=False) == []  # waits behind the one in flight

    [event] = rig.stack.transport_failed(flow.without_connection(), rig.clock.now)
    assert isinstance(event, ClientTransactionTimedOut)
    rig.notifier.on_timeout(event, rig.clock.now)
    moved = only_notify(rig.sent())  # one full state replaces the lost and the waiting NOTIFY
    assert moved.destination == contact
    assert version_of(moved.request) == 3 and shown_states(dialog_info(moved.request.body)) == ["early"]
    rig.answer(moved, 200)
    assert only_notify(rig.publish(leg("confirmed"))).destination == contact

    [event] = rig.stack.transport_failed(contact, rig.clock.now)
    assert isinstance(event, ClientTransactionTimedOut)
    rig.notifier.on_timeout(event, rig.clock.now)
    assert rig.sent() == []
    rig.assert_nothing_left()


# -- one NOTIFY in flight per subscription ----------------------------------------------------------------------
def test_the_notifies_of_a_subscription_go_one_at_a_time_in_version_order() -> None:
    """Changes while a NOTIFY awaits its answer wait behind it; each 200 releases the next one."""
    rig = Rig()
    _, first = subscribed(rig)
    assert rig.publish(leg("trying"), leg("early"), leg("confirmed"), answered=False) == []
    seen = []
    answer = first
    for _ in range(3):
        rig.answer(answer, 200)
        answer = only_notify(rig.sent())
        seen.append((version_of(answer.request), shown_states(dialog_info(answer.request.body))))
    assert seen == [(1, ["trying"]), (2, ["early"]), (3, ["confirmed"])]
    rig.answer(answer, 200)
    assert rig.sent() == []
    assert rig.notifier._in_flight == {} and rig.notifier._waiting == {}


def test_a_phone_that_does_not_answer_gets_one_full_state_instead_of_a_backlog() -> None:
    rig = Rig()
    _, first = subscribed(rig)
    states = ["early", "confirmed"] * (MAX_WAITING // 2 + 2)
    assert rig.publish(*(leg(state) for state in states), answered=False) == []
    rig.answer(first, 200)
    [caught_up] = notifies(rig.sent())
    assert version_of(caught_up) == len(states) + 1 and shown_states(dialog_info(caught_up.body)) == [states[-1]]
    assert rig.answer_all() == []


def test_an_unsubscribe_ends_at_once_whatever_waited() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    assert rig.publish(leg("early"), answered=False) == []
    out = rig.resubscribe(side, "0", answered=False)  # the phone unsubscribes with its NOTIFY unanswered
    assert only_response(out[:1]).status == 200
    [last] = notifies(out)
    assert state_of(last) == "terminated" and shown_states(dialog_info(last.body)) == ["early"]
    rig.assert_nothing_left()

# -- refusals ------------------------------------------------------------------------------------------------
def test_an_unknown_user_gets_404() -> None:
    rig = Rig()
    _, out = rig.subscribe("299")
    response = only_response(out)
    assert response.status == 404 and response.to.tag
    assert len(rig.notifier.subscriptions) == 0


def test_watching_yourself_gets_403() -> None:
    rig = Rig()
    for target in ("201", "jean.dupont", "+3222211201"):
        _, out = rig.subscribe(target)
        assert only_response(out).status == 403
    assert len(rig.notifier.subscriptions) == 0


def test_privacy_listed_refuses_watchers_it_does_not_name() -> None:
    marie = Blf(privacy="listed", allowed_watchers=("pieter.peeters",))
    rig = Rig(demo_with({"marie.martin": marie}))
    _, out = rig.subscribe("202")  # Jean is not listed
    assert only_response(out).status == 403
    _, allowed = subscribed(rig, "202", watcher="pieter.peeters")
    assert state_of(allowed.request) == "active;expires=600"
    assert len(rig.notifier.subscriptions) == 1


def test_an_unknown_event_package_gets_489_with_allow_events() -> None:
    rig = Rig()
    _, out = rig.subscribe("202", event="presence")
    response = only_response(out)
    assert response.status == 489
    assert response.headers.get("Allow-Events") == "dialog, message-summary, as-feature-event"
    assert len(rig.notifier.subscriptions) == 0


def test_too_brief_an_expires_gets_423_with_min_expires() -> None:
    rig = Rig()
    _, out = rig.subscribe("202", expires="30")
    response = only_response(out)
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"
    assert len(rig.notifier.subscriptions) == 0


def test_a_too_brief_refresh_gets_423_and_keeps_the_subscription() -> None:
    rig = Rig()
    side, _ = subscribed(rig)
    response = only_response(rig.resubscribe(side, "10"))
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"
    assert len(rig.notifier.subscriptions) == 1 and rig.notifier.next_deadline() == START + 600


def test_an_accept_without_dialog_info_gets_406() -> None:
    rig = Rig()
    _, out = rig.subscribe("202", accept="application/pidf+xml")
    response = only_response(out)
    assert response.status == 406 and response.headers.get("Accept") == "application/dialog-info+xml"
    _, out = rig.subscribe("202", accept="application/dialog-info+xml;q=0, application/pidf+xml")
    assert only_response(out).status == 406  # q=0 refuses
    assert len(rig.notifier.subscriptions) == 0
    _, ranged = subscribed(rig, "202", accept="application/pidf+xml, application/*")
    assert ranged.request.headers.get("Content-Type") == "application/dialog-info+xml"


def test_a_huge_expires_is_lowered_to_the_policy_maximum() -> None:
    rig = Rig()
    side, out = rig.subscribe("202", expires="86400")
    assert rig.accept(side, out).headers.get("Expires") == "3600"
    assert state_of(only_notify(out).request) == "active;expires=3600"
    assert rig.notifier.next_deadline() == START + 3600
    _, defaulted = rig.subscribe("203", expires=None)  # no Expires: the package default
    assert defaulted[0].response.headers.get("Expires") == "3600"


# -- message-summary (RFC 3842) ------------------------------------------------------------------------------
def test_message_summary_of_ones_own_mailbox() -> None:
    rig = Rig()
    _, first = subscribed(rig, "1969", event="message-summary", accept="application/simple-message-summary")
    notify = first.request
    assert notify.headers.get("Event") == "message-summary" and state_of(notify) == "active;expires=600"
    assert notify.headers.get("Content-Type") == "application/simple-message-summary"
    assert notify.body == (b"Messages-Waiting: no\r\nMessage-Account: sip:1969@callconnect.local\r\n"
                           b"Voice-Message: 0/0 (0/0)\r\n")

    rig.answer(first, 200)
    assert rig.notifier.set_message_counts("jean.dupont", 2, 1) == 1
    update = only_notify(rig.sent()).request
    assert update.call_id == notify.call_id and update.cseq.number == 2
    assert b"Messages-Waiting: yes\r\n" in update.body and b"Voice-Message: 2/1 (0/0)\r\n" in update.body
    assert rig.notifier.set_message_counts("jean.dupont", 2, 1) == 0 and rig.sent() == []  # unchanged
    assert rig.notifier.set_message_counts("marie.martin", 1, 0) == 0 and rig.sent() == []  # nobody watches

    _, again = subscribed(rig, "201", event="message-summary")  # one's own extension is the mailbox too
    assert b"Voice-Message: 2/1 (0/0)" in again.request.body
    assert rig.publish(leg("early", user="jean.dupont")) == []  # call state is not message-summary


def test_someone_elses_mailbox_gets_403() -> None:
    rig = Rig()
    for target in ("202", "marie.martin", "+3222211202"):
        _, out = rig.subscribe(target, event="message-summary")
        assert only_response(out).status == 403
    assert len(rig.notifier.subscriptions) == 0


# -- BLF lists (RFC 4662) ------------------------------------------------------------------------------------
def test_a_list_subscription_without_supported_eventlist_gets_421() -> None:
    rig = Rig()
    _, out = rig.subscribe(JEAN_LIST, accept=LIST_ACCEPT, source=TCP_PHONE)
    response = only_response(out)
    assert response.status == 421 and response.headers.get("Require") == "eventlist"
    assert len(rig.notifier.subscriptions) == 0


def test_a_list_subscription_gets_require_eventlist_and_the_full_state() -> None:
    rig = Rig(demo_with({"jean.dupont": jean_list("sophie.lambert", "marie.martin", "pieter.peeters")}))
    side, out = rig.subscribe(JEAN_LIST, accept=LIST_ACCEPT, supported="replaces, eventlist", source=TCP_PHONE)
    ok = rig.accept(side, out)
    assert ok.headers.get("Require") == "eventlist" and ok.headers.get("Expires") == "600"
    assert ok.headers.get("Contact") == "<sip:b2bua@192.0.2.10:5060;transport=tcp>"
    notify = only_notify(out)
    assert notify.destination == TCP_PHONE  # the phone's own connection
    request = notify.request
    assert request.headers.get("Require") == "eventlist" and request.headers.get("Event") == "dialog"
    assert state_of(request) == "active;expires=600"
    body = list_body(request)
    assert body.version == 0 and body.full_state == "true"
    assert body.rlmi.get("uri") == f"sip:{JEAN_LIST}@{DEMO_DOMAIN}"
    assert body.rlmi.findtext(f"{RL}name") == "Jean Dupont BLF"
    assert body.names == ["Sophie Lambert 204", "Marie Martin 202", "Pieter Peeters 203"]  # key order
    assert body.uris == [uri("204"), uri("202"), uri("203")]
    assert all(body.member_version(u) == 0 and is_idle(body.members[u]) for u in body.uris)


def test_a_members_change_is_a_partial_notify_with_only_that_member() -> None:
    rig = Rig(demo_with({"jean.dupont": jean_list("marie.martin", "sophie.lambert")}))
    subscribed(rig, JEAN_LIST, accept=LIST_ACCEPT, supported="eventlist", source=TCP_PHONE)

    marie = list_body(only_notify(rig.publish(leg("early"))).request)
    assert marie.full_state == "false" and marie.version == 1
    assert marie.names == ["Marie Martin 202"] and marie.member_version(uri("202")) == 1
    [dialog] = marie.members[uri("202")].findall(f"{DI}dialog")
    assert dialog.findtext(f"{DI}state") == "early" and dialog.get("call-id") == "call-1@192.0.2.10"
    assert rig.publish(leg("early")) == []  # nothing new for that key

    sophie = list_body(only_notify(rig.publish(leg("confirmed", user="sophie.lambert", call_id="c2"))).request)
    assert sophie.version == 2 and sophie.uris == [uri("204")] and sophie.member_version(uri("204")) == 1
    again = list_body(only_notify(rig.publish(leg("confirmed"))).request)
    assert again.version == 3 and again.uris == [uri("202")] and again.member_version(uri("202")) == 2
    assert rig.publish(leg("early", user="pieter.peeters", call_id="c3")) == []  # not in the list


def test_a_selection_change_sends_a_full_state_with_the_new_members() -> None:
    rig = Rig(demo_with({"jean.dupont": jean_list("marie.martin", "sophie.lambert")}))
    subscribed(rig, JEAN_LIST, accept=LIST_ACCEPT, supported="eventlist", source=TCP_PHONE)
    rig.publish(leg("early"))  # marie's part is at version 1, the list at 1
    assert rig.change_directory(demo_with({"jean.dupont": jean_list("marie.martin", "sophie.lambert")})) == []

    out = rig.change_directory(demo_with({"jean.dupont": jean_list("pieter.peeters", "marie.martin")}))
    body = list_body(only_notify(out).request)
    assert body.full_state == "true" and body.version == 2
    assert body.names == ["Pieter Peeters 203", "Marie Martin 202"]
    assert body.member_version(uri("203")) == 0 and body.member_version(uri("202")) == 2
    assert shown_states(body.members[uri("202")]) == ["early"]  # the state is carried over
    assert rig.publish(leg("early", user="sophie.lambert", call_id="c2")) == []  # no longer a member
    partial = list_body(only_notify(rig.publish(leg("early", user="pieter.peeters", call_id="c3"))).request)
    assert partial.version == 3 and partial.uris == [uri("203")] and partial.member_version(uri("203")) == 1


def test_a_member_who_stops_allowing_the_owner_leaves_the_list() -> None:
    rig = Rig(demo_with({"jean.dupont": jean_list("marie.martin", "sophie.lambert")}))
    subscribed(rig, JEAN_LIST, accept=LIST_ACCEPT, supported="eventlist", source=TCP_PHONE)
    out = rig.change_directory(demo_with({"jean.dupont": jean_list("marie.martin", "sophie.lambert"),
                                          "sophie.lambert": Blf(privacy="listed")}))
    body = list_body(only_notify(out).request)
    assert body.full_state == "true" and body.names == ["Marie Martin 202"]
    assert rig.publish(leg("early", user="sophie.lambert")) == []


def test_another_users_list_uri_gets_403() -> None:
    rig = Rig()
    _, out = rig.subscribe(JEAN_LIST, watcher="marie.martin", accept=LIST_ACCEPT, supported="eventlist")
    assert only_response(out).status == 403
    assert len(rig.notifier.subscriptions) == 0


def test_a_list_unsubscribe_and_expiry_end_with_terminated() -> None:
    rig = Rig()
    side, _ = subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    out = rig.resubscribe(side, "0")
    assert out[0].response.headers.get("Require") == "eventlist"
    ended = only_notify(out).request
    assert state_of(ended) == "terminated" and list_body(ended).full_state == "true"
    rig.assert_nothing_left()

    subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    rig.clock.advance(600)
    rig.notifier.on_timer(rig.clock.now)
    expired = only_notify(rig.sent()).request
    assert state_of(expired) == "terminated;reason=timeout" and len(list_body(expired).names) == 3
    rig.assert_nothing_left()


def big_group() -> GroupDescription:
    """A receptionist (extension 1000) whose list carries the 200 other users of the group, the most a
    selection may hold."""
    others = tuple(User(user_id=f"u{i:03d}", group_id="big", first_name=f"Prénom{i}", last_name=f"Nom{i}",
                        extension=str(1000 + i)) for i in range(1, MAX_BLF_MONITORED + 1))
    owner = User(user_id="reception", group_id="big", first_name="Accueil", last_name="Réception",
                 extension="1000", services=replace(demo_group_description().users[0].services, blf=Blf(
                     monitored_users=tuple(u.user_id for u in others), list_uri="reception-blf")))
    description = GroupDescription(
        enterprise=Enterprise(id="big", name="Big"),
        group=Group(id="big", enterprise_id="big", name="Big", domain="big.example.com"),
        users=(owner, *others))
    assert description.problems() == [] and len(description.users) == MAX_BLF_MONITORED + 1
    return description


def test_a_large_list_subscribed_over_udp_is_notified_over_tcp() -> None:
    rig = Rig(big_group())
    side, out = rig.subscribe("reception-blf", watcher="reception", accept=LIST_ACCEPT, supported="eventlist")
    ok = rig.accept(side, out)
    assert out[0].destination == PHONE and ok.headers.get("Require") == "eventlist"  # answered where it came
    notify = only_notify(out)
    assert notify.destination.transport == "tcp"  # RFC 3261 §18.1.1: far too large for a datagram
    assert (notify.destination.host, notify.destination.port) == (PHONE.host, PHONE.port)
    assert notify.size > 1300
    assert notify.request.top_via.transport.upper() == "TCP"
    body = list_body(notify.request)
    assert len(body.names) == MAX_BLF_MONITORED and body.names[0] == "Prénom1 Nom1 1001"
    assert body.names[-1] == "Prénom200 Nom200 1200" and all(body.names)
    # a small NOTIFY of a plain key in the same group stays on the phone's UDP
    _, single = subscribed(rig, "1001", watcher="reception")
    assert single.destination == PHONE and single.size < 1300


# -- directory reloads -------------------------------------------------------------------------------------
def test_a_privacy_change_ends_a_watch_it_no_longer_allows() -> None:
    rig = Rig()
    subscribed(rig)
    subscribed(rig, "1969", event="message-summary")
    only_pieter = Blf(privacy="listed", allowed_watchers=("pieter.peeters",))
    out = rig.change_directory(demo_with({"marie.martin": only_pieter}))
    notify = only_notify(out).request
    assert notify.headers.get("Event") == "dialog" and state_of(notify) == "terminated;reason=rejected"
    assert len(rig.notifier.subscriptions) == 1  # the mailbox subscription stays
    assert rig.publish(leg("early")) == []


# -- defects these tests found (all fixed since) ---------------------------------------------------------
def other_tenant() -> GroupDescription:
    """Another enterprise on the same server, with a user whose number is public."""
    return GroupDescription(
        enterprise=Enterprise(id="acme", name="Acme"),
        group=Group(id="acme", enterprise_id="acme", name="Acme", domain="acme.example.com", country_code="32"),
        users=(User(user_id="ceo", group_id="acme", first_name="Big", last_name="Boss", extension="300",
                    numbers=("+3225550199",)),))


def test_fixed_a_user_of_another_group_cannot_be_watched_by_number() -> None:
    rig = Rig(demo_group_description(), other_tenant())
    _, out = rig.subscribe("+3225550199")
    assert notifies(out) == [] and only_response(out).status in (403, 404)
    assert len(rig.notifier.subscriptions) == 0


def test_fixed_the_list_owners_own_calls_do_not_reach_the_list_subscription() -> None:
    rig = Rig()
    subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    assert rig.publish(leg("trying", user="jean.dupont", direction="initiator", phone_tag=None)) == []
    body = list_body(only_notify(rig.publish(leg("early"))).request)
    assert body.version == 1


def test_fixed_privacy_listed_keeps_the_users_own_feature_key_subscription() -> None:
    rig = Rig()
    side, out = rig.subscribe("201", event="as-feature-event")
    rig.accept(side, out)
    assert notifies(out)
    out = rig.change_directory(demo_with({"jean.dupont": replace(jean_list("marie.martin"), privacy="listed")}))
    assert [state_of(n) for n in notifies(out) if (state_of(n) or "").startswith("terminated")] == []
    assert len(rig.notifier.subscriptions) == 1


def test_fixed_the_notify_carries_the_event_id_of_the_subscribe() -> None:
    rig = Rig()
    side, out = rig.subscribe("202", event="dialog;id=77")
    rig.accept(side, out)
    event = only_notify(out).request.headers.get("Event") or ""
    assert [p.strip() for p in event.split(";")] == ["dialog", "id=77"]


def test_fixed_a_list_whose_uri_was_removed_is_ended() -> None:
    rig = Rig()
    subscribed(rig, JEAN_LIST, supported="eventlist", source=TCP_PHONE)
    out = rig.change_directory(demo_with({"jean.dupont": Blf(monitored_users=("marie.martin",))}))
    assert all(b"sip:None@" not in n.body for n in notifies(out))
    assert [(state_of(n) or "").startswith("terminated") for n in notifies(out)] == [True]
    rig.assert_nothing_left()


LONG_RECORD_ROUTE: Final = ("Record-Route: <sip:sbc-edge-01.pbx-provider.example.net:5060;lr;transport=udp>, "
                             "<sip:proxy-core-02.pbx-provider.example.net:5060;lr;transport=udp>")


def long_early_leg() -> LegStateChanged:
    """A ringing call whose NOTIFY, with `LONG_RECORD_ROUTE` in the dialog, passes 1300 bytes."""
    return leg("early", call_id="3c26b2f8a1d94e7f8e1b2a6c5d4e3f21@carrier-sbc.example.net",
               peer='"Fournisseur Bureautique et Informatique SPRL" <sip:+3225550101@callconnect.local;user=phone>')


def test_fixed_a_single_notify_over_1300_bytes_does_not_go_over_udp() -> None:
    rig = Rig()
    subscribed(rig, "202", extra=[LONG_RECORD_ROUTE])
    notify = only_notify(rig.publish(long_early_leg()))
    assert notify.size > 1300
    assert notify.destination.transport != "udp"


def test_fixed_a_large_notify_that_times_out_over_tcp_ends_the_subscription() -> None:
    """The NOTIFY moved to TCP for its size (the phone subscribed over UDP) gets no answer: the subscription
    ends like any other whose NOTIFY timed out, and nothing waits behind it forever."""
    rig = Rig()
    subscribed(rig, "202", extra=[LONG_RECORD_ROUTE])
    large = only_notify(rig.publish(long_early_leg()))
    assert large.destination.transport == "tcp"
    assert rig.publish(leg("confirmed"), answered=False) == []  # waits behind it
    [event] = rig.stack.transport_failed(large.destination, rig.clock.now)  # the phone takes no TCP
    assert isinstance(event, ClientTransactionTimedOut)
    rig.notifier.on_timeout(event, rig.clock.now)
    assert rig.sent() == []
    rig.assert_nothing_left()
