"""Voicemail end to end: the server with its own pjsua2 voicemail workers, pjsua2 phones calling through it.

A fresh server per test (`--voicemail-workers`, free ports, loopback), the demo group with one ring = 1 s. Every
check is made on real audio or on what the shared store holds: the caller's phone records what it hears (the
greeting, then the beep: a 1 kHz window), the message in the mailbox holds the caller's tone (1400 Hz), the
owner's phone hears that tone played back when it presses 1 at 1969, and its message lamp follows the counts
(the agent SUBSCRIBEs to message-summary like a desk phone, RFC 3842).

Covered:
- Marie on do not disturb: Jean reaches her mailbox, hears the busy greeting and the beep, leaves a 3 s tone;
  the message is new, from 201, about 3 s, holds the tone; Marie's lamp goes on (1 new); Marie dials 1969
  (RFC 4733 "1"): hears the announcement and the tone; "7" sent as SIP INFO deletes it; the lamp goes off;
- no answer: Marie's phone rings 2 rings, then the no-answer greeting; `#` skips it (straight to the beep);
- Marie sets a PIN and records her busy greeting at 1969; Jean calling her hears it; from Jean's phone, `*`
  during her greeting and her PIN open her mailbox, where Pieter's message plays;
- faults: a caller hanging up during the greeting leaves nothing; hanging up during the recording keeps what
  was said; a silent "message" is not kept; two callers at once leave two messages, each its own tone; the
  next call in a worker's freed call slot runs to its end;
- a killed worker: the next call goes to the other worker; with every worker killed, a call to voicemail gets
  486 at once (never hangs), and once the workers are back a call reaches the mailbox again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.audio import read_samples, rms, tone_ratio, write_tone
from tests.helpers.pjsua_agent import Event, PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS, ServerProcess
from tests.helpers.sipp_calls import GroupTemplate, set_services
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

MARIE = "marie.martin"
MESSAGE_TONE = 1400.0  # what a caller says into the mailbox
BEEP = 1000.0  # voicemail/audio/beep.wav
TONES = {"201": MESSAGE_TONE, "202": 600.0, "203": 697.0}
MEDIA_CODECS = ("PCMU/8000",)
CALL_TIMEOUT = 15.0
DND = {"dnd": {"active": True}}


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("voicemail-template"), seconds_per_ring=1)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("voicemail-tones")
    return {who: write_tone(where / f"tone-{who}.wav", freq, seconds=1.0) for who, freq in TONES.items()}


@dataclass
class VoicemailBed:
    server: ServerProcess
    tmp_path: Path
    tones: dict[str, Path]
    agents: list[PjsuaAgent] = field(default_factory=list)

    @property
    def registrar(self) -> str:
        return f"sip:{self.server.host}:{self.server.port}"

    def phone(self, user: str, *, play: bool = True, mwi: bool = False) -> PjsuaAgent:
        agent = PjsuaAgent.start(
            user=user, password=DEMO_USERS[user], registrar=self.registrar, domain=DEMO_DOMAIN,
            log_dir=self.tmp_path / "pjsua", proxy=f"{self.registrar};lr",
            play=self.tones[user] if play else None, record_dir=self.tmp_path / "recordings",
            max_lifetime=90.0, codecs=MEDIA_CODECS, mwi=mwi)
        self.agents.append(agent)
        event = agent.register()
        assert event.code == 200, f"{user} did not register\n{agent.describe()}"
        return agent

    @property
    def mailbox_dir(self) -> Path:
        return self.server.data_dir / "voicemail" / MARIE

    def messages(self) -> list[sqlite3.Row]:
        with sqlite3.connect(self.server.data_dir / "mailboxes.sqlite") as db:
            db.row_factory = sqlite3.Row
            return db.execute("SELECT * FROM voice_messages WHERE user_id = ? ORDER BY received_at",
                              (MARIE,)).fetchall()

    def recording_started(self, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until `count` recordings are being written into Marie's mailbox (the greeting and beep are over)."""
        wait_until(lambda: len(list(self.mailbox_dir.glob("*.part.wav"))) >= count
                   if self.mailbox_dir.exists() else False, timeout, f"{count} recording(s) in {self.mailbox_dir}")

    def workers(self) -> list[int]:
        """PIDs of the server's voicemail worker processes."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            if ppid == self.server.pid and b"voicemail.worker" in cmdline:
                found.append(int(entry.name))
        return found


BedFactory = Callable[..., VoicemailBed]


@pytest.fixture
def make_bed(pjsua2_available: None, server_factory: ServerFactory, group_template: GroupTemplate,
             tones: dict[str, Path], tmp_path: Path) -> Iterator[BedFactory]:
    beds: list[VoicemailBed] = []

    def make(workers: int = 1, **settings: dict[str, object]) -> VoicemailBed:
        data_dir = group_template.copy_to(tmp_path / "data")
        for user_id, services in settings.items():
            set_services(data_dir, user_id, services)
        server = server_factory(data_dir=data_dir, demo=False, voicemail_workers=workers, startup_timeout=40.0)
        bed = VoicemailBed(server, tmp_path, tones)
        beds.append(bed)
        return bed

    yield make
    agents = [agent for bed in beds for agent in bed.agents]
    for agent in agents:
        agent.request_quit()
    for agent in agents:
        agent.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(0.05)


def dial(caller: PjsuaAgent, number: str) -> str:
    return caller.call(f"sip:{number}@{DEMO_DOMAIN}")


def answered(agent: PjsuaAgent, call_id: str) -> None:
    agent.wait_call_state(call_id, "CONFIRMED", timeout=CALL_TIMEOUT)


def hang_up(agent: PjsuaAgent, call_id: str) -> Path:
    """Hang up and return what the agent recorded of the call (once the WAV is final)."""
    mark = agent.mark()
    agent.send(f"hangup {call_id}")
    agent.wait_call_state(call_id, "DISCONNECTED", after=mark, timeout=CALL_TIMEOUT)
    return recorded(agent, call_id)


def recorded(agent: PjsuaAgent, call_id: str) -> Path:
    event = agent.wait_event("recorded", timeout=CALL_TIMEOUT, where=lambda e: e.args[0] == call_id)
    return Path(event.args[1])


def windows(path: Path, seconds: float = 0.2) -> list[tuple[float, float, float]]:
    """(start time, RMS, ratio at BEEP) of every `seconds` window of a recording."""
    rate, samples = read_samples(path)
    size = int(rate * seconds)
    return [(start / rate, rms(samples[start:start + size]), tone_ratio(samples[start:start + size], BEEP, rate))
            for start in range(0, len(samples) - size, size)]


def tone_share(path: Path, frequency: float) -> float:
    rate, samples = read_samples(path)
    return tone_ratio(samples, frequency, rate)


def heard_tone(path: Path, frequency: float, seconds: float = 1.0) -> bool:
    """Some `seconds`-long stretch of the recording is that tone."""
    rate, samples = read_samples(path)
    size = int(rate * seconds)
    return any(tone_ratio(samples[s:s + size], frequency, rate) > 0.8 and rms(samples[s:s + size]) > 300
               for s in range(0, max(1, len(samples) - size), size // 4))


def mwi_events(agent: PjsuaAgent) -> list[Event]:
    return agent.events_named("mwi")


def wait_mwi(agent: PjsuaAgent, waiting: str, new: str, timeout: float = 10.0) -> None:
    wait_until(lambda: any(e.args[:2] == [waiting, new] for e in mwi_events(agent)), timeout,
               f"MWI {waiting} {new}: {[e.line for e in mwi_events(agent)]}")


# -- the whole story -----------------------------------------------------------------------------------------------
def test_a_message_left_on_dnd_is_heard_at_1969_then_deleted(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: DND})
    marie = bed.phone("202", mwi=True)
    jean = bed.phone("201")
    wait_mwi(marie, "no", "0")  # the lamp's first state: nothing waiting

    call = dial(jean, "202")
    answered(jean, call)
    bed.recording_started()
    time.sleep(3.0)
    heard = hang_up(jean, call)

    # What Jean heard: the greeting (speech), then the beep.
    parts = windows(heard)
    beeps = [t for t, level, ratio in parts if ratio > 0.8 and level > 300]
    assert beeps, f"no beep in what the caller heard: {parts}"
    assert any(level > 300 and t < beeps[0] - 1.0 for t, level, _ in parts), "no greeting before the beep"

    wait_until(lambda: len(bed.messages()) == 1, 5.0, "the message in the store")
    message = bed.messages()[0]
    assert message["heard"] == 0 and message["caller_number"] == "201" and message["reason"] == "user-busy"
    assert 2.0 <= message["duration"] <= 4.5, dict(message)
    audio = bed.mailbox_dir / f"{message['id']}.wav"
    assert tone_share(audio, MESSAGE_TONE) > 0.8, "the message does not hold the caller's tone"
    wait_mwi(marie, "yes", "1")

    # Marie listens from her own phone: no PIN; 1 plays the message (RFC 4733), 7 deletes it (SIP INFO).
    listen = dial(marie, "1969")
    answered(marie, listen)
    time.sleep(1.5)
    marie.send(f"dtmf 1 {listen}")
    time.sleep(11.0)  # "message from 2 0 1, received today at H hours M" (~5.5 s), then the 3 s message
    marie.send(f"dtmf-info 7 {listen}")
    wait_until(lambda: not bed.messages(), 10.0, "the message deleted")
    time.sleep(1.0)
    playback = hang_up(marie, listen)
    assert heard_tone(playback, MESSAGE_TONE), "the owner did not hear the message played back"
    assert not audio.exists()
    wait_mwi(marie, "no", "0")


def test_no_answer_plays_that_greeting_and_hash_skips_it(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: {"forward_no_answer": {"active": False, "rings": 2}}})
    marie = bed.phone("202")
    jean = bed.phone("201")
    started = time.monotonic()
    call = dial(jean, "202")
    marie.wait_incoming(timeout=CALL_TIMEOUT)  # her phone rings, she does not answer
    answered(jean, call)
    assert time.monotonic() - started >= 1.5, "voicemail answered before the rings"
    time.sleep(1.0)
    jean.send(f"dtmf # {call}")
    bed.recording_started(timeout=5.0)  # well before the end of the whole greeting
    time.sleep(2.0)
    hang_up(jean, call)
    wait_until(lambda: len(bed.messages()) == 1, 5.0, "the message in the store")
    assert bed.messages()[0]["reason"] == "no-answer"


def test_own_greeting_and_pin_recorded_at_1969_then_the_mailbox_from_elsewhere(make_bed: BedFactory) -> None:
    """Marie records her busy greeting (her 600 Hz tone) and a PIN at 1969; Jean, calling her, hears that
    greeting; Pieter leaves a message; Jean presses * during the greeting, types her PIN and plays it."""
    bed = make_bed(**{MARIE: DND})
    marie = bed.phone("202")
    setup = dial(marie, "1969")
    answered(marie, setup)
    time.sleep(1.0)
    marie.send(f"dtmf 4 {setup}")  # new PIN
    time.sleep(1.0)
    marie.send(f"dtmf 2468# {setup}")
    wait_until(lambda: pin_hash(bed) is not None, 10.0, "the PIN stored")
    marie.send(f"dtmf 3 {setup}")  # greetings menu
    time.sleep(1.0)
    marie.send(f"dtmf 1 {setup}")  # record the busy greeting
    wait_until(lambda: bed.mailbox_dir.exists() and any(bed.mailbox_dir.glob("*.part.wav")), 15.0,
               "the greeting recording")
    time.sleep(2.5)
    marie.send(f"dtmf # {setup}")
    wait_until(lambda: (bed.mailbox_dir / "greeting-busy.wav").exists(), 10.0, "the greeting saved")
    hang_up(marie, setup)

    jean = bed.phone("201")
    call = dial(jean, "202")
    answered(jean, call)
    time.sleep(2.0)
    heard = hang_up(jean, call)
    assert heard_tone(heard, TONES["202"]), "the caller did not hear Marie's own greeting"

    pieter = bed.phone("203")
    call = dial(pieter, "202")
    answered(pieter, call)
    bed.recording_started()
    time.sleep(2.5)
    hang_up(pieter, call)
    wait_until(lambda: len(bed.messages()) == 1, 5.0, "Pieter's message")

    call = dial(jean, "202")
    answered(jean, call)
    time.sleep(0.5)
    jean.send(f"dtmf * {call}")
    time.sleep(1.5)
    jean.send(f"dtmf 2468# {call}")
    time.sleep(3.0)  # "you have 1 new message", the menu
    jean.send(f"dtmf 1 {call}")
    wait_until(lambda: bool(bed.messages()) and bed.messages()[0]["heard"] == 1, 15.0, "the message heard")
    heard = hang_up(jean, call)
    assert heard_tone(heard, TONES["203"]), "the mailbox reached from elsewhere did not play the message"
    assert len(bed.messages()) == 1  # Jean's call left no message: it became mailbox access


def pin_hash(bed: VoicemailBed) -> str | None:
    with sqlite3.connect(bed.server.data_dir / "mailboxes.sqlite") as db:
        row = db.execute("SELECT pin_hash FROM mailbox_settings WHERE user_id = ?", (MARIE,)).fetchone()
    return None if row is None else row[0]


# -- faults --------------------------------------------------------------------------------------------------------
def test_hanging_up_during_the_greeting_leaves_nothing(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: DND})
    jean = bed.phone("201")
    call = dial(jean, "202")
    answered(jean, call)
    time.sleep(1.0)
    hang_up(jean, call)
    time.sleep(3.0)
    assert not bed.messages()
    assert not list(bed.mailbox_dir.glob("*.wav")) if bed.mailbox_dir.exists() else True


def test_silence_is_not_kept_and_a_cut_message_is(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: DND})
    quiet = bed.phone("203", play=False)
    call = dial(quiet, "202")
    answered(quiet, call)
    bed.recording_started()
    time.sleep(3.0)
    hang_up(quiet, call)
    time.sleep(3.0)  # the worker settles the recording (pjmedia closes it asynchronously)
    assert not bed.messages(), "a silent message was kept"
    assert not list(bed.mailbox_dir.glob("*.wav"))

    jean = bed.phone("201")
    call = dial(jean, "202")
    answered(jean, call)
    bed.recording_started()
    time.sleep(2.0)
    hang_up(jean, call)  # the caller just hangs up: what was said is the message
    wait_until(lambda: len(bed.messages()) == 1, 5.0, "the cut message")
    assert tone_share(bed.mailbox_dir / f"{bed.messages()[0]['id']}.wav", MESSAGE_TONE) > 0.8


def test_two_callers_leave_two_messages_at_once(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: DND})
    jean, pieter = bed.phone("201"), bed.phone("203")
    first, second = dial(jean, "202"), dial(pieter, "202")
    answered(jean, first)
    answered(pieter, second)
    bed.recording_started(count=2)
    time.sleep(3.0)
    hang_up(jean, first)
    hang_up(pieter, second)
    wait_until(lambda: len(bed.messages()) == 2, 5.0, "two messages")
    by_caller = {m["caller_number"]: bed.mailbox_dir / f"{m['id']}.wav" for m in bed.messages()}
    assert set(by_caller) == {"201", "203"}
    assert tone_share(by_caller["201"], TONES["201"]) > 0.8
    assert tone_share(by_caller["203"], TONES["203"]) > 0.8


def test_the_next_call_in_a_freed_worker_slot_is_not_cut(make_bed: BedFactory) -> None:
    """pjsua gives a freed call slot to the next INVITE: a worker that kept the old call's object around had
    its destructor hang up whatever call held the slot by then (found by the deposit benchmark)."""
    bed = make_bed(**{MARIE: DND})
    jean, pieter = bed.phone("201"), bed.phone("203")
    for _ in range(4):  # pjsua hands out its 4 slots in turn: the 5th call gets the first call's
        call = dial(jean, "202")
        answered(jean, call)
        hang_up(jean, call)
    call = dial(pieter, "202")
    answered(pieter, call)
    bed.recording_started()
    time.sleep(4.0)  # well past 5 s since Jean's call ended
    hang_up(pieter, call)
    wait_until(lambda: len(bed.messages()) == 1, 5.0, "Pieter's message")
    assert bed.messages()[0]["duration"] >= 3.0, "the second call was cut short"


def test_killed_workers_fail_over_and_come_back(make_bed: BedFactory) -> None:
    bed = make_bed(workers=2, **{MARIE: DND})
    jean = bed.phone("201")
    pids = bed.workers()
    assert len(pids) == 2, pids
    os.kill(pids[0], signal.SIGKILL)
    for _ in range(2):  # whichever worker's turn it is, the call reaches the live one
        call = dial(jean, "202")
        answered(jean, call)
        hang_up(jean, call)

    for pid in bed.workers():
        os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    call = dial(jean, "202")
    ended = jean.wait_call_state(call, "DISCONNECTED", timeout=CALL_TIMEOUT)
    assert int(ended.args[2]) == 486, ended.line  # DND's answer without voicemail: busy
    assert time.monotonic() - started < 3.0, "the call waited for a dead worker"

    wait_until(lambda: len(bed.workers()) == 2, 20.0, "the workers restarted")
    time.sleep(0.5)
    call = dial(jean, "202")
    answered(jean, call)
    hang_up(jean, call)
    assert "Traceback" not in bed.server.stderr_text()
