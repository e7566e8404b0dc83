"""voicemail/session.py against a real VoicemailStore in a temporary directory, with a fake clock: deposit
(greeting, beep, recording, # / hang-up / time limit, * to the PIN), mailbox access (counts, listening with
replay / delete / save / next, greetings, PIN change), PIN failures and menu timeouts."""

from __future__ import annotations

import wave
from datetime import UTC
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from storage.voicemail import VoicemailStore
from voicemail.prompts import BEEP, prompt_path
from voicemail.session import (
    MENU_TIMEOUT,
    DeleteMessage,
    FinishRecording,
    Hangup,
    MarkHeard,
    Play,
    Record,
    ResetGreetings,
    Session,
    SetPin,
    State,
    StopPlayback,
)


def p(name: str, language: str = "fr") -> Path:
    return prompt_path(name, language)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> VoicemailStore:
    return VoicemailStore(tmp_path, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def leave(store: VoicemailStore, caller: str | None, at: float) -> str:
    path = store.new_recording("marie")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 8000)
    return store.deposit("marie", path, caller_number=caller, caller_name="", reason="no-answer",
                         received_at=at).id


def deposit(store: VoicemailStore, reason: str = "no-answer", language: str = "fr") -> Session:
    return Session(mode="deposit", mailbox="marie", language=language, reader=store,  # type: ignore[arg-type]
                   reason=reason, max_message_seconds=30.0)


def test_deposit_flow(store: VoicemailStore) -> None:
    s = deposit(store, reason="user-busy")
    assert s.start(0.0) == [Play((p("greeting_busy"), p("beep")))]
    assert s.played(4.0) == [Record("message")] and s.state is State.RECORDING and s.next_deadline == 34.0
    assert s.digit("5", 5.0) == []  # other keys are just sound in the message
    assert s.digit("#", 9.0) == [FinishRecording(keep=True), Play((p("message_recorded"),))]
    assert s.played(11.0) == [Hangup()] and s.state is State.DONE
    assert s.hung_up(11.1) == []


def test_deposit_no_answer_greeting_in_dutch_and_the_owners_recording(store: VoicemailStore) -> None:
    assert deposit(store, language="nl").start(0.0) == [Play((p("greeting_no_answer", "nl"), p("beep")))]
    own = store.new_recording("marie")
    with wave.open(str(own), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 800)
    store.save_greeting("marie", "no-answer", own)
    assert deposit(store, reason="do-not-disturb").start(0.0) == [
        Play((store.mailbox_dir("marie") / "greeting-no-answer.wav", p("beep")))]


def test_deposit_ends_on_hang_up_or_time_limit(store: VoicemailStore) -> None:
    s = deposit(store)
    s.start(0.0)
    s.played(3.0)
    assert s.hung_up(8.0) == [FinishRecording(keep=True)] and s.state is State.DONE
    t = deposit(store)
    t.start(0.0)
    t.played(3.0)
    assert t.tick(32.9) == []
    assert t.tick(33.0) == [FinishRecording(keep=True), Play((p("message_recorded"),))]
    early = deposit(store)
    early.start(0.0)
    assert early.hung_up(1.0) == []  # gone during the greeting: nothing recorded, nothing kept


def test_hash_during_greeting_skips_to_the_beep(store: VoicemailStore) -> None:
    s = deposit(store)
    s.start(0.0)
    assert s.digit("#", 0.5) == [Play((p("beep"),))]
    assert s.played(1.0) == [Record("message")]


def test_star_during_greeting_asks_the_pin_then_opens_the_mailbox(store: VoicemailStore) -> None:
    store.set_pin("marie", "2468")
    leave(store, "0470123456", 100.0)
    s = deposit(store)
    s.start(0.0)
    assert s.digit("*", 1.0) == [Play((p("enter_pin"),))] and s.state is State.PIN
    s.played(2.0)
    assert s.digit("2", 2.5) == [StopPlayback()]
    for key in "468":
        assert s.digit(key, 3.0) == []
    assert s.digit("#", 3.5) == [Play((p("you_have"), p("n1"), p("new_message"), p("main_menu")))]
    assert s.mode == "access" and s.state is State.MAIN


def test_star_without_a_pin_set_says_so_and_ends(store: VoicemailStore) -> None:
    s = deposit(store)
    s.start(0.0)
    assert s.digit("*", 1.0) == [Play((p("no_pin"), p("goodbye")))]
    assert s.played(5.0) == [Hangup()]


def test_three_wrong_pins_end_the_call(store: VoicemailStore) -> None:
    store.set_pin("marie", "2468")
    s = Session(mode="access", mailbox="marie", language="en", reader=store, pin_required=True)
    assert s.start(0.0) == [Play((p("enter_pin", "en"),))]
    for attempt in range(2):
        for key in "1111#":
            actions = s.digit(key, 1.0 + attempt)
        assert actions == [Play((p("pin_wrong", "en"), p("enter_pin", "en")))]
    for key in "1111#":
        actions = s.digit(key, 5.0)
    assert actions == [Play((p("pin_wrong", "en"), p("goodbye", "en")))]
    assert s.played(6.0) == [Hangup()]


def test_listen_replay_delete_save_and_next(store: VoicemailStore) -> None:
    first = leave(store, "+3222211201", 100.0)
    second = leave(store, None, 200.0)
    third = leave(store, "203", 300.0)
    store.mark_heard("marie", third)
    s = Session(mode="access", mailbox="marie", language="fr", reader=store, zone=UTC, wall_clock=lambda: 400.0)
    assert s.start(0.0) == [Play((p("you_have"), p("n2"), p("new_messages"), p("and"), p("n1"),
                                  p("old_message"), p("main_menu")))]
    audio = {m.id: store.audio_path(m) for m in store.messages("marie")}
    number = tuple(p(f"n{d}") for d in "3222211201")
    # each announced with when it came: 1 January 1970, 00:01, 00:03 and 00:05 UTC, "today" at 00:06
    today_at_1 = (p("received"), p("today"), p("at"), p("n0"), p("hour"), p("n1"))
    assert s.digit("1", 1.0) == [Play((p("message_from"), *number, *today_at_1, audio[first]))]
    # Played to the end: heard, then the message menu.
    assert s.played(5.0) == [MarkHeard(first), Play((p("message_menu"),))]
    assert s.digit("1", 6.0) == [Play((p("message_from"), *number, *today_at_1, audio[first]))]  # replay
    assert s.digit("9", 6.5) == [Play((p("message_saved"),))]  # already heard: no second MarkHeard
    today_at_3 = (p("received"), p("today"), p("at"), p("n0"), p("hour"), p("n3"))
    assert s.played(7.0) == [Play((p("message_from"), p("unknown_caller"), *today_at_3, audio[second]))]
    assert s.digit("7", 7.5) == [DeleteMessage(second), Play((p("message_deleted"),))]  # while it plays
    today_at_5 = (p("received"), p("today"), p("at"), p("n0"), p("hour"), p("n5"))
    assert s.played(8.0) == [Play((p("message_from"), p("n2"), p("n0"), p("n3"), *today_at_5, audio[third]))]
    assert s.digit("#", 8.5) == [Play((p("no_more_messages"),))]
    assert s.played(9.0) == [Play((p("main_menu"),))] and s.state is State.MAIN
    assert s.digit("*", 10.0) == [Play((p("goodbye"),))]
    assert s.played(11.0) == [Hangup()]


def test_no_messages(store: VoicemailStore) -> None:
    s = Session(mode="access", mailbox="marie", language="fr", reader=store)
    assert s.start(0.0) == [Play((p("no_messages"), p("main_menu")))]
    assert s.digit("1", 1.0) == [Play((p("no_messages"),))]
    assert s.played(3.0) == [Play((p("main_menu"),))]
    assert s.digit("8", 4.0) == [Play((p("invalid_choice"),))]
    assert s.digit("8", 4.5) == [Play((p("invalid_choice"),))]  # a key during a confirmation acts in the menu


def test_greetings_record_confirm_and_reset(store: VoicemailStore) -> None:
    s = Session(mode="access", mailbox="marie", language="fr", reader=store)
    s.start(0.0)
    assert s.digit("3", 1.0) == [Play((p("greetings_menu"),))]
    assert s.digit("2", 2.0) == [Play((p("record_greeting"), p(BEEP)))]
    assert s.digit("#", 2.5) == []  # not recording yet
    assert s.played(5.0) == [Record("no-answer")]
    assert s.digit("#", 9.0) == [FinishRecording(keep=True), Play((p("greeting_saved"),))]
    assert s.played(10.0) == [Play((p("greetings_menu"),))]
    assert s.digit("1", 11.0) == [Play((p("record_greeting"), p(BEEP)))]
    assert s.played(13.0) == [Record("busy")]
    assert s.hung_up(15.0) == [FinishRecording(keep=False)]  # not confirmed with #: not kept
    t = Session(mode="access", mailbox="marie", language="fr", reader=store)
    t.start(0.0)
    t.digit("3", 1.0)
    assert t.digit("3", 2.0) == [ResetGreetings(), Play((p("greetings_reset"),))]


def test_change_pin(store: VoicemailStore) -> None:
    s = Session(mode="access", mailbox="marie", language="fr", reader=store)
    s.start(0.0)
    assert s.digit("4", 1.0) == [Play((p("enter_new_pin"),))]
    s.digit("1", 2.0)
    s.digit("2", 2.1)
    s.digit("3", 2.2)
    assert s.digit("#", 2.3) == [Play((p("pin_invalid"),))]
    s.played(3.0)
    s.digit("4", 4.0)
    for key in "97531":
        s.digit(key, 4.5)
    assert s.digit("#", 5.0) == [SetPin("97531"), Play((p("pin_changed"),))]


def test_menu_said_again_on_silence_then_goodbye(store: VoicemailStore) -> None:
    s = Session(mode="access", mailbox="marie", language="fr", reader=store)
    s.start(0.0)
    s.played(5.0)
    assert s.next_deadline == 5.0 + MENU_TIMEOUT
    assert s.tick(5.0 + MENU_TIMEOUT) == [Play((p("main_menu"),))]
    s.played(20.0)
    assert s.tick(20.0 + MENU_TIMEOUT) == [Play((p("main_menu"),))]
    s.played(40.0)
    assert s.tick(40.0 + MENU_TIMEOUT) == [Play((p("goodbye"),))]
    assert s.played(55.0) == [Hangup()]


def test_a_key_during_a_confirmation_acts_in_the_menu_it_leads_to(store: VoicemailStore) -> None:
    s = Session(mode="access", mailbox="marie", language="fr", reader=store)
    s.start(0.0)
    s.digit("4", 1.0)
    for key in "2468#":
        s.digit(key, 2.0)
    # "PIN changed" is still playing: 3 opens the greetings menu at once.
    assert s.digit("3", 2.5) == [Play((p("greetings_menu"),))]
    assert s.digit("1", 3.0) == [Play((p("record_greeting"), p(BEEP)))]
