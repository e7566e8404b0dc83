"""Location service: the bindings of each address-of-record (RFC 3261 §10.3, §10.2.1.2).

An in-memory index of who is reachable where, kept by the registrar and read by call routing. Expiry is in wall
time (`time.time()` seconds) so that a binding persisted to disk keeps its remaining lifetime across a restart.
`LocationStore` is the persistence seam (an in-memory and an SQLite implementation exist).
This module knows nothing of sockets, SQL, digest or SIP message syntax.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Final, Protocol

from sipserver.address import Endpoint


@dataclass(init=False, unsafe_hash=True, slots=True)
class Binding:
    """One contact of an AOR.

    `contact` is the contact URI as registered (with its URI parameters, without `<>`), `source` the transport
    address the REGISTER came from: requests to this contact go there when the contact cannot be reached
    directly (stream transports, RFC 5626 `;ob` contacts, NAT).
    """

    aor: Final[str]
    contact: Final[str]
    call_id: Final[str]
    cseq: Final[int]
    expires_at: Final[float]
    source: Final[Endpoint]
    q: Final[float]
    instance: Final[str | None]
    reg_id: Final[int | None]
    user_agent: Final[str | None]

    def __init__(self, *, aor: str, contact: str, call_id: str, cseq: int, expires_at: float, source: Endpoint,
                 q: float = 1.0, instance: str | None = None, reg_id: int | None = None,
                 user_agent: str | None = None) -> None:
        self.aor = aor
        self.contact = contact
        self.call_id = call_id
        self.cseq = cseq
        self.expires_at = expires_at
        self.source = source
        self.q = q
        self.instance = instance
        self.reg_id = reg_id
        self.user_agent = user_agent

    def remaining(self, wall_now: float) -> int:
        """Seconds left, rounded down and never negative (what a 200 to REGISTER reports)."""
        return max(0, int(self.expires_at - wall_now))


@dataclass(init=False, unsafe_hash=True, slots=True)
class BindingChange:
    """A write to apply to the location service and its store: `binding` replaces (aor, contact), or, when
    `removed` is set, the binding (aor, contact) goes away."""

    aor: Final[str]
    contact: Final[str]
    binding: Final[Binding | None]  # None means removed

    def __init__(self, aor: str, contact: str, binding: Binding | None) -> None:
        self.aor = aor
        self.contact = contact
        self.binding = binding

    @property
    def removed(self) -> bool:
        return self.binding is None


class LocationStore(Protocol):
    """Durable copy of the bindings; the in-memory `LocationService` is the one read on the hot path."""

    async def load_bindings(self) -> list[Binding]: ...

    async def save_changes(self, changes: Iterable[BindingChange]) -> None: ...

    async def close(self) -> None: ...


class LocationService:
    """AOR -> contact -> Binding. Synchronous and cheap: called on every REGISTER and every call setup."""

    __slots__ = ("_by_aor",)

    def __init__(self, bindings: Iterable[Binding] = ()) -> None:
        self._by_aor: dict[str, dict[str, Binding]] = {}
        for binding in bindings:
            self._by_aor.setdefault(binding.aor, {})[binding.contact] = binding

    def current(self, aor: str, wall_now: float) -> list[Binding]:
        """Live bindings of `aor`, highest q first, then most recently refreshed first."""
        contacts = self._by_aor.get(aor)
        if not contacts:
            return []
        live = [b for b in contacts.values() if b.expires_at > wall_now]
        live.sort(key=lambda b: (-b.q, -b.expires_at))
        return live

    def lookup(self, aor: str, contact: str) -> Binding | None:
        contacts = self._by_aor.get(aor)
        return contacts.get(contact) if contacts else None

    def apply(self, changes: Iterable[BindingChange]) -> None:
        for change in changes:
            if change.binding is None:
                contacts = self._by_aor.get(change.aor)
                if contacts is not None:
                    contacts.pop(change.contact, None)
                    if not contacts:
                        del self._by_aor[change.aor]
            else:
                self._by_aor.setdefault(change.aor, {})[change.contact] = change.binding

    def expired(self, wall_now: float) -> list[BindingChange]:
        """Removals for every binding whose time is up (the caller applies and persists them)."""
        return [
            BindingChange(b.aor, b.contact, None)
            for contacts in self._by_aor.values()
            for b in contacts.values()
            if b.expires_at <= wall_now
        ]

    def aors(self) -> Iterator[str]:
        return iter(self._by_aor)

    def __len__(self) -> int:
        return sum(len(c) for c in self._by_aor.values())


class InMemoryLocationStore:
    """A `LocationStore` that keeps nothing beyond the process: for tests and diskless runs."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Binding] = {}

    async def load_bindings(self) -> list[Binding]:
        return list(self._rows.values())

    async def save_changes(self, changes: Iterable[BindingChange]) -> None:
        for change in changes:
            key = (change.aor, change.contact)
            if change.binding is None:
                self._rows.pop(key, None)
            else:
                # Connection ids do not survive a restart: store the address only.
                self._rows[key] = replace(change.binding, source=change.binding.source.without_connection())

    async def close(self) -> None:
        return None
