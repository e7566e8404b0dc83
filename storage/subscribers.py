"""`SqliteSubscriberStore`: the `provisioning.store.SubscriberStore` protocol on the embedded SQLite database.

Entities are rows of the tables of migration 1; a user's service settings are one JSON column
(`ServiceSettings.to_dict()`). Every write is one transaction that also bumps `provisioning_state.revision`.
Checks, merges and reports are the shared ones of `provisioning.store`, so this store and the in-memory one
behave alike. Applying is optimistic: read, validate and hash passwords (slow, outside any lock), then write
in one `BEGIN IMMEDIATE` transaction if the revision has not moved meanwhile (else start over).

`has_changed()` is synchronous on purpose: it runs for every new SIP request. It asks a dedicated plain
`sqlite3` connection for `PRAGMA data_version`, which changes whenever ANY other connection (ours, the
portal's, another process's) commits; reading it touches only the WAL index in shared memory, no disk and no
lock wait worth the name, so calling it on the event loop is fine. Only when it moved is the one-row
`revision` read, so registrations and call-log commits do not trigger directory reloads. Under call load the
call log commits all the time, and that check costs 4-16 µs, so the database is asked at most once per
`recheck_interval` (10 ms): a write through this store is seen by the next request, a write by another
connection or process within 10 ms.

This module knows SQL and the model; it knows nothing of SIP, HTTP or TOML.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Final

import aiosqlite
from argon2 import PasswordHasher

from features.model import (
    DaySchedule,
    HolidayPeriod,
    HolidaySchedule,
    Schedule,
    ServiceSettings,
)
from provisioning.model import (
    Department,
    Device,
    Directory,
    DirectoryContact,
    Enterprise,
    Group,
    GroupAdministrator,
    GroupDescription,
    GroupSchedule,
    Trunk,
    User,
)
from provisioning.store import ApplyReport, check_expected, check_update_services, prepare_apply
from storage.database import open_database, open_watch_connection

__all__ = ["SqliteSubscriberStore"]

_MAX_ATTEMPTS: Final = 5
RECHECK_INTERVAL: Final = 0.010  # seconds between two looks at the database from has_changed()
_AT_ONCE: Final = float("-inf")  # a next-check time that is always past


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _where(column: str, group_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (f" WHERE {column} = ?", (group_id,)) if group_id is not None else ("", ())


class SqliteSubscriberStore:
    """Subscriber data in `<data_dir>/callconnect.sqlite3`; open with `await SqliteSubscriberStore.open()`."""

    def __init__(self, db: aiosqlite.Connection, watch: sqlite3.Connection, *,
                 fallback_domain: str = "callconnect.local",
                 password_hasher: PasswordHasher | None = None,
                 recheck_interval: float = RECHECK_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._watch = watch
        self._fallback_domain = fallback_domain
        self._hasher = password_hasher
        self._loaded_revision: int | None = None
        self._seen_data_version: int | None = None
        self._seen_revision: int | None = None
        self._recheck_interval = recheck_interval
        self._clock = clock
        self._next_check = _AT_ONCE  # has_changed() asks the database again from this clock reading on
        # One aiosqlite connection runs one transaction at a time: tasks sharing this store (the SIP side
        # reloading, the portal writing) take turns.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, data_dir: Path | str, *, fallback_domain: str = "callconnect.local",
                   password_hasher: PasswordHasher | None = None, recheck_interval: float = RECHECK_INTERVAL,
                   clock: Callable[[], float] = time.monotonic) -> SqliteSubscriberStore:
        db = await open_database(data_dir)
        db.row_factory = sqlite3.Row
        try:
            watch = open_watch_connection(data_dir)
        except BaseException:
            await db.close()
            raise
        return cls(db, watch, fallback_domain=fallback_domain, password_hasher=password_hasher,
                   recheck_interval=recheck_interval, clock=clock)

    async def close(self) -> None:
        self._watch.close()
        await self._db.close()

    # -- change detection ----------------------------------------------------------------------------------
    def has_changed(self) -> bool:
        now = self._clock()
        if now < self._next_check:
            return self._seen_revision != self._loaded_revision
        self._next_check = now + self._recheck_interval
        try:
            (data_version,) = self._watch.execute("PRAGMA data_version").fetchone()
            if data_version != self._seen_data_version:
                (revision,) = self._watch.execute("SELECT revision FROM provisioning_state").fetchone()
                self._seen_data_version, self._seen_revision = data_version, revision
        except sqlite3.OperationalError:  # busy for a moment: let the caller reload, which will wait properly
            self._next_check = _AT_ONCE
            return True
        return self._seen_revision != self._loaded_revision

    # -- reads ---------------------------------------------------------------------------------------------
    async def load_directory(self) -> Directory:
        revision, groups = await self._read_snapshot(None)
        self._loaded_revision = revision
        self._next_check = _AT_ONCE  # compare with the database, not with what was seen before loading
        return Directory(groups, revision=revision, fallback_domain=self._fallback_domain)

    async def export_group(self, group_id: str) -> GroupDescription:
        _, groups = await self._read_snapshot(group_id)
        if not groups:
            raise KeyError(group_id)
        return groups[0]

    async def list_groups(self) -> list[Group]:
        async with self._lock:
            rows = await self._db.execute_fetchall("SELECT * FROM groups ORDER BY id")
        return [_group(row) for row in rows]

    async def get_user(self, user_id: str) -> User | None:
        async with self._lock:
            return await self._get_user(user_id)

    async def _get_user(self, user_id: str) -> User | None:
        rows = list(await self._db.execute_fetchall("SELECT * FROM users WHERE user_id = ?", (user_id,)))
        if not rows:
            return None
        numbers = await self._db.execute_fetchall(
            "SELECT number FROM user_numbers WHERE user_id = ? ORDER BY position", (user_id,))
        return _user(rows[0], tuple(n["number"] for n in numbers))

    async def _read_snapshot(self, group_id: str | None) -> tuple[int, list[GroupDescription]]:
        """(revision, groups) read in one transaction, so that both describe the same state."""
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                return await self._read(group_id)
            finally:
                await self._db.rollback()

    async def _read(self, group_id: str | None) -> tuple[int, list[GroupDescription]]:
        db = self._db
        rev_rows = list(await db.execute_fetchall("SELECT revision FROM provisioning_state"))
        where, args = _where("group_id", group_id)
        gwhere, _ = _where("id", group_id)
        enterprises = {r["id"]: Enterprise(id=r["id"], name=r["name"])
                       for r in await db.execute_fetchall("SELECT * FROM enterprises")}
        group_rows = await db.execute_fetchall(f"SELECT * FROM groups{gwhere} ORDER BY id", args)
        groups = [_group(r) for r in group_rows]
        numbers: dict[str, list[str]] = {}
        for r in await db.execute_fetchall(
                "SELECT n.user_id, n.number FROM user_numbers n JOIN users u USING (user_id)"
                f"{where.replace('group_id', 'u.group_id')} ORDER BY n.user_id, n.position", args):
            numbers.setdefault(r["user_id"], []).append(r["number"])
        by_group: dict[str, dict[str, list[Any]]] = {g.id: {} for g in groups}

        def add(kind: str, gid: str, item: object) -> None:
            by_group[gid].setdefault(kind, []).append(item)

        def items(gid: str, kind: str) -> tuple[Any, ...]:
            return tuple(by_group[gid].get(kind, ()))

        for r in await db.execute_fetchall(f"SELECT * FROM departments{where} ORDER BY id", args):
            add("departments", r["group_id"], Department(id=r["id"], group_id=r["group_id"], name=r["name"]))
        for r in await db.execute_fetchall(f"SELECT * FROM users{where} ORDER BY user_id", args):
            add("users", r["group_id"], _user(r, tuple(numbers.get(r["user_id"], ()))))
        for r in await db.execute_fetchall(f"SELECT * FROM devices{where} ORDER BY mac", args):
            add("devices", r["group_id"], _device(r))
        for gid, schedule in await self._read_schedules(where, args):
            add("schedules", gid, GroupSchedule(group_id=gid, schedule=schedule))
        for r in await db.execute_fetchall(f"SELECT * FROM directory_contacts{where} ORDER BY id", args):
            add("contacts", r["group_id"], DirectoryContact(group_id=r["group_id"], name=r["name"],
                                                            number=r["number"]))
        for r in await db.execute_fetchall(f"SELECT * FROM trunks{where} ORDER BY id", args):
            add("trunks", r["group_id"], _trunk(r))
        for r in await db.execute_fetchall(f"SELECT * FROM group_administrators{where} ORDER BY username", args):
            add("administrators", r["group_id"], GroupAdministrator(
                username=r["username"], group_id=r["group_id"], name=r["name"], language=r["language"],
                password_hash=r["password_hash"]))
        descs = [
            GroupDescription(
                enterprise=enterprises[g.enterprise_id], group=g, departments=items(g.id, "departments"),
                users=items(g.id, "users"), devices=items(g.id, "devices"),
                schedules=items(g.id, "schedules"), contacts=items(g.id, "contacts"),
                trunks=items(g.id, "trunks"), administrators=items(g.id, "administrators"),
            ).canonical()
            for g in groups
        ]
        return int(rev_rows[0]["revision"]), descs

    async def _read_schedules(self, where: str, args: tuple[str, ...]
                              ) -> list[tuple[str, Schedule | HolidaySchedule]]:
        db = self._db
        days: dict[tuple[str, str], list[DaySchedule]] = {}
        for r in await db.execute_fetchall(
                f"SELECT * FROM schedule_days{where} ORDER BY group_id, schedule_name, weekday", args):
            days.setdefault((r["group_id"], r["schedule_name"]), []).append(DaySchedule(
                active=bool(r["active"]), start=r["start_minute"], end=r["end_minute"],
                lunch_active=bool(r["lunch_active"]), lunch_start=r["lunch_start_minute"],
                lunch_end=r["lunch_end_minute"]))
        periods: dict[tuple[str, str], list[HolidayPeriod]] = {}
        for r in await db.execute_fetchall(
                f"SELECT * FROM holiday_periods{where} ORDER BY group_id, schedule_name, position", args):
            periods.setdefault((r["group_id"], r["schedule_name"]), []).append(HolidayPeriod(
                start=date.fromisoformat(r["start_date"]), end=date.fromisoformat(r["end_date"]),
                label=r["label"]))
        out: list[tuple[str, Schedule | HolidaySchedule]] = []
        for r in await db.execute_fetchall(f"SELECT * FROM schedules{where} ORDER BY group_id, name", args):
            key = (r["group_id"], r["name"])
            schedule: Schedule | HolidaySchedule
            if r["kind"] == "time":
                schedule = Schedule(name=r["name"], level="group", days=tuple(days[key]),
                                    inverted=bool(r["inverted"]))
            else:
                schedule = HolidaySchedule(name=r["name"], level="group", periods=tuple(periods.get(key, ())))
            out.append((r["group_id"], schedule))
        return out

    # -- writes --------------------------------------------------------------------------------------------
    async def apply_group(self, desc: GroupDescription, *, dry_run: bool = False,
                          expected: GroupDescription | None = None) -> ApplyReport:
        gid = desc.group.id
        for _ in range(_MAX_ATTEMPTS):
            revision, groups = await self._read_snapshot(None)
            current = next((g for g in groups if g.group.id == gid), None)
            check_expected(current, expected)  # the revision check below keeps it true until the write
            others = [g for g in groups if g.group.id != gid]
            final, report = await prepare_apply(desc, current, others, hasher=self._hasher, dry_run=dry_run)
            if dry_run or not report.changed:
                return report
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    if await self._revision() != revision:
                        await self._db.rollback()  # someone else provisioned meanwhile: validate again
                        continue
                    await _write_group(self._db, final)
                    await self._commit_change()
                except BaseException:
                    await self._db.rollback()
                    raise
            return report
        raise RuntimeError(f"group {gid}: provisioning kept changing during {_MAX_ATTEMPTS} attempts")

    async def update_services(self, user_id: str, services: ServiceSettings) -> None:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = list(await self._db.execute_fetchall("SELECT group_id FROM users WHERE user_id = ?",
                                                            (user_id,)))
                if not rows:
                    raise KeyError(user_id)
                _, groups = await self._read(rows[0]["group_id"])
                check_update_services(groups[0], user_id, services)
                await self._db.execute("UPDATE users SET services = ? WHERE user_id = ?",
                                       (_json(services.to_dict()), user_id))
                await self._commit_change()
            except BaseException:
                await self._db.rollback()
                raise

    async def set_portal_password(self, user_id: str, password_hash: str) -> None:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                user = await self._get_user(user_id)
                if user is None:
                    raise KeyError(user_id)
                replace(user, portal_password_hash=password_hash)  # the User constructor checks the format
                await self._db.execute("UPDATE users SET portal_password_hash = ? WHERE user_id = ?",
                                       (password_hash, user_id))
                await self._commit_change()
            except BaseException:
                await self._db.rollback()
                raise

    async def _commit_change(self) -> None:
        """Commit the open transaction as a change of the directory: bump the revision, and let the next
        has_changed() ask the database instead of waiting out `recheck_interval` (our own write)."""
        await self._db.execute("UPDATE provisioning_state SET revision = revision + 1 WHERE id = 1")
        await self._db.commit()
        self._next_check = _AT_ONCE

    async def _revision(self) -> int:
        rows = list(await self._db.execute_fetchall("SELECT revision FROM provisioning_state"))
        return int(rows[0]["revision"])


# -- rows <-> entities ---------------------------------------------------------------------------------------
def _group(r: sqlite3.Row) -> Group:
    return Group(id=r["id"], enterprise_id=r["enterprise_id"], name=r["name"], domain=r["domain"],
                 country_code=r["country_code"], time_zone=r["time_zone"],
                 seconds_per_ring=r["seconds_per_ring"], voicemail_number=r["voicemail_number"],
                 feature_codes=r["feature_codes"], numbers=tuple(json.loads(r["numbers"])))


def _user(r: sqlite3.Row, numbers: tuple[str, ...]) -> User:
    ha1 = {"MD5": r["sip_ha1_md5"], "SHA-256": r["sip_ha1_sha256"]} if r["sip_ha1_md5"] else {}
    return User(
        user_id=r["user_id"], group_id=r["group_id"], first_name=r["first_name"], last_name=r["last_name"],
        email=r["email"], department_id=r["department_id"], extension=r["extension"], numbers=numbers,
        outgoing_cli=r["outgoing_cli"], language=r["language"], sip_username=r["sip_username"], sip_ha1=ha1,
        portal_password_hash=r["portal_password_hash"],
        services=ServiceSettings.from_dict(json.loads(r["services"]), f"users[{r['user_id']}].services"),
    )


def _device(r: sqlite3.Row) -> Device:
    md5, sha256 = r["provisioning_ha1_md5"], r["provisioning_ha1_sha256"]
    ha1 = {"MD5": md5, "SHA-256": sha256} if md5 or sha256 else {}
    return Device(mac=r["mac"], group_id=r["group_id"], model=r["model"], owner=r["owner"], label=r["label"],
                  provisioning_ha1=ha1)


def _trunk(r: sqlite3.Row) -> Trunk:
    return Trunk(id=r["id"], group_id=r["group_id"], name=r["name"], host=r["host"], port=r["port"],
                 transport=r["transport"], username=r["username"], password=r["password"], realm=r["realm"],
                 numbers=tuple(json.loads(r["numbers"])),
                 inbound_addresses=tuple(json.loads(r["inbound_addresses"])))


async def _many(db: aiosqlite.Connection, sql: str, rows: Iterable[Sequence[object]]) -> None:
    rows = list(rows)
    if rows:
        await db.executemany(sql, rows)


async def _write_group(db: aiosqlite.Connection, desc: GroupDescription) -> None:
    """Replace everything of the group by `desc` (inside the caller's transaction)."""
    e, g = desc.enterprise, desc.group
    await db.execute("INSERT INTO enterprises (id, name) VALUES (?, ?)"
                     " ON CONFLICT (id) DO UPDATE SET name = excluded.name", (e.id, e.name))
    await db.execute(
        "INSERT INTO groups (id, enterprise_id, name, domain, country_code, time_zone, seconds_per_ring,"
        " voicemail_number, feature_codes, numbers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET enterprise_id = excluded.enterprise_id, name = excluded.name,"
        " domain = excluded.domain, country_code = excluded.country_code, time_zone = excluded.time_zone,"
        " seconds_per_ring = excluded.seconds_per_ring, voicemail_number = excluded.voicemail_number,"
        " feature_codes = excluded.feature_codes, numbers = excluded.numbers",
        (g.id, g.enterprise_id, g.name, g.domain, g.country_code, g.time_zone, g.seconds_per_ring,
         g.voicemail_number, g.feature_codes, _json(list(g.numbers))),
    )
    for table in ("devices", "users", "departments", "schedules", "directory_contacts", "trunks",
                  "group_administrators"):
        await db.execute(f"DELETE FROM {table} WHERE group_id = ?", (g.id,))
    await db.execute("DELETE FROM enterprises WHERE id NOT IN (SELECT enterprise_id FROM groups)")
    await _many(db, "INSERT INTO departments (id, group_id, name) VALUES (?, ?, ?)",
                ((d.id, g.id, d.name) for d in desc.departments))
    await _many(db, "INSERT INTO users (user_id, group_id, first_name, last_name, email, department_id,"
                    " extension, outgoing_cli, language, sip_username, sip_ha1_md5, sip_ha1_sha256,"
                    " portal_password_hash, services) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((u.user_id, g.id, u.first_name, u.last_name, u.email, u.department_id, u.extension,
                  u.outgoing_cli, u.language, u.sip_username, u.sip_ha1.get("MD5"), u.sip_ha1.get("SHA-256"),
                  u.portal_password_hash, _json(u.services.to_dict())) for u in desc.users))
    await _many(db, "INSERT INTO user_numbers (number, user_id, position) VALUES (?, ?, ?)",
                ((n, u.user_id, i) for u in desc.users for i, n in enumerate(u.numbers)))
    await _many(db, "INSERT INTO devices (mac, group_id, owner, model, label, provisioning_ha1_md5,"
                    " provisioning_ha1_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((d.mac, g.id, d.owner, d.model, d.label, d.provisioning_ha1.get("MD5"),
                  d.provisioning_ha1.get("SHA-256")) for d in desc.devices))
    await _many(db, "INSERT INTO schedules (group_id, name, kind, inverted) VALUES (?, ?, ?, ?)",
                ((g.id, s.name, "time" if isinstance(s.schedule, Schedule) else "holiday",
                  int(isinstance(s.schedule, Schedule) and s.schedule.inverted)) for s in desc.schedules))
    await _many(db, "INSERT INTO schedule_days (group_id, schedule_name, weekday, active, start_minute,"
                    " end_minute, lunch_active, lunch_start_minute, lunch_end_minute)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((g.id, s.name, i, int(d.active), d.start, d.end, int(d.lunch_active), d.lunch_start,
                  d.lunch_end)
                 for s in desc.schedules if isinstance(s.schedule, Schedule)
                 for i, d in enumerate(s.schedule.days)))
    await _many(db, "INSERT INTO holiday_periods (group_id, schedule_name, position, start_date, end_date,"
                    " label) VALUES (?, ?, ?, ?, ?, ?)",
                ((g.id, s.name, i, p.start.isoformat(), p.end.isoformat(), p.label)
                 for s in desc.schedules if isinstance(s.schedule, HolidaySchedule)
                 for i, p in enumerate(s.schedule.periods)))
    await _many(db, "INSERT INTO directory_contacts (group_id, name, number) VALUES (?, ?, ?)",
                ((g.id, c.name, c.number) for c in desc.contacts))
    await _many(db, "INSERT INTO trunks (id, group_id, name, host, port, transport, username, password,"
                    " realm, numbers, inbound_addresses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((t.id, g.id, t.name, t.host, t.port, t.transport, t.username, t.password, t.realm,
                  _json(list(t.numbers)), _json(list(t.inbound_addresses))) for t in desc.trunks))
    await _many(db, "INSERT INTO group_administrators (username, group_id, name, language, password_hash)"
                    " VALUES (?, ?, ?, ?, ?)",
                ((a.username, g.id, a.name, a.language, a.password_hash) for a in desc.administrators))
