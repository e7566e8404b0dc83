"""The voicemail store: each user's voice messages, recorded greetings and mailbox PIN.

Shared by the voicemail service's media processes (which record and play), the portal (which lists, plays and
deletes) and the server (which lights MWI lamps from the counts): the one thing they have in common. Audio
lives in files under `<data dir>/voicemail/<user id>/` (16-bit mono PCM WAV, as pjmedia writes them), the
rest in `mailboxes.sqlite` next to the message counts of `storage.mailboxes`: a message row and its mailbox's
counts change in one transaction, so the MWI lamp never disagrees with the list.

Atomicity: a recording is written to a `.part.wav` file, made whole (WAV sizes fixed, fsync), renamed to its final
name, and only then becomes a message (one INSERT with the counts). A crash mid-recording leaves a `.part.wav`
file that `sweep()` removes at the next start: that message is lost, never the mailbox; a crash between the
rename and the INSERT leaves an audio file no row names, which `sweep()` removes too.

Synchronous and short (SQLite with WAL and a busy timeout); asyncio callers use `asyncio.to_thread`. Knows
nothing of SIP, media engines or HTTP.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage.mailboxes import BUSY_TIMEOUT_MS, COUNTS_SCHEMA, MAILBOXES_FILE, MailboxCounts

GreetingKind = Literal["busy", "no-answer"]
GREETING_KINDS: Final[tuple[GreetingKind, ...]] = ("busy", "no-answer")
VOICEMAIL_DIR: Final = "voicemail"
PIN_PATTERN: Final = re.compile(r"[0-9]{4,8}")
_USER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_MESSAGE_ID: Final = re.compile(r"[0-9a-f]{32}")
_PART: Final = ".part.wav"  # still being written (pjmedia picks its writer by the .wav ending)

_SCHEMA: Final = (
    COUNTS_SCHEMA,
    "CREATE TABLE IF NOT EXISTS voice_messages ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL, caller_number TEXT, caller_name TEXT NOT NULL,"
    " received_at REAL NOT NULL, duration REAL NOT NULL, heard INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS voice_messages_by_user ON voice_messages (user_id, heard, received_at)",
    "CREATE TABLE IF NOT EXISTS mailbox_settings (user_id TEXT PRIMARY KEY, pin_hash TEXT)",
)


class StoreError(ValueError):
    """A request the store refuses: a bad user id, PIN or audio file. The message says which."""


@dataclass(frozen=True, slots=True)
class VoiceMessage:
    id: str
    user_id: str
    caller_number: str | None  # as the mailbox owner may see it (None: anonymous or unavailable)
    caller_name: str
    received_at: float  # Unix time
    duration: float  # seconds
    heard: bool
    reason: str  # why the call reached the mailbox: user-busy, no-answer, do-not-disturb, unavailable


def check_user_id(user_id: str) -> str:
    """A user id safe to name a directory (no path separators, no leading dot)."""
    if _USER_ID.fullmatch(user_id) is None:
        raise StoreError(f"not a mailbox name: {user_id!r}")
    return user_id


def finalize_wav(path: Path) -> float:
    """Make the RIFF and data sizes of a 16-bit mono WAV match the file (pjmedia fixes them only when its
    writer is destroyed; a killed writer leaves the sizes of an empty file) and return its duration."""
    with open(path, "r+b") as wav:
        raw = wav.read(4096)
        if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
            raise StoreError("not a RIFF/WAVE file")
        pos, rate, channels, bits = 12, 0, 0, 0
        while pos + 8 <= len(raw):
            chunk_id, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
            if chunk_id == b"fmt ":
                fmt, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", raw, pos + 8)
                if fmt != 1 or channels != 1 or bits != 16 or not 8000 <= rate <= 48000:
                    raise StoreError("expected 16-bit mono PCM at 8 to 48 kHz")
            elif chunk_id == b"data":
                if rate == 0:
                    raise StoreError("WAV data before its format")
                total = wav.seek(0, os.SEEK_END)
                data_size = total - (pos + 8)
                data_size -= data_size % 2
                wav.seek(4)
                wav.write(struct.pack("<I", pos + data_size))
                wav.seek(pos + 4)
                wav.write(struct.pack("<I", data_size))
                wav.truncate(pos + 8 + data_size)
                wav.flush()
                os.fsync(wav.fileno())
                return data_size / (2 * rate)
            pos += 8 + size + (size & 1)
    raise StoreError("no data chunk in the WAV file")


class VoicemailStore:
    def __init__(self, data_dir: Path, hasher: PasswordHasher | None = None) -> None:
        self.data_dir = data_dir
        self.root = data_dir / VOICEMAIL_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self._hasher = hasher or PasswordHasher()
        self._conn = sqlite3.connect(data_dir / MAILBOXES_FILE, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    # -- files -------------------------------------------------------------------------------------------
    def mailbox_dir(self, user_id: str) -> Path:
        path = self.root / check_user_id(user_id)
        path.mkdir(exist_ok=True)
        return path

    def new_recording(self, user_id: str) -> Path:
        """Where a recording for `user_id` is written while it lasts (a `.part.wav` file)."""
        return self.mailbox_dir(user_id) / f"{secrets.token_hex(16)}{_PART}"

    def discard(self, recording: Path) -> None:
        recording.unlink(missing_ok=True)

    def audio_path(self, message: VoiceMessage) -> Path:
        return self.root / check_user_id(message.user_id) / f"{message.id}.wav"

    # -- messages ----------------------------------------------------------------------------------------
    def deposit(self, user_id: str, recording: Path, *, caller_number: str | None, caller_name: str,
                reason: str, received_at: float | None = None) -> VoiceMessage:
        """A finished recording (a `new_recording()` file) becomes a new message; the counts follow."""
        if recording.parent != self.mailbox_dir(user_id) or not recording.name.endswith(_PART):
            raise StoreError("a deposit takes a recording made by new_recording() for that mailbox")
        duration = finalize_wav(recording)
        message = VoiceMessage(id=recording.name.split(".", 1)[0], user_id=user_id, caller_number=caller_number,
                               caller_name=caller_name, received_at=time.time() if received_at is None
                               else received_at, duration=round(duration, 2), heard=False, reason=reason)
        final = self.audio_path(message)
        os.replace(recording, final)
        _fsync_dir(final.parent)
        with self._transaction():
            self._conn.execute(
                "INSERT INTO voice_messages (id, user_id, caller_number, caller_name, received_at, duration,"
                " heard, reason) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (message.id, user_id, caller_number, caller_name, message.received_at, message.duration, reason))
            self._recount(user_id)
        return message

    def messages(self, user_id: str) -> list[VoiceMessage]:
        """New messages first, then heard ones, each oldest first (the order a mailbox plays them in)."""
        rows = self._conn.execute(
            "SELECT id, user_id, caller_number, caller_name, received_at, duration, heard, reason"
            " FROM voice_messages WHERE user_id = ? ORDER BY heard, received_at, id", (check_user_id(user_id),))
        return [_message(row) for row in rows]

    def message(self, user_id: str, message_id: str) -> VoiceMessage | None:
        if _MESSAGE_ID.fullmatch(message_id) is None:
            return None
        row = self._conn.execute(
            "SELECT id, user_id, caller_number, caller_name, received_at, duration, heard, reason"
            " FROM voice_messages WHERE user_id = ? AND id = ?", (check_user_id(user_id), message_id)).fetchone()
        return None if row is None else _message(row)

    def mark_heard(self, user_id: str, message_id: str) -> bool:
        with self._transaction():
            changed = self._conn.execute("UPDATE voice_messages SET heard = 1 WHERE user_id = ? AND id = ?"
                                         " AND heard = 0", (check_user_id(user_id), message_id)).rowcount
            if changed:
                self._recount(user_id)
        return bool(changed)

    def delete(self, user_id: str, message_id: str) -> bool:
        """Remove a message (row first, then its audio: a crash in between leaves an orphan file for sweep())."""
        message = self.message(user_id, message_id)
        if message is None:
            return False
        with self._transaction():
            self._conn.execute("DELETE FROM voice_messages WHERE user_id = ? AND id = ?", (user_id, message_id))
            self._recount(user_id)
        self.audio_path(message).unlink(missing_ok=True)
        return True

    def counts(self, user_id: str) -> MailboxCounts:
        row = self._conn.execute("SELECT new, old FROM mailbox_counts WHERE user_id = ?",
                                 (check_user_id(user_id),)).fetchone()
        return MailboxCounts(user_id, *(row or (0, 0)))

    # -- greetings ---------------------------------------------------------------------------------------
    def greeting(self, user_id: str, kind: GreetingKind) -> Path | None:
        """The user's recorded greeting of that kind, if any (else the service plays its default one)."""
        path = self.mailbox_dir(user_id) / f"greeting-{_kind(kind)}.wav"
        return path if path.exists() else None

    def save_greeting(self, user_id: str, kind: GreetingKind, recording: Path) -> float:
        """A finished `new_recording()` file becomes the user's greeting of that kind; returns its length."""
        if recording.parent != self.mailbox_dir(user_id) or not recording.name.endswith(_PART):
            raise StoreError("a greeting takes a recording made by new_recording() for that mailbox")
        duration = finalize_wav(recording)
        final = self.mailbox_dir(user_id) / f"greeting-{_kind(kind)}.wav"
        os.replace(recording, final)
        _fsync_dir(final.parent)
        return duration

    def save_greeting_bytes(self, user_id: str, kind: GreetingKind, wav: bytes) -> float:
        """An uploaded greeting (16-bit mono PCM WAV, at most 2 minutes); StoreError says what is wrong."""
        if len(wav) > 48000 * 2 * 120 + 4096:
            raise StoreError("a greeting may last 2 minutes at most")
        recording = self.new_recording(user_id)
        try:
            recording.write_bytes(wav)
            return self.save_greeting(user_id, kind, recording)
        finally:
            recording.unlink(missing_ok=True)

    def delete_greeting(self, user_id: str, kind: GreetingKind) -> bool:
        path = self.mailbox_dir(user_id) / f"greeting-{_kind(kind)}.wav"
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    # -- PIN -------------------------------------------------------------------------------------------
    def has_pin(self, user_id: str) -> bool:
        row = self._conn.execute("SELECT pin_hash FROM mailbox_settings WHERE user_id = ?",
                                 (check_user_id(user_id),)).fetchone()
        return row is not None and row[0] is not None

    def set_pin(self, user_id: str, pin: str) -> None:
        if PIN_PATTERN.fullmatch(pin) is None:
            raise StoreError("a PIN has 4 to 8 digits")
        digest = self._hasher.hash(pin)
        self._conn.execute("INSERT INTO mailbox_settings (user_id, pin_hash) VALUES (?, ?)"
                           " ON CONFLICT (user_id) DO UPDATE SET pin_hash = excluded.pin_hash",
                           (check_user_id(user_id), digest))

    def check_pin(self, user_id: str, pin: str) -> bool:
        """True only when a PIN is set and `pin` is it."""
        row = self._conn.execute("SELECT pin_hash FROM mailbox_settings WHERE user_id = ?",
                                 (check_user_id(user_id),)).fetchone()
        if row is None or row[0] is None:
            return False
        try:
            return bool(self._hasher.verify(row[0], pin))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- housekeeping ------------------------------------------------------------------------------------
    def sweep(self, older_than: float = 0.0) -> int:
        """Remove unfinished recordings (`.part.wav` files last written more than `older_than` seconds ago) and
        audio files no message names. Run by the voicemail service at start. Returns how many went."""
        known = {(user, mid) for user, mid in self._conn.execute("SELECT user_id, id FROM voice_messages")}
        removed = 0
        now = time.time()
        for mailbox in self.root.iterdir():
            if not mailbox.is_dir():
                continue
            for path in mailbox.iterdir():
                name = path.name
                stale_part = name.endswith(_PART) and now - path.stat().st_mtime >= older_than
                orphan = (name.endswith(".wav") and not name.endswith(_PART) and not name.startswith("greeting-")
                          and (mailbox.name, name[:-4]) not in known)
                if stale_part or orphan:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    # -- internals ---------------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _recount(self, user_id: str) -> None:
        new, old = self._conn.execute(
            "SELECT COALESCE(SUM(heard = 0), 0), COALESCE(SUM(heard = 1), 0) FROM voice_messages"
            " WHERE user_id = ?", (user_id,)).fetchone()
        self._conn.execute(
            "INSERT INTO mailbox_counts (user_id, new, old, seq)"
            " VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox_counts))"
            " ON CONFLICT (user_id) DO UPDATE SET new = excluded.new, old = excluded.old, seq = excluded.seq",
            (user_id, new, old))


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): the writer lock is taken up front, so two processes
    recounting the same mailbox cannot interleave."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._conn.execute("COMMIT" if kind is None else "ROLLBACK")


def _kind(kind: str) -> str:
    if kind not in GREETING_KINDS:
        raise StoreError(f"no such greeting: {kind!r} (busy or no-answer)")
    return kind


def _message(row: tuple[str, str, str | None, str, float, float, int, str]) -> VoiceMessage:
    mid, user_id, number, name, received_at, duration, heard, reason = row
    return VoiceMessage(mid, user_id, number, name, received_at, duration, bool(heard), reason)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
