"""SQLite call log (the `call_log` table of migration 1): rows appended in batches, read newest first.

Implements `sipserver.b2bua.cdr.CallLogStore`. Knows nothing of SIP.
"""

from __future__ import annotations

import aiosqlite

from sipserver.b2bua.cdr import CallLogRow


class SqliteCallLogStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def add_rows(self, rows: list[CallLogRow]) -> None:
        values = [
            (r.user_id, r.direction, r.started_at, r.answered_at, r.ended_at, r.other_number, r.other_name,
             r.call_id, r.duration)
            for r in rows
        ]
        if not values:
            return
        cursor = await self._db.executemany(
            "INSERT INTO call_log (user_id, direction, started_at, answered_at, ended_at, other_number,"
            " other_name, call_id, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        await cursor.close()
        await self._db.commit()

    async def rows_of(self, user_id: str, limit: int = 100) -> list[CallLogRow]:
        async with self._db.execute(
            "SELECT user_id, direction, started_at, answered_at, ended_at, other_number, other_name, call_id"
            " FROM call_log WHERE user_id = ? ORDER BY started_at DESC, id DESC LIMIT ?",
            (user_id, limit),
        ) as cursor:
            found = await cursor.fetchall()
        return [
            CallLogRow(user_id=row[0], direction=row[1], started_at=row[2], answered_at=row[3], ended_at=row[4],
                       other_number=row[5] or "", other_name=row[6] or "", call_id=row[7] or "")
            for row in found
        ]
