"""Live call state per user: who is trying, ringing, talking right now (the source for BLF and the portal).

The call machine emits `LegStateChanged` actions; `LiveCalls.publish()` keeps each user's current legs (by
Call-ID and tag) and tells every subscriber. A subscriber is a plain callable; the BLF notifier (RFC 4235) and
the portal subscribe to it. Also answers "is this user on a call?" for busy handling and call waiting.
Pure and synchronous: it knows nothing of SIP messages, sockets or storage.
"""

from __future__ import annotations

from collections.abc import Callable

from sipserver.b2bua.call import LegStateChanged

Subscriber = Callable[[LegStateChanged], None]


class LiveCalls:
    def __init__(self) -> None:
        self._legs: dict[str, dict[tuple[str, str], LegStateChanged]] = {}
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Register `subscriber`; returns a function that unsubscribes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: LegStateChanged) -> None:
        legs = self._legs.setdefault(event.user_id, {})
        key = (event.call_id, event.local_tag)
        if event.state == "terminated":
            legs.pop(key, None)
            if not legs:
                del self._legs[event.user_id]
        else:
            legs[key] = event
        for subscriber in list(self._subscribers):
            subscriber(event)

    def legs_of(self, user_id: str) -> list[LegStateChanged]:
        return list(self._legs.get(user_id, {}).values())

    def is_on_call(self, user_id: str) -> bool:
        """True when one of the user's legs is established (confirmed)."""
        return any(leg.state == "confirmed" for leg in self._legs.get(user_id, {}).values())

    def calls_of(self, user_id: str) -> int:
        """How many established (confirmed) calls the user is on."""
        return sum(1 for leg in self._legs.get(user_id, {}).values() if leg.state == "confirmed")

    def active_users(self) -> int:
        return len(self._legs)
