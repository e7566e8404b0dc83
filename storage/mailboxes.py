"""Mailbox message counts: how many new and old voice messages each user has (what lights the MWI lamp).

The voicemail service (its own process) and `callconnect mwi` write the counts; the server watches them and
sends `message-summary` NOTIFYs (RFC 3842) for every changed mailbox. They share one small SQLite database
of its own, `mailboxes.sqlite` in the data directory (WAL, so a reader never blocks the writer): one row
per user (`user_id`, `new`, `old`) and a `seq` that every write increases, so the server reads only the rows
changed since it last looked. A write is one statement in one transaction: a crash leaves the old or the
new counts, never half of them.

`MailboxCountsWriter.set_counts()` is what writers call (synchronous, short); `MailboxCountsWatcher` is the
server's side: `changed()` is a cheap `PRAGMA data_version` check, `read_changes()` returns the new rows.
Knows nothing of SIP or subscriptions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAILBOXES_FILE: Final = "mailboxes.sqlite"
BUSY_TIMEOUT_MS: Final = 2000
COUNTS_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS mailbox_counts ("
    " user_id TEXT PRIMARY KEY,"
    " new INTEGER NOT NULL CHECK (new >= 0),"
    " old INTEGER NOT NULL CHECK (old >= 0),"
    " seq INTEGER NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class MailboxCounts:
    user_id: str
    new: int
    old: int


def _connect(data_dir: Path) -> sqlite3.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / MAILBOXES_FILE, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(COUNTS_SCHEMA)
    return conn


class MailboxCountsWriter:
    def __init__(self, data_dir: Path) -> None:
        self._conn = _connect(data_dir)

    def set_counts(self, user_id: str, new: int, old: int) -> None:
        if new < 0 or old < 0:
            raise ValueError(f"message counts cannot be negative, got {new}/{old}")
        if not user_id:
            raise ValueError("a mailbox needs a user id")
        self._conn.execute(
            "INSERT INTO mailbox_counts (user_id, new, old, seq)"
            " VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox_counts))"
            " ON CONFLICT (user_id) DO UPDATE SET new = excluded.new, old = excluded.old, seq = excluded.seq",
            (user_id, new, old))

    def counts_of(self, user_id: str) -> MailboxCounts:
        row = self._conn.execute("SELECT new, old FROM mailbox_counts WHERE user_id = ?", (user_id,)).fetchone()
        return MailboxCounts(user_id, *(row or (0, 0)))

    def close(self) -> None:
        self._conn.close()


class MailboxCountsWatcher:
    """The server's view: every mailbox at start (`read_changes()` the first time), then only changes."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = _connect(data_dir)
        self._seen_seq = 0
        self._data_version: int | None = None

    def changed(self) -> bool:
        """True when another connection wrote since the last `read_changes()` (or nothing was read yet)."""
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return bool(version != self._data_version)

    def read_changes(self) -> list[MailboxCounts]:
        (self._data_version,) = self._conn.execute("PRAGMA data_version").fetchone()
        rows = self._conn.execute(
            "SELECT user_id, new, old, seq FROM mailbox_counts WHERE seq > ? ORDER BY seq",
            (self._seen_seq,)).fetchall()
        if rows:
            self._seen_seq = rows[-1][3]
        return [MailboxCounts(user_id, new, old) for user_id, new, old, _ in rows]

    def close(self) -> None:
        self._conn.close()
