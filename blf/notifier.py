"""The BLF / message-waiting notifier: SUBSCRIBE handling and NOTIFY sending in the asyncio shell (RFC 6665).

For an authenticated SUBSCRIBE it resolves what is watched — a colleague by extension, number or username for
`Event: dialog` (RFC 4235), the watcher's own BLF list URI (RFC 4662, `Supported: eventlist`), the watcher's
own mailbox for `message-summary` (RFC 3842) — applies "who may monitor me" (403), checks Accept (406), asks
the pure `Subscriptions` table for the decision, answers, and sends the full state at once (§4.2.1.2).

Every live call-state change of a monitored user (`LiveCalls` events) becomes one NOTIFY per watcher whose
key would show something different, each with that subscription's next `version`; a list subscription gets a
partial-state NOTIFY naming only the member that changed (RFC 4662 §5.2). A subscription has one NOTIFY in
flight at a time: the next ones wait, in order, for its final response. A directory reload
(`on_directory_changed`) sends a full state to lists whose membership changed — no phone reboot — and ends
(`reason=rejected`) the subscriptions a privacy change no longer allows. Refreshes, unsubscribes and expiries
end with `Subscription-State: terminated`; a NOTIFY answered with a failure (481...) or timed out removes its
subscription (RFC 6665 §4.2.2), except when the TCP connection the SUBSCRIBE came on is gone: the
subscription then moves to the phone's Contact with a full state (RFC 3261 §12.2.1.1). Message counts
come from `set_message_counts()` (the voicemail store). A NOTIFY too large for a UDP datagram (RFC 3261
§18.1.1, 1300 bytes) goes over TCP to the same address instead of being fragmented.

It sends through the stack's transaction layer (retransmissions, timers) and owns no sockets; bodies come
from the pure renderers (`dialog_info`, `rlmi`, `mwi`). It knows nothing of calls beyond `LegStateChanged`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from blf import feature_sync
from blf.dialog_info import DialogView, most_urgent, render_dialog_info
from blf.mwi import render_message_summary
from blf.rlmi import ListMember, render_list_notify
from blf.subscription import Accepted, Refused, Subscription, SubscriptionPolicy, Subscriptions, Unsubscribed, accepts
from features.model import ServiceSettings
from provisioning.model import Directory, Group, User
from provisioning.sync import devices_to_resync
from provisioning.yealink import ProvisioningServer
from sipserver.address import Endpoint
from sipserver.b2bua.call import LegStateChanged, LocalAddress
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import Binding, LocationService
from sipserver.events import ClientTransactionTimedOut, RequestReceived, ResponseReceived
from sipserver.headers import parse_name_addr
from sipserver.ids import new_call_id, new_tag
from sipserver.message import Headers, SipRequest, build_response
from sipserver.stack import SipStack
from storage.subscriptions import StoredSubscription, SubscriptionChange

log: Final = structlog.get_logger("callconnect.blf")
DIALOG_INFO: Final = "application/dialog-info+xml"
MESSAGE_SUMMARY: Final = "application/simple-message-summary"
RLMI: Final = "application/rlmi+xml"
MULTIPART: Final = "multipart/related"
UDP_LIMIT: Final = 1300  # RFC 3261 §18.1.1: larger requests go over a congestion-controlled transport
MAX_WAITING: Final = 16  # NOTIFYs queued behind the one in flight; beyond, the phone gets one full state instead

Shown = DialogView | None  # what a key shows: the most urgent dialog, or idle


@dataclass(eq=False, slots=True)
class NotifyContext:
    """`user_data` of a NOTIFY's client transaction: which subscription it belongs to, and the subscription's
    destination when it was sent (the phone's stream or address; a large NOTIFY to a UDP phone goes over TCP
    to that same address)."""

    subscription: Subscription
    destination: Endpoint


@dataclass(frozen=True, slots=True)
class WaitingNotify:
    """A NOTIFY built (its body and `version` fixed, in order) but not sent: one is still in flight."""

    body: bytes
    content_type: str
    extra: tuple[tuple[str, str], ...]


@dataclass(eq=False, slots=True)
class ListState:
    """What one list subscription last told the phone: its members (user ids, key order), each member's own
    dialog-info version, and what each member's key shows."""

    members: tuple[str, ...] = ()
    versions: dict[str, int] = field(default_factory=dict)
    shown: dict[str, Shown] = field(default_factory=dict)


class Notifier:
    def __init__(self, *, stack: SipStack, local_for: Callable[[Endpoint], LocalAddress], live: LiveCalls,
                 directory: Callable[[], Directory], now: Callable[[], float],
                 policy: SubscriptionPolicy | None = None, location: LocationService | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 persist: Callable[[SubscriptionChange], None] | None = None,
                 update_services: Callable[[str, ServiceSettings], Awaitable[None]] | None = None,
                 flush: Callable[[], None] | None = None) -> None:
        self.stack = stack
        self.local_for = local_for
        self.live = live
        self.subscriptions = Subscriptions(policy)
        self._directory = directory
        self._now = now
        self.location = location
        self._wall_clock = wall_clock
        self._persist = persist  # keeps subscriptions across a restart (storage.subscriptions)
        self._update_services = update_services  # the subscriber store: what a phone's feature key changes
        self._flush = flush  # sends what the stack queued, for NOTIFYs sent after a store write
        self._features_sent: dict[tuple[str, str], tuple[bytes, ...]] = {}  # as-feature-event: last documents
        self.provisioning: ProvisioningServer | None = None  # where phones register (check-sync on changes)
        self._previous_directory: Directory | None = None
        self._messages: dict[str, tuple[int, int]] = {}  # user id -> (new, old)
        self._shown: dict[tuple[str, str], Shown] = {}  # single-resource dialog subscription -> last shown
        self._lists: dict[tuple[str, str], ListState] = {}
        self._list_members: dict[str, dict[tuple[str, str], Subscription]] = {}  # member -> list subscriptions
        # One NOTIFY in flight per subscription, the next ones wait for its final response (see `_send`).
        self._in_flight: dict[tuple[str, str], NotifyContext] = {}
        self._waiting: dict[tuple[str, str], deque[WaitingNotify]] = {}
        self._resync: set[tuple[str, str]] = set()  # too many waited: one full state replaces them
        live.subscribe(self._on_leg)

    # -- SUBSCRIBE -----------------------------------------------------------------------------------------
    def on_subscribe(self, event: RequestReceived, watcher: User, group: Group, now: float) -> None:
        """A SUBSCRIBE outside any dialog from the authenticated `watcher` of `group`."""
        request, txn = event.request, event.transaction
        package = self.subscriptions.check_event(request)
        if isinstance(package, Refused):
            self.stack.reply(txn, package.status, now, package.reason, package.headers)
            return
        directory = self._directory()
        user_part = request.request_uri.unescaped_user or ""
        is_list = False
        wanted: tuple[str, ...]
        if package == "as-feature-event":
            resource = watcher
            addressed = directory.resolve_user(user_part, group) if user_part else watcher
            if addressed is None or addressed.user_id != watcher.user_id:
                self.stack.reply(txn, 403, now, "Only Your Own Features")
                return
            wanted = (feature_sync.CONTENT_TYPE,)
        elif package == "message-summary":
            resource = watcher
            if user_part and user_part != group.voicemail_number:
                addressed = directory.resolve_user(user_part, group)
                if addressed is None or addressed.user_id != watcher.user_id:
                    self.stack.reply(txn, 403, now, "Only Your Own Mailbox")
                    return
            wanted = (MESSAGE_SUMMARY,)
        else:
            found = directory.resolve_user(user_part, group)
            if found is None:
                owner = directory.user_by_list_uri(user_part, group)
                if owner is None:
                    self.stack.reply(txn, 404, now, "Not Found")
                    return
                if owner.user_id != watcher.user_id:
                    self.stack.reply(txn, 403, now, "Not Your List")
                    return
                if "eventlist" not in (v.lower() for v in request.headers.values("Supported")):
                    # RFC 4662 §4.1: a list needs a subscriber that understands list notifications.
                    self.stack.reply(txn, 421, now, "Extension Required", (("Require", "eventlist"),))
                    return
                found, is_list = owner, True
                wanted = (MULTIPART, RLMI, DIALOG_INFO)
            else:
                if found.user_id == watcher.user_id or found.group_id != watcher.group_id \
                        or not found.services.blf.may_be_watched_by(watcher.user_id):
                    self.stack.reply(txn, 403, now, "Not Allowed To Monitor This User")
                    return
                wanted = (DIALOG_INFO,)
            resource = found
        if not accepts(request, *wanted):
            self.stack.reply(txn, 406, now, "Not Acceptable", (("Accept", ", ".join(wanted)),))
            return
        local = self.local_for(event.source)
        local_tag = new_tag()
        outcome = self.subscriptions.subscribe(
            request, event=package, watcher=watcher.user_id, resource=resource.user_id, is_list=is_list,
            source=event.source, local_tag=local_tag, contact=local.contact(event.source.transport), now=now)
        self._answer(event, outcome, now, to_tag=local_tag)

    def on_in_dialog_subscribe(self, event: RequestReceived, now: float) -> None:
        outcome = self.subscriptions.refresh(event.request, event.source, now)
        self._answer(event, outcome, now, to_tag=None)

    def _answer(self, event: RequestReceived, outcome: Accepted | Unsubscribed | Refused, now: float, *,
                to_tag: str | None) -> None:
        txn = event.transaction
        if isinstance(outcome, Refused):
            response = build_response(event.request, outcome.status, outcome.reason, to_tag=to_tag,
                                      headers=outcome.headers)
            self.stack.respond(txn, response, now)
            return
        subscription = outcome.subscription
        expires = outcome.expires if isinstance(outcome, Accepted) else 0
        headers: tuple[tuple[str, str], ...] = (("Expires", str(expires)),
                                                ("Contact", subscription.dialog.local_contact))
        if subscription.is_list:
            headers += (("Require", "eventlist"),)
        self.stack.respond(txn, build_response(event.request, 200, "OK", to_tag=to_tag, headers=headers), now)
        log.info("subscribed" if expires else "unsubscribed", watcher=subscription.watcher,
                 resource=subscription.resource, package=subscription.event, list=subscription.is_list,
                 expires=expires)
        if isinstance(outcome, Accepted):
            if outcome.new and subscription.is_list:
                self._lists[subscription.key] = ListState()
            self._remember(subscription, now)
        if expires:
            if subscription.event == "as-feature-event" and event.request.body:
                self._on_feature_request(subscription, event.request.body, now)  # it sends the NOTIFY
            else:
                self._notify_full(subscription, now)
        else:
            self._notify_full(subscription, now, terminated="")
            self._forget(subscription)

    def _on_feature_request(self, subscription: Subscription, body: bytes, now: float) -> None:
        """The phone's DND / forward key (`SetDoNotDisturb` / `SetForwarding` in its SUBSCRIBE): store the
        setting the portal shows; the NOTIFYs then show what was stored (or, refused, what still is)."""
        user = self._directory().user_by_id(subscription.resource)
        if user is None or self._update_services is None:
            return
        request = feature_sync.parse_request(body)
        settings = request if isinstance(request, feature_sync.Refusal) else \
            feature_sync.apply_request(request, user.services)
        if isinstance(settings, feature_sync.Refusal):
            log.info("feature_key_refused", user=user.user_id, reason=settings.reason)
            self._send_features(subscription, user.services, now, at_least_one=True)  # what is really set
            return
        written = asyncio.ensure_future(self._update_services(user.user_id, settings))

        def done(future: asyncio.Future[None]) -> None:
            later = self._now()
            if future.cancelled() or future.exception() is not None:
                log.error("feature_key_not_stored", user=user.user_id)
                self._send_features(subscription, user.services, later, at_least_one=True)
            else:
                log.info("feature_key", user=user.user_id, change=type(request).__name__)
                self._send_features(subscription, settings, later, at_least_one=True)
            if self._flush is not None:
                self._flush()

        written.add_done_callback(done)

    def _send_features(self, subscription: Subscription, services: ServiceSettings | None, now: float, *,
                       terminated: str | None = None, at_least_one: bool = False) -> None:
        """A NOTIFY per feature key whose state differs from what this phone was last told (all at first);
        `at_least_one`: the DND document even when nothing changed (a SUBSCRIBE is always followed by one)."""
        if self.subscriptions.get(subscription.key) is not subscription and terminated is None:
            return
        if services is None or terminated is not None:
            self._send(subscription, now, b"", "", terminated=terminated)
            return
        user = self._directory().user_by_id(subscription.resource)
        documents = feature_sync.feature_events(services, user.sip_username if user else subscription.resource)
        sent = self._features_sent.get(subscription.key, ())
        changed = [d for i, d in enumerate(documents) if i >= len(sent) or sent[i] != d]
        if not changed and at_least_one:
            changed = [documents[0]]
        for document in changed:
            self._send(subscription, now, document, feature_sync.CONTENT_TYPE)
        self._features_sent[subscription.key] = documents

    # -- NOTIFY --------------------------------------------------------------------------------------------
    def _notify_full(self, subscription: Subscription, now: float, *, terminated: str | None = None) -> None:
        """Send the whole current state; `terminated` None: still active, "" or a reason: the last NOTIFY."""
        if subscription.event == "message-summary":
            self._send(subscription, now, *self._summary(subscription.resource), terminated=terminated)
        elif subscription.event == "as-feature-event":
            user = self._directory().user_by_id(subscription.resource)
            self._features_sent.pop(subscription.key, None)  # a full state: every key
            self._send_features(subscription, user.services if user else None, now, terminated=terminated)
        elif subscription.is_list:
            self._send_list(subscription, now, full=True, terminated=terminated)
        else:
            shown = self._current(subscription.resource)
            self._shown[subscription.key] = shown
            self._send(subscription, now, self._dialog_body(subscription.resource, subscription.next_version(),
                                                            shown), DIALOG_INFO, terminated=terminated)

    def _send(self, subscription: Subscription, now: float, body: bytes, content_type: str, *,
              terminated: str | None = None, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """Send a NOTIFY now, or queue it while the previous one of this subscription awaits its answer: the
        phone then gets them in order, one at a time, whatever the transport reorders or retransmits (RFC 4662
        §5.2 partial states apply in version order; phones and SIPp scripts answer one NOTIFY before reading
        the next). Past `MAX_WAITING` the queue becomes one full state sent when the answer comes. The last
        NOTIFY (`terminated`) goes at once and replaces whatever waited."""
        key = subscription.key
        if terminated is None and key in self._in_flight:
            waiting = self._waiting.setdefault(key, deque())
            if len(waiting) >= MAX_WAITING:
                waiting.clear()
                self._resync.add(key)
            elif key not in self._resync:
                waiting.append(WaitingNotify(body, content_type, extra))
            return
        if terminated is not None:
            self._waiting.pop(key, None)
            self._resync.discard(key)
        self._transmit(subscription, now, body, content_type, terminated, extra)

    def _transmit(self, subscription: Subscription, now: float, body: bytes, content_type: str,
                  terminated: str | None, extra: tuple[tuple[str, str], ...]) -> None:
        if terminated is None:
            state = f"active;expires={subscription.remaining(now)}"
        else:
            state = "terminated" + (f";reason={terminated}" if terminated else "")
        destination = subscription.destination
        local = self.local_for(destination)
        request = subscription.dialog.new_request(
            "NOTIFY", via=local.via(destination.transport), body=body, content_type=content_type,
            extra=(("Event", subscription.event_header), ("Subscription-State", state), *extra))
        # RFC 3261 §18.1.1: a request over 1300 bytes goes over TCP to the same address, never as a datagram
        # that IP would fragment. Measured exactly only when a cheap estimate comes near the limit.
        if destination.transport == "udp" and _estimated_size(request) > UDP_LIMIT - 100 \
                and len(request.serialize()) > UDP_LIMIT:
            destination = Endpoint("tcp", destination.host, destination.port)
            request.headers.set("Via", self.local_for(destination).via("tcp"))
        txn = self.stack.send_request(request, destination, now)
        context = NotifyContext(subscription, subscription.destination)  # (where it goes, not how: UDP or TCP)
        txn.user_data = context
        if terminated is None:  # the last NOTIFY has nothing waiting behind it
            self._in_flight[subscription.key] = context

    def _answered(self, context: NotifyContext, now: float) -> bool:
        """The NOTIFY of `context` got its final response or failed: send what waited behind it. False when
        it was not the subscription's NOTIFY in flight (a late answer, an ended subscription)."""
        subscription = context.subscription
        key = subscription.key
        if self._in_flight.get(key) is not context:
            return False
        del self._in_flight[key]
        if self.subscriptions.get(key) is not subscription:
            return False
        if key in self._resync:
            self._resync.discard(key)
            self._waiting.pop(key, None)
            self._notify_full(subscription, now)
            return True
        waiting = self._waiting.get(key)
        if waiting:
            next_notify = waiting.popleft()
            if not waiting:
                del self._waiting[key]
            self._transmit(subscription, now, next_notify.body, next_notify.content_type, None, next_notify.extra)
        return True

    def _summary(self, user_id: str) -> tuple[bytes, str]:
        new, old = self._messages.get(user_id, (0, 0))
        directory = self._directory()
        user = directory.user_by_id(user_id)
        if user is None:
            return render_message_summary(f"sip:{user_id}", new, old), MESSAGE_SUMMARY
        group = directory.group_of(user)
        return render_message_summary(f"sip:{group.voicemail_number}@{group.domain}", new, old), MESSAGE_SUMMARY

    def _current(self, user_id: str) -> Shown:
        return most_urgent([self._view(leg) for leg in self.live.legs_of(user_id)])

    def _dialog_body(self, user_id: str, version: int, shown: Shown) -> bytes:
        directory = self._directory()
        user = directory.user_by_id(user_id)
        if user is None:
            return render_dialog_info(f"sip:{user_id}", version, [])
        return render_dialog_info(self._aor(user, directory), version, [] if shown is None else [shown],
                                  local_display=user.display_name)

    @staticmethod
    def _aor(user: User, directory: Directory) -> str:
        return f"sip:{user.extension or user.sip_username}@{directory.group_of(user).domain}"

    def _send_list(self, subscription: Subscription, now: float, *, full: bool, changed: str | None = None,
                   terminated: str | None = None) -> None:
        state = self._lists.setdefault(subscription.key, ListState())
        directory = self._directory()
        owner = directory.user_by_id(subscription.resource)
        members = self._members_of(owner, directory) if owner is not None else ()
        if full:
            self._index_list(subscription, state.members, members)
            state.members = members
            sent = members
        else:
            sent = (changed,) if changed in state.members else ()
        parts: list[ListMember] = []
        for user_id in sent:
            user = directory.user_by_id(user_id)
            if user is None or user_id is None:
                continue
            shown = self._current(user_id)
            state.shown[user_id] = shown
            version = state.versions.get(user_id, 0)
            state.versions[user_id] = version + 1
            parts.append(ListMember(uri=self._aor(user, directory), name=self._key_label(user),
                                    instance=f"i{user_id}", body=self._dialog_body(user_id, version, shown)))
        if owner is None:
            list_uri, list_name, domain = f"sip:{subscription.resource}", subscription.resource, "invalid"
        else:
            domain = directory.group_of(owner).domain
            list_uri = f"sip:{owner.services.blf.list_uri or subscription.resource}@{domain}"
            list_name = f"{owner.display_name} BLF"
        body, content_type = render_list_notify(list_uri, list_name, subscription.next_version(), parts,
                                                full_state=full, domain=domain)
        self._send(subscription, now, body, content_type, terminated=terminated,
                   extra=(("Require", "eventlist"),))

    @staticmethod
    def _key_label(user: User) -> str:
        return f"{user.display_name} {user.extension}" if user.extension else user.display_name

    @staticmethod
    def _members_of(owner: User, directory: Directory) -> tuple[str, ...]:
        """The list's members: the owner's BLF selection, in order, without users who are gone, in another
        group, or who do not allow the owner to watch them."""
        out: list[str] = []
        for user_id in owner.services.blf.monitored_users:
            user = directory.user_by_id(user_id)
            if (user is not None and user.group_id == owner.group_id and user.user_id != owner.user_id
                    and user.services.blf.may_be_watched_by(owner.user_id)):
                out.append(user_id)
        return tuple(out)

    def _index_list(self, subscription: Subscription, old: tuple[str, ...], new: tuple[str, ...]) -> None:
        for user_id in set(old) - set(new):
            watchers = self._list_members.get(user_id)
            if watchers is not None:
                watchers.pop(subscription.key, None)
                if not watchers:
                    del self._list_members[user_id]
        for user_id in new:
            self._list_members.setdefault(user_id, {})[subscription.key] = subscription

    @staticmethod
    def _view(leg: LegStateChanged) -> DialogView:
        """The monitored user's leg as a watcher sees it (the peer as the user sees it: CLIR applied)."""
        try:
            peer = parse_name_addr(leg.peer)
            remote_uri = str(peer.uri) if peer.uri is not None else None
            remote_display = peer.display or ""
        except Exception:  # a peer we rendered ourselves; never let it break a NOTIFY
            remote_uri, remote_display = None, ""
        if remote_uri is not None and "anonymous.invalid" in remote_uri:
            remote_uri = None
        # The leg's tags are the B2BUA's view: for the monitored user, the local side is the phone's tag.
        return DialogView(call_id=leg.call_id, local_tag=leg.remote_tag or "", remote_tag=leg.local_tag,
                          direction=leg.direction, state=leg.state, remote_identity=remote_uri,
                          remote_display=remote_display, held=leg.held)

    # -- responses to our NOTIFYs --------------------------------------------------------------------------
    def on_response(self, event: ResponseReceived) -> None:
        context = event.transaction.user_data
        if not isinstance(context, NotifyContext) or event.response.status < 200:
            return
        if event.response.status < 300:
            self._answered(context, self._now())
            return
        # RFC 6665 §4.2.2: 481 (and any other failure) means the subscriber no longer wants it.
        self._drop(context.subscription, str(event.response.status))

    def on_timeout(self, event: ClientTransactionTimedOut, now: float) -> None:
        context = event.transaction.user_data
        if not isinstance(context, NotifyContext):
            return
        subscription = context.subscription
        if self.subscriptions.get(subscription.key) is not subscription:
            return
        if context.destination != subscription.destination:
            return  # sent before the subscription moved to its Contact: the full state sent then replaced it
        if self._in_flight.get(subscription.key) is context:
            del self._in_flight[subscription.key]
        fallback = subscription.contact_destination() if context.destination.connection_id is not None else None
        if fallback is None or fallback == context.destination.without_connection():
            self._drop(subscription, "timeout")
            return
        # The stream the SUBSCRIBE came on is gone (the phone closed it, or reconnected from another port):
        # in-dialog requests go to the remote target (RFC 3261 §12.2.1.1, §18.1.1), and a full state there
        # replaces whatever NOTIFYs were lost with the stream (RFC 4662 §5.2 allows a full state at any time).
        log.info("subscription_flow_lost", watcher=subscription.watcher, resource=subscription.resource,
                 package=subscription.event, contact=str(fallback))
        subscription.destination = fallback
        self._remember(subscription, now)
        self._waiting.pop(subscription.key, None)
        self._resync.discard(subscription.key)
        self._notify_full(subscription, now)

    def _drop(self, subscription: Subscription, why: str) -> None:
        if self.subscriptions.get(subscription.key) is subscription:
            log.info("subscription_dropped", watcher=subscription.watcher, resource=subscription.resource,
                     package=subscription.event, status=why)
        self._forget(subscription)

    def _remember(self, subscription: Subscription, now: float) -> None:
        if self._persist is not None:
            stored = StoredSubscription(
                dialog=subscription.dialog, event=subscription.event, watcher=subscription.watcher,
                resource=subscription.resource, is_list=subscription.is_list,
                destination=subscription.destination.without_connection(),
                expires_at=self._wall_clock() + (subscription.expires_at - now))
            self._persist(SubscriptionChange(subscription.key, stored))

    def deactivate(self, stored: list[StoredSubscription], now: float) -> None:
        """After a restart: tell each phone that had a subscription to subscribe again at once (RFC 6665
        §4.2.2 `reason=deactivated`); its new SUBSCRIBE gets the full state."""
        for old in stored:
            subscription = Subscription(dialog=old.dialog, event=old.event, watcher=old.watcher,
                                        resource=old.resource, is_list=old.is_list, destination=old.destination,
                                        expires_at=now)
            self._send(subscription, now, b"", "", terminated="deactivated")
        if stored:
            log.info("subscriptions_deactivated", count=len(stored))

    def _forget(self, subscription: Subscription) -> None:
        if self._persist is not None:
            self._persist(SubscriptionChange(subscription.key, None))
        self.subscriptions.remove(subscription)
        self._shown.pop(subscription.key, None)
        self._features_sent.pop(subscription.key, None)
        self._in_flight.pop(subscription.key, None)
        self._waiting.pop(subscription.key, None)
        self._resync.discard(subscription.key)
        state = self._lists.pop(subscription.key, None)
        if state is not None:
            self._index_list(subscription, state.members, ())

    # -- state changes -------------------------------------------------------------------------------------
    def _on_leg(self, event: LegStateChanged) -> None:
        user_id = event.user_id
        watchers = [s for s in self.subscriptions.watching("dialog", user_id) if not s.is_list]
        lists = self._list_members.get(user_id)
        if not watchers and not lists:
            return
        now = self._now()
        shown = self._current(user_id)
        for subscription in watchers:  # (list subscriptions are filed under their owner: not a member state)
            if self._shown.get(subscription.key, False) == shown:
                continue  # the key would show the same thing (a 183 after a 180, a re-INVITE...)
            self._shown[subscription.key] = shown
            self._send(subscription, now, self._dialog_body(user_id, subscription.next_version(), shown),
                       DIALOG_INFO)
        for subscription in list(lists.values()) if lists else ():
            state = self._lists.get(subscription.key)
            if state is not None and state.shown.get(user_id, False) != shown:
                self._send_list(subscription, now, full=False, changed=user_id)

    def remember_directory(self, directory: Directory) -> None:
        """The snapshot provisioning changes are compared with (set at start, then after every reload)."""
        self._previous_directory = directory

    def _resync_phones(self, directory: Directory, now: float) -> None:
        """Phones whose provisioning file changed re-fetch it without rebooting: an out-of-dialog
        `NOTIFY Event: check-sync;reboot=false` to their owner's registered Yealink contacts."""
        previous, self._previous_directory = self._previous_directory, directory
        if previous is None or self.provisioning is None:
            return
        for device in devices_to_resync(previous, directory, self.provisioning):
            sent = self.notify_contacts(device.owner, "check-sync;reboot=false", "terminated", b"", None, now,
                                        from_user="provisioning", only=_is_yealink)
            log.info("check_sync", mac=device.mac, owner=device.owner, notified=sent)

    def on_directory_changed(self, now: float) -> None:
        """The directory was reloaded: refresh lists whose members changed, end what privacy now forbids,
        tell phones whose provisioning file changed to fetch it."""
        directory = self._directory()
        self._resync_phones(directory, now)
        for subscription in self.subscriptions.all():
            watcher = directory.user_by_id(subscription.watcher)
            resource = directory.user_by_id(subscription.resource)
            if watcher is None or resource is None:
                allowed, why = False, "noresource"
            elif subscription.event in ("message-summary", "as-feature-event"):
                allowed, why = True, ""
            elif subscription.is_list:
                allowed, why = resource.services.blf.list_uri is not None, "noresource"  # the list is gone
            else:
                allowed, why = resource.services.blf.may_be_watched_by(watcher.user_id), "rejected"
            if not allowed:
                self._notify_full(subscription, now, terminated=why)
                self._forget(subscription)
                log.info("subscription_ended", watcher=subscription.watcher, resource=subscription.resource,
                         why="no longer allowed")
                continue
            if subscription.event == "as-feature-event" and resource is not None:
                self._send_features(subscription, resource.services, now)  # what the portal, a code... changed
            if subscription.is_list and resource is not None:
                state = self._lists.get(subscription.key)
                if state is not None and state.members != self._members_of(resource, directory):
                    self._send_list(subscription, now, full=True)

    def set_message_counts(self, user_id: str, new: int, old: int) -> int:
        """The mailbox of `user_id` now holds `new`/`old` messages: tell the phones that subscribed, or, when
        none did, every registered phone of the user (unsolicited MWI, out of any dialog). Returns how many
        NOTIFYs were sent."""
        if self._messages.get(user_id) == (new, old):
            return 0
        self._messages[user_id] = (new, old)
        watchers = self.subscriptions.watching("message-summary", user_id)
        now = self._now()
        for subscription in watchers:
            self._send(subscription, now, *self._summary(user_id))
        if watchers:
            return len(watchers)
        body, content_type = self._summary(user_id)
        return self.notify_contacts(user_id, "message-summary", "active", body, content_type, now)

    def notify_contacts(self, user_id: str, event: str, state: str, body: bytes, content_type: str | None,
                        now: float, *, from_user: str | None = None,
                        only: Callable[[Binding], bool] | None = None) -> int:
        """One out-of-dialog NOTIFY to each registered contact of `user_id` (unsolicited MWI, check-sync);
        returns how many were sent. Answers to them need nothing from us."""
        if self.location is None:
            return 0
        directory = self._directory()
        user = directory.user_by_id(user_id)
        if user is None:
            return 0
        group = directory.group_of(user)
        bindings = self.location.current(f"sip:{user.user_id}@{group.domain}", self._wall_clock())
        if only is not None:
            bindings = [b for b in bindings if only(b)]
        sender = from_user or group.voicemail_number
        for binding in bindings:
            local = self.local_for(binding.source)
            headers = Headers()
            headers.add("Via", local.via(binding.source.transport))
            headers.add("Max-Forwards", "70")
            headers.add("From", f"<sip:{sender}@{group.domain}>;tag={new_tag()}")
            headers.add("To", f"<sip:{user.sip_username}@{group.domain}>")
            headers.add("Call-ID", new_call_id(local.host))
            headers.add("CSeq", "1 NOTIFY")
            headers.add("Contact", local.contact(binding.source.transport))
            headers.add("Event", event)
            headers.add("Subscription-State", state)
            if body and content_type:
                headers.add("Content-Type", content_type)
            headers.add("Content-Length", str(len(body)))
            self.stack.send_request(SipRequest("NOTIFY", binding.contact, headers, body), binding.source, now)
        return len(bindings)

    # -- time ----------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        return self.subscriptions.next_deadline()

    def on_timer(self, now: float) -> None:
        for subscription in self.subscriptions.expired(now):
            self._notify_full(subscription, now, terminated="timeout")
            self._forget(subscription)


def _is_yealink(binding: Binding) -> bool:
    """check-sync is Yealink's (and a few others'): softphones would only answer 489."""
    return binding.user_agent is not None and "yealink" in binding.user_agent.lower()


def _estimated_size(request: SipRequest) -> int:
    """The serialized size of `request` within a few bytes (names, separators and the start line)."""
    size = len(request.uri) + len(request.body) + 24
    for name, value in request.headers:
        size += len(name) + len(value) + 4
    return size
