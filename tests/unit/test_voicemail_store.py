"""storage/voicemail.py: deposits become messages atomically with their counts, heard/delete, greetings, PIN,
the sweep of what a crash leaves behind, and refusals of bad names and files."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from storage.mailboxes import MailboxCountsWatcher
from storage.voicemail import StoreError, VoicemailStore, finalize_wav

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def store(tmp_path: Path) -> VoicemailStore:
    return VoicemailStore(tmp_path, hasher=FAST)


def record(path: Path, seconds: float, rate: int = 16000, *, unfinished: bool = False) -> Path:
    """A WAV as pjmedia writes it; `unfinished`: sizes left as for an empty file (a writer killed mid-way)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x10\x00" * int(seconds * rate))
    if unfinished:
        raw = bytearray(path.read_bytes())
        struct.pack_into("<I", raw, 4, 36)
        struct.pack_into("<I", raw, 40, 0)
        path.write_bytes(bytes(raw))
    return path


def test_deposit_lists_counts_and_lights_the_watcher(tmp_path: Path) -> None:
    vm = store(tmp_path)
    watcher = MailboxCountsWatcher(tmp_path)
    assert watcher.read_changes() == []
    first = vm.deposit("marie", record(vm.new_recording("marie"), 2.0), caller_number="0470123456",
                       caller_name="Jean", reason="no-answer", received_at=100.0)
    second = vm.deposit("marie", record(vm.new_recording("marie"), 1.5), caller_number=None,
                        caller_name="", reason="user-busy", received_at=200.0)
    assert first.duration == 2.0 and not first.heard and vm.audio_path(first).exists()
    assert [m.id for m in vm.messages("marie")] == [first.id, second.id]
    assert vm.counts("marie").new == 2 and vm.counts("marie").old == 0
    assert watcher.changed() and [(c.new, c.old) for c in watcher.read_changes()] == [(2, 0)]

    assert vm.mark_heard("marie", first.id) and not vm.mark_heard("marie", first.id)
    assert [m.id for m in vm.messages("marie")] == [second.id, first.id]  # new ones first
    assert (vm.counts("marie").new, vm.counts("marie").old) == (1, 1)
    assert vm.delete("marie", first.id) and not vm.audio_path(first).exists()
    assert not vm.delete("marie", first.id) and vm.message("marie", first.id) is None
    assert (vm.counts("marie").new, vm.counts("marie").old) == (1, 0)
    assert vm.messages("jean") == [] and vm.message("marie", "../../etc") is None


def test_unfinished_wav_is_made_whole(tmp_path: Path) -> None:
    path = record(tmp_path / "x.wav", 3.0, rate=8000, unfinished=True)
    assert finalize_wav(path) == 3.0
    with wave.open(str(path)) as back:
        assert back.getnframes() == 24000


def test_sweep_removes_parts_and_orphans_but_keeps_messages_and_greetings(tmp_path: Path) -> None:
    vm = store(tmp_path)
    kept = vm.deposit("marie", record(vm.new_recording("marie"), 1.0), caller_number="201", caller_name="Jean",
                      reason="no-answer")
    crashed = record(vm.new_recording("marie"), 1.0, unfinished=True)  # a recording that was going on
    orphan = record(vm.mailbox_dir("marie") / ("ab" * 16 + ".wav"), 1.0)  # renamed, never inserted
    vm.save_greeting("marie", "busy", record(vm.new_recording("marie"), 1.0))
    assert vm.sweep() == 2
    assert not crashed.exists() and not orphan.exists()
    assert vm.audio_path(kept).exists() and vm.greeting("marie", "busy") is not None
    assert vm.sweep(older_than=3600) == 0


def test_greetings_recorded_uploaded_and_removed(tmp_path: Path) -> None:
    vm = store(tmp_path)
    assert vm.greeting("marie", "no-answer") is None
    assert vm.save_greeting("marie", "no-answer", record(vm.new_recording("marie"), 2.5)) == 2.5
    assert vm.greeting("marie", "no-answer") is not None and vm.greeting("marie", "busy") is None
    upload = record(tmp_path / "up.wav", 1.0).read_bytes()
    assert vm.save_greeting_bytes("marie", "busy", upload) == 1.0
    with pytest.raises(StoreError, match="RIFF"):
        vm.save_greeting_bytes("marie", "busy", b"not a wav file at all")
    assert vm.greeting("marie", "busy") is not None  # the bad upload replaced nothing
    assert not any(p.name.endswith(".part.wav") for p in vm.mailbox_dir("marie").iterdir())
    with pytest.raises(StoreError, match="no such greeting"):
        vm.greeting("marie", "holiday")  # type: ignore[arg-type]
    assert vm.delete_greeting("marie", "busy") and vm.greeting("marie", "busy") is None


def test_pin(tmp_path: Path) -> None:
    vm = store(tmp_path)
    assert not vm.has_pin("marie") and not vm.check_pin("marie", "1234")
    vm.set_pin("marie", "4321")
    assert vm.has_pin("marie") and vm.check_pin("marie", "4321") and not vm.check_pin("marie", "1234")
    for bad in ("123", "123456789", "12a4", ""):
        with pytest.raises(StoreError, match="4 to 8 digits"):
            vm.set_pin("marie", bad)
    assert vm.check_pin("marie", "4321")


def test_bad_mailbox_names_and_foreign_recordings_are_refused(tmp_path: Path) -> None:
    vm = store(tmp_path)
    for bad in ("../jean", ".hidden", "a/b", ""):
        with pytest.raises(StoreError, match="not a mailbox name"):
            vm.new_recording(bad)
    elsewhere = record(tmp_path / "loose.part.wav", 1.0)
    with pytest.raises(StoreError, match="new_recording"):
        vm.deposit("marie", elsewhere, caller_number=None, caller_name="", reason="no-answer")
    assert vm.counts("marie").new == 0
