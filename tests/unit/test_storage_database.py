"""The SQLite file: connection settings and versioned migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from storage.database import DATABASE_FILE, database_path, open_database, open_watch_connection
from storage.migrations import MIGRATIONS, Migration, SchemaTooNewError, latest_version, migrate


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def pragma(db: aiosqlite.Connection, name: str) -> object:
    async with db.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def test_open_creates_and_migrates_from_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "dir"
    db = await open_database(data_dir)
    try:
        assert database_path(data_dir) == data_dir / DATABASE_FILE
        assert database_path(data_dir).exists()
        assert await pragma(db, "journal_mode") == "wal"
        assert await pragma(db, "synchronous") == 1  # NORMAL
        assert await pragma(db, "foreign_keys") == 1
        assert await pragma(db, "busy_timeout") == 5000
        assert await pragma(db, "user_version") == latest_version()
    finally:
        await db.close()
    assert {"provisioning_state", "enterprises", "groups", "departments", "users", "user_numbers", "devices",
            "schedules", "schedule_days", "holiday_periods", "directory_contacts", "trunks", "registrations",
            "call_log"} <= tables(database_path(data_dir))


async def test_colleague_tables_have_the_agreed_columns(tmp_path: Path) -> None:
    db = await open_database(tmp_path)
    await db.close()
    with sqlite3.connect(database_path(tmp_path)) as conn:
        reg = [(r[1], r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(registrations)")]
        assert reg == [
            ("aor", "TEXT", 1, 1), ("contact", "TEXT", 1, 2), ("call_id", "TEXT", 1, 0), ("cseq", "INTEGER", 1, 0),
            ("expires_at", "REAL", 1, 0), ("q", "REAL", 0, 0), ("source", "TEXT", 1, 0),
            ("instance", "TEXT", 0, 0), ("reg_id", "INTEGER", 0, 0), ("user_agent", "TEXT", 0, 0),
        ]
        log = [r[1] for r in conn.execute("PRAGMA table_info(call_log)")]
        assert log == ["id", "user_id", "direction", "started_at", "answered_at", "ended_at", "other_number",
                       "other_name", "call_id", "duration"]
        indexes = [r[1] for r in conn.execute("PRAGMA index_list(call_log)")]
        assert "call_log_user_started" in indexes
        assert [r[2] for r in conn.execute("PRAGMA index_info(call_log_user_started)")] == ["user_id",
                                                                                            "started_at"]
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO call_log (user_id, direction, started_at) VALUES ('u', 'lost', 0)")


async def test_migrate_is_idempotent(tmp_path: Path) -> None:
    db = await open_database(tmp_path)
    try:
        assert await migrate(db) == latest_version()
        assert await migrate(db) == latest_version()
        async with db.execute("SELECT count(*) FROM provisioning_state") as cursor:
            assert await cursor.fetchone() == (1,)
    finally:
        await db.close()
    db = await open_database(tmp_path)  # reopening does not migrate again
    await db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = await open_database(tmp_path)
    await db.execute(f"PRAGMA user_version = {latest_version() + 1}")
    await db.commit()
    await db.close()
    with pytest.raises(SchemaTooNewError):
        await open_database(tmp_path)


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    broken = Migration(latest_version() + 1, "broken",
                       "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    monkeypatch.setattr("storage.migrations.MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError):
        await open_database(tmp_path)
    monkeypatch.undo()
    assert "half" not in tables(database_path(tmp_path))
    with sqlite3.connect(database_path(tmp_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)


async def test_groups_of_a_version_1_database_accept_both_code_styles(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.migrations.MIGRATIONS", MIGRATIONS[:1])
    db = await open_database(tmp_path)
    await db.execute("INSERT INTO enterprises (id, name) VALUES ('e', 'E')")
    await db.execute("INSERT INTO groups (id, enterprise_id, name, domain, country_code, time_zone,"
                     " seconds_per_ring, voicemail_number) VALUES ('g', 'e', 'G', 'g.example', '32',"
                     " 'Europe/Brussels', 5, '1969')")
    await db.commit()
    await db.close()
    monkeypatch.undo()
    db = await open_database(tmp_path)
    try:
        assert await pragma(db, "user_version") == latest_version() >= 2
        async with db.execute("SELECT feature_codes FROM groups") as cursor:
            assert await cursor.fetchall() == [("both",)]
        await db.execute("UPDATE groups SET feature_codes = 'gsm'")
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute("UPDATE groups SET feature_codes = 'cellular'")
    finally:
        await db.close()


def test_statements_are_split_whole() -> None:
    m = Migration(9, "t", "-- c\nCREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
                          "  UPDATE a SET x = 1;\nEND;\n-- trailing comment\n")
    assert list(m.statements()) == ["-- c\nCREATE TABLE a (x);",
                                    "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\nEND;"]
    with pytest.raises(ValueError):
        list(Migration(9, "t", "CREATE TABLE a (x)").statements())


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


async def test_watch_connection_is_read_only(tmp_path: Path) -> None:
    db = await open_database(tmp_path)
    watch = open_watch_connection(tmp_path)
    try:
        assert watch.execute("SELECT revision FROM provisioning_state").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError):
            watch.execute("UPDATE provisioning_state SET revision = 5")
    finally:
        watch.close()
        await db.close()


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    db = await open_database(tmp_path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute("INSERT INTO departments (id, group_id, name) VALUES ('d', 'nope', 'D')")
    finally:
        await db.close()
