"""Where subscriber data lives: the `SubscriberStore` protocol, what applying a group reports, the checks and
merges every store shares, and `InMemorySubscriberStore` (unit tests, and the reference behaviour the SQLite
store must match).

Applying a description is all-or-nothing and declarative: it is validated in full (inside the group and
against the other groups) before anything is written, then the group's content becomes the description's.
Applying the same content again changes nothing and reports "no changes".

This module knows nothing of SQL, files or SIP; password hashing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from argon2 import PasswordHasher

from features.model import Problem, ServiceSettings, SettingError
from provisioning.model import (
    Directory,
    Group,
    GroupAdministrator,
    GroupDescription,
    ProvisioningError,
    User,
    hash_portal_password,
    parse_source,
    user_service_problems,
    verify_portal_password,
)

__all__ = [
    "KEPT_NOTE",
    "KINDS",
    "ApplyReport",
    "ChangeCount",
    "ChangedMeanwhile",
    "InMemorySubscriberStore",
    "SubscriberStore",
    "check_update_services",
    "diff_groups",
    "prepare_apply",
]

KINDS: Final = ("enterprise", "group", "departments", "users", "devices", "schedules", "contacts", "trunks",
                 "administrators")


class SubscriberStore(Protocol):
    """Subscriber data for the server, the portal and the provisioning command (one implementation per
    backend: in memory, SQLite). Every write is one transaction and makes `has_changed()` true."""

    async def load_directory(self) -> Directory:
        """A consistent snapshot of everything; afterwards `has_changed()` is False until the next write."""
        ...

    def has_changed(self) -> bool:
        """Did a write (by anyone, any process) happen since the last `load_directory()`? Synchronous and
        cheap: called for every SIP request, so that a change is seen by the next request."""
        ...

    async def apply_group(self, desc: GroupDescription, *, dry_run: bool = False,
                          expected: GroupDescription | None = None) -> ApplyReport:
        """Make the group exactly `desc` (all or nothing), or raise `ProvisioningError` listing every
        problem and change nothing. `dry_run` validates and reports without writing. With `expected` (an
        `export_group()` result) the group is changed only if it still is exactly that, else
        `ChangedMeanwhile` is raised and nothing written (an edit of what was read, never a lost update)."""
        ...

    async def export_group(self, group_id: str) -> GroupDescription:
        """The group's stored content (canonical order, hashes only); raises KeyError when unknown."""
        ...

    async def list_groups(self) -> list[Group]:
        ...

    async def get_user(self, user_id: str) -> User | None:
        ...

    async def update_services(self, user_id: str, services: ServiceSettings) -> None:
        """Replace a user's settings (portal, feature codes). Raises KeyError for an unknown user and
        `SettingError` (paths `services.…`) when a setting names an unknown user or schedule."""
        ...

    async def set_portal_password(self, user_id: str, password_hash: str) -> None:
        """Store a new Argon2id hash (`hash_portal_password()`); KeyError for an unknown user."""
        ...

    async def close(self) -> None:
        ...


class ChangedMeanwhile(Exception):
    """`apply_group(expected=...)`: the group is no longer what the caller read; read it again."""


def check_expected(current: GroupDescription | None, expected: GroupDescription | None) -> None:
    if expected is not None and current != expected:
        raise ChangedMeanwhile(expected.group.id)


# -- what an apply changes -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChangeCount:
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """Counts per kind (`KINDS`) of what an apply created, updated and deleted."""

    group_id: str
    changes: Mapping[str, ChangeCount]
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(self.changes.values())

    def count(self, kind: str) -> ChangeCount:
        return self.changes.get(kind, ChangeCount())

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """`group demo: no changes` or `group demo: users 1 created, 2 updated; devices 1 deleted`."""
        parts = []
        for kind in KINDS:
            c = self.count(kind)
            words = [f"{n} {what}" for n, what in ((c.created, "created"), (c.updated, "updated"),
                                                   (c.deleted, "deleted")) if n]
            if words:
                parts.append(f"{kind} {', '.join(words)}")
        text = "; ".join(parts) if parts else "no changes"
        return f"group {self.group_id}: {text}{' (dry run, nothing written)' if self.dry_run else ''}"


def _keyed(old: Iterable[tuple[Hashable, object]], new: Iterable[tuple[Hashable, object]]) -> ChangeCount:
    before, after = dict(old), dict(new)
    return ChangeCount(
        created=sum(1 for k in after if k not in before),
        updated=sum(1 for k, v in after.items() if k in before and before[k] != v),
        deleted=sum(1 for k in before if k not in after),
    )


def diff_groups(old: GroupDescription | None, new: GroupDescription, *, dry_run: bool = False) -> ApplyReport:
    """What replacing `old` (None: the group does not exist) by `new` changes, per kind."""
    if old is None:
        old = GroupDescription(enterprise=new.enterprise, group=new.group)
        enterprise = group = ChangeCount(created=1)
    else:
        enterprise = ChangeCount(updated=int(old.enterprise != new.enterprise))
        group = ChangeCount(updated=int(old.group != new.group))
    old_contacts = Counter((c.name, c.number) for c in old.contacts)
    new_contacts = Counter((c.name, c.number) for c in new.contacts)
    changes = {
        "enterprise": enterprise,
        "group": group,
        "departments": _keyed(((d.id, d) for d in old.departments), ((d.id, d) for d in new.departments)),
        "users": _keyed(((u.user_id, u) for u in old.users), ((u.user_id, u) for u in new.users)),
        "devices": _keyed(((d.mac, d) for d in old.devices), ((d.mac, d) for d in new.devices)),
        "schedules": _keyed(((s.name, s) for s in old.schedules), ((s.name, s) for s in new.schedules)),
        "contacts": ChangeCount(created=(new_contacts - old_contacts).total(),
                                deleted=(old_contacts - new_contacts).total()),
        "trunks": _keyed(((t.id, t) for t in old.trunks), ((t.id, t) for t in new.trunks)),
        "administrators": _keyed(((a.username, a) for a in old.administrators),
                                 ((a.username, a) for a in new.administrators)),
    }
    return ApplyReport(group_id=new.group.id, changes=changes, dry_run=dry_run)


# -- shared checks -------------------------------------------------------------------------------------------
def cross_group_problems(desc: GroupDescription, others: Iterable[GroupDescription]) -> list[Problem]:
    """What `desc` may not share with the other groups: domain, ids, numbers, devices, trunk sources."""
    taken: dict[str, dict[Hashable, str]] = {k: {} for k in ("domain", "user", "number", "mac", "trunk",
                                                               "department", "source", "admin")}
    for other in others:
        gid = other.group.id
        taken["domain"][other.group.domain] = gid
        taken["number"].update(dict.fromkeys(other.group_numbers, gid))
        taken["user"].update(dict.fromkeys((u.user_id for u in other.users), gid))
        taken["mac"].update(dict.fromkeys((d.mac for d in other.devices), gid))
        taken["trunk"].update(dict.fromkeys((t.id for t in other.trunks), gid))
        taken["department"].update(dict.fromkeys((d.id for d in other.departments), gid))
        taken["admin"].update(dict.fromkeys((a.username for a in other.administrators), gid))
        for t in other.trunks:
            taken["source"].update(dict.fromkeys((parse_source(s) for s in t.inbound_addresses), gid))
    out: list[Problem] = []

    def check(kind: str, key: Hashable, path: str, what: str) -> None:
        if key in taken[kind]:
            out.append((path, f"{what} already belongs to group {taken[kind][key]!r}"))

    check("domain", desc.group.domain, "group.domain", f"domain {desc.group.domain}")
    for i, number in enumerate(desc.group.numbers):
        check("number", number, f"group.numbers[{i}]", f"number {number}")
    for i, user in enumerate(desc.users):
        check("user", user.user_id, f"users[{i}].user_id", f"user id {user.user_id!r}")
        for j, number in enumerate(user.numbers):
            check("number", number, f"users[{i}].numbers[{j}]", f"number {number}")
    for i, device in enumerate(desc.devices):
        check("mac", device.mac, f"devices[{i}].mac", f"device {device.mac}")
    for i, dept in enumerate(desc.departments):
        check("department", dept.id, f"departments[{i}].id", f"department id {dept.id!r}")
    for i, trunk in enumerate(desc.trunks):
        check("trunk", trunk.id, f"trunks[{i}].id", f"trunk id {trunk.id!r}")
        for j, source in enumerate(trunk.inbound_addresses):
            check("source", parse_source(source), f"trunks[{i}].inbound_addresses[{j}]", f"source {source}")
    for i, admin in enumerate(desc.administrators):
        check("admin", admin.username, f"administrators[{i}].username", f"administrator {admin.username!r}")
    return out


KEPT_NOTE: Final = " (current setting kept: the file has no services table for this user)"
"""Appended to a problem of a user's settings that were kept from the store rather than given in the file."""


def _resolve_credentials(desc: GroupDescription, current: GroupDescription | None,
                         hasher: PasswordHasher | None) -> GroupDescription:
    """Apply the transient instructions: kept services, kept or re-hashed portal passwords. CPU-heavy
    (Argon2): run in a worker thread."""
    existing = {u.user_id: u for u in current.users} if current is not None else {}
    users: list[User] = []
    for user in desc.users:
        old = existing.get(user.user_id)
        changes: dict[str, object] = {}
        if old is not None and user.user_id in desc.keep_services:
            changes["services"] = old.services
        clear = desc.portal_passwords.get(user.user_id)
        if old is not None and user.user_id in desc.keep_portal_passwords:
            changes["portal_password_hash"] = old.portal_password_hash
        elif clear is not None:
            if old is not None and old.portal_password_hash is not None and verify_portal_password(
                    old.portal_password_hash, clear, hasher):
                changes["portal_password_hash"] = old.portal_password_hash
            else:
                changes["portal_password_hash"] = hash_portal_password(clear, hasher)
        users.append(replace(user, **changes) if changes else user)  # type: ignore[arg-type]
    admins = {a.username: a for a in current.administrators} if current is not None else {}
    administrators: list[GroupAdministrator] = []
    for admin in desc.administrators:
        old_admin = admins.get(admin.username)
        clear = desc.admin_passwords.get(admin.username)
        if clear is not None:
            if old_admin is not None and old_admin.password_hash is not None and verify_portal_password(
                    old_admin.password_hash, clear, hasher):
                admin = replace(admin, password_hash=old_admin.password_hash)
            else:
                admin = replace(admin, password_hash=hash_portal_password(clear, hasher))
        elif admin.password_hash is None and old_admin is not None:
            admin = replace(admin, password_hash=old_admin.password_hash)
        administrators.append(admin)
    return replace(desc, users=tuple(users), administrators=tuple(administrators), portal_passwords={},
                   admin_passwords={}, keep_services=frozenset(), keep_portal_passwords=frozenset())


def _raise_problems(problems: Sequence[Problem]) -> None:
    if problems:
        raise ProvisioningError([f"{path}: {message}" for path, message in problems], problems)


async def prepare_apply(desc: GroupDescription, current: GroupDescription | None,
                        others: Iterable[GroupDescription], *, hasher: PasswordHasher | None = None,
                        dry_run: bool = False) -> tuple[GroupDescription, ApplyReport]:
    """Validate `desc` against itself and the `others` groups, resolve its credentials against `current`,
    and return (what to store, canonical; the report). Raises ProvisioningError with every problem."""
    _raise_problems([*desc.problems(), *cross_group_problems(desc, others)])
    resolved = await asyncio.to_thread(_resolve_credentials, desc, current, hasher)
    kept_paths = {f"users[{i}].services" for i, u in enumerate(desc.users) if u.user_id in desc.keep_services}
    again = resolved.problems()
    _raise_problems([
        (path, message + (KEPT_NOTE if any(path.startswith(k) for k in kept_paths) else ""))
        for path, message in again
    ])
    final = resolved.canonical()
    return final, diff_groups(current, final, dry_run=dry_run)


def check_update_services(desc: GroupDescription, user_id: str,
                          services: ServiceSettings) -> GroupDescription:
    """The group with `user_id`'s settings replaced; KeyError when unknown, SettingError when a setting
    names an unknown user or schedule (paths `services.…`)."""
    user = desc.user(user_id)
    if user is None:
        raise KeyError(user_id)
    problems = user_service_problems(desc, user_id, services, "services")
    if problems:
        raise SettingError.many(problems)
    updated = replace(user, services=services)
    return replace(desc, users=tuple(updated if u.user_id == user_id else u for u in desc.users))


def check_portal_hash(desc: GroupDescription, user_id: str, password_hash: str) -> GroupDescription:
    user = desc.user(user_id)
    if user is None:
        raise KeyError(user_id)
    updated = replace(user, portal_password_hash=password_hash)  # the User constructor checks the format
    return replace(desc, users=tuple(updated if u.user_id == user_id else u for u in desc.users))


# -- in memory -----------------------------------------------------------------------------------------------
class InMemorySubscriberStore:
    """`SubscriberStore` in a dict: same checks, same reports, same change detection as SQLite."""

    def __init__(self, *, fallback_domain: str = "callconnect.local",
                 password_hasher: PasswordHasher | None = None) -> None:
        self._groups: dict[str, GroupDescription] = {}
        self._revision = 0
        self._loaded_revision: int | None = None
        self._fallback_domain = fallback_domain
        self._hasher = password_hasher
        self._lock = asyncio.Lock()

    async def load_directory(self) -> Directory:
        self._loaded_revision = self._revision
        return Directory(self._groups.values(), revision=self._revision,
                         fallback_domain=self._fallback_domain)

    def has_changed(self) -> bool:
        return self._loaded_revision != self._revision

    async def apply_group(self, desc: GroupDescription, *, dry_run: bool = False,
                          expected: GroupDescription | None = None) -> ApplyReport:
        async with self._lock:
            gid = desc.group.id
            check_expected(self._groups.get(gid), expected)
            others = [g for k, g in self._groups.items() if k != gid]
            final, report = await prepare_apply(desc, self._groups.get(gid), others, hasher=self._hasher,
                                                dry_run=dry_run)
            if report.changed and not dry_run:
                self._groups[gid] = final
                for k, g in self._groups.items():  # an enterprise is shared by its groups
                    if g.enterprise.id == final.enterprise.id:
                        self._groups[k] = replace(g, enterprise=final.enterprise)
                self._revision += 1
            return report

    async def export_group(self, group_id: str) -> GroupDescription:
        return self._groups[group_id]

    async def list_groups(self) -> list[Group]:
        return [self._groups[k].group for k in sorted(self._groups)]

    async def get_user(self, user_id: str) -> User | None:
        for desc in self._groups.values():
            user = desc.user(user_id)
            if user is not None:
                return user
        return None

    async def update_services(self, user_id: str, services: ServiceSettings) -> None:
        async with self._lock:
            gid = self._group_of(user_id)
            self._groups[gid] = check_update_services(self._groups[gid], user_id, services)
            self._revision += 1

    async def set_portal_password(self, user_id: str, password_hash: str) -> None:
        async with self._lock:
            gid = self._group_of(user_id)
            self._groups[gid] = check_portal_hash(self._groups[gid], user_id, password_hash)
            self._revision += 1

    def _group_of(self, user_id: str) -> str:
        for gid, desc in self._groups.items():
            if desc.user(user_id) is not None:
                return gid
        raise KeyError(user_id)

    async def close(self) -> None:
        return None
