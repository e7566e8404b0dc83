"""Click-to-dial requests from another process (`callconnect call USER NUMBER`) to the running server.

The same channel as the mailbox counts (`storage/mailboxes.py`): a small SQLite database of its own,
`click-to-dial.sqlite` in the data directory (WAL). The CLI inserts a request row and waits for the server's
outcome on that row; the server, which polls its stores every 0.2 s, sees the write with a cheap
`PRAGMA data_version`, places each pending request (`RunningServer.click_to_dial`) and writes the outcome
("calling", or "refused" with the reason). A request older than `MAX_AGE` seconds is never placed (its CLI
gave up, or the server was down): nobody should get a call they asked for minutes ago.

Knows nothing of SIP or of the subscriber data.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLICK_REQUESTS_FILE: Final = "click-to-dial.sqlite"
BUSY_TIMEOUT_MS: Final = 2000
MAX_AGE: Final = 10.0  # seconds
SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS click_requests ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id TEXT NOT NULL,"
    " number TEXT NOT NULL,"
    " requested_at REAL NOT NULL,"
    " outcome TEXT,"
    " detail TEXT)"
)


@dataclass(frozen=True, slots=True)
class ClickRequest:
    id: int
    user_id: str
    number: str
    requested_at: float


@dataclass(frozen=True, slots=True)
class ClickOutcome:
    outcome: str  # "calling" | "refused" | "expired"
    detail: str


def _connect(data_dir: Path) -> sqlite3.Connection:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / CLICK_REQUESTS_FILE, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(SCHEMA)
    return conn


class ClickRequestWriter:
    """The CLI's side."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = _connect(data_dir)

    def request(self, user_id: str, number: str, now: float) -> int:
        cursor = self._conn.execute("INSERT INTO click_requests (user_id, number, requested_at) VALUES (?, ?, ?)",
                                    (user_id, number, now))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def outcome_of(self, request_id: int) -> ClickOutcome | None:
        row = self._conn.execute("SELECT outcome, detail FROM click_requests WHERE id = ?", (request_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return ClickOutcome(row[0], row[1] or "")

    def withdraw(self, request_id: int) -> ClickOutcome | None:
        """Give up on a request nobody answered yet (it is never placed); the outcome if the server was faster."""
        self._conn.execute("UPDATE click_requests SET outcome = 'expired' WHERE id = ? AND outcome IS NULL",
                           (request_id,))
        return self.outcome_of(request_id)

    def close(self) -> None:
        self._conn.close()


class ClickRequestQueue:
    """The server's side: `changed()` is cheap; `pending(now)` takes the requests to place (and marks the stale
    ones expired); `answer()` writes the outcome the CLI waits for."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = _connect(data_dir)
        self._data_version: int | None = None

    def changed(self) -> bool:
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return bool(version != self._data_version)

    def pending(self, now: float) -> list[ClickRequest]:
        (self._data_version,) = self._conn.execute("PRAGMA data_version").fetchone()
        self._conn.execute("UPDATE click_requests SET outcome = 'expired' WHERE outcome IS NULL AND requested_at < ?",
                           (now - MAX_AGE,))
        rows = self._conn.execute(
            "SELECT id, user_id, number, requested_at FROM click_requests WHERE outcome IS NULL ORDER BY id"
        ).fetchall()
        return [ClickRequest(*row) for row in rows]

    def answer(self, request_id: int, outcome: str, detail: str = "") -> None:
        self._conn.execute("UPDATE click_requests SET outcome = ?, detail = ? WHERE id = ?",
                           (outcome, detail, request_id))

    def close(self) -> None:
        self._conn.close()
