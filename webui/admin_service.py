"""The group administrator's service layer, shared by the HTML pages (`webui.admin_views`) and
`/api/v1/admin` (`webui.admin_api`): log-in, and every change `provision apply` offers for one group (users
with their numbers, extension and passwords, the group's spare numbers, departments, devices, group time
and holiday schedules, group directory).

Every change goes through the provisioning path itself: the stored group is turned into its provisioning
document (`provisioning.apply.group_document`), one entry is added, replaced or removed in that document
(entries in the file's own format: `[[users]]`, `[[devices]]`...), and the document is read and applied by
`parse_group` + `SubscriberStore.apply_group`, exactly as `callconnect provision apply FILE` does. So a rule
is written once, in the model, and a refused change carries the same `(field path, message)` pairs the command
prints (`users[4].extension: '201' is already the extension of user 'jean.dupont'`); nothing is written
then. Applying bumps the store's revision, so the running server reloads its directory snapshot before the
next SIP request (the next call routes with the change). The other users' service settings and portal
passwords are left out of the document, so the store keeps their current values, and the apply is
conditional on the group being still what was read (`expected`): when anything changed meanwhile (a user's
setting, `provision apply`, another server process) the edit is made again on the new state, never lost.

Authorization by construction: every operation takes the administrator's group id and looks objects up in
that group only (another group's user is "not found"). It knows the models, the provisioning file format and
the store protocol; it knows no HTTP, HTML or SIP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from features.model import Problem, SettingError, join_path
from provisioning.apply import group_document, parse_group
from provisioning.model import (
    Directory,
    GroupAdministrator,
    GroupDescription,
    ProvisioningError,
    hash_portal_password,
    normalize_mac,
    verify_portal_password,
)
from provisioning.numbers import NumberError, to_e164
from provisioning.store import KEPT_NOTE, ChangedMeanwhile, SubscriberStore
from webui.forms import merged
from webui.services import (  # the portal's one "not yours, or not there": another group's object too
    NotFound,
    check_password_change,
)

__all__ = ["AdminService", "ChangeRefused", "NotFound"]

SOURCE: Final = "portal"
ATTEMPTS: Final = 5  # edits of a group that keeps changing under us (another administrator, provision apply)
_DUMMY_HASH: Final = hash_portal_password("not a real administrator password, only for timing")


class ChangeRefused(Exception):
    """The change breaks a provisioning rule; nothing was written. `problems` are the (path, message)
    pairs of `provision apply` (paths of the group's document); `focus` is the path of the entry that
    was being changed (`users[4]`, `group.numbers[2]`), "" when none."""

    def __init__(self, problems: tuple[Problem, ...], focus: str) -> None:
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in problems))
        self.problems = problems
        self.focus = focus

    def fields(self, prefix: str = "") -> dict[str, str]:
        """Problems keyed for a form: paths inside the focused entry relative to it (`extension`,
        `monday.end`, "" for the entry itself) behind `prefix` when given (`schedule.monday.end`), any
        other path as it is (shown apart)."""
        out: dict[str, str] = {}
        for path, message in self.problems:
            key = path
            if self.focus and (path == self.focus or path.startswith(self.focus + ".")):
                key = join_path(prefix, path[len(self.focus) + 1:])
            out.setdefault(key, message)
        return out


def _document(desc: GroupDescription) -> dict[str, Any]:
    """The group's provisioning document without anything the store should keep as it is now: users'
    settings and portal password hashes, administrators' hashes (absent from an entry: kept)."""
    doc = group_document(desc)
    for user in doc.get("users", []):
        user.pop("services", None)
        user.pop("portal_password_hash", None)
    for admin in doc.get("administrators", []):
        admin.pop("password_hash", None)
    return doc


def _index(entries: list[dict[str, Any]], key: str, value: str) -> int:
    for i, entry in enumerate(entries):
        if entry.get(key) == value:
            return i
    raise NotFound(value)


Edit = Callable[[dict[str, Any], GroupDescription], str]


class AdminService:
    def __init__(self, store: SubscriberStore, directory: Callable[[], Directory]) -> None:
        self.store = store
        self._directory = directory
        self._locks: dict[str, asyncio.Lock] = {}

    # -- accounts ------------------------------------------------------------------------------------------
    def _group_of_admin(self, username: str) -> str | None:
        directory = self._directory()
        for group in directory.groups:
            desc = directory.description(group.id)
            if desc is not None and desc.administrator(username) is not None:
                return group.id
        return None

    async def authenticate(self, username: str, password: str) -> GroupAdministrator | None:
        """The administrator when `password` is theirs; the same work (Argon2id) for an unknown name."""
        name = username.strip()
        group_id = self._group_of_admin(name) if name else None
        admin = None
        if group_id is not None:
            try:
                admin = (await self.group(group_id)).administrator(name)
            except NotFound:
                admin = None
        stored = admin.password_hash if admin is not None and admin.password_hash else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_portal_password, stored, password)
        return admin if ok and admin is not None and admin.password_hash else None

    async def administrator(self, group_id: str, username: str) -> tuple[GroupAdministrator, GroupDescription]:
        """The administrator as stored now with their group; NotFound once removed (or the group is)."""
        desc = await self.group(group_id)
        admin = desc.administrator(username)
        if admin is None:
            raise NotFound(username)
        return admin, desc

    async def change_password(self, group_id: str, username: str, current: str, new: str) -> None:
        """The administrator changes their own password: `current` must be right (SettingError
        "current_password"), `new` long enough and not the current one ("password"); the rules of `provision
        apply` for the rest."""
        admin, _ = await self.administrator(group_id, username)
        await check_password_change(admin.password_hash, current, new)

        def edit(doc: dict[str, Any], current_desc: GroupDescription) -> str:
            entries = doc.get("administrators", [])
            entries[_index(entries, "username", username)]["password"] = new
            return "password"

        try:
            await self._change(group_id, edit)
        except ChangeRefused as refused:
            raise SettingError("password", "; ".join(m for _, m in refused.problems)) from None

    async def group(self, group_id: str) -> GroupDescription:
        try:
            return await self.store.export_group(group_id)
        except KeyError as exc:
            raise NotFound(group_id) from exc

    # -- the one write path --------------------------------------------------------------------------------
    async def _change(self, group_id: str, edit: Edit) -> GroupDescription:
        """Apply `edit` to the group's document as stored now; if the group changed between reading and
        writing (a user's settings, another process), start over from what is stored then."""
        async with self._locks.setdefault(group_id, asyncio.Lock()):
            for _ in range(ATTEMPTS):
                current = await self.group(group_id)
                doc = _document(current)
                focus = edit(doc, current)
                try:
                    await self.store.apply_group(parse_group(doc, SOURCE), expected=current)
                except ChangedMeanwhile:
                    continue
                except ProvisioningError as exc:
                    # The document leaves users' settings out on purpose: the note about "the file" is moot.
                    problems = [(path, message.removesuffix(KEPT_NOTE)) for path, message in exc.fields] or [
                        ("", p) for p in exc.problems]
                    raise ChangeRefused(tuple(problems), focus) from None
                return await self.group(group_id)
            raise RuntimeError(f"group {group_id} kept changing during {ATTEMPTS} attempts")

    # -- users ---------------------------------------------------------------------------------------------
    async def save_user(self, group_id: str, original: str | None, entry: Mapping[str, Any]) -> GroupDescription:
        """Create (`original` None) or change a user from a `[[users]]` entry. For a change, keys absent from
        `entry` keep their value (None removes one); a new `sip_password` replaces the SIP HA1 (and must come
        with a new SIP user name, which the HA1 covers); the user's settings are kept unless `entry` has
        `services`. The user id cannot change."""

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            users: list[dict[str, Any]] = doc.setdefault("users", [])
            if original is None:
                users.append(dict(entry))
                return f"users[{len(users) - 1}]"
            i = _index(users, "user_id", original)
            focus = f"users[{i}]"
            if entry.get("user_id", original) != original:
                raise ChangeRefused(((f"{focus}.user_id", "cannot be changed: delete the user and create "
                                                          "a new one"),), focus)
            base = users[i]
            renamed = "sip_username" in entry and (entry["sip_username"] or original) != base.get("sip_username",
                                                                                                   original)
            if renamed and "sip_ha1_md5" in base and not entry.get("sip_password"):
                raise ChangeRefused(((f"{focus}.sip_password", "is required when the SIP user name changes (the "
                                                               "stored hash covers the user name)"),), focus)
            if entry.get("sip_password"):
                base = {k: v for k, v in base.items() if k not in ("sip_ha1_md5", "sip_ha1_sha256")}
            users[i] = merged(base, {k: v for k, v in entry.items() if k != "sip_password" or v})
            return focus

        return await self._change(group_id, edit)

    async def delete_user(self, group_id: str, user_id: str) -> GroupDescription:
        """Remove a user; colleagues' BLF lists that named them forget them (their other settings kept)."""

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            users: list[dict[str, Any]] = doc.get("users", [])
            del users[_index(users, "user_id", user_id)]
            for other in current.users:
                blf = other.services.blf
                if user_id in blf.monitored_users or user_id in blf.allowed_watchers:
                    services = replace(other.services, blf=replace(
                        blf, monitored_users=tuple(u for u in blf.monitored_users if u != user_id),
                        allowed_watchers=tuple(u for u in blf.allowed_watchers if u != user_id)))
                    users[_index(users, "user_id", other.user_id)]["services"] = services.to_dict()
            return ""

        return await self._change(group_id, edit)

    # -- the group's spare numbers -------------------------------------------------------------------------
    async def add_number(self, group_id: str, number: str) -> GroupDescription:
        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            numbers: list[str] = doc["group"].setdefault("numbers", [])
            numbers.append(number)
            return f"group.numbers[{len(numbers) - 1}]"

        return await self._change(group_id, edit)

    async def delete_number(self, group_id: str, number: str) -> GroupDescription:
        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            e164 = _spare(doc, current, number)
            doc["group"]["numbers"].remove(e164)
            return ""

        return await self._change(group_id, edit)

    async def assign_number(self, group_id: str, number: str, user_id: str) -> GroupDescription:
        """Move a spare number of the group to the end of a user's numbers (their main number if first)."""

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            e164 = _spare(doc, current, number)
            users: list[dict[str, Any]] = doc.get("users", [])
            i = _index(users, "user_id", user_id)
            doc["group"]["numbers"].remove(e164)
            users[i]["numbers"] = [*users[i].get("numbers", []), e164]
            return f"users[{i}]"

        return await self._change(group_id, edit)

    async def release_number(self, group_id: str, number: str) -> GroupDescription:
        """Take a number from the user who holds it back to the group's spare numbers."""

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            try:
                e164 = to_e164(number, current.group.country_code)
            except NumberError:
                raise NotFound(number) from None
            for i, user in enumerate(doc.get("users", [])):
                if e164 in user.get("numbers", []):
                    user["numbers"] = [n for n in user["numbers"] if n != e164]
                    if user.get("outgoing_cli") == e164:
                        del user["outgoing_cli"]  # back to the main number
                    doc["group"].setdefault("numbers", []).append(e164)
                    return f"users[{i}]"
            raise NotFound(number)

        return await self._change(group_id, edit)

    # -- departments ---------------------------------------------------------------------------------------
    async def save_department(self, group_id: str, original: str | None, entry: Mapping[str, Any]
                              ) -> GroupDescription:
        return await self._save_keyed(group_id, "departments", "id", original, entry)

    async def delete_department(self, group_id: str, department_id: str) -> GroupDescription:
        return await self._delete_keyed(group_id, "departments", "id", department_id)

    # -- devices -------------------------------------------------------------------------------------------
    async def save_device(self, group_id: str, original: str | None, entry: Mapping[str, Any]
                          ) -> GroupDescription:
        """Create or change a phone (`[[devices]]` entry: mac, model, owner, label, provisioning_password);
        a new `provisioning_password` replaces the stored HA1, none keeps it."""
        mac = _mac(original) if original is not None else None
        clean = {k: v for k, v in entry.items() if k != "provisioning_password" or v}
        if clean.get("provisioning_password"):
            clean.update(provisioning_ha1_md5=None, provisioning_ha1_sha256=None)
        return await self._save_keyed(group_id, "devices", "mac", mac, clean)

    async def delete_device(self, group_id: str, mac: str) -> GroupDescription:
        return await self._delete_keyed(group_id, "devices", "mac", _mac(mac))

    # -- group schedules ---------------------------------------------------------------------------------
    async def save_schedule(self, group_id: str, original: str | None, entry: Mapping[str, Any], *,
                            holiday: bool = False) -> GroupDescription:
        """Create or replace a group time schedule (`[[schedules]]` entry: name, a table per weekday) or, with
        `holiday`, a holiday schedule (`[[holiday_schedules]]` entry: name, periods)."""
        kind = "holiday_schedules" if holiday else "schedules"

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            schedules: list[dict[str, Any]] = doc.setdefault(kind, [])
            if original is None:
                schedules.append(dict(entry))
                return f"{kind}[{len(schedules) - 1}]"
            i = _index(schedules, "name", original)
            schedules[i] = dict(entry)
            return f"{kind}[{i}]"

        return await self._change(group_id, edit)

    async def delete_schedule(self, group_id: str, name: str, *, holiday: bool = False) -> GroupDescription:
        return await self._delete_keyed(group_id, "holiday_schedules" if holiday else "schedules", "name", name)

    # -- group directory -----------------------------------------------------------------------------------
    async def save_contact(self, group_id: str, index: int | None, entry: Mapping[str, Any]) -> GroupDescription:
        """Add (`index` None) or replace the group directory entry `index` (the stored order)."""

        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            contacts: list[dict[str, Any]] = doc.setdefault("contacts", [])
            if index is None:
                contacts.append(dict(entry))
                return f"contacts[{len(contacts) - 1}]"
            if not 0 <= index < len(contacts):
                raise NotFound(str(index))
            contacts[index] = dict(entry)
            return f"contacts[{index}]"

        return await self._change(group_id, edit)

    async def delete_contact(self, group_id: str, index: int) -> GroupDescription:
        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            contacts: list[dict[str, Any]] = doc.get("contacts", [])
            if not 0 <= index < len(contacts):
                raise NotFound(str(index))
            del contacts[index]
            return ""

        return await self._change(group_id, edit)

    # -- shared --------------------------------------------------------------------------------------------
    async def _save_keyed(self, group_id: str, kind: str, key: str, original: str | None,
                          entry: Mapping[str, Any]) -> GroupDescription:
        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            entries: list[dict[str, Any]] = doc.setdefault(kind, [])
            if original is None:
                entries.append(dict(entry))
                return f"{kind}[{len(entries) - 1}]"
            i = _index(entries, key, original)
            entries[i] = merged(entries[i], entry)
            return f"{kind}[{i}]"

        return await self._change(group_id, edit)

    async def _delete_keyed(self, group_id: str, kind: str, key: str, value: str) -> GroupDescription:
        def edit(doc: dict[str, Any], current: GroupDescription) -> str:
            entries: list[dict[str, Any]] = doc.get(kind, [])
            del entries[_index(entries, key, value)]
            return ""

        return await self._change(group_id, edit)


def _spare(doc: dict[str, Any], current: GroupDescription, number: str) -> str:
    """`number` (any spelling) as the E.164 spare number of the group's document; NotFound otherwise."""
    try:
        e164 = to_e164(number, current.group.country_code)
    except NumberError:
        raise NotFound(number) from None
    if e164 not in doc["group"].get("numbers", []):
        raise NotFound(number)
    return e164


def _mac(text: str) -> str:
    try:
        return normalize_mac(text)
    except ValueError:
        raise NotFound(text) from None
