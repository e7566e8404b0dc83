"""The declarative provisioning file (TOML): one enterprise and one group, read, validated and written.

`load_group_file(path)` reads a file (stdlib `tomllib`) into a `GroupDescription`, checking EVERYTHING first:
types, unknown keys (typos must not pass silently), every limit of the service settings, numbers, and then
what crosses entities (duplicates, references). It raises `ProvisioningError` listing every problem as
`file: field path: message`, e.g. `demo.toml: users[2].services.forward_no_answer.rings: must be 0 or 2..20,
got 1` (list indexes count from 0). Problems inside entities come first; cross-entity checks run once every
entity is readable, so that one typo does not cause a cascade of "unknown user" reports.

`dump_group(desc)` writes the file back (`tomli_w`): numbers in E.164, passwords as hashes, service settings
that differ from the defaults only; applying the export changes nothing. `apply_file()` and
`export_group_file()` join a store and a file. The format is described field by field in
`docs/provisioning.md`.

This module knows TOML and the model; it knows nothing of SQL or SIP.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import tomli_w

from features.model import HolidaySchedule, Problem, Schedule, ServiceSettings, SettingError, TableReader
from provisioning.model import (
    Department,
    Device,
    DirectoryContact,
    Enterprise,
    Group,
    GroupAdministrator,
    GroupDescription,
    GroupSchedule,
    ProvisioningError,
    Trunk,
    User,
    provisioning_ha1,
    sip_ha1,
)
from provisioning.numbers import NumberError, clean_number, to_e164
from provisioning.store import ApplyReport, SubscriberStore

__all__ = [
    "apply_file",
    "dump_group",
    "export_group_file",
    "group_document",
    "load_group_file",
    "loads_group",
    "parse_group",
]

def load_group_file(path: Path | str) -> GroupDescription:
    """Read and fully validate one provisioning file. Raises ProvisioningError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError([f"{path.name}: cannot read: {exc}"]) from None
    return loads_group(text, path.name)


def loads_group(text: str, source: str = "<string>") -> GroupDescription:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvisioningError([f"{source}: not valid TOML: {exc}"]) from None
    return parse_group(data, source)


def parse_group(data: Mapping[str, Any], source: str = "<data>") -> GroupDescription:
    """Build a description from the parsed TOML document, or raise ProvisioningError with every problem."""
    errors: list[Problem] = []
    desc = _Parser(errors).document(data)
    if not errors and desc is not None:
        errors.extend(desc.problems())
    if errors or desc is None:
        raise ProvisioningError([f"{source}: {path}: {message}" if path else f"{source}: {message}"
                                 for path, message in errors], errors)
    return desc


class _Parser:
    def __init__(self, errors: list[Problem]) -> None:
        self.errors = errors
        self.group_id = ""
        self.country_code = "32"
        self.domain = "invalid"

    def document(self, data: Mapping[str, Any]) -> GroupDescription | None:
        r = TableReader(data, "", self.errors)
        enterprise = self.enterprise(r)
        group = self.group(r, enterprise)
        departments = r.items("departments", self.department)
        users = r.items("users", self.user)
        devices = r.items("devices", self.device)
        schedules = (*r.items("schedules", self.schedule), *r.items("holiday_schedules", self.holiday))
        contacts = r.items("contacts", self.contact)
        trunks = r.items("trunks", self.trunk)
        admins = r.items("administrators", self.administrator)
        r.finish()
        if self.errors or enterprise is None or group is None:
            return None
        return GroupDescription(
            enterprise=enterprise, group=group, departments=departments,
            users=tuple(u for u, _, _ in users), devices=devices, schedules=schedules, contacts=contacts,
            trunks=trunks, administrators=tuple(a for a, _ in admins),
            portal_passwords={u.user_id: pw for u, pw, _ in users if pw is not None},
            admin_passwords={a.username: pw for a, pw in admins if pw is not None},
            keep_services=frozenset(u.user_id for u, _, keep in users if keep),
            keep_portal_passwords=frozenset(u.user_id for u, pw, _ in users
                                            if pw is None and u.portal_password_hash is None),
        )

    def _table(self, r: TableReader, key: str) -> TableReader:
        value = r.raw(key)
        if value is None:
            r.error(key, "is required")
            return TableReader({}, r.at(key), [])
        return TableReader(value, r.at(key), self.errors)

    def enterprise(self, top: TableReader) -> Enterprise | None:
        r = self._table(top, "enterprise")
        return r.build(Enterprise, id=r.required("id"), name=r.required("name"))

    def group(self, top: TableReader, enterprise: Enterprise | None) -> Group | None:
        r = self._table(top, "group")
        self.group_id = r.required("id")
        self.country_code = r.text("country_code", "32")
        self.domain = r.required("domain")
        return r.build(
            Group, id=self.group_id, enterprise_id=enterprise.id if enterprise else "",
            name=r.required("name"), domain=self.domain, country_code=self.country_code,
            time_zone=r.text("time_zone", "Europe/Brussels"),
            seconds_per_ring=r.integer("seconds_per_ring", 5),
            voicemail_number=r.text("voicemail_number", "1969"), feature_codes=r.text("feature_codes", "both"),
            numbers=self.numbers(r, "numbers"),
        )

    def numbers(self, r: TableReader, key: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, text in enumerate(r.strings(key)):
            number = self.number(r, f"{key}[{i}]", text)
            if number is not None:
                out.append(number)
        return tuple(out)

    def number(self, r: TableReader, key: str, text: str) -> str | None:
        try:
            return to_e164(text, self.country_code)
        except NumberError as exc:
            r.error(key, str(exc))
            return None

    def department(self, data: object, path: str, errors: list[Problem]) -> Department | None:
        r = TableReader(data, path, errors)
        return r.build(Department, id=r.required("id"), group_id=self.group_id, name=r.required("name"))

    def user(self, data: object, path: str, errors: list[Problem]) -> tuple[User, str | None, bool] | None:
        r = TableReader(data, path, errors)
        user_id = r.required("user_id")
        sip_username = r.text("sip_username", "") or user_id
        password = r.opt_text("sip_password")
        md5, sha256 = r.opt_text("sip_ha1_md5"), r.opt_text("sip_ha1_sha256")
        ha1: dict[str, str] = {}
        if password is not None:
            if md5 is not None or sha256 is not None:
                r.error("sip_password", "give either sip_password or sip_ha1_md5 + sip_ha1_sha256, not both")
            elif not password:
                r.error("sip_password", "must not be empty")
            else:
                ha1 = sip_ha1(sip_username, self.domain, password)
        elif md5 is not None or sha256 is not None:
            if md5 is None or sha256 is None:
                r.error("sip_ha1_md5" if md5 is None else "sip_ha1_sha256",
                        "sip_ha1_md5 and sip_ha1_sha256 go together")
            else:
                ha1 = {"MD5": md5.lower(), "SHA-256": sha256.lower()}
        portal_password = r.opt_text("portal_password")
        portal_hash = r.opt_text("portal_password_hash")
        if portal_password is not None and portal_hash is not None:
            r.error("portal_password", "give either portal_password or portal_password_hash, not both")
        elif portal_password is not None and len(portal_password) < 8:
            r.error("portal_password", "must have at least 8 characters")
        numbers = self.numbers(r, "numbers")
        cli_text = r.opt_text("outgoing_cli")  # absent: the main number; "": none
        cli = self.number(r, "outgoing_cli", cli_text) if cli_text else None
        keep_services = not r.has("services")
        services = r.sub("services", ServiceSettings)
        user = r.build(
            User, user_id=user_id, group_id=self.group_id, first_name=r.required("first_name"),
            last_name=r.required("last_name"), email=r.opt_text("email"),
            department_id=r.opt_text("department_id"),
            extension=r.opt_text("extension"), numbers=numbers,
            outgoing_cli=cli if cli_text is not None else (numbers[0] if numbers else None),
            language=r.choice("language", "fr", ("fr", "nl", "en")), sip_username=sip_username, sip_ha1=ha1,
            portal_password_hash=portal_hash, services=services,
        )
        return None if user is None else (user, portal_password, keep_services)

    def device(self, data: object, path: str, errors: list[Problem]) -> Device | None:
        r = TableReader(data, path, errors)
        mac = r.required("mac")
        password = r.opt_text("provisioning_password")
        md5, sha256 = r.opt_text("provisioning_ha1_md5"), r.opt_text("provisioning_ha1_sha256")
        ha1: dict[str, str] = {}
        if password is not None:
            if md5 is not None or sha256 is not None:
                r.error("provisioning_password", "give either provisioning_password or provisioning_ha1_md5 + "
                                                 "provisioning_ha1_sha256, not both")
            elif not password:
                r.error("provisioning_password", "must not be empty")
            else:
                try:
                    ha1 = provisioning_ha1(mac, password)
                except ValueError:
                    pass  # the bad MAC is reported by the Device itself
        elif md5 is not None or sha256 is not None:
            if md5 is None or sha256 is None:
                r.error("provisioning_ha1_md5" if md5 is None else "provisioning_ha1_sha256",
                        "provisioning_ha1_md5 and provisioning_ha1_sha256 go together")
            else:
                ha1 = {"MD5": md5.lower(), "SHA-256": sha256.lower()}
        return r.build(Device, mac=mac, group_id=self.group_id, model=r.required("model"),
                       owner=r.required("owner"), label=r.opt_text("label"), provisioning_ha1=ha1)

    def schedule(self, data: object, path: str, errors: list[Problem]) -> GroupSchedule | None:
        return self._schedule(Schedule, data, path, errors)

    def holiday(self, data: object, path: str, errors: list[Problem]) -> GroupSchedule | None:
        return self._schedule(HolidaySchedule, data, path, errors)

    def _schedule(self, cls: type[Schedule] | type[HolidaySchedule], data: object, path: str,
                  errors: list[Problem]) -> GroupSchedule | None:
        if not isinstance(data, Mapping):
            errors.append((path, "must be a table"))
            return None
        try:
            schedule = cls.from_dict({"level": "group", **data}, path)
        except SettingError as exc:
            errors.extend(exc.problems)
            return None
        try:
            return GroupSchedule(group_id=self.group_id, schedule=schedule)
        except SettingError as exc:
            errors.extend(exc.prefixed(path).problems)
            return None

    def contact(self, data: object, path: str, errors: list[Problem]) -> DirectoryContact | None:
        r = TableReader(data, path, errors)
        name, text = r.required("name"), r.required("number")
        number = clean_number(text)
        if not number.isdigit() or number.startswith("0"):
            number = self.number(r, "number", text) or ""
        return r.build(DirectoryContact, group_id=self.group_id, name=name, number=number)

    def administrator(self, data: object, path: str, errors: list[Problem]
                      ) -> tuple[GroupAdministrator, str | None] | None:
        r = TableReader(data, path, errors)
        password, password_hash = r.opt_text("password"), r.opt_text("password_hash")
        if password is not None and password_hash is not None:
            r.error("password", "give either password or password_hash, not both")
        elif password is not None and len(password) < 8:
            r.error("password", "must have at least 8 characters")
        admin = r.build(GroupAdministrator, username=r.required("username"), group_id=self.group_id,
                        name=r.required("name"), language=r.choice("language", "fr", ("fr", "nl", "en")),
                        password_hash=password_hash)
        return None if admin is None else (admin, password)

    def trunk(self, data: object, path: str, errors: list[Problem]) -> Trunk | None:
        r = TableReader(data, path, errors)
        return r.build(
            Trunk, id=r.required("id"), group_id=self.group_id, name=r.required("name"),
            host=r.required("host"),
            port=r.integer("port", 5060), transport=r.choice("transport", "udp", ("udp", "tcp", "tls")),
            username=r.opt_text("username"), password=r.opt_text("password"), realm=r.opt_text("realm"),
            numbers=r.strings("numbers") if r.has("numbers") else ("+",),
            inbound_addresses=r.strings("inbound_addresses"),
        )


# -- export ------------------------------------------------------------------------------------------------
_HEADER: Final = (
    "# Call Connect group description, exported by `callconnect provision export`.\n"
    "# Apply with `callconnect provision apply FILE`: the group becomes exactly this file (users\n"
    "# absent from it are removed). Passwords are hashes: SIP HA1 values are tied to the group domain,\n"
    "# so changing `domain` requires new SIP passwords (a phone's provisioning HA1 is tied to its MAC).\n"
    "# Service settings list only what differs from the defaults.\n\n"
)


def _strip_defaults(value: dict[str, Any], default: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        base = default.get(key)
        if isinstance(item, dict) and isinstance(base, dict):
            inner = _strip_defaults(item, base)
            if inner:
                out[key] = inner
        elif item != base:
            out[key] = item
    return out


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != []}


def _user_dict(user: User) -> dict[str, Any]:
    out = _drop_none({
        "user_id": user.user_id, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "department_id": user.department_id, "extension": user.extension,
        "numbers": list(user.numbers), "outgoing_cli": user.outgoing_cli, "language": user.language,
        "sip_username": user.sip_username if user.sip_username != user.user_id else None,
        "sip_ha1_md5": user.sip_ha1.get("MD5"), "sip_ha1_sha256": user.sip_ha1.get("SHA-256"),
        "portal_password_hash": user.portal_password_hash,
    })
    if user.outgoing_cli is None and user.numbers:
        out["outgoing_cli"] = ""  # explicit "none": an absent key means the main number
    out["services"] = _strip_defaults(user.services.to_dict(), ServiceSettings().to_dict())
    return out


def _schedule_dict(schedule: GroupSchedule) -> dict[str, Any]:
    data = schedule.schedule.to_dict()
    data.pop("level", None)
    if data.get("inverted") is False:
        data.pop("inverted")
    return data


def dump_group(desc: GroupDescription) -> str:
    """The provisioning file for `desc` (canonical order); applying it to the same store changes nothing."""
    return _HEADER + tomli_w.dumps(group_document(desc))


def group_document(desc: GroupDescription) -> dict[str, Any]:
    """The parsed form of `desc`'s provisioning file (what `parse_group` reads back; canonical order, empty
    sections left out): the plain data `dump_group` writes as TOML."""
    desc = desc.canonical()
    g = desc.group
    doc: dict[str, Any] = {
        "enterprise": {"id": desc.enterprise.id, "name": desc.enterprise.name},
        "group": _drop_none({
            "id": g.id, "name": g.name, "domain": g.domain, "country_code": g.country_code,
            "time_zone": g.time_zone, "seconds_per_ring": g.seconds_per_ring,
            "voicemail_number": g.voicemail_number, "feature_codes": g.feature_codes, "numbers": list(g.numbers),
        }),
        "departments": [{"id": d.id, "name": d.name} for d in desc.departments],
        "users": [_user_dict(u) for u in desc.users],
        "devices": [_drop_none({"mac": d.mac, "model": d.model, "owner": d.owner, "label": d.label,
                                "provisioning_ha1_md5": d.provisioning_ha1.get("MD5"),
                                "provisioning_ha1_sha256": d.provisioning_ha1.get("SHA-256")})
                    for d in desc.devices],
        "schedules": [_schedule_dict(s) for s in desc.schedules if isinstance(s.schedule, Schedule)],
        "holiday_schedules": [_schedule_dict(s) for s in desc.schedules
                              if isinstance(s.schedule, HolidaySchedule)],
        "contacts": [{"name": c.name, "number": c.number} for c in desc.contacts],
        "trunks": [_drop_none({
            "id": t.id, "name": t.name, "host": t.host, "port": t.port, "transport": t.transport,
            "username": t.username, "password": t.password, "realm": t.realm, "numbers": list(t.numbers),
            "inbound_addresses": list(t.inbound_addresses),
        }) for t in desc.trunks],
        "administrators": [_drop_none({"username": a.username, "name": a.name, "language": a.language,
                                       "password_hash": a.password_hash}) for a in desc.administrators],
    }
    for trunk_dict, trunk in zip(doc["trunks"], desc.trunks, strict=True):
        if not trunk.numbers:
            trunk_dict["numbers"] = []  # explicit: "no numbers" differs from the default "+"
    return {k: v for k, v in doc.items() if v != []}


# -- with a store ------------------------------------------------------------------------------------------
async def apply_file(store: SubscriberStore, path: Path | str, *, dry_run: bool = False) -> ApplyReport:
    """Load, validate and apply one file; every problem (also those found against the other groups) is
    reported as `file: path: message` and nothing is changed."""
    path = Path(path)
    desc = load_group_file(path)
    try:
        return await store.apply_group(desc, dry_run=dry_run)
    except ProvisioningError as exc:
        raise ProvisioningError([f"{path.name}: {problem}" for problem in exc.problems], exc.fields) from None


async def export_group_file(store: SubscriberStore, group_id: str, path: Path | str | None = None) -> str:
    """The group's file text; also written to `path` when given."""
    text = dump_group(await store.export_group(group_id))
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text

