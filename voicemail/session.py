"""One voicemail call as a pure state machine: leaving a message (deposit) or listening to one's mailbox.

Deposit: the owner's greeting (recorded, else the standard busy / no-answer one in the owner's language), a
beep, then recording up to `max_message_seconds`; `#` or hanging up ends it, `#` during the greeting skips to
the beep, `*` during the greeting asks for the PIN and opens the mailbox (the owner calling from elsewhere).
Mailbox access (1969 / *98 from one's own phone, or `*` + PIN): the counts, then the main menu — 1 listen
(new messages first, each announced with the caller's number and when it came, in the owner's time zone;
1 replay, 7 delete, 9 save, # next, also while it plays), 3 greetings (1 record busy, 2 record no-answer, 3
back to the standard ones), 4 change PIN, * end.
DTMF arrives as digits whatever carried them (RFC 4733 or SIP INFO); a digit during a prompt cuts it short
(during a confirmation, it acts in the menu the confirmation leads to).

Inputs: `start()`, `digit()`, `played()` (the last `Play` finished), `tick()` (time passes), `hung_up()`, each
with `now`; outputs: `Action`s for the media shell (`voicemail/worker.py`), which plays files, records, hangs
up and writes the store. Reads the mailbox through `MailboxReader` (messages, PIN check, greetings); writes
only as actions. Knows nothing of pjsua2, SIP or files beyond the paths it is given.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Final, Literal, Protocol

from storage.voicemail import PIN_PATTERN, GreetingKind, VoiceMessage
from voicemail.prompts import BEEP, Language, counts_sentence, digits, envelope, prompt_path

MENU_TIMEOUT: Final = 10.0  # seconds without a key in a menu before it is said again
MENU_REPEATS: Final = 3  # menus said without an answer before the call ends
PIN_ATTEMPTS: Final = 3
MAX_PIN_DIGITS: Final = 8
MAX_GREETING_SECONDS: Final = 60.0

Mode = Literal["deposit", "access"]
RecordPurpose = Literal["message", "busy", "no-answer"]


class MailboxReader(Protocol):
    def messages(self, user_id: str) -> list[VoiceMessage]: ...
    def has_pin(self, user_id: str) -> bool: ...
    def check_pin(self, user_id: str, pin: str) -> bool: ...
    def greeting(self, user_id: str, kind: GreetingKind) -> Path | None: ...
    def audio_path(self, message: VoiceMessage) -> Path: ...


# -- actions -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Play:
    """Play these files one after the other (replacing whatever plays); `played()` follows the last one."""
    files: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class StopPlayback:
    pass


@dataclass(frozen=True, slots=True)
class Record:
    purpose: RecordPurpose


@dataclass(frozen=True, slots=True)
class FinishRecording:
    """Stop the recorder; keep: store it (a message, or the greeting `Record` named), else throw it away."""
    keep: bool


@dataclass(frozen=True, slots=True)
class MarkHeard:
    message_id: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    message_id: str


@dataclass(frozen=True, slots=True)
class ResetGreetings:
    pass


@dataclass(frozen=True, slots=True)
class SetPin:
    pin: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Action = Play | StopPlayback | Record | FinishRecording | MarkHeard | DeleteMessage | ResetGreetings | SetPin | Hangup


class State(enum.Enum):
    GREETING = "greeting"
    RECORDING = "recording"
    PIN = "pin"
    MAIN = "main"
    MESSAGE = "message"  # a message (with its announcement) playing
    MESSAGE_MENU = "message-menu"
    GREETINGS = "greetings"
    GREETING_RECORDING = "greeting-recording"
    NEW_PIN = "new-pin"
    INFO = "info"  # a short confirmation playing; then `_then`
    CLOSING = "closing"  # goodbye playing; then hang up
    DONE = "done"


class Session:
    def __init__(self, *, mode: Mode, mailbox: str, language: Language, reader: MailboxReader,
                 reason: str = "no-answer", pin_required: bool = False, max_message_seconds: float = 120.0,
                 zone: tzinfo = UTC, wall_clock: Callable[[], float] = time.time) -> None:
        self.zone = zone  # the owner's time zone, for when each message came
        self.wall_clock = wall_clock  # `now` is monotonic: the date of "today" needs the calendar's time
        self.mode = mode
        self.mailbox = mailbox
        self.language: Language = language
        self.reader = reader
        self.reason = reason
        self.pin_required = pin_required
        self.max_message_seconds = max_message_seconds
        self.state = State.DONE
        self.recording: RecordPurpose | None = None
        self._deadline: float | None = None
        self._entered = ""
        self._pin_failures = 0
        self._menu_silences = 0
        self._messages: list[VoiceMessage] = []
        self._index = 0
        self._then: State = State.MAIN
        self._greeting_kind: RecordPurpose = "busy"

    # -- inputs ------------------------------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        if self.mode == "deposit":
            kind: GreetingKind = "busy" if self.reason in ("user-busy", "busy") else "no-answer"
            own = self.reader.greeting(self.mailbox, kind)
            standard = self._p("greeting_busy" if kind == "busy" else "greeting_no_answer")
            self.state = State.GREETING
            return [Play((own or standard, self._p(BEEP)))]
        if self.pin_required:
            return self._ask_pin()
        return self._welcome()

    def digit(self, key: str, now: float) -> list[Action]:
        state = self.state
        if state is State.GREETING:
            if key == "#":  # straight to the beep
                return [Play((self._p(BEEP),))]
            if key == "*":
                return self._ask_pin()
            return []
        if state is State.RECORDING:
            if key == "#":
                return self._end_message()
            return []
        if state is State.PIN or state is State.NEW_PIN:
            return self._pin_digit(key, now)
        if state is State.GREETING_RECORDING:
            if key == "#" and self.recording is not None:
                self.recording = None
                self._deadline = None
                return [FinishRecording(keep=True), *self._info(("greeting_saved",), State.GREETINGS)]
            return []
        if state is State.INFO:  # a key cuts a confirmation short and acts in the menu it leads to
            if self._then is State.MESSAGE:  # "deleted", then the next message: the key only skips ahead to it
                return self._enter(State.MESSAGE)
            self.state = state = self._then
        self._menu_silences = 0
        if state is State.MAIN:
            return self._main_choice(key)
        if state is State.MESSAGE or state is State.MESSAGE_MENU:
            return self._message_choice(key)
        if state is State.GREETINGS:
            return self._greetings_choice(key)
        return []

    def played(self, now: float) -> list[Action]:
        state = self.state
        if state is State.GREETING:
            self.state = State.RECORDING
            self.recording = "message"
            self._deadline = now + self.max_message_seconds
            return [Record("message")]
        if state is State.GREETING_RECORDING and self.recording is None:
            # "record after the tone" and the beep are over: record now.
            self.recording = self._greeting_kind
            self._deadline = now + MAX_GREETING_SECONDS
            return [Record(self._greeting_kind)]
        if state is State.CLOSING:
            self.state = State.DONE
            return [Hangup()]
        if state is State.INFO:
            return self._enter(self._then)
        if state is State.MESSAGE:
            message = self._messages[self._index]
            self.state = State.MESSAGE_MENU
            self._deadline = now + MENU_TIMEOUT
            actions: list[Action] = []
            if not message.heard:
                actions.append(MarkHeard(message.id))
                self._messages[self._index] = _heard(message)
            return [*actions, Play((self._p("message_menu"),))]
        if state in (State.MAIN, State.MESSAGE_MENU, State.GREETINGS, State.PIN, State.NEW_PIN):
            self._deadline = now + MENU_TIMEOUT
        return []

    def tick(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        state = self.state
        if state is State.RECORDING:
            return self._end_message()
        if state is State.GREETING_RECORDING:
            self.recording = None
            return [FinishRecording(keep=True), *self._info(("greeting_saved",), State.GREETINGS)]
        if state is State.PIN and self._entered:  # digits then silence: as if # was pressed
            return self._pin_digit("#", now)
        self._menu_silences += 1
        if self._menu_silences >= MENU_REPEATS:
            return self._goodbye()
        if state is State.PIN:
            return self._ask_pin()
        if state is State.NEW_PIN:
            return self._enter(State.MAIN)
        return self._enter(state)

    def hung_up(self, now: float) -> list[Action]:
        """The caller hung up: a message being recorded is kept; a greeting being recorded is not (only `#`
        confirms one)."""
        actions: list[Action] = []
        if self.recording is not None:
            actions.append(FinishRecording(keep=self.recording == "message"))
        self.recording = None
        self.state = State.DONE
        self._deadline = None
        return actions

    @property
    def next_deadline(self) -> float | None:
        return self._deadline

    # -- deposit -----------------------------------------------------------------------------------------
    def _end_message(self) -> list[Action]:
        self.recording = None
        self._deadline = None
        self.state = State.CLOSING
        return [FinishRecording(keep=True), Play((self._p("message_recorded"),))]

    # -- PIN ---------------------------------------------------------------------------------------------
    def _ask_pin(self) -> list[Action]:
        if not self.reader.has_pin(self.mailbox):
            self.state = State.CLOSING
            return [Play((self._p("no_pin"), self._p("goodbye")))]
        self.mode = "access"
        self.state = State.PIN
        self._entered = ""
        self._deadline = None
        return [Play((self._p("enter_pin"),))]

    def _pin_digit(self, key: str, now: float) -> list[Action]:
        actions: list[Action] = [StopPlayback()] if not self._entered else []
        if key.isdigit() and len(self._entered) < MAX_PIN_DIGITS:
            self._entered += key
            self._deadline = now + MENU_TIMEOUT
            return actions
        if key != "#":
            return actions
        entered, self._entered = self._entered, ""
        if self.state is State.NEW_PIN:
            if PIN_PATTERN.fullmatch(entered) is None:
                return self._info(("pin_invalid",), State.MAIN)
            return [SetPin(entered), *self._info(("pin_changed",), State.MAIN)]
        if self.reader.check_pin(self.mailbox, entered):
            self.pin_required = False
            return self._welcome()
        self._pin_failures += 1
        if self._pin_failures >= PIN_ATTEMPTS:
            self.state = State.CLOSING
            return [Play((self._p("pin_wrong"), self._p("goodbye")))]
        self._deadline = None
        return [Play((self._p("pin_wrong"), self._p("enter_pin")))]

    # -- menus -------------------------------------------------------------------------------------------
    def _welcome(self) -> list[Action]:
        messages = self.reader.messages(self.mailbox)
        new = sum(1 for m in messages if not m.heard)
        self.state = State.MAIN
        self._deadline = None
        return [Play((*self._ps(counts_sentence(new, len(messages) - new)), self._p("main_menu")))]

    def _enter(self, state: State) -> list[Action]:
        """Say the menu of `state` and wait for a key."""
        self._deadline = None
        if state is State.MAIN:
            self.state = State.MAIN
            return [Play((self._p("main_menu"),))]
        if state is State.GREETINGS:
            self.state = State.GREETINGS
            return [Play((self._p("greetings_menu"),))]
        if state is State.MESSAGE_MENU:
            self.state = State.MESSAGE_MENU
            return [Play((self._p("message_menu"),))]
        if state is State.MESSAGE:
            return self._play_message()
        self.state = State.MAIN
        return [Play((self._p("main_menu"),))]

    def _info(self, prompts: tuple[str, ...], then: State) -> list[Action]:
        self.state = State.INFO
        self._then = then
        self._deadline = None
        return [Play(self._ps(prompts))]

    def _goodbye(self) -> list[Action]:
        self.state = State.CLOSING
        self._deadline = None
        return [Play((self._p("goodbye"),))]

    def _main_choice(self, key: str) -> list[Action]:
        if key == "1":
            self._messages = self.reader.messages(self.mailbox)
            self._index = 0
            if not self._messages:
                return self._info(("no_messages",), State.MAIN)
            return self._play_message()
        if key == "3":
            return self._enter(State.GREETINGS)
        if key == "4":
            self.state = State.NEW_PIN
            self._entered = ""
            self._deadline = None
            return [Play((self._p("enter_new_pin"),))]
        if key == "*":
            return self._goodbye()
        if key == "0":
            return self._enter(State.MAIN)
        return self._info(("invalid_choice",), State.MAIN)

    def _play_message(self) -> list[Action]:
        message = self._messages[self._index]
        caller = digits(message.caller_number or "")
        announcement = ("message_from", *(caller or ("unknown_caller",)),
                        *envelope(message.received_at, self.wall_clock(), self.zone, self.language))
        self.state = State.MESSAGE
        self._deadline = None
        return [Play((*self._ps(announcement), self.reader.audio_path(message)))]

    def _message_choice(self, key: str) -> list[Action]:
        message = self._messages[self._index]
        if key == "1":
            return self._play_message()
        if key == "7":
            return [DeleteMessage(message.id), *self._next(("message_deleted",))]
        if key == "9":
            actions: list[Action] = [] if message.heard else [MarkHeard(message.id)]
            return [*actions, *self._next(("message_saved",))]
        if key == "#":
            return self._next(())
        return [StopPlayback(), *self._info(("invalid_choice",), State.MESSAGE_MENU)]

    def _next(self, said: tuple[str, ...]) -> list[Action]:
        self._index += 1
        if self._index >= len(self._messages):
            return self._info((*said, "no_more_messages"), State.MAIN)
        if said:
            return self._info(said, State.MESSAGE)
        return self._play_message()

    def _greetings_choice(self, key: str) -> list[Action]:
        if key in ("1", "2"):
            self._greeting_kind = "busy" if key == "1" else "no-answer"
            self.state = State.GREETING_RECORDING
            self.recording = None
            self._deadline = None
            return [Play((self._p("record_greeting"), self._p(BEEP)))]
        if key == "3":
            return [ResetGreetings(), *self._info(("greetings_reset",), State.GREETINGS)]
        if key == "*":
            return self._enter(State.MAIN)
        return self._info(("invalid_choice",), State.GREETINGS)

    # -- helpers -----------------------------------------------------------------------------------------
    def _p(self, name: str) -> Path:
        return prompt_path(name, self.language)

    def _ps(self, names: tuple[str, ...]) -> tuple[Path, ...]:
        return tuple(self._p(name) for name in names)


def _heard(message: VoiceMessage) -> VoiceMessage:
    return VoiceMessage(message.id, message.user_id, message.caller_number, message.caller_name,
                        message.received_at, message.duration, True, message.reason)
