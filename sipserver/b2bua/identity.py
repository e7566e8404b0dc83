"""How each party of a call is shown to the other (RFC 3323 privacy, RFC 3325 P-Asserted-Identity).

Caller towards callee: internal callees see the caller's name and extension (CLIR never applies inside the
group); external callees (trunk) see the outgoing CLI the admin set, or `sip:anonymous@anonymous.invalid` with
`Privacy: id` when CLIR is on (persistently, or `*67` for this call; `*65` shows it) — except for emergency
numbers. The trunk still gets the real identity in P-Asserted-Identity (it is trusted and strips it, RFC 3325
§5). The callee's own external/internal CLID delivery settings can hide the caller on the callee's phone.
Callee towards caller (connected line): the answering user's identity in P-Asserted-Identity on 18x/200, none
when that user has COLR. Pure functions over the subscriber model; nothing here knows sockets or call state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from provisioning.model import Group, User
from provisioning.numbers import NumberError, to_e164, to_national
from sipserver.b2bua.call import Party
from sipserver.errors import RemoteProtocolError
from sipserver.headers import NameAddr, parse_name_addr, quote, split_comma_list
from sipserver.message import SipRequest

ANONYMOUS_URI: Final = "sip:anonymous@anonymous.invalid"
ANONYMOUS: Final = Party(from_uri=f'"Anonymous" <{ANONYMOUS_URI}>')


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallerId:
    """Who is calling, as far as we know: `number` E.164 (or None), `name`, whether they asked for privacy."""

    number: Final[str | None]
    name: Final[str]
    extension: Final[str | None]
    private: Final[bool]

    def __init__(self, number: str | None, name: str, extension: str | None = None, private: bool = False) -> None:
        self.number = number
        self.name = name
        self.extension = extension
        self.private = private

    def for_log(self, country_code: str) -> tuple[str, str]:
        """(number, name) for a call-log row of someone allowed to see this caller."""
        if self.extension is not None:
            return self.extension, self.name
        if self.number is None:
            return "", self.name
        try:
            return to_national(self.number, country_code), self.name
        except NumberError:
            return self.number, self.name


def _display(name: str) -> str:
    return quote(name) + " " if name else ""


def user_caller_id(user: User) -> CallerId:
    return CallerId(number=user.outgoing_cli or user.main_number, name=user.display_name,
                    extension=user.extension)


def trunk_caller_id(request: SipRequest, group: Group) -> CallerId:
    """The caller of a call from the trunk: P-Asserted-Identity if present, else From; private when the carrier
    says `Privacy: id` or the From is anonymous."""
    asserted = request.headers.get("P-Asserted-Identity")
    source: NameAddr = request.from_
    if asserted is not None:
        try:
            source = parse_name_addr(split_comma_list(asserted)[0])
        except (RemoteProtocolError, IndexError):  # a carrier's odd or empty PAI: fall back to From
            source = request.from_
    privacy = (request.headers.get("Privacy") or "").lower()
    uri = source.uri
    user = uri.unescaped_user if uri is not None else None
    private = "id" in privacy or "user" in privacy or (uri is not None and uri.host == "anonymous.invalid") \
        or (user or "").lower() == "anonymous"
    number: str | None = None
    if user and not private:
        try:
            number = to_e164(user.split(";")[0], group.country_code)
        except NumberError:
            number = None
    return CallerId(number=number, name=source.display or "", private=private)


def caller_for_internal_callee(caller: CallerId, callee: User, group: Group, *, caller_internal: bool) -> Party:
    """What an internal callee's phone shows: name + extension (internal) or national number (external),
    or anonymous when the caller is private or the callee's CLID delivery setting for that kind is off."""
    services = callee.services
    delivery = services.internal_clid_delivery if caller_internal else services.external_clid_delivery
    if caller.private or not delivery.active:
        return ANONYMOUS
    if caller.extension is not None:
        user_part = caller.extension
    elif caller.number is not None:
        user_part = _national(caller.number, group)
    else:
        return ANONYMOUS
    uri = f"<sip:{user_part}@{group.domain}>"
    asserted = f"<sip:{caller.number}@{group.domain};user=phone>" if caller.number else uri
    return Party(from_uri=f"{_display(caller.name)}{uri}", asserted=_display(caller.name) + asserted)


def caller_for_trunk(caller: User, group: Group, *, hide_for_this_call: bool | None, emergency: bool) -> Party:
    """What the carrier (and the external callee) gets for a call placed by `caller`."""
    cli = caller.outgoing_cli or caller.main_number
    asserted = f"<sip:{cli}@{group.domain};user=phone>" if cli else None
    hide = caller.services.clir.active if hide_for_this_call is None else hide_for_this_call
    if hide and not emergency:
        return Party(from_uri=f'"Anonymous" <{ANONYMOUS_URI}>', asserted=asserted, privacy="id")
    if cli is None:
        return Party(from_uri=f'"Anonymous" <{ANONYMOUS_URI}>', asserted=None)
    return Party(from_uri=f"{_display(caller.display_name)}<sip:{cli}@{group.domain};user=phone>",
                 asserted=asserted)


def forwarded_external_caller(caller: CallerId, group: Group) -> Party:
    """An external caller passed on to the trunk (a later forward): their number, when not private."""
    if caller.private or caller.number is None:
        return Party(from_uri=f'"Anonymous" <{ANONYMOUS_URI}>', privacy="id")
    uri = f"<sip:{caller.number}@{group.domain};user=phone>"
    return Party(from_uri=_display(caller.name) + uri, asserted=uri)


def connected_party(callee: User, group: Group, *, caller_internal: bool) -> Party | None:
    """The answering user as the caller may see them (P-Asserted-Identity on the 200), None under COLR."""
    if callee.services.colr.active:
        return None
    if caller_internal and callee.extension is not None:
        uri = f"<sip:{callee.extension}@{group.domain}>"
    elif callee.main_number is not None:
        uri = f"<sip:{callee.main_number}@{group.domain};user=phone>"
    else:
        return None
    return Party(from_uri=_display(callee.display_name) + uri, asserted=_display(callee.display_name) + uri)


def _national(number: str, group: Group) -> str:
    try:
        return to_national(number, group.country_code)
    except NumberError:
        return number
