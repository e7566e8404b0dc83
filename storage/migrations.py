"""Versioned schema of the SQLite database (`PRAGMA user_version`).

`MIGRATIONS` is an ordered tuple of numbered SQL scripts. `migrate()` applies each script newer than the
database's `user_version` in its own `BEGIN IMMEDIATE` transaction together with the version bump, so a
crash leaves the database at the previous version and two processes starting together apply it once.
Never edit a migration that has shipped: append a new one.

Migration 1 holds the subscriber tables (provisioning), `registrations` (location service) and `call_log`.
Migration 2 adds `groups.feature_codes` (which feature access codes the group accepts; existing groups
get 'both'). Migration 3 adds `event_subscriptions`. Migration 4 adds the HA1 of each phone's
auto-provisioning credential to `devices` (existing phones get none: they cannot fetch their files until an
operator sets one). Migration 5 adds `group_administrators` (the portal accounts that manage one group).
Migration 6 adds `api_tokens` (the REST API's bearer tokens, `storage.api_tokens`).
This module knows nothing of the rows' meaning beyond their types and constraints.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import aiosqlite

__all__ = ["MIGRATIONS", "Migration", "SchemaTooNewError", "latest_version", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> Iterator[str]:
        """The script split into complete statements (`sqlite3.complete_statement`: triggers stay whole)."""
        buffer = ""
        for line in self.sql.splitlines(keepends=True):
            buffer += line
            if sqlite3.complete_statement(buffer):
                if buffer.strip():
                    yield buffer.strip()
                buffer = ""
        if buffer.strip() and not _only_comments(buffer):
            raise ValueError(f"migration {self.version} ends with an incomplete statement: "
                             f"{buffer.strip()!r}")


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


_SUBSCRIBERS_V1 = """
-- One row: bumped by every provisioning write, so that readers can tell "subscriber data changed" apart
-- from the registrations and call log writes that also change the file.
CREATE TABLE provisioning_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO provisioning_state (id, revision) VALUES (1, 0);

CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL REFERENCES enterprises (id),
    name TEXT NOT NULL,
    domain TEXT NOT NULL UNIQUE,            -- SIP domain = digest realm
    country_code TEXT NOT NULL,
    time_zone TEXT NOT NULL,                -- IANA name
    seconds_per_ring INTEGER NOT NULL,
    voicemail_number TEXT NOT NULL,
    numbers TEXT NOT NULL DEFAULT '[]'      -- JSON list: E.164 numbers of the group that no user holds
);

CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name TEXT NOT NULL
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    department_id TEXT REFERENCES departments (id),
    extension TEXT,
    outgoing_cli TEXT,
    language TEXT NOT NULL CHECK (language IN ('fr', 'nl', 'en')),
    sip_username TEXT NOT NULL,
    sip_ha1_md5 TEXT,                       -- hex MD5(sip_username:domain:password); never the password
    sip_ha1_sha256 TEXT,                    -- hex SHA-256 of the same
    portal_password_hash TEXT,              -- Argon2id
    services TEXT NOT NULL,                 -- JSON: features.model.ServiceSettings.to_dict()
    UNIQUE (group_id, sip_username),
    UNIQUE (group_id, extension)
);

CREATE TABLE user_numbers (
    number TEXT PRIMARY KEY,                -- E.164
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,              -- 0 = main number
    UNIQUE (user_id, position)
);

CREATE TABLE devices (
    mac TEXT PRIMARY KEY,                   -- 12 lower-case hex digits
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    owner TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    model TEXT NOT NULL CHECK (model IN ('T42G', 'T42S', 'T42U', 'T48G', 'T48S', 'T48U')),
    label TEXT
);
CREATE INDEX devices_owner ON devices (owner);

CREATE TABLE schedules (                -- group-level schedules (a user's own live in users.services)
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('time', 'holiday')),
    inverted INTEGER NOT NULL DEFAULT 0,    -- time schedules: an "opposite" (non-...) schedule
    PRIMARY KEY (group_id, name)
);

CREATE TABLE schedule_days (
    group_id TEXT NOT NULL,
    schedule_name TEXT NOT NULL,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    active INTEGER NOT NULL,
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    lunch_active INTEGER NOT NULL,
    lunch_start_minute INTEGER NOT NULL,
    lunch_end_minute INTEGER NOT NULL,
    PRIMARY KEY (group_id, schedule_name, weekday),
    FOREIGN KEY (group_id, schedule_name) REFERENCES schedules (group_id, name) ON DELETE CASCADE
);

CREATE TABLE holiday_periods (
    group_id TEXT NOT NULL,
    schedule_name TEXT NOT NULL,
    position INTEGER NOT NULL,
    start_date TEXT NOT NULL,               -- ISO 8601 date
    end_date TEXT NOT NULL,                 -- inclusive
    label TEXT,
    PRIMARY KEY (group_id, schedule_name, position),
    FOREIGN KEY (group_id, schedule_name) REFERENCES schedules (group_id, name) ON DELETE CASCADE
);

CREATE TABLE directory_contacts (
    id INTEGER PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    number TEXT NOT NULL
);
CREATE INDEX directory_contacts_group ON directory_contacts (group_id);

CREATE TABLE trunks (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    username TEXT,
    password TEXT,                          -- OUR credential towards the carrier: must be sent, kept in clear
    realm TEXT,
    numbers TEXT NOT NULL,                  -- JSON list of E.164 prefixes ("+" = everything)
    inbound_addresses TEXT NOT NULL         -- JSON list of trusted sources (IP, IP:port, network)
);

CREATE TABLE registrations (
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    expires_at REAL NOT NULL,               -- unix time
    q REAL,
    source TEXT NOT NULL,                   -- e.g. "tcp:127.0.0.1:5061"
    instance TEXT,
    reg_id INTEGER,
    user_agent TEXT,
    PRIMARY KEY (aor, contact)
);

CREATE TABLE call_log (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('placed', 'received', 'missed')),
    started_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL,
    other_number TEXT,
    other_name TEXT,
    call_id TEXT,
    duration REAL
);
CREATE INDEX call_log_user_started ON call_log (user_id, started_at);
"""

_GROUP_FEATURE_CODES_V2 = """
-- provisioning.model.Group.feature_codes: star (*72...), gsm (*21*...#) or both.
ALTER TABLE groups ADD COLUMN feature_codes TEXT NOT NULL DEFAULT 'both'
    CHECK (feature_codes IN ('both', 'star', 'gsm'));
"""

_EVENT_SUBSCRIPTIONS_V3 = """
-- blf.subscription.Subscription: the SUBSCRIBE dialogs we notify (BLF, lists, MWI), kept so that after a
-- restart every phone is told to subscribe again (NOTIFY terminated;reason=deactivated, RFC 6665 §4.2.2).
CREATE TABLE event_subscriptions (
    call_id TEXT NOT NULL,
    local_tag TEXT NOT NULL,
    remote_tag TEXT NOT NULL,
    local_uri TEXT NOT NULL,
    remote_uri TEXT NOT NULL,
    remote_target TEXT NOT NULL,
    route_set TEXT NOT NULL,       -- JSON list of Route values
    local_cseq INTEGER NOT NULL,
    local_contact TEXT NOT NULL,
    event TEXT NOT NULL,
    watcher TEXT NOT NULL,
    resource TEXT NOT NULL,
    is_list INTEGER NOT NULL,
    destination TEXT NOT NULL,     -- transport|host|port, as registrations.source
    expires_at REAL NOT NULL,      -- wall-clock seconds
    PRIMARY KEY (call_id, local_tag)
);
"""

_DEVICE_PROVISIONING_HA1_V4 = """
-- provisioning.model.Device.provisioning_ha1: HTTP Digest HA1 of the phone's auto-provisioning credential,
-- hex H(mac:provisioning@callconnect:password); never the password. NULL: no credential.
ALTER TABLE devices ADD COLUMN provisioning_ha1_md5 TEXT;
ALTER TABLE devices ADD COLUMN provisioning_ha1_sha256 TEXT;
"""

_GROUP_ADMINISTRATORS_V5 = """
-- provisioning.model.GroupAdministrator: who may manage one group in the portal. The user name is the login
-- name, unique across all groups; only an Argon2id hash of the password is kept.
CREATE TABLE group_administrators (
    username TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('fr', 'nl', 'en')),
    password_hash TEXT                      -- Argon2id; NULL: cannot log in
);
CREATE INDEX group_administrators_group ON group_administrators (group_id);
"""

_API_TOKENS_V6 = """
-- storage.api_tokens: bearer tokens of the REST API. Only the SHA-256 of the token is kept. The owner is
-- 'user:<user_id>' or 'admin:<group_id>:<username>', without a foreign key: a group's users and administrators
-- are rewritten by every `provision apply`, their tokens must survive it (the portal checks the owner at use).
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,                    -- 12 hex digits, shown in lists
    secret_sha256 TEXT NOT NULL UNIQUE,     -- hex SHA-256 of the whole token
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,               -- wall-clock seconds
    last_used_at REAL
);
CREATE INDEX api_tokens_owner ON api_tokens (owner);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "subscribers, registrations, call log", _SUBSCRIBERS_V1),
    Migration(2, "groups.feature_codes", _GROUP_FEATURE_CODES_V2),
    Migration(3, "event subscriptions", _EVENT_SUBSCRIPTIONS_V3),
    Migration(4, "devices.provisioning_ha1", _DEVICE_PROVISIONING_HA1_V4),
    Migration(5, "group administrators", _GROUP_ADMINISTRATORS_V5),
    Migration(6, "api tokens", _API_TOKENS_V6),
)


def latest_version() -> int:
    return MIGRATIONS[-1].version


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the program."""


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema to `latest_version()`; return the version found before. Idempotent."""
    found = await _user_version(db)
    if found > latest_version():
        raise SchemaTooNewError(f"database schema version {found} is newer than this program's "
                                f"({latest_version()})")
    for migration in MIGRATIONS:
        if migration.version <= found:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await _user_version(db) < migration.version:  # another process may have just done it
                for statement in migration.statements():
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {int(migration.version)}")
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
    return found
