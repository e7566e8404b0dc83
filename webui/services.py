"""The portal's service layer: what a logged-in user may read and change, shared by the HTML views and `/api/v1`.

Every operation takes the acting user's id and touches only that user's data (per-object authorization lives
here, so both front ends get it): settings sections, BLF selection, personal contacts, own schedules, call
log, click-to-dial, voicemail. Writes go through `SubscriberStore.update_services`, the same path the phone's
feature codes and key sync use, so the SIP side acts on the next call. Validation is the model's own
(`features.model` `from_dict`, `provisioning.model.user_service_problems` in the store): a problem comes back
as `SettingError` with the same field paths `provision apply` prints (`services.forward_no_answer.rings`),
and nothing is written.

Password checks and hashing (Argon2id) run in a worker thread. It knows the models and the store protocol;
it knows no HTTP, HTML or SIP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from features.model import (
    MAX_CONTACTS,
    Blf,
    CallWaiting,
    ClidDelivery,
    Clir,
    Colr,
    DoNotDisturb,
    ForwardAlways,
    ForwardBusy,
    ForwardNoAnswer,
    ForwardUnreachable,
    PersonalContact,
    Schedule,
    SequentialRing,
    ServiceSettings,
    SettingError,
    SimultaneousRing,
    Voicemail,
)
from provisioning.model import (
    Directory,
    GroupDescription,
    User,
    hash_portal_password,
    verify_portal_password,
)
from provisioning.numbers import NumberError, to_national
from provisioning.store import SubscriberStore

__all__ = ["MIN_PASSWORD", "SECTIONS", "CallLogEntry", "CallLogReader", "ClickToDial", "DialFailed", "DirectoryEntry",
           "NotFound", "PortalService", "check_password_change", "national"]

ClickToDial = Callable[[str, str], Awaitable[None]]
"""`click_to_dial(user_id, number)`: ring the user's phone, then `number` (the SIP side's `ClickToDial`)."""

SECTIONS: Final[dict[str, type[Any]]] = {
    "forward_always": ForwardAlways, "forward_busy": ForwardBusy, "forward_no_answer": ForwardNoAnswer,
    "forward_unreachable": ForwardUnreachable, "dnd": DoNotDisturb, "clir": Clir,
    "external_clid_delivery": ClidDelivery, "internal_clid_delivery": ClidDelivery, "colr": Colr,
    "call_waiting": CallWaiting, "voicemail": Voicemail, "simultaneous_ring": SimultaneousRing,
    "sequential_ring": SequentialRing, "blf": Blf,
}
"""The settings a user edits as a whole, by their `ServiceSettings` field name."""

MIN_PASSWORD: Final = 10
# Checked when the user name is unknown, so that an unknown name costs the same time as a wrong password.
_DUMMY_HASH: Final = hash_portal_password("not a real password, only for timing")


async def check_password_change(stored_hash: str | None, current: str, new: str) -> None:
    """The rules of changing one's own password, for end users and administrators alike: the new one long
    enough ("password"), the current one right ("current_password", the same Argon2id work when there is no
    hash), the new one not the current one ("password"). Raises SettingError with that field."""
    if len(new) < MIN_PASSWORD:
        raise SettingError("password", f"must be at least {MIN_PASSWORD} characters")
    ok = await asyncio.to_thread(verify_portal_password, stored_hash or _DUMMY_HASH, current[:1000])
    if not ok or not stored_hash:
        raise SettingError("current_password", "wrong password")
    if new == current:
        raise SettingError("password", "must differ from the current one")


class NotFound(LookupError):
    """The object does not exist for this user, or in this administrator's group (another user's or group's
    object is "not found" too)."""


class DialFailed(Exception):
    """Click-to-dial refused; `reason` is one of "unavailable", "unknown_user", "not_dialable", "no_phone"."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class CallLogEntry(Protocol):
    @property
    def direction(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def other_number(self) -> str: ...
    @property
    def other_name(self) -> str: ...


CallLogReader = Callable[[str, int], Awaitable[Sequence[CallLogEntry]]]
"""`read(user_id, limit)`: the user's call log rows, newest first."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    name: str
    number: str
    kind: str  # "personal" (editable, `index` into the contacts), "group" (group directory), "user" (colleague)
    index: int | None = None


def national(number: str | None, country_code: str) -> str:
    """An E.164 number as dialled in the group's country (`+3222211201` -> `022211201`); others unchanged."""
    if not number:
        return ""
    try:
        return to_national(number, country_code)
    except NumberError:
        return number


class PortalService:
    def __init__(self, store: SubscriberStore, directory: Callable[[], Directory], *,
                 call_log: CallLogReader | None = None, click_to_dial: ClickToDial | None = None) -> None:
        self.store = store
        self._directory = directory
        self._call_log = call_log
        self._click_to_dial = click_to_dial
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    # -- accounts ------------------------------------------------------------------------------------------
    async def account_gone(self, user_id: str) -> bool:
        """The user no longer exists (deleted since they logged in). The snapshot answers at once for a user
        still there; only when it lacks them (deleted, or created less than a reload ago) is the store asked."""
        if self._directory().user_by_id(user_id) is not None:
            return False
        return await self.store.get_user(user_id) is None

    def find_user_id(self, username: str) -> str | None:
        """The user a login name designates: a user id, or a SIP user name / extension that is unique."""
        name = username.strip()
        if not name:
            return None
        directory = self._directory()
        user = directory.user_by_id(name)
        if user is not None:
            return user.user_id
        found = {u.user_id for g in directory.groups for u in directory.users_of_group(g.id)
                 if name in (u.sip_username, u.extension)}
        return found.pop() if len(found) == 1 else None

    async def authenticate(self, username: str, password: str) -> User | None:
        user_id = self.find_user_id(username)
        user = None if user_id is None else await self.store.get_user(user_id)
        stored = user.portal_password_hash if user is not None and user.portal_password_hash else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_portal_password, stored, password)
        return user if ok and user is not None and user.portal_password_hash else None

    async def set_password(self, user_id: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise SettingError("password", f"must be at least {MIN_PASSWORD} characters")
        password_hash = await asyncio.to_thread(hash_portal_password, password)
        try:
            await self.store.set_portal_password(user_id, password_hash)
        except KeyError as exc:
            raise NotFound(user_id) from exc

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        """The user changes their own password: `current` must be right, `new` long enough (SettingError
        with the field, "current_password" or "password")."""
        user = await self.user(user_id)
        await check_password_change(user.portal_password_hash, current, new)
        await self.set_password(user_id, new[:1000])

    # -- reads ---------------------------------------------------------------------------------------------
    async def user(self, user_id: str) -> User:
        user = await self.store.get_user(user_id)
        if user is None:
            raise NotFound(user_id)
        return user

    async def group(self, user: User) -> GroupDescription:
        try:
            return await self.store.export_group(user.group_id)
        except KeyError as exc:
            raise NotFound(user.group_id) from exc

    async def colleagues(self, user: User) -> list[User]:
        return [u for u in (await self.group(user)).users if u.user_id != user.user_id]

    async def time_schedules(self, user: User) -> list[Schedule]:
        """The user's own time schedules, then the group's (the names a criterion may use)."""
        group = await self.group(user)
        return [*user.services.schedules, *(s.schedule for s in group.schedules if isinstance(s.schedule, Schedule))]

    async def directory(self, user_id: str, query: str = "") -> list[DirectoryEntry]:
        user = await self.user(user_id)
        group = await self.group(user)
        cc = group.group.country_code
        entries = [DirectoryEntry(c.name, c.number, "personal", i) for i, c in enumerate(user.services.contacts)]
        entries += [DirectoryEntry(c.name, national(c.number, cc), "group") for c in group.contacts]
        entries += [DirectoryEntry(u.display_name, u.extension or national(u.main_number, cc), "user")
                    for u in group.users if u.user_id != user_id]
        needle = query.strip().casefold()
        if needle:
            entries = [e for e in entries if needle in e.name.casefold() or needle in e.number.casefold()]
        return entries

    async def monitored_visibility(self, user_id: str) -> list[tuple[str, bool]]:
        """The colleagues `user_id` monitors (their BLF selection as last saved, in key order), each with
        whether that colleague lets `user_id` see their live state: same group and `blf.privacy` allows it,
        the rule the SIP notifier answers 403 by, read from the directory snapshot the SIP side uses."""
        owner = await self.user(user_id)
        directory = self._directory()
        out: list[tuple[str, bool]] = []
        for colleague_id in owner.services.blf.monitored_users:
            colleague = directory.user_by_id(colleague_id)
            out.append((colleague_id, colleague is not None and colleague.group_id == owner.group_id
                        and colleague.user_id != owner.user_id
                        and colleague.services.blf.may_be_watched_by(owner.user_id)))
        return out

    async def call_log(self, user_id: str, limit: int = 1000) -> Sequence[CallLogEntry]:
        if self._call_log is None:
            return []
        return await self._call_log(user_id, limit)

    # -- writes --------------------------------------------------------------------------------------------
    async def _write(self, user_id: str, change: Callable[[ServiceSettings], ServiceSettings]) -> ServiceSettings:
        async with self._lock(user_id):
            user = await self.user(user_id)
            try:
                services = change(user.services)
            except SettingError as exc:
                if exc.field_path.startswith("services"):
                    raise
                raise exc.prefixed("services") from None
            try:
                await self.store.update_services(user_id, services)
            except KeyError as exc:
                raise NotFound(user_id) from exc
            return services

    async def update_section(self, user_id: str, name: str, data: Mapping[str, Any]) -> ServiceSettings:
        """Replace one settings section (`SECTIONS`) by its plain form; SettingError paths `services.<name>…`."""
        kind = SECTIONS.get(name)
        if kind is None:
            raise NotFound(name)
        section = kind.from_dict(data, f"services.{name}")
        return await self._write(user_id, lambda s: replace(s, **{name: section}))

    async def set_blf_users(self, user_id: str, monitored: Sequence[str]) -> ServiceSettings:
        def change(s: ServiceSettings) -> ServiceSettings:
            try:
                blf = replace(s.blf, monitored_users=tuple(monitored))
            except SettingError as exc:
                raise exc.prefixed("services.blf") from None
            return replace(s, blf=blf)

        return await self._write(user_id, change)

    async def add_contact(self, user_id: str, data: Mapping[str, Any]) -> ServiceSettings:
        contact = PersonalContact.from_dict(data, "contact")

        def change(s: ServiceSettings) -> ServiceSettings:
            if len(s.contacts) >= MAX_CONTACTS:
                raise SettingError("services.contacts", f"at most {MAX_CONTACTS} contacts, got {MAX_CONTACTS + 1}")
            return replace(s, contacts=(*s.contacts, contact))

        return await self._write(user_id, change)

    async def update_contact(self, user_id: str, index: int, data: Mapping[str, Any]) -> ServiceSettings:
        contact = PersonalContact.from_dict(data, "contact")

        def change(s: ServiceSettings) -> ServiceSettings:
            if not 0 <= index < len(s.contacts):
                raise NotFound(str(index))
            return replace(s, contacts=tuple(contact if i == index else c for i, c in enumerate(s.contacts)))

        return await self._write(user_id, change)

    async def delete_contact(self, user_id: str, index: int) -> ServiceSettings:
        def change(s: ServiceSettings) -> ServiceSettings:
            if not 0 <= index < len(s.contacts):
                raise NotFound(str(index))
            return replace(s, contacts=tuple(c for i, c in enumerate(s.contacts) if i != index))

        return await self._write(user_id, change)

    async def save_schedule(self, user_id: str, original: str | None, data: Mapping[str, Any], *,
                            opposite: bool = False) -> ServiceSettings:
        """Create (`original` None) or replace the user's time schedule `original`; `opposite` also writes
        `non-<name>`. Renaming keeps the criteria that named it pointing at it. Paths `schedule.…`."""
        schedule = Schedule.from_dict({**data, "level": "user"}, "schedule")
        user = await self.user(user_id)
        group_names = {s.name for s in (await self.group(user)).schedules}

        def change(s: ServiceSettings) -> ServiceSettings:
            if original is not None and s.schedule_named(original) is None:
                raise NotFound(original)
            replaced = {original} if original is not None else set()
            new = [schedule, *([schedule.opposite()] if opposite else [])]
            if opposite and original is not None and s.schedule_named(f"non-{original}") is not None:
                replaced.add(f"non-{original}")
            taken = {x.name for x in s.schedules if x.name not in replaced} | {
                x.name for x in s.holiday_schedules} | group_names
            for candidate in new:
                if candidate.name in taken:
                    raise SettingError("schedule.name", f"duplicate schedule name {candidate.name!r}")
            kept = [x for x in s.schedules if x.name not in replaced]
            renamed = replace(s, schedules=(*kept, *new))
            if original is not None and original != schedule.name:
                renamed = _rename_references(renamed, original, schedule.name)
            return renamed

        return await self._write(user_id, change)

    async def delete_schedule(self, user_id: str, name: str) -> ServiceSettings:
        def change(s: ServiceSettings) -> ServiceSettings:
            if s.schedule_named(name) is None:
                raise NotFound(name)
            if any(ref.name == name and ref.kind == "time" for ref in s.schedule_references()):
                raise SettingError("schedule", "is still used by a criterion")
            return replace(s, schedules=tuple(x for x in s.schedules if x.name != name))

        return await self._write(user_id, change)

    async def dial(self, user_id: str, number: str) -> None:
        if self._click_to_dial is None:
            raise DialFailed("unavailable")
        try:
            await self._click_to_dial(user_id, number)
        except Exception as exc:  # the SIP side's ClickToDialError family, told apart by name
            reason = {"UnknownUser": "unknown_user", "NotDialable": "not_dialable",
                      "NoRegisteredPhone": "no_phone"}.get(type(exc).__name__)
            if reason is None:
                raise
            raise DialFailed(reason, str(exc)) from exc


def _rename_references(s: ServiceSettings, old: str, new: str) -> ServiceSettings:
    def fix(service: SimultaneousRing | SequentialRing) -> Any:
        criteria = tuple(replace(c, time_schedule=new) if c.time_schedule == old else c for c in service.criteria)
        return replace(service, criteria=criteria)

    return replace(s, simultaneous_ring=fix(s.simultaneous_ring), sequential_ring=fix(s.sequential_ring))
