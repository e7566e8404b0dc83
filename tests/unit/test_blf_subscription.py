"""RFC 6665 notifier-side subscription decisions with a fake clock: accept, Expires negotiation, refresh,
unsubscribe, 481 for unknown dialogs, 489 for unknown packages, expiry, versions."""

from __future__ import annotations

from blf.subscription import Accepted, Refused, SubscriptionPolicy, Subscriptions, Unsubscribed
from sipserver.address import Endpoint
from sipserver.message import SipRequest
from sipserver.parser import parse_message

PHONE = Endpoint("udp", "127.0.0.1", 7001)


def subscribe(event: str = "dialog", expires: str | None = "1800", to_tag: str | None = None, cseq: int = 1
              ) -> SipRequest:
    headers = [
        "Via: SIP/2.0/UDP 127.0.0.1:7001;branch=z9hG4bK-s" + str(cseq),
        "Max-Forwards: 70",
        "From: <sip:201@callconnect.local>;tag=phone",
        "To: <sip:202@callconnect.local>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: sub-1",
        f"CSeq: {cseq} SUBSCRIBE",
        "Contact: <sip:201@127.0.0.1:7001>",
        f"Event: {event}",
        "Accept: application/dialog-info+xml",
    ]
    if expires is not None:
        headers.append(f"Expires: {expires}")
    message = parse_message(("SUBSCRIBE sip:202@callconnect.local SIP/2.0\r\n" + "\r\n".join(headers)
                             + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def new(table: Subscriptions, request: SipRequest, now: float = 0.0) -> Accepted | Unsubscribed | Refused:
    return table.subscribe(request, event="dialog", watcher="jean.dupont", resource="marie.martin", is_list=False,
                           source=PHONE, local_tag="ours", contact="<sip:b2bua@127.0.0.1:5060>", now=now)


def test_unknown_package_gets_489_with_allow_events() -> None:
    assert Subscriptions().check_event(subscribe(event="presence")) == Refused(
        489, "Bad Event", (("Allow-Events", "dialog, message-summary, as-feature-event"),))
    assert Subscriptions().check_event(subscribe(event="Dialog;id=1")) == "dialog"


def test_accept_with_negotiated_expires_and_versions_from_zero() -> None:
    table = Subscriptions(SubscriptionPolicy(minimum=60, maximum=3600, default=3600))
    outcome = new(table, subscribe(expires="7200"), now=10.0)
    assert isinstance(outcome, Accepted) and outcome.new and outcome.expires == 3600  # lowered to our maximum
    sub = outcome.subscription
    assert sub.key == ("sub-1", "ours") and sub.remaining(10.0) == 3600
    assert [sub.next_version() for _ in range(3)] == [0, 1, 2]
    assert table.watching("dialog", "marie.martin") == [sub]
    defaulted = new(Subscriptions(), subscribe(expires=None))
    assert isinstance(defaulted, Accepted) and defaulted.expires == 3600


def test_too_brief_gets_423_and_min_expires() -> None:
    assert new(Subscriptions(), subscribe(expires="30")) == Refused(423, "Interval Too Brief",
                                                                   (("Min-Expires", "60"),))
    assert new(Subscriptions(), subscribe(expires="soon")) == Refused(400, "Bad Expires")


def test_refresh_unsubscribe_and_unknown_dialog() -> None:
    table = Subscriptions()
    first = new(table, subscribe(), now=0.0)
    assert isinstance(first, Accepted)
    refreshed = table.refresh(subscribe(to_tag="ours", cseq=2, expires="600"), PHONE, now=100.0)
    assert isinstance(refreshed, Accepted) and not refreshed.new and refreshed.subscription.remaining(100.0) == 600
    assert table.refresh(subscribe(to_tag="other", cseq=3), PHONE, now=101.0) == \
        Refused(481, "Subscription Does Not Exist")
    assert table.refresh(subscribe(to_tag="ours", cseq=2), PHONE, now=102.0) == Refused(500, "CSeq Out Of Order")
    ended = table.refresh(subscribe(to_tag="ours", cseq=4, expires="0"), PHONE, now=103.0)
    assert isinstance(ended, Unsubscribed) and len(table) == 0 and table.watching("dialog", "marie.martin") == []


def test_fetch_with_expires_zero_is_not_kept() -> None:
    table = Subscriptions()
    assert isinstance(new(table, subscribe(expires="0")), Unsubscribed) and len(table) == 0


def test_expiry_with_a_fake_clock() -> None:
    table = Subscriptions()
    outcome = new(table, subscribe(expires="120"), now=1000.0)
    assert isinstance(outcome, Accepted)
    assert table.next_deadline() == 1120.0
    assert table.expired(1119.9) == []
    assert table.expired(1120.0) == [outcome.subscription] and table.next_deadline() is None


def _call(call_id: str, *, expires: str = "600", to_tag: str | None = None, cseq: int = 1) -> SipRequest:
    request = subscribe(expires=expires, to_tag=to_tag, cseq=cseq)
    request.headers.set("Call-ID", call_id)
    return request


def test_deadlines_follow_refreshes_removals_and_expiry_order() -> None:
    """The deadline heap: a refresh moves a subscription's deadline (its old entry no longer counts), a removed
    subscription never expires, and many subscriptions expire in time order, each once."""
    table = Subscriptions()
    subs = {}
    for index, expires in enumerate(("300", "120", "900", "600")):
        outcome = new(table, _call(f"c{index}", expires=expires), now=0.0)
        assert isinstance(outcome, Accepted)
        subs[index] = outcome.subscription
    assert table.next_deadline() == 120.0
    # c1 refreshed at 100 for 600 s: now due at 700; the earliest is c0 at 300.
    refreshed = table.refresh(_call("c1", to_tag="ours", cseq=2, expires="600"), PHONE, now=100.0)
    assert isinstance(refreshed, Accepted)
    assert table.next_deadline() == 300.0
    table.remove(subs[0])
    assert table.next_deadline() == 600.0
    assert table.expired(599.0) == []
    assert table.expired(700.0) == [subs[3], subs[1]]
    assert table.next_deadline() == 900.0 and len(table) == 1
    assert table.expired(10_000.0) == [subs[2]] and table.next_deadline() is None and table.expired(20_000.0) == []


def test_many_refreshes_keep_the_deadline_heap_bounded() -> None:
    table = Subscriptions()
    assert isinstance(new(table, _call("only", expires="600"), now=0.0), Accepted)
    for cseq in range(2, 1000):
        outcome = table.refresh(_call("only", to_tag="ours", cseq=cseq, expires="600"), PHONE, now=float(cseq))
        assert isinstance(outcome, Accepted)
    assert len(table._deadlines) <= 2 * len(table) + 65
    assert table.next_deadline() == 999.0 + 600
