"""API tokens of the REST API (`Authorization: Bearer …`, RFC 6750), in the main database (migration 6).

A token is `cc_<id>_<secret>`: `id` (12 hex digits) names it in lists and for revoking, the secret is 256 random
bits. Only the SHA-256 of the whole token is stored, so a copy of the database cannot be replayed; the token
itself is shown once, when it is made. Each belongs to one owner, `user:<user_id>` or
`admin:<group_id>:<username>`; the store does not check that the owner exists (the web layer does at each use,
and `provision apply` replaces users without touching their tokens). `authenticate()` notes the last use at
most once a minute, so that a busy script does not turn every request into a write.

Knows SQLite and the token format; nothing of HTTP, users or groups.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiosqlite

from storage.database import open_database

__all__ = ["MAX_TOKENS_PER_OWNER", "ApiToken", "ApiTokenStore", "digest"]

MAX_TOKENS_PER_OWNER: Final = 20
LAST_USE_RESOLUTION: Final = 60.0  # seconds
_TOKEN: Final = re.compile(r"cc_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    owner: str
    name: str
    created_at: float
    last_used_at: float | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row(row: aiosqlite.Row | tuple[object, ...]) -> ApiToken:
    token_id, owner, name, created_at, last_used_at = row
    return ApiToken(id=str(token_id), owner=str(owner), name=str(name), created_at=float(str(created_at)),
                    last_used_at=None if last_used_at is None else float(str(last_used_at)))


class ApiTokenStore:
    """The tokens of `data_dir`'s database, on a connection of its own (opened at first use)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._db: aiosqlite.Connection | None = None

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            self._db = await open_database(self.data_dir)
        return self._db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def create(self, owner: str, name: str, now: float) -> tuple[str, ApiToken] | None:
        """A new token for `owner`: the token (its only appearance) and what is kept of it; None when the owner
        already has `MAX_TOKENS_PER_OWNER`."""
        db = await self._conn()
        token_id = secrets.token_hex(6)
        token = f"cc_{token_id}_{secrets.token_urlsafe(32)}"
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute("SELECT COUNT(*) FROM api_tokens WHERE owner = ?", (owner,)) as cursor:
                row = await cursor.fetchone()
            if row is not None and int(row[0]) >= MAX_TOKENS_PER_OWNER:
                await db.rollback()
                return None
            await db.execute("INSERT INTO api_tokens (id, secret_sha256, owner, name, created_at)"
                             " VALUES (?, ?, ?, ?, ?)", (token_id, digest(token), owner, name, now))
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return token, ApiToken(token_id, owner, name, now, None)

    async def list(self, owner: str) -> list[ApiToken]:
        db = await self._conn()
        async with db.execute("SELECT id, owner, name, created_at, last_used_at FROM api_tokens WHERE owner = ?"
                              " ORDER BY created_at, id", (owner,)) as cursor:
            return [_row(row) for row in await cursor.fetchall()]

    async def revoke(self, owner: str, token_id: str) -> bool:
        """Remove `owner`'s token `token_id`; False when they have none of that id."""
        db = await self._conn()
        cursor = await db.execute("DELETE FROM api_tokens WHERE owner = ? AND id = ?", (owner, token_id))
        await db.commit()
        return cursor.rowcount > 0

    async def exists(self, token_id: str) -> bool:
        db = await self._conn()
        async with db.execute("SELECT 1 FROM api_tokens WHERE id = ?", (token_id,)) as cursor:
            return await cursor.fetchone() is not None

    async def authenticate(self, token: str, now: float) -> ApiToken | None:
        """The token `token` names, or None (malformed, unknown or revoked)."""
        if _TOKEN.fullmatch(token) is None:
            return None
        db = await self._conn()
        async with db.execute("SELECT id, owner, name, created_at, last_used_at FROM api_tokens"
                              " WHERE secret_sha256 = ?", (digest(token),)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        found = _row(row)
        if found.last_used_at is None or now - found.last_used_at >= LAST_USE_RESOLUTION:
            await db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, found.id))
            await db.commit()
        return found
