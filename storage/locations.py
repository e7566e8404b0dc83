"""SQLite copy of the location service (the `registrations` table of migration 1).

Implements `sipserver.b2bua.location.LocationStore`. Rows hold wall-clock expiry, so a restart, even after
SIGKILL, reloads each binding with the lifetime it had left. Connection ids of TCP sources are not stored: a
connection does not outlive the process. This module knows nothing of SIP messages or of the registrar's rules.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiosqlite

from sipserver.address import Endpoint
from sipserver.b2bua.location import Binding, BindingChange

_UPSERT = (
    "INSERT INTO registrations (aor, contact, call_id, cseq, expires_at, q, source, instance, reg_id, user_agent)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (aor, contact) DO UPDATE SET call_id = excluded.call_id, cseq = excluded.cseq,"
    " expires_at = excluded.expires_at, q = excluded.q, source = excluded.source,"
    " instance = excluded.instance, reg_id = excluded.reg_id, user_agent = excluded.user_agent"
)
_DELETE = "DELETE FROM registrations WHERE aor = ? AND contact = ?"


def endpoint_to_text(endpoint: Endpoint) -> str:
    return f"{endpoint.transport}|{endpoint.host}|{endpoint.port}"


def endpoint_from_text(text: str) -> Endpoint:
    transport, host, port = text.split("|")
    return Endpoint(transport, host, int(port))


class SqliteLocationStore:
    """Bindings in the shared SQLite database; the caller batches writes (one transaction per batch)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def load_bindings(self) -> list[Binding]:
        async with self._db.execute(
            "SELECT aor, contact, call_id, cseq, expires_at, q, source, instance, reg_id, user_agent"
            " FROM registrations"
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Binding(
                aor=row[0], contact=row[1], call_id=row[2], cseq=row[3], expires_at=row[4],
                q=1.0 if row[5] is None else row[5], source=endpoint_from_text(row[6]),
                instance=row[7], reg_id=row[8], user_agent=row[9],
            )
            for row in rows
        ]

    async def save_changes(self, changes: Iterable[BindingChange]) -> None:
        upserts: list[tuple[object, ...]] = []
        deletes: list[tuple[str, str]] = []
        for change in changes:
            b = change.binding
            if b is None:
                deletes.append((change.aor, change.contact))
            else:
                upserts.append((
                    b.aor, b.contact, b.call_id, b.cseq, b.expires_at, b.q, endpoint_to_text(b.source),
                    b.instance, b.reg_id, b.user_agent,
                ))
        if not upserts and not deletes:
            return
        if deletes:
            await (await self._db.executemany(_DELETE, deletes)).close()
        if upserts:
            await (await self._db.executemany(_UPSERT, upserts)).close()
        await self._db.commit()

    async def close(self) -> None:
        return None
