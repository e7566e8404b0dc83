"""The embedded database: one SQLite file `<data_dir>/callconnect.sqlite3`, opened with aiosqlite.

Every connection gets the same settings: WAL journal (readers never block the writer and the reverse),
`synchronous=NORMAL` (a commit is durable once the WAL is synced at checkpoint; a power cut may lose the
last commits but never corrupts, and a killed process loses nothing), `foreign_keys=ON` and a
`busy_timeout`. `open_database()` also brings the schema up to date (`storage.migrations`).

Give each component its own connection: an aiosqlite connection is one thread running one transaction at a
time, and a component that commits on a shared connection would commit another's half-done work.
This module knows nothing of the tables' meaning.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

import aiosqlite

from storage.migrations import migrate

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_FILE",
    "WATCH_BUSY_TIMEOUT_MS",
    "database_path",
    "open_database",
    "open_watch_connection",
]

DATABASE_FILE: Final = "callconnect.sqlite3"
BUSY_TIMEOUT_MS: Final = 5000
WATCH_BUSY_TIMEOUT_MS: Final = 20


def database_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / DATABASE_FILE


async def open_database(data_dir: Path | str, *, run_migrations: bool = True) -> aiosqlite.Connection:
    """Open (creating the directory and file if needed) and migrate the database of `data_dir`.

    The connection keeps Python's default transaction handling: a write statement opens a transaction
    that `commit()` ends; `BEGIN IMMEDIATE` may also be issued explicitly to take the write lock first.
    """
    path = database_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        async with db.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise RuntimeError(f"{path}: cannot switch to WAL journal mode (got {row!r})")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        if run_migrations:
            await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def open_watch_connection(data_dir: Path | str) -> sqlite3.Connection:
    """A plain, read-only `sqlite3` connection for cheap synchronous checks on the event loop thread
    (`PRAGMA data_version`, one-row reads). Open it after `open_database()` has created the file. Its busy
    timeout is short (`WATCH_BUSY_TIMEOUT_MS`): the loop must never wait on it; callers treat "busy" as
    "look again later" or "assume changed"."""
    path = database_path(data_dir).resolve()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {WATCH_BUSY_TIMEOUT_MS}")
    return conn
