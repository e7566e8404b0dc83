"""Subscriptions on the notifier side (RFC 6665 §4.2): accept, refresh, end and expire SUBSCRIBE dialogs.

`Subscriptions` decides what a SUBSCRIBE gets and keeps the accepted ones, indexed by dialog (Call-ID + our
tag) and by what they watch (event package + resource). The decisions are data: `Accepted` (answer 200 with
this Expires, then NOTIFY the full state at once, RFC 6665 §4.2.1.2), `Unsubscribed` (Expires: 0: 200 and a
final NOTIFY with `Subscription-State: terminated`), `Refused` (489 + Allow-Events for an unknown package,
423 + Min-Expires, 481 for a refresh of an unknown subscription, 400 for a bad Expires). The shell checks
who the watcher and the resource are (authentication, 404, 403 privacy) before asking, sends the answers and
NOTIFYs through the transaction layer, and calls `remove()` when a NOTIFY gets 481 or times out (§4.2.2).

Each subscription counts its NOTIFYs: `next_version()` is what RFC 4235 §4.1 / RFC 4662 §5.2 call `version`,
0 for the first NOTIFY, +1 for each one after. Pure: requests and `now` in, decisions out; no sockets, no
bodies, no users.
"""

from __future__ import annotations

import heapq
import ipaddress
from dataclasses import dataclass
from typing import Final

from sipserver.address import Endpoint
from sipserver.dialog import Dialog, uas_dialog
from sipserver.errors import RemoteProtocolError
from sipserver.headers import parse_expires
from sipserver.message import SipRequest
from sipserver.uri import parse_uri

PACKAGES: Final = ("dialog", "message-summary", "as-feature-event")
ALLOW_EVENTS: Final = ", ".join(PACKAGES)


@dataclass(frozen=True, slots=True)
class SubscriptionPolicy:
    """Expires limits (seconds): below `minimum` gets 423, above `maximum` is lowered, absent is `default`."""

    minimum: int = 60
    maximum: int = 3600
    default: int = 3600


@dataclass(eq=False, slots=True)
class Subscription:
    """One accepted subscription: `watcher` (user id) watches `resource` (user id, or the list's owner for a
    BLF list) for `event`; `is_list` when it is an RFC 4662 list subscription."""

    dialog: Dialog
    event: str
    watcher: str
    resource: str
    is_list: bool
    destination: Endpoint
    expires_at: float
    version: int = 0
    event_id: str | None = None  # the Event header's `id` (RFC 6665 §8.2.1): every NOTIFY repeats it

    @property
    def event_header(self) -> str:
        return self.event if self.event_id is None else f"{self.event};id={self.event_id}"

    @property
    def key(self) -> tuple[str, str]:
        return self.dialog.key

    def next_version(self) -> int:
        version = self.version
        self.version += 1
        return version

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))

    def contact_destination(self) -> Endpoint | None:
        """Where the phone's Contact (the dialog's remote target, RFC 3261 §12.2) says requests go, when the
        stream the SUBSCRIBE came on is gone: its IP literal, port (5060 by default) and transport (that of
        the stream unless the URI names one). None for a host name (the notifier resolves no names) or a URI
        that does not parse."""
        try:
            uri = parse_uri(self.dialog.remote_target)
        except RemoteProtocolError:
            return None
        host = uri.host.strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None
        transport = (uri.params.get("transport") or self.destination.transport).lower()
        if transport not in ("udp", "tcp"):
            return None
        return Endpoint(transport, host, uri.port or 5060)


@dataclass(frozen=True, slots=True)
class Accepted:
    subscription: Subscription
    expires: int
    new: bool


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    subscription: Subscription


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


Outcome = Accepted | Unsubscribed | Refused


def event_package(request: SipRequest) -> str | None:
    """The package of the Event header without its parameters (RFC 6665 §8.2.1), lower-cased; None if absent."""
    value = request.headers.get("Event")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def accepts(request: SipRequest, *media_types: str) -> bool:
    """True when the SUBSCRIBE's Accept allows every one of `media_types` (RFC 6665 §4.2.1: no Accept means
    the package's default format). `type/*` and `*/*` ranges match; parameters and q-values are ignored,
    except that q=0 refuses."""
    ranges = request.headers.values("Accept")
    if not ranges:
        return True
    allowed: list[str] = []
    for item in ranges:
        media, *params = (part.strip().lower() for part in item.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        allowed.append(media)
    for wanted in media_types:
        major = wanted.split("/", 1)[0]
        if not any(media in (wanted, f"{major}/*", "*/*") for media in allowed):
            return False
    return True


def event_id(request: SipRequest) -> str | None:
    """The `id` parameter of the Event header (RFC 6665 §8.2.1), or None."""
    value = request.headers.get("Event") or ""
    for param in value.split(";")[1:]:
        name, _, val = param.partition("=")
        if name.strip().lower() == "id":
            return val.strip() or None
    return None


class Subscriptions:
    def __init__(self, policy: SubscriptionPolicy | None = None) -> None:
        self.policy = policy or SubscriptionPolicy()
        self._by_key: dict[tuple[str, str], Subscription] = {}
        self._by_resource: dict[tuple[str, str], dict[tuple[str, str], Subscription]] = {}
        # Expiry times in a heap, so the shell's deadline query (after every datagram) and the expiry sweep cost
        # O(log n), not a scan of every subscription. Lazy deletion: a refresh pushes a new entry, a removal
        # pushes nothing; an entry counts only while its subscription is still kept with that very time.
        self._deadlines: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._by_key)

    # -- decisions ---------------------------------------------------------------------------------------
    def check_event(self, request: SipRequest) -> str | Refused:
        """The package asked for, or 489 Bad Event with the packages we serve (RFC 6665 §4.2.1)."""
        package = event_package(request)
        if package not in PACKAGES:
            return Refused(489, "Bad Event", (("Allow-Events", ALLOW_EVENTS),))
        return package

    def _expires(self, request: SipRequest) -> int | Refused:
        text = request.headers.get("Expires")
        try:
            expires = self.policy.default if text is None else parse_expires(text)
        except RemoteProtocolError:
            return Refused(400, "Bad Expires")
        if expires == 0:
            return 0
        if expires < self.policy.minimum:
            return Refused(423, "Interval Too Brief", (("Min-Expires", str(self.policy.minimum)),))
        return min(expires, self.policy.maximum)

    def subscribe(self, request: SipRequest, *, event: str, watcher: str, resource: str, is_list: bool,
                  source: Endpoint, local_tag: str, contact: str, now: float) -> Outcome:
        """A SUBSCRIBE outside any dialog, already authenticated and authorised: create the subscription. An
        initial SUBSCRIBE with Expires: 0 is a fetch: accepted, then ended after its one NOTIFY."""
        expires = self._expires(request)
        if isinstance(expires, Refused):
            return expires
        dialog = uas_dialog(request, local_tag, contact)
        dialog.early = False
        subscription = Subscription(dialog=dialog, event=event, watcher=watcher, resource=resource,
                                    is_list=is_list, destination=source, expires_at=now + expires,
                                    event_id=event_id(request))
        if expires == 0:
            return Unsubscribed(subscription)
        self._by_key[subscription.key] = subscription
        self._by_resource.setdefault((event, resource), {})[subscription.key] = subscription
        self._push_deadline(subscription)
        return Accepted(subscription, expires, new=True)

    def refresh(self, request: SipRequest, source: Endpoint, now: float) -> Outcome:
        """A SUBSCRIBE inside a dialog (To tag): refresh or end (Expires: 0) it; 481 if we do not know it."""
        subscription = self._by_key.get((request.call_id, request.to.tag or ""))
        if subscription is None or event_package(request) != subscription.event \
                or event_id(request) != subscription.event_id:
            return Refused(481, "Subscription Does Not Exist")
        if not subscription.dialog.accept_remote_cseq(request):
            return Refused(500, "CSeq Out Of Order")
        expires = self._expires(request)
        if isinstance(expires, Refused):
            return expires
        if expires == 0:
            self.remove(subscription)
            return Unsubscribed(subscription)
        subscription.expires_at = now + expires
        subscription.destination = source  # NOTIFYs follow the phone (a new TCP connection, a new port)
        self._push_deadline(subscription)
        return Accepted(subscription, expires, new=False)

    # -- lookups and housekeeping ------------------------------------------------------------------------
    def get(self, key: tuple[str, str]) -> Subscription | None:
        return self._by_key.get(key)

    def watching(self, event: str, resource: str) -> list[Subscription]:
        return list(self._by_resource.get((event, resource), {}).values())

    def all(self) -> list[Subscription]:
        return list(self._by_key.values())

    def remove(self, subscription: Subscription) -> None:
        self._by_key.pop(subscription.key, None)
        watchers = self._by_resource.get((subscription.event, subscription.resource))
        if watchers is not None:
            watchers.pop(subscription.key, None)
            if not watchers:
                del self._by_resource[(subscription.event, subscription.resource)]

    def expired(self, now: float) -> list[Subscription]:
        """Subscriptions whose time is up, removed (the shell sends each a final NOTIFY, reason=timeout)."""
        gone: list[Subscription] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            at, key = heapq.heappop(deadlines)
            subscription = self._by_key.get(key)
            if subscription is not None and subscription.expires_at == at:
                self.remove(subscription)
                gone.append(subscription)
        return gone

    def next_deadline(self) -> float | None:
        """When the next subscription expires (None: none kept). Drops stale heap entries on the way."""
        deadlines = self._deadlines
        while deadlines:
            at, key = deadlines[0]
            subscription = self._by_key.get(key)
            if subscription is not None and subscription.expires_at == at:
                return at
            heapq.heappop(deadlines)
        return None

    def _push_deadline(self, subscription: Subscription) -> None:
        heapq.heappush(self._deadlines, (subscription.expires_at, subscription.key))
        if len(self._deadlines) > 2 * len(self._by_key) + 64:
            # Many refreshes or removals left stale entries behind: rebuild from the live subscriptions.
            self._deadlines = [(s.expires_at, s.key) for s in self._by_key.values()]
            heapq.heapify(self._deadlines)
