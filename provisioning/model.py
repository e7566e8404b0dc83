"""The provisioning model: enterprises, groups, departments, users, devices, group schedules and contacts,
group administrators (the portal accounts that manage one group),
trunks, one group's complete description, and the `Directory` snapshot the SIP hot path reads.

Every entity is a frozen, keyword-only dataclass that checks its own fields when built and raises
`features.model.SettingError` (paths relative to the entity). `GroupDescription.problems()` checks what
crosses entities (duplicates, references, outgoing CLI among the group's numbers...) with the paths of the
provisioning file (`users[2].outgoing_cli`). `Directory` indexes descriptions for O(1) lookups.

Credentials: SIP passwords are never stored, only HA1 = H(sip_username:domain:password) per algorithm
(`sip_ha1()`, RFC 7616 §3.4.2, MD5 and SHA-256); portal passwords only as Argon2id hashes. A phone's
auto-provisioning password (HTTP Digest towards our provisioning files) likewise only as HA1 =
H(mac:PROVISIONING_REALM:password) (`provisioning_ha1()`). A trunk's password is ours towards the carrier
and must be sent in clear by us, so it is stored as given.

This module knows nothing of SQL, TOML, SIP messages or sockets; it imports only `features.model`,
`features.codes` (the feature code styles) and `provisioning.numbers`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from features.codes import CODE_STYLES, CodeStyle
from features.model import HolidaySchedule, Problem, Schedule, ServiceSettings, SettingError, join_path
from provisioning.numbers import EMERGENCY_NUMBERS, NumberError, is_e164, to_e164, to_national

__all__ = [
    "DEVICE_MODELS",
    "LANGUAGES",
    "PROVISIONING_REALM",
    "TRANSPORTS",
    "Department",
    "Device",
    "Directory",
    "DirectoryContact",
    "Enterprise",
    "Group",
    "GroupAdministrator",
    "GroupDescription",
    "GroupSchedule",
    "ProvisioningError",
    "Trunk",
    "User",
    "hash_portal_password",
    "normalize_mac",
    "parse_source",
    "provisioning_ha1",
    "sip_ha1",
    "user_service_problems",
    "verify_portal_password",
]

LANGUAGES: Final = ("fr", "nl", "en")
DEVICE_MODELS: Final = ("T42G", "T42S", "T42U", "T48G", "T48S", "T48U")
TRANSPORTS: Final = ("udp", "tcp", "tls")
HA1_ALGORITHMS: Final = ("MD5", "SHA-256")
# The HTTP Digest realm of the provisioning files (RFC 7616), one for every group: a challenge must not tell
# which group a MAC belongs to. The "@" keeps it apart from every SIP realm (a group domain is a host name).
PROVISIONING_REALM: Final = "provisioning@callconnect"
_HA1_LENGTH: Final = {"MD5": 32, "SHA-256": 64}

_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_USER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,79}")
_SIP_USER: Final = re.compile(r"[A-Za-z0-9._~+-]{1,64}")
_HOST_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_HEX: Final = re.compile(r"[0-9a-f]+")
_DIGITS: Final = re.compile(r"[0-9]{1,10}")
_SERVICE_NUMBER: Final = re.compile(r"[0-9*#]{1,10}")
_PREFIX: Final = re.compile(r"\+[0-9]{0,15}")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MAC_SEPARATORS: Final = str.maketrans("", "", ":-. ")


class ProvisioningError(Exception):
    """A group description that cannot be applied; `problems` holds one `file:path: message` line each.

    `fields` holds the same problems as (field path, message) pairs when they come from a description's
    checks (empty when only text is known, e.g. a file that is not TOML), so that a form can show each
    message next to its field."""

    def __init__(self, problems: Sequence[str], fields: Sequence[Problem] = ()) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.fields: tuple[Problem, ...] = tuple(fields)
        super().__init__("\n".join(self.problems))


def _raise_if(problems: Iterable[Problem]) -> None:
    found = list(problems)
    if found:
        raise SettingError.many(found)


def _id_problems(path: str, value: str, pattern: re.Pattern[str] = _ID) -> Iterator[Problem]:
    if pattern.fullmatch(value) is None:
        yield path, f"must be letters, digits, . _ - (starting with a letter or digit), got {value!r}"


def _text_problems(path: str, value: str, limit: int = 80, *, required: bool = True) -> Iterator[Problem]:
    if required and not value.strip():
        yield path, "must not be empty"
    elif len(value) > limit:
        yield path, f"must be at most {limit} characters, got {len(value)}"


def _hostname_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.split(".")
    if host != host.lower() or len(host) > 253 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        return f"must be a lower-case host name or an IP address, got {host!r}"
    return None


# -- credentials ---------------------------------------------------------------------------------------------
def sip_ha1(username: str, realm: str, password: str) -> dict[str, str]:
    """`{"MD5": ..., "SHA-256": ...}`: hex H(username:realm:password) for digest authentication."""
    data = f"{username}:{realm}:{password}".encode("utf-8", "surrogateescape")
    return {"MD5": hashlib.md5(data).hexdigest(), "SHA-256": hashlib.sha256(data).hexdigest()}


def provisioning_ha1(mac: str, password: str) -> dict[str, str]:
    """`{"MD5": ..., "SHA-256": ...}`: HA1 of a phone's auto-provisioning credential, whose Digest user name
    is the normalised MAC (`001565aabbcc`) in `PROVISIONING_REALM`. Raises ValueError for a bad MAC."""
    return sip_ha1(normalize_mac(mac), PROVISIONING_REALM, password)


def _ha1_problems(path: str, ha1: Mapping[str, str]) -> Iterator[Problem]:
    """An HA1 map is empty (no credential) or holds both algorithms as lower-case hex of the right length."""
    if ha1 and set(ha1) != set(HA1_ALGORITHMS):
        yield path, f"must hold both MD5 and SHA-256, got {sorted(ha1)}"
    for algorithm, value in ha1.items():
        length = _HA1_LENGTH.get(algorithm)
        if length is not None and (len(value) != length or _HEX.fullmatch(value) is None):
            yield f"{path}.{algorithm}", f"must be {length} lower-case hex digits"


def hash_portal_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """Argon2id hash (argon2-cffi defaults, RFC 9106 low-memory profile) of a portal password."""
    return (hasher or PasswordHasher()).hash(password)


def verify_portal_password(stored_hash: str, password: str, hasher: PasswordHasher | None = None) -> bool:
    """True when `password` matches `stored_hash`; never raises for a wrong or malformed hash."""
    try:
        return (hasher or PasswordHasher()).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalize_mac(text: str) -> str:
    """`"00:15:65:AA:BB:CC"`, `"0015.65aa.bbcc"`, `"001565AABBCC"` -> `"001565aabbcc"`. Raises ValueError."""
    mac = text.translate(_MAC_SEPARATORS).lower()
    if len(mac) != 12 or _HEX.fullmatch(mac) is None:
        raise ValueError(f"must be a MAC address (12 hex digits), got {text!r}")
    return mac


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_source(text: str) -> tuple[Network, int | None]:
    """A trusted source: `"192.0.2.10"`, `"192.0.2.10:5090"`, `"[2001:db8::1]:5090"`, `"2001:db8::1"` or a
    network `"192.0.2.0/24"`. Returns (network, port or None for any port). Raises ValueError."""
    port: int | None = None
    host = text.strip()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or not host[end + 1:].startswith(":"):
            raise ValueError(f"must be [IPv6]:port, got {text!r}")
        port_text, host = host[end + 2:], host[1:end]
        port = int(port_text) if port_text.isdigit() else -1
    elif host.count(":") == 1:
        host, port_text = host.split(":")
        port = int(port_text) if port_text.isdigit() else -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"bad port in {text!r}")
    try:
        network = ipaddress.ip_network(host, strict=True)
    except ValueError:
        raise ValueError(f"must be an IP address, IP:port or network, got {text!r}") from None
    if port is not None and network.num_addresses != 1:
        raise ValueError(f"a network cannot have a port, got {text!r}")
    return network, port


# -- entities ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class Enterprise:
    id: str
    name: str

    def __post_init__(self) -> None:
        _raise_if([*_id_problems("id", self.id), *_text_problems("name", self.name)])


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """A group: its SIP `domain` is also the digest realm. Times of its schedules are in `time_zone`.

    `numbers` lists the group's numbers that no user holds (a main number, for instance); the group's
    numbers are those plus every user's numbers. `feature_codes` says which feature access codes its users
    may dial (`features.codes`): "star" (`*72…`), "gsm" (`*21*…#`) or "both".
    """

    id: str
    enterprise_id: str
    name: str
    domain: str
    country_code: str = "32"
    time_zone: str = "Europe/Brussels"
    seconds_per_ring: int = 5
    voicemail_number: str = "1969"
    feature_codes: CodeStyle = "both"
    numbers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _raise_if(self._problems())

    def _problems(self) -> Iterator[Problem]:
        yield from _id_problems("id", self.id)
        yield from _id_problems("enterprise_id", self.enterprise_id)
        yield from _text_problems("name", self.name)
        if (problem := _hostname_problem(self.domain)) is not None:
            yield "domain", problem
        if re.fullmatch(r"[1-9][0-9]{0,2}", self.country_code) is None:
            yield "country_code", f"must be 1 to 3 digits without + or 00, got {self.country_code!r}"
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield "time_zone", f"must be an IANA time zone such as Europe/Brussels, got {self.time_zone!r}"
        if not 1 <= self.seconds_per_ring <= 30:
            yield "seconds_per_ring", f"must be 1..30, got {self.seconds_per_ring}"
        if _SERVICE_NUMBER.fullmatch(self.voicemail_number) is None:
            yield "voicemail_number", f"must be digits (or * #), got {self.voicemail_number!r}"
        if self.feature_codes not in CODE_STYLES:
            yield "feature_codes", (f"must be both, star (*72...) or gsm (*21*...#), "
                                    f"got {self.feature_codes!r}")
        yield from _numbers_problems("numbers", self.numbers)


def _numbers_problems(path: str, numbers: Sequence[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, number in enumerate(numbers):
        if not is_e164(number):
            yield f"{path}[{i}]", f"must be an E.164 number (+ and digits), got {number!r}"
        elif number in seen:
            yield f"{path}[{i}]", f"duplicate number {number}"
        seen.add(number)


@dataclass(frozen=True, kw_only=True, slots=True)
class Department:
    id: str
    group_id: str
    name: str

    def __post_init__(self) -> None:
        _raise_if([*_id_problems("id", self.id), *_text_problems("name", self.name)])


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    """A subscriber. `numbers` are E.164, the first is the main number. `sip_username` defaults to `user_id`.

    `sip_ha1` maps "MD5" and "SHA-256" to HA1 over `sip_username:group domain:password` (empty: no SIP
    account). `portal_password_hash` is Argon2id (None: cannot log in to the portal). Not hashable (dict).
    """

    user_id: str
    group_id: str
    first_name: str
    last_name: str
    email: str | None = None
    department_id: str | None = None
    extension: str | None = None
    numbers: tuple[str, ...] = ()
    outgoing_cli: str | None = None
    language: Literal["fr", "nl", "en"] = "fr"
    sip_username: str = ""
    sip_ha1: dict[str, str] = field(default_factory=dict)
    portal_password_hash: str | None = field(default=None, repr=False)
    services: ServiceSettings = field(default_factory=ServiceSettings)

    def __post_init__(self) -> None:
        if not self.sip_username:
            object.__setattr__(self, "sip_username", self.user_id)
        _raise_if(self._problems())

    @property
    def main_number(self) -> str | None:
        return self.numbers[0] if self.numbers else None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def _problems(self) -> Iterator[Problem]:
        yield from _id_problems("user_id", self.user_id, _USER_ID)
        yield from _text_problems("first_name", self.first_name)
        yield from _text_problems("last_name", self.last_name)
        if self.email is not None and _EMAIL.fullmatch(self.email) is None:
            yield "email", f"must be an e-mail address, got {self.email!r}"
        if self.extension is not None:
            if _DIGITS.fullmatch(self.extension) is None:
                yield "extension", f"must be 1 to 10 digits, got {self.extension!r}"
            elif self.extension in EMERGENCY_NUMBERS:
                yield "extension", f"{self.extension} is an emergency number"
        yield from _numbers_problems("numbers", self.numbers)
        if self.outgoing_cli is not None and not is_e164(self.outgoing_cli):
            yield "outgoing_cli", f"must be an E.164 number, got {self.outgoing_cli!r}"
        if self.language not in LANGUAGES:
            yield "language", f"must be one of {', '.join(LANGUAGES)}, got {self.language!r}"
        if _SIP_USER.fullmatch(self.sip_username) is None:
            yield "sip_username", f"must be letters, digits, . _ ~ + -, got {self.sip_username!r}"
        yield from _ha1_problems("sip_ha1", self.sip_ha1)
        if self.portal_password_hash is not None and not self.portal_password_hash.startswith("$argon2id$"):
            yield "portal_password_hash", "must be an Argon2id hash ($argon2id$...)"


@dataclass(frozen=True, kw_only=True, slots=True)
class Device:
    """A Yealink phone, identified by its MAC (normalised to 12 lower-case hex digits when built).

    `provisioning_ha1` maps "MD5" and "SHA-256" to the HA1 of the phone's auto-provisioning credential
    (`provisioning_ha1()`: Digest user name = the MAC, realm `PROVISIONING_REALM`); empty: the phone cannot
    fetch its files. Not hashable (dict).
    """

    mac: str
    group_id: str
    model: str
    owner: str
    label: str | None = None
    provisioning_ha1: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        try:
            object.__setattr__(self, "mac", normalize_mac(self.mac))
        except ValueError as exc:
            problems.append(("mac", str(exc)))
        if self.model not in DEVICE_MODELS:
            problems.append(("model", f"must be one of {', '.join(DEVICE_MODELS)}, got {self.model!r}"))
        if self.label is not None:
            problems.extend(_text_problems("label", self.label, 40))
        problems.extend(_ha1_problems("provisioning_ha1", self.provisioning_ha1))
        _raise_if(problems)


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupAdministrator:
    """A group administrator of the portal: manages the users, numbers, departments, devices, schedules and
    directory of one group (`group_id`) only. `username` is the login name, unique across all groups.
    `password_hash` is Argon2id (None: cannot log in)."""

    username: str
    group_id: str
    name: str
    language: Literal["fr", "nl", "en"] = "fr"
    password_hash: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = [*_id_problems("username", self.username, _USER_ID), *_text_problems("name", self.name)]
        if self.language not in LANGUAGES:
            problems.append(("language", f"must be one of {', '.join(LANGUAGES)}, got {self.language!r}"))
        if self.password_hash is not None and not self.password_hash.startswith("$argon2id$"):
            problems.append(("password_hash", "must be an Argon2id hash ($argon2id$...)"))
        _raise_if(problems)


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupSchedule:
    """A group-level schedule (time or holiday); read-only for users."""

    group_id: str
    schedule: Schedule | HolidaySchedule

    def __post_init__(self) -> None:
        if self.schedule.level != "group":
            raise SettingError("level", "a group schedule must have level group")

    @property
    def name(self) -> str:
        return self.schedule.name


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryContact:
    """A group phone directory entry (shown to every user of the group as type "Group")."""

    group_id: str
    name: str
    number: str

    def __post_init__(self) -> None:
        problems = list(_text_problems("name", self.name))
        if not (is_e164(self.number) or _DIGITS.fullmatch(self.number)):
            problems.append(("number", f"must be an E.164 number or a short number, got {self.number!r}"))
        _raise_if(problems)


@dataclass(frozen=True, kw_only=True, slots=True)
class Trunk:
    """A carrier connection. Calls to a number go out through the trunk whose `numbers` has the longest
    matching E.164 prefix (`"+"` matches everything). Requests from one of `inbound_addresses`
    (`parse_source()` forms: IP, IP:port, network) are trusted as this trunk, never challenged.
    `username`/`password`/`realm` are OUR credentials towards the carrier (None: IP trust only); the
    password must be sent by us, so it is kept in clear (protect the database file)."""

    id: str
    group_id: str
    name: str
    host: str
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    realm: str | None = None
    numbers: tuple[str, ...] = ("+",)
    inbound_addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _raise_if(self._problems())

    def _problems(self) -> Iterator[Problem]:
        yield from _id_problems("id", self.id)
        yield from _text_problems("name", self.name)
        if (problem := _hostname_problem(self.host)) is not None:
            yield "host", problem
        if not 1 <= self.port <= 65535:
            yield "port", f"must be 1..65535, got {self.port}"
        if self.transport not in TRANSPORTS:
            yield "transport", f"must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}"
        if self.password is not None and not self.username:
            yield "username", "is required with a password"
        for i, prefix in enumerate(self.numbers):
            if _PREFIX.fullmatch(prefix) is None:
                yield f"numbers[{i}]", f"must be an E.164 prefix such as +32 or + (all), got {prefix!r}"
        if len(set(self.numbers)) != len(self.numbers):
            yield "numbers", "must not repeat a prefix"
        for i, source in enumerate(self.inbound_addresses):
            try:
                parse_source(source)
            except ValueError as exc:
                yield f"inbound_addresses[{i}]", str(exc)


# -- one group's content -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GroupDescription:
    """Everything one provisioning file describes: the unit of `apply_group` and `export_group`.

    Transient apply instructions (never stored): `portal_passwords` maps user ids to clear portal passwords
    given in a file (the store keeps the current hash when it still matches, else hashes anew);
    `admin_passwords` does the same for administrators (an administrator with neither a clear password nor
    a hash keeps the current hash).
    `keep_services` and `keep_portal_passwords` name users who, if they already exist, keep their current
    settings / portal password hash (what the portal changed); only a new user gets the described ones.
    The file reader fills them for users whose entry has no `services` table / no portal password.
    """

    enterprise: Enterprise
    group: Group
    departments: tuple[Department, ...] = ()
    users: tuple[User, ...] = ()
    devices: tuple[Device, ...] = ()
    schedules: tuple[GroupSchedule, ...] = ()
    contacts: tuple[DirectoryContact, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    administrators: tuple[GroupAdministrator, ...] = ()
    portal_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    admin_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    keep_services: frozenset[str] = frozenset()
    keep_portal_passwords: frozenset[str] = frozenset()

    @property
    def group_numbers(self) -> frozenset[str]:
        return frozenset(self.group.numbers).union(*(u.numbers for u in self.users))

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.user_id == user_id), None)

    def canonical(self) -> GroupDescription:
        """Same content in the stored order (by id / name), without the transient apply instructions."""
        return GroupDescription(
            enterprise=self.enterprise, group=self.group,
            departments=tuple(sorted(self.departments, key=lambda d: d.id)),
            users=tuple(sorted(self.users, key=lambda u: u.user_id)),
            devices=tuple(sorted(self.devices, key=lambda d: d.mac)),
            schedules=tuple(sorted(self.schedules, key=lambda s: (type(s.schedule).__name__, s.name))),
            contacts=tuple(sorted(self.contacts, key=lambda c: (c.name, c.number))),
            trunks=tuple(sorted(self.trunks, key=lambda t: t.id)),
            administrators=tuple(sorted(self.administrators, key=lambda a: a.username)),
        )

    def administrator(self, username: str) -> GroupAdministrator | None:
        return next((a for a in self.administrators if a.username == username), None)

    def problems(self) -> list[Problem]:
        """What crosses entities, with file paths (`users[1].extension`). Entities check themselves."""
        out: list[Problem] = []
        group = self.group
        if group.enterprise_id != self.enterprise.id:
            out.append(("group.enterprise_id", f"must be the enterprise id {self.enterprise.id!r}, "
                                               f"got {group.enterprise_id!r}"))
        owned: tuple[tuple[str, Sequence[str]], ...] = (
            ("departments", [d.group_id for d in self.departments]),
            ("users", [u.group_id for u in self.users]),
            ("devices", [d.group_id for d in self.devices]),
            ("schedules", [s.group_id for s in self.schedules]),
            ("contacts", [c.group_id for c in self.contacts]),
            ("trunks", [t.group_id for t in self.trunks]),
            ("administrators", [a.group_id for a in self.administrators]),
        )
        for kind, group_ids in owned:
            for i, group_id in enumerate(group_ids):
                if group_id != group.id:
                    out.append((f"{kind}[{i}].group_id", f"must be the group id {group.id!r}"))
        _duplicates(out, "departments", "id", [d.id for d in self.departments])
        _duplicates(out, "devices", "mac", [d.mac for d in self.devices])
        _duplicates(out, "schedules", "name", [s.name for s in self.schedules])
        _duplicates(out, "trunks", "id", [t.id for t in self.trunks])
        _duplicates(out, "administrators", "username", [a.username for a in self.administrators])
        self._user_problems(out)
        users = {u.user_id for u in self.users}
        for i, device in enumerate(self.devices):
            if device.owner not in users:
                out.append((f"devices[{i}].owner", f"unknown user {device.owner!r}"))
        for i, schedule in enumerate(self.schedules):
            if schedule.schedule.level != "group":
                out.append((f"schedules[{i}].level", "a group schedule must have level group"))
        sources: dict[str, str] = {}
        for i, trunk in enumerate(self.trunks):
            for j, source in enumerate(trunk.inbound_addresses):
                key = str(parse_source(source))
                if key in sources:
                    out.append((f"trunks[{i}].inbound_addresses[{j}]", f"{source} is already trunk "
                                                                       f"{sources[key]!r}'s"))
                sources.setdefault(key, trunk.id)
        return out

    def _user_problems(self, out: list[Problem]) -> None:
        group = self.group
        departments = {d.id for d in self.departments}
        group_numbers = self.group_numbers
        _duplicates(out, "users", "user_id", [u.user_id for u in self.users])
        owners: dict[str, str] = {}  # every number of the group -> who holds it
        for number in group.numbers:
            owners[number] = "the group"
        names: dict[str, tuple[str, str]] = {}  # user_id / sip_username / extension -> (user, what)
        for i, user in enumerate(self.users):
            at = f"users[{i}]"
            for what, name in (("extension", user.extension), ("sip_username", user.sip_username),
                               ("user_id", user.user_id)):
                if name is None:
                    continue
                other = names.get(name)
                if other is not None and other[0] != user.user_id:
                    out.append((f"{at}.{what}", f"{name!r} is already the {other[1]} of user {other[0]!r}"))
                names.setdefault(name, (user.user_id, what))
            if user.extension is not None and user.extension == group.voicemail_number:
                out.append((f"{at}.extension", f"{user.extension} is the voicemail number"))
            for j, number in enumerate(user.numbers):
                holder = owners.get(number)
                if holder is not None and holder != "the group":
                    out.append((f"{at}.numbers[{j}]", f"{number} is already a number of {holder}"))
                owners[number] = f"user {user.user_id!r}"
            if user.department_id is not None and user.department_id not in departments:
                out.append((f"{at}.department_id", f"unknown department {user.department_id!r}"))
            if user.outgoing_cli is not None and user.outgoing_cli not in group_numbers:
                out.append((f"{at}.outgoing_cli", f"{user.outgoing_cli} is not one of the group's numbers"))
            out.extend(user_service_problems(self, user.user_id, user.services, f"{at}.services"))


def _duplicates(out: list[Problem], kind: str, key: str, values: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            out.append((f"{kind}[{i}].{key}", f"duplicate {key} {value!r}"))
        seen.add(value)


def user_service_problems(desc: GroupDescription, user_id: str, services: ServiceSettings,
                          prefix: str = "services") -> list[Problem]:
    """Check what a user's settings name inside the group: BLF users, BLF list URI, criteria schedules.
    Used by provisioning (prefix `users[i].services`) and by the portal (`services`)."""
    out: list[Problem] = []
    users = {u.user_id: u for u in desc.users}
    blf = services.blf
    for key, values in (("monitored_users", blf.monitored_users), ("allowed_watchers", blf.allowed_watchers)):
        for i, other_id in enumerate(values):
            if other_id not in users:
                out.append((join_path(prefix, f"blf.{key}[{i}]"), f"unknown user {other_id!r}"))
            elif other_id == user_id:
                out.append((join_path(prefix, f"blf.{key}[{i}]"), "a user cannot list themselves"))
    if blf.list_uri is not None:
        for other in users.values():
            taken = {other.user_id, other.sip_username, other.extension}
            if other.user_id != user_id and other.services.blf.list_uri is not None:
                taken.add(other.services.blf.list_uri)
            if blf.list_uri in taken:
                out.append((join_path(prefix, "blf.list_uri"), f"{blf.list_uri!r} is already used by user "
                                                              f"{other.user_id!r}"))
                break
    group_time = {s.name for s in desc.schedules if isinstance(s.schedule, Schedule)}
    group_holiday = {s.name for s in desc.schedules if isinstance(s.schedule, HolidaySchedule)}
    for ref in services.schedule_references():
        if ref.kind == "time":
            known = services.schedule_named(ref.name) is not None or ref.name in group_time
        else:
            known = services.holiday_schedule_named(ref.name) is not None or ref.name in group_holiday
        if not known:
            out.append((join_path(prefix, ref.path), f"unknown {ref.kind} schedule {ref.name!r}"))
    return out


# -- the snapshot ------------------------------------------------------------------------------------------
class Directory:
    """Immutable index of every provisioned group for the SIP hot path. Build a new one to change anything.

    `revision` identifies the store state it was loaded from. Numbers are indexed in E.164 and in each
    group's national form, so lookups do not normalise on the common path.
    """

    __slots__ = (
        "_by_domain", "_by_ext", "_by_list_uri", "_by_national", "_by_number", "_by_sip", "_by_sip_global",
        "_descriptions", "_devices", "_devices_by_user", "_enterprises", "_fallback", "_groups",
        "_source_exact", "_source_networks", "_trunk_prefixes", "_users", "_users_by_group", "_watchers",
        "revision",
    )

    def __init__(self, descriptions: Iterable[GroupDescription] = (), *, revision: int = 0,
                 fallback_domain: str = "callconnect.local") -> None:
        self.revision = revision
        descs = sorted((d.canonical() for d in descriptions), key=lambda d: d.group.id)
        self._descriptions = {d.group.id: d for d in descs}
        self._enterprises = {d.enterprise.id: d.enterprise for d in descs}
        self._groups = {d.group.id: d.group for d in descs}
        self._by_domain = {d.group.domain: d.group for d in descs}
        self._fallback = (
            descs[0].group if descs else
            Group(id="none", enterprise_id="none", name="(no group)", domain=fallback_domain)
        )
        self._users: dict[str, User] = {}
        self._users_by_group: dict[str, tuple[User, ...]] = {}
        self._by_sip: dict[tuple[str, str], User] = {}
        self._by_sip_global: dict[str, User | None] = {}
        self._by_ext: dict[tuple[str, str], User] = {}
        self._by_number: dict[str, User] = {}
        self._by_national: dict[tuple[str, str], User] = {}
        self._by_list_uri: dict[tuple[str, str], User] = {}
        self._devices: dict[str, Device] = {}
        self._devices_by_user: dict[str, list[Device]] = {}
        watchers: dict[str, list[str]] = {}
        for d in descs:
            gid, cc = d.group.id, d.group.country_code
            self._users_by_group[gid] = d.users
            for user in d.users:
                self._users[user.user_id] = user
                self._by_sip[(gid, user.sip_username)] = user
                name = user.sip_username
                self._by_sip_global[name] = None if name in self._by_sip_global else user
                if user.extension is not None:
                    self._by_ext[(gid, user.extension)] = user
                for number in user.numbers:
                    self._by_number[number] = user
                    self._by_national[(gid, to_national(number, cc))] = user
                if user.services.blf.list_uri is not None:
                    self._by_list_uri[(gid, user.services.blf.list_uri)] = user
                for monitored in user.services.blf.monitored_users:
                    watchers.setdefault(monitored, []).append(user.user_id)
            for device in d.devices:
                self._devices[device.mac] = device
                self._devices_by_user.setdefault(device.owner, []).append(device)
        self._watchers = {k: tuple(v) for k, v in watchers.items()}
        self._source_exact: dict[str, list[tuple[int | None, Trunk]]] = {}
        self._source_networks: list[tuple[Network, Trunk]] = []
        prefixes: list[tuple[str, Trunk]] = []
        for d in descs:
            for trunk in d.trunks:
                for source in trunk.inbound_addresses:
                    network, port = parse_source(source)
                    if network.num_addresses == 1:
                        host = str(network.network_address)
                        self._source_exact.setdefault(host, []).append((port, trunk))
                    else:
                        self._source_networks.append((network, trunk))
                prefixes.extend((prefix, trunk) for prefix in trunk.numbers)
        prefixes.sort(key=lambda pt: -len(pt[0]))  # stable: equal lengths keep group then trunk id order
        self._trunk_prefixes = tuple(prefixes)

    # groups
    @property
    def groups(self) -> tuple[Group, ...]:
        return tuple(self._groups.values())

    @property
    def default_group(self) -> Group:
        """The group for requests naming none of our domains (an IP address): the first group by id, or a
        placeholder group with the fallback domain when nothing is provisioned (nobody can authenticate)."""
        return self._fallback

    def group_by_id(self, group_id: str) -> Group | None:
        return self._groups.get(group_id)

    def group_by_domain(self, host: str) -> Group | None:
        group = self._by_domain.get(host)
        if group is None and host != host.lower():
            group = self._by_domain.get(host.lower())
        return group

    def group_of(self, user: User) -> Group:
        return self._groups[user.group_id]

    def enterprise_by_id(self, enterprise_id: str) -> Enterprise | None:
        return self._enterprises.get(enterprise_id)

    def description(self, group_id: str) -> GroupDescription | None:
        """The group's full content (departments, schedules, contacts...), canonical order."""
        return self._descriptions.get(group_id)

    # users
    def user_by_id(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def users_of_group(self, group_id: str) -> tuple[User, ...]:
        return self._users_by_group.get(group_id, ())

    def user_by_sip_username(self, name: str, domain: str | None = None) -> User | None:
        """The user authenticating as `name`: within `domain`'s group when given, else only when no other
        group has the same username (None when ambiguous)."""
        if domain is None:
            return self._by_sip_global.get(name)
        group = self.group_by_domain(domain)
        return None if group is None else self._by_sip.get((group.id, name))

    def user_by_number(self, e164: str) -> User | None:
        return self._by_number.get(e164)

    def user_by_list_uri(self, user_part: str, group: Group) -> User | None:
        """The owner of the BLF list URI `user_part@group domain`."""
        return self._by_list_uri.get((group.id, user_part))

    def resolve_user(self, user_part: str, group: Group) -> User | None:
        """Who a dialled/addressed user part means in `group`: a user id, SIP username or extension of the
        group, or any number (E.164 in any group, national form of this group, written with separators
        or `00`). Emergency numbers and unknown numbers give None."""
        gid = group.id
        user = self._users.get(user_part)
        if user is not None and user.group_id == gid:
            return user
        user = (self._by_sip.get((gid, user_part)) or self._by_ext.get((gid, user_part))
                or self._by_number.get(user_part) or self._by_national.get((gid, user_part)))
        if user is not None or not user_part:
            return user
        try:
            return self._by_number.get(to_e164(user_part, group.country_code))
        except NumberError:
            return None

    def watchers_of(self, user_id: str) -> tuple[str, ...]:
        """Ids of the users whose BLF lists `user_id` (privacy not applied)."""
        return self._watchers.get(user_id, ())

    # devices
    def device_by_mac(self, mac: str) -> Device | None:
        device = self._devices.get(mac)
        if device is None:
            try:
                device = self._devices.get(normalize_mac(mac))
            except ValueError:
                return None
        return device

    def devices_of_user(self, user_id: str) -> tuple[Device, ...]:
        return tuple(self._devices_by_user.get(user_id, ()))

    # trunks
    def trunk_by_source(self, ip: str, port: int | None = None) -> Trunk | None:
        """The trunk trusting requests from `ip` (and `port`). An entry with a port matches only that port,
        so a trunk and phones may share an address (loopback tests); without `port` only port-less
        entries match."""
        entries = self._source_exact.get(ip)
        if entries is None and (self._source_networks or ":" in ip):
            try:
                address = ipaddress.ip_address(ip.strip("[]"))
            except ValueError:
                return None
            entries = self._source_exact.get(str(address))
            if entries is None:
                return next((t for net, t in self._source_networks if address in net), None)
        if entries is None:
            return None
        for entry_port, trunk in entries:
            if entry_port is not None and entry_port == port:
                return trunk
        return next((t for entry_port, t in entries if entry_port is None), None)

    def trunk_for_number(self, e164: str) -> Trunk | None:
        """The trunk to reach `e164` (longest matching prefix); None when no trunk serves it."""
        return next((t for prefix, t in self._trunk_prefixes if e164.startswith(prefix)), None)
