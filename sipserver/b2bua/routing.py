"""Where does a dialled string go? Per-call prefixes, users of the group, the trunk (RFC 3261 §16.5 in spirit).

`parse_dialled()` strips the per-call identity prefixes (`*67` hide, `*65` show, `#31#` hide) and tells
emergency numbers apart; `route()` maps what is left to a user of the caller's group (extension, national or
E.164 number, user id), to a trunk (numbers outside the group, normalised to E.164 with the group's country
code), or to a refusal. Pure: the subscriber `Directory` comes in; no sockets, no registrations, no features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from provisioning.model import Directory, Group, Trunk, User
from provisioning.numbers import NumberError, is_emergency, to_e164

HIDE_PREFIXES: Final = ("*67", "#31#")
SHOW_PREFIXES: Final = ("*65",)


@dataclass(init=False, unsafe_hash=True, slots=True)
class Dialled:
    digits: Final[str]
    hide_identity: Final[bool | None]  # True: *67 for this call, False: *65, None: the persistent setting applies
    emergency: Final[bool]

    def __init__(self, digits: str, hide_identity: bool | None, emergency: bool) -> None:
        self.digits = digits
        self.hide_identity = hide_identity
        self.emergency = emergency


@dataclass(init=False, unsafe_hash=True, slots=True)
class ToUser:
    user: Final[User]
    group: Final[Group]

    def __init__(self, user: User, group: Group) -> None:
        self.user = user
        self.group = group


@dataclass(init=False, unsafe_hash=True, slots=True)
class ToTrunk:
    trunk: Final[Trunk]
    number: Final[str]  # E.164

    def __init__(self, trunk: Trunk, number: str) -> None:
        self.trunk = trunk
        self.number = number


@dataclass(init=False, unsafe_hash=True, slots=True)
class Unroutable:
    status: Final[int]
    reason: Final[str]

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


Route = ToUser | ToTrunk | Unroutable


def parse_dialled(user_part: str) -> Dialled:
    """Split the per-call CLIR prefixes from the number (features.md: `*67`/`*65`, `#31#`)."""
    hide: bool | None = None
    digits = user_part
    for prefix in HIDE_PREFIXES:
        if digits.startswith(prefix) and len(digits) > len(prefix):
            hide, digits = True, digits[len(prefix):]
            break
    else:
        for prefix in SHOW_PREFIXES:
            if digits.startswith(prefix) and len(digits) > len(prefix):
                hide, digits = False, digits[len(prefix):]
                break
    return Dialled(digits=digits, hide_identity=hide, emergency=is_emergency(digits))


def route(digits: str, group: Group, directory: Directory) -> Route:
    """The destination of `digits` dialled by someone of `group` (or arriving from `group`'s trunk)."""
    user = directory.resolve_user(digits, group)
    if user is not None:
        target_group = directory.group_of(user)
        return ToUser(user, target_group)
    if is_emergency(digits):
        # Emergency numbers go out as dialled, through the trunk serving the group's own country.
        trunk = directory.trunk_for_number("+" + group.country_code)
        return Unroutable(503, "No Trunk For Emergency Calls") if trunk is None else ToTrunk(trunk, digits)
    try:
        number = to_e164(digits, group.country_code)
    except NumberError:
        return Unroutable(404, "Not Found")
    trunk = directory.trunk_for_number(number)
    if trunk is None:
        return Unroutable(404, "Not Found")
    return ToTrunk(trunk, number)


def route_from_trunk(digits: str, trunk: Trunk, directory: Directory) -> Route:
    """A call arriving from `trunk` for one of its group's numbers (a DID); anything else is refused (no open
    relay: a carrier cannot use us to reach another carrier)."""
    group = directory.group_by_id(trunk.group_id)
    if group is None:
        return Unroutable(404, "Not Found")
    user = directory.resolve_user(digits, group)
    if user is None:
        return Unroutable(404, "Not Found")
    return ToUser(user, directory.group_of(user))
