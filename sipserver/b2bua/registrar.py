"""Registrar decisions for REGISTER (RFC 3261 §10.3 steps 6-8, RFC 3261 §20.10/§20.19, RFC 5626 §6).

Given an already-authenticated REGISTER, the canonical AOR it speaks for, and the current bindings, decide the
answer and the binding changes. The caller authenticates (step 4), checks the AOR belongs to the authenticated
user (step 5), applies and persists the changes, and only then sends the answer, so a 200 means "on disk".
This module knows nothing of sockets, users, digest or storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipserver.address import Endpoint
from sipserver.b2bua.location import Binding, BindingChange, LocationService
from sipserver.errors import RemoteProtocolError
from sipserver.headers import NameAddr, parse_expires, unquote
from sipserver.message import SipRequest


@dataclass(init=False, unsafe_hash=True, slots=True)
class RegistrarPolicy:
    """Limits of the registrar (RFC 3261 §10.3 step 7: the registrar MAY shorten, must honour Min-Expires)."""

    min_expires: Final[int]
    max_expires: Final[int]
    default_expires: Final[int]
    max_contacts_per_aor: Final[int]

    def __init__(self, min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
                 max_contacts_per_aor: int = 10) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_contacts_per_aor = max_contacts_per_aor


@dataclass(init=False, unsafe_hash=True, slots=True)
class RegisterOutcome:
    """The answer to send (`status`, `reason`, extra header fields) and the changes to commit before it."""

    status: Final[int]
    reason: Final[str]
    headers: Final[tuple[tuple[str, str], ...]]
    changes: Final[tuple[BindingChange, ...]]

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = (),
                 changes: tuple[BindingChange, ...] = ()) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.changes = changes


def _q_value(contact: NameAddr) -> float:
    raw = contact.params.get("q")
    if raw is None:
        return 1.0
    try:
        q = float(raw)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad q value {raw!r}") from exc
    if not 0.0 <= q <= 1.0:
        raise RemoteProtocolError(f"q value out of range: {raw!r}")
    return q


def _reg_id(contact: NameAddr) -> int | None:
    raw = contact.params.get("reg-id")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad reg-id {raw!r}") from exc


def _instance(contact: NameAddr) -> str | None:
    """RFC 5626 `+sip.instance`, without its quotes."""
    raw = contact.params.get("+sip.instance")
    return None if raw is None else unquote(raw)


def handle_register(
    request: SipRequest,
    *,
    aor: str,
    source: Endpoint,
    location: LocationService,
    policy: RegistrarPolicy,
    wall_now: float,
) -> RegisterOutcome:
    """Decide the answer to an authenticated REGISTER for `aor` (steps 6-8 of RFC 3261 §10.3).

    Raises RemoteProtocolError for a malformed Contact/Expires (the caller answers its status_hint).
    """
    contacts = request.contacts
    expires_header = request.headers.get("Expires")
    default_expires = policy.default_expires if expires_header is None else parse_expires(expires_header)
    call_id = request.call_id
    cseq = request.cseq.number
    existing = location.current(aor, wall_now)

    if not contacts:  # a query: list the bindings (step 8)
        return RegisterOutcome(200, "OK", _contact_fields(existing, wall_now))

    if any(c.is_star for c in contacts):
        # "*" is only legal alone and with Expires: 0 (step 6).
        if len(contacts) != 1 or expires_header is None or default_expires != 0:
            raise RemoteProtocolError('Contact "*" needs Expires: 0 and no other Contact')
        for binding in existing:
            if binding.call_id == call_id and cseq <= binding.cseq:
                return RegisterOutcome(400, "Out Of Order CSeq")
        removals = tuple(BindingChange(b.aor, b.contact, None) for b in existing)
        return RegisterOutcome(200, "OK", (), removals)

    changes: list[BindingChange] = []
    too_brief = False
    for contact in contacts:
        assert contact.uri is not None
        raw_expires = contact.params.get("expires")
        expires = default_expires if raw_expires is None else parse_expires(raw_expires)
        if 0 < expires < policy.min_expires:
            too_brief = True
            continue
        expires = min(expires, policy.max_expires)
        uri = str(contact.uri)
        current = location.lookup(aor, uri)
        if current is not None and current.expires_at > wall_now and current.call_id == call_id \
                and cseq <= current.cseq:
            return RegisterOutcome(400, "Out Of Order CSeq")
        if expires == 0:
            changes.append(BindingChange(aor, uri, None))
            continue
        changes.append(BindingChange(aor, uri, Binding(
            aor=aor,
            contact=uri,
            call_id=call_id,
            cseq=cseq,
            expires_at=wall_now + expires,
            q=_q_value(contact),
            source=source,
            instance=_instance(contact),
            reg_id=_reg_id(contact),
            user_agent=request.headers.get("User-Agent"),
        )))
    if too_brief:
        # RFC 3261 §10.3 step 7: 423 with the smallest interval we accept; nothing is changed.
        return RegisterOutcome(423, "Interval Too Brief", (("Min-Expires", str(policy.min_expires)),))

    changes.extend(_evictions(existing, changes, policy.max_contacts_per_aor))
    after = LocationService(existing)
    after.apply(changes)
    return RegisterOutcome(200, "OK", _contact_fields(after.current(aor, wall_now), wall_now), tuple(changes))


def _evictions(
    existing: list[Binding], changes: list[BindingChange], limit: int
) -> list[BindingChange]:
    """Oldest bindings to drop so the AOR keeps at most `limit` contacts (a rebooted phone registers anew
    with a fresh Call-ID: refusing it would lock the user out; dropping the stalest binding does not)."""
    state = {b.contact: b for b in existing}
    for change in changes:
        if change.binding is None:
            state.pop(change.contact, None)
        else:
            state[change.contact] = change.binding
    excess = len(state) - limit
    if excess <= 0:
        return []
    stalest = sorted(state.values(), key=lambda b: b.expires_at)[:excess]
    return [BindingChange(b.aor, b.contact, None) for b in stalest]


def _contact_fields(bindings: list[Binding], wall_now: float) -> tuple[tuple[str, str], ...]:
    return tuple(("Contact", f"<{b.contact}>;expires={b.remaining(wall_now)}") for b in bindings)
