"""What only the SQLite subscriber store has to prove: change detection across connections and processes,
durability across reopen, and optimistic retry when someone else provisions meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from features.model import DoNotDisturb, ServiceSettings
from provisioning.demo import demo_group_description
from provisioning.model import provisioning_ha1
from storage.database import database_path
from storage.migrations import MIGRATIONS
from storage.subscribers import SqliteSubscriberStore

HASHER = PasswordHasher.from_parameters(CHEAPEST)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def open_store(path: Path, clock: FakeClock | None = None) -> SqliteSubscriberStore:
    """A store that asks the database at every has_changed() unless a clock is given (then every 10 ms)."""
    if clock is None:
        return await SqliteSubscriberStore.open(path, password_hasher=HASHER, recheck_interval=0.0)
    return await SqliteSubscriberStore.open(path, password_hasher=HASHER, clock=clock)


async def test_has_changed_flips_after_a_write_from_another_connection(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.apply_group(demo_group_description())
        await store.load_directory()
        assert not store.has_changed()
        with sqlite3.connect(database_path(tmp_path)) as other:  # e.g. `callconnect provision apply`
            other.execute("UPDATE users SET first_name = 'Jeannot' WHERE user_id = 'jean.dupont'")
            other.execute("UPDATE provisioning_state SET revision = revision + 1")
        assert store.has_changed()
        assert store.has_changed()  # stays true until reloaded
        directory = await store.load_directory()
        assert not store.has_changed()
        jean = directory.user_by_id("jean.dupont")
        assert jean is not None and jean.first_name == "Jeannot"
    finally:
        await store.close()


async def test_has_changed_sees_a_second_store_on_the_same_file(tmp_path: Path) -> None:
    server = await open_store(tmp_path)
    portal = await open_store(tmp_path)
    try:
        await server.apply_group(demo_group_description())
        await server.load_directory()
        assert not server.has_changed()
        await portal.update_services("jean.dupont", ServiceSettings(dnd=DoNotDisturb(active=True)))
        assert server.has_changed()
        directory = await server.load_directory()
        jean = directory.user_by_id("jean.dupont")
        assert jean is not None and jean.services.dnd.active
    finally:
        await portal.close()
        await server.close()


async def test_writes_by_others_are_looked_for_at_most_every_10_ms(tmp_path: Path) -> None:
    clock = FakeClock()
    store = await open_store(tmp_path, clock)
    try:
        await store.apply_group(demo_group_description())
        await store.load_directory()
        assert not store.has_changed()
        with sqlite3.connect(database_path(tmp_path)) as other:
            other.execute("UPDATE provisioning_state SET revision = revision + 1")
        clock.now += 0.009
        assert not store.has_changed()  # the database was asked 9 ms ago
        clock.now += 0.001
        assert store.has_changed()
        clock.now += 0.001
        assert store.has_changed()  # still true until reloaded, without asking again
        await store.load_directory()
        assert not store.has_changed()  # asked at once after loading
    finally:
        await store.close()


async def test_own_writes_are_seen_by_the_next_request(tmp_path: Path) -> None:
    clock = FakeClock()
    store = await open_store(tmp_path, clock)
    try:
        await store.apply_group(demo_group_description())
        await store.load_directory()
        assert not store.has_changed()
        await store.update_services("jean.dupont", ServiceSettings(dnd=DoNotDisturb(active=True)))
        assert store.has_changed()  # same clock reading: no 10 ms wait for a write made here
    finally:
        await store.close()


async def test_registrations_and_call_log_writes_do_not_count_as_changes(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.apply_group(demo_group_description())
        await store.load_directory()
        with sqlite3.connect(database_path(tmp_path)) as other:
            other.execute("INSERT INTO registrations (aor, contact, call_id, cseq, expires_at, source) VALUES"
                          " ('sip:201@callconnect.local', 'sip:201@127.0.0.1:5062', 'c', 1, 0, 'udp:127.0.0.1:5062')")
            other.execute("INSERT INTO call_log (user_id, direction, started_at) VALUES ('jean.dupont', 'missed', 0)")
        assert not store.has_changed()
    finally:
        await store.close()


async def test_data_survives_reopening(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.apply_group(demo_group_description())
    exported = await store.export_group("demo")
    await store.close()
    store = await open_store(tmp_path)
    try:
        assert store.has_changed()  # a new process must load once
        assert await store.export_group("demo") == exported
        assert (await store.apply_group(demo_group_description())).summary() == "group demo: no changes"
        directory = await store.load_directory()
        assert directory.revision == 1
    finally:
        await store.close()


async def test_apply_validates_again_when_the_store_moved_meanwhile(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.apply_group(demo_group_description())
        original = store._read_snapshot
        calls = 0

        async def racing_read(group_id: str | None):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            result = await original(group_id)
            if calls == 1:  # someone else commits between our read and our write
                with sqlite3.connect(database_path(tmp_path)) as other:
                    other.execute("UPDATE provisioning_state SET revision = revision + 1")
            return result

        store._read_snapshot = racing_read  # type: ignore[method-assign]
        d = demo_group_description()
        report = await store.apply_group(replace(d, contacts=d.contacts[:1]))
        assert calls == 2 and report.changed
        assert len((await store.export_group("demo")).contacts) == 1
    finally:
        await store.close()


async def test_services_are_stored_as_json(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.apply_group(demo_group_description())
    finally:
        await store.close()
    with sqlite3.connect(database_path(tmp_path)) as conn:
        (text,) = conn.execute("SELECT services FROM users WHERE user_id = 'jean.dupont'").fetchone()
        (md5, sha, portal) = conn.execute("SELECT sip_ha1_md5, sip_ha1_sha256, portal_password_hash FROM users"
                                          " WHERE user_id = 'jean.dupont'").fetchone()
    assert '"voicemail":{"active":true}' in text
    assert len(md5) == 32 and len(sha) == 64 and portal.startswith("$argon2id$")
    with sqlite3.connect(database_path(tmp_path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = [str(cell) for name in names for row in conn.execute(f"SELECT * FROM {name}") for cell in row]
    assert not [c for c in cells if "demo201" in c or "portal201" in c]  # no clear password anywhere


async def test_tasks_sharing_one_store_take_turns(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.apply_group(demo_group_description())
        settings = [ServiceSettings(dnd=DoNotDisturb(active=i % 2 == 0)) for i in range(10)]
        await asyncio.gather(
            *(store.update_services("jean.dupont", s) for s in settings),
            *(store.load_directory() for _ in range(10)),
            *(store.get_user("marie.martin") for _ in range(5)),
            store.apply_group(demo_group_description(keep_user_settings=True)),
        )
        jean = await store.get_user("jean.dupont")
        assert jean is not None and jean.services == settings[-1]
    finally:
        await store.close()


async def test_device_provisioning_credentials_are_stored_as_ha1(tmp_path: Path) -> None:
    desc = demo_group_description()
    ha1 = provisioning_ha1(desc.devices[0].mac, "phone-secret")
    desc = replace(desc, devices=(replace(desc.devices[0], provisioning_ha1=ha1), *desc.devices[1:]))
    store = await open_store(tmp_path)
    try:
        await store.apply_group(desc)
        directory = await store.load_directory()
        with_credential, without = (directory.device_by_mac(d.mac) for d in desc.devices)
        assert with_credential is not None and with_credential.provisioning_ha1 == ha1
        assert without is not None and without.provisioning_ha1 == {}
        assert (await store.apply_group(desc)).summary() == "group demo: no changes"
        report = await store.apply_group(demo_group_description())  # the file without it: no credential
        assert report.count("devices").updated == 1
    finally:
        await store.close()
    with sqlite3.connect(database_path(tmp_path)) as db:
        assert "phone-secret" not in repr(db.execute("SELECT * FROM devices").fetchall())


async def test_devices_of_a_version_3_database_have_no_credential(tmp_path: Path) -> None:
    current = await open_store(tmp_path)
    await current.apply_group(replace(demo_group_description(), devices=(), administrators=()))
    await current.close()
    with sqlite3.connect(database_path(tmp_path)) as db:  # back to what version 3 had
        db.execute("DROP TABLE api_tokens")
        db.execute("DROP TABLE group_administrators")
        db.execute("ALTER TABLE devices DROP COLUMN provisioning_ha1_md5")
        db.execute("ALTER TABLE devices DROP COLUMN provisioning_ha1_sha256")
        db.execute("PRAGMA user_version = 3")
        db.execute("INSERT INTO devices (mac, group_id, owner, model, label)"
                   " VALUES ('001565000201', 'demo', 'jean.dupont', 'T48S', NULL)")
    assert len(MIGRATIONS) > 3
    store = await open_store(tmp_path)
    try:
        device = (await store.load_directory()).device_by_mac("001565000201")
        assert device is not None and device.provisioning_ha1 == {}
    finally:
        await store.close()
