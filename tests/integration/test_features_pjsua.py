"""The call features with real user agents: pjsua2 phones (PJSIP 2.15) calling each other through the B2BUA.

What `test_features_sipp.py` proves header by header, this module proves end to end with real SIP stacks: a
feature of Marie (202) decides which phones ring, the phones that lose are cancelled, and the phone that wins
carries audio with the caller. A fresh server per test on free ports, the demo group with one ring = 1 s
(`GroupTemplate.create(..., seconds_per_ring=1)`), Marie's settings written through the subscriber store
(`set_services`) before the server starts. Every agent registers as a demo user (201 Jean, 202 Marie, 203 Pieter)
and sends its INVITEs through the server; the server relays SDP only, so RTP flows straight between the agents
and an answered call is proved by each side's recording holding the other side's tone.

What a phone received on the wire is read from its pjsip log (level 4 dumps every message).

Covered:
- forward on no answer (2 rings): Marie's phone rings about 2 s and is cancelled (487, not "completed
  elsewhere"), then Pieter's rings (Diversion reason no-answer, History-Info cause 408), answers, and Jean and
  Pieter hear each other; call log: Jean placed (to 203), Marie missed, Pieter received;
- simultaneous ring with Pieter's line: both phones ring at once, Pieter answers, Marie's phone is cancelled
  (Reason "Call completed elsewhere"); Jean and Pieter hear each other; Marie's row is "received" (answered
  elsewhere is never missed);
- do not disturb without voicemail: Jean gets 486 without ringing, Marie's phone never rings;
- forward always beats do not disturb: Pieter's phone rings and answers, Marie's never rings;
- do not disturb with voicemail: a pjsua agent listening at `--voicemail-uri` is called and answers, with audio
  both ways; Marie's phone never rings and her row is "missed";
- call waiting: Marie talking to Pieter; off: Jean's call is refused 486 at once (no ringing), no second call
  reaches Marie's phone and her first call goes on (row "missed"); on (the default): the second call reaches her
  phone while the first goes on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.audio import loudest_window, read_samples, rms, tone_ratio, write_tone
from tests.helpers.pjsua_agent import Event, PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS, ServerProcess, free_port
from tests.helpers.sipp_calls import CallLogEntry, GroupTemplate, read_call_log, set_services
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

JEAN, MARIE, PIETER = "jean.dupont", "marie.martin", "pieter.peeters"
MARIE_URI = "sip:+3222211202@callconnect.local;user=phone"
PIETER_URI = "sip:+3222211203@callconnect.local;user=phone"
VOICEMAIL = "voicemail"
TONES = {"201": 440.0, "202": 1000.0, "203": 697.0, VOICEMAIL: 1209.0}  # what each agent plays
# Waveform codecs for the tone checks (pjsua's first choice, speex, sometimes turns a pure tone into loud noise)
MEDIA_CODECS = ("G722/16000", "PCMU/8000")
PROMPT = 3.0  # "promptly": a hang-up, CANCEL or refusal is relayed well within this
QUIET = 1.0  # how long a phone that must not ring is watched after the call was decided
CALL_TIMEOUT = 10.0  # any single wait for a call event


def forward(number: str, **more: object) -> dict[str, object]:
    return {"active": True, "number": number, **more}


# -- the test bed --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    """The demo group with one ring = 1 s, applied once; each test's server starts from a copy."""
    return GroupTemplate.create(tmp_path_factory.mktemp("pjsua-features-template"), seconds_per_ring=1)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("feature-tones")
    return {who: write_tone(where / f"tone-{who}.wav", freq, seconds=1.0) for who, freq in TONES.items()}


@dataclass
class FeatureBed:
    """The server of one test and the pjsua agents started on it (all quit, or killed, at teardown)."""

    server: ServerProcess
    tmp_path: Path
    tones: dict[str, Path]
    agents: list[PjsuaAgent] = field(default_factory=list)

    @property
    def registrar(self) -> str:
        return f"sip:{self.server.host}:{self.server.port}"

    def _agent(self, user: str, password: str, *, media: bool) -> PjsuaAgent:
        agent = PjsuaAgent.start(
            user=user, password=password, registrar=self.registrar, domain=DEMO_DOMAIN,
            log_dir=self.tmp_path / "pjsua", proxy=f"{self.registrar};lr",
            play=self.tones[user] if media else None,
            record_dir=self.tmp_path / "recordings" if media else None, max_lifetime=60.0,
            codecs=MEDIA_CODECS if media else (),
        )
        self.agents.append(agent)
        return agent

    def phone(self, user: str, *, media: bool = True) -> PjsuaAgent:
        """A registered agent for demo user `user`; with `media` it plays its tone and records its calls."""
        agent = self._agent(user, DEMO_USERS[user], media=media)
        event = agent.register()
        assert event.code == 200, f"{user} did not register\n{agent.describe()}"
        return agent

    def call_log(self, sip_call_id: str, count: int) -> list[CallLogEntry]:
        """The `call_log` rows of the caller's call (the A leg's Call-ID), waiting (5 s at most) for `count`."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if len([r for r in read_call_log(self.server.data_dir) if r.call_id == sip_call_id]) >= count:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # an unexpected extra row would show up too
        everything = read_call_log(self.server.data_dir)
        rows = [r for r in everything if r.call_id == sip_call_id]
        assert len(rows) == count, f"expected {count} call_log rows for {sip_call_id}, got {rows}\nall: {everything}"
        return rows


BedFactory = Callable[..., FeatureBed]


@pytest.fixture
def make_bed(pjsua2_available: None, server_factory: ServerFactory, group_template: GroupTemplate,
             tones: dict[str, Path], tmp_path: Path) -> Iterator[BedFactory]:
    """`make_bed(port=None, extra_args=(), **settings_by_user)`: a server whose users have these settings."""
    beds: list[FeatureBed] = []

    def make(port: int | None = None, extra_args: tuple[str, ...] = (), **settings: dict[str, object]
             ) -> FeatureBed:
        data_dir = group_template.copy_to(tmp_path / "data")
        for user_id, services in settings.items():
            set_services(data_dir, user_id, services)
        server = server_factory(data_dir=data_dir, demo=False, port=port, extra_args=list(extra_args))
        bed = FeatureBed(server, tmp_path, tones)
        beds.append(bed)
        return bed

    yield make
    agents = [agent for bed in beds for agent in bed.agents]
    for agent in agents:
        agent.request_quit()  # in parallel: each takes about a second to hang up, unregister and destroy
    for agent in agents:
        agent.close()


# -- helpers -------------------------------------------------------------------------------------------------------
def dial(caller: PjsuaAgent, number: str) -> str:
    return caller.call(f"sip:{number}@{DEMO_DOMAIN}")


def status_of(event: Event) -> int:
    """The SIP status of a `call ID STATE CODE REASON...` event."""
    return int(event.args[2])


def states(agent: PjsuaAgent, call_id: str) -> list[str]:
    return [e.args[1] for e in agent.events_named("call", call=call_id)]


def row(rows: list[CallLogEntry], user_id: str) -> CallLogEntry:
    mine = [r for r in rows if r.user_id == user_id]
    assert len(mine) == 1, f"expected one row for {user_id}: {rows}"
    return mine[0]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(0.05)


def never_rang(agent: PjsuaAgent, *, after: int = 0) -> None:
    """No INVITE reached this phone (from history position `after`), watched for QUIET more seconds."""
    time.sleep(QUIET)
    incoming = agent.events_named("incoming", after=after)
    assert not incoming, f"this phone should not have rung: {[e.line for e in incoming]}\n{agent.describe()}"


def received_requests(agent: PjsuaAgent, method: str) -> list[str]:
    """Every `method` request the agent received, as pjsip logged it (log level 4 dumps each message). The agent
    is quit first: its log reaches the file in full only when it exits."""
    agent.close()
    text = agent.stderr_path.read_text("utf-8", "replace")
    pattern = re.compile(rf"RX \d+ bytes Request msg {method}/[^\n]*\n(.*?)\n--end msg--", re.S)
    return [match.group(1) for match in pattern.finditer(text)]


def header(message: str, name: str) -> str | None:
    match = re.search(rf"(?im)^{re.escape(name)}:[ \t]*(.*?)\s*$", message)
    return match.group(1) if match else None


def rtp_grows(agent: PjsuaAgent, call_id: str, timeout: float = 3.0) -> None:
    """Wait until the agent has received RTP on `call_id`, more than at the first look, and sent some."""
    first_rx, _ = agent.rtp_stats(call_id)

    def grew() -> bool:
        rx, tx = agent.rtp_stats(call_id)
        return rx > first_rx and tx > 0

    wait_until(grew, timeout, f"RTP to keep arriving on call {call_id}\n{agent.describe()}")


def assert_heard(agent: PjsuaAgent, call_id: str, frequency: float) -> None:
    """The agent's recording of `call_id` (finalised when the call ended) holds the far end's tone."""
    path = Path(agent.wait_event("recorded", timeout=5, where=lambda e: e.args[:1] == [call_id]).args[1])
    rate, samples = read_samples(path)
    assert len(samples) > rate // 2, f"{path}: only {len(samples)} samples recorded\n{agent.describe()}"
    window = loudest_window(samples, rate, 0.5)
    level, share = rms(window), tone_ratio(window, frequency, rate)
    # the source is an 8,000-peak sine (RMS about 5,660); silence or comfort noise is below 100
    assert level > 1500, f"{path}: RMS {level:.0f}, the far end's tone did not arrive\n{agent.describe()}"
    assert share > 0.7, f"{path}: only {share:.0%} of the energy at {frequency} Hz\n{agent.describe()}"


def answer(caller: PjsuaAgent, caller_call: str, callee: PjsuaAgent, callee_call: str) -> None:
    """The ringing callee answers 200; both sides reach CONFIRMED."""
    callee.call_command(f"answer 200 {callee_call}")
    caller.wait_call_state(caller_call, "CONFIRMED", timeout=CALL_TIMEOUT)
    callee.wait_call_state(callee_call, "CONFIRMED", timeout=CALL_TIMEOUT)


def talk_and_hang_up(caller: PjsuaAgent, caller_call: str, callee: PjsuaAgent, callee_call: str,
                     callee_tone: float, caller_tone: float) -> None:
    """RTP flows both ways for a second; the caller hangs up (the callee gets the BYE promptly); each side's
    recording holds the other's tone."""
    rtp_grows(caller, caller_call)
    rtp_grows(callee, callee_call)
    time.sleep(1.0)  # a second of each tone at the far end
    caller.call_command(f"hangup {caller_call}")
    ended = callee.wait_call_state(callee_call, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended) == 200, ended.line
    caller.wait_call_state(caller_call, "DISCONNECTED", timeout=PROMPT)
    assert_heard(caller, caller_call, callee_tone)
    assert_heard(callee, callee_call, caller_tone)


# -- forwarding ----------------------------------------------------------------------------------------------------
def test_forward_on_no_answer_rings_marie_then_pieter(make_bed: BedFactory) -> None:
    """CFNA 202 -> 203 after 2 rings of 1 s: only Marie's phone rings first; about 2 s later it is cancelled
    (487, never answered; its CANCEL does not say "completed elsewhere"); then Pieter's phone rings with Jean as
    the caller and Marie as the diverting party (Diversion no-answer, History-Info cause 408), answers, and Jean
    and Pieter hear each other. Call log: Jean placed (reached 203), Marie missed, Pieter received (from 201)."""
    bed = make_bed(**{MARIE: {"forward_no_answer": forward("203", rings=2)}})
    jean, marie, pieter = bed.phone("201"), bed.phone("202", media=False), bed.phone("203")

    cid = dial(jean, "202")
    mid, shown_to_marie = marie.wait_incoming(timeout=CALL_TIMEOUT)
    rang_at = time.monotonic()
    assert "Jean Dupont" in shown_to_marie, shown_to_marie
    jean.wait_call_state(cid, "EARLY", timeout=CALL_TIMEOUT)
    assert not pieter.events_named("incoming"), f"Pieter rang before Marie's rings were over\n{pieter.describe()}"

    cancelled = marie.wait_call_state(mid, "DISCONNECTED", timeout=CALL_TIMEOUT)
    rang_for = time.monotonic() - rang_at
    assert status_of(cancelled) == 487, cancelled.line
    assert "CONFIRMED" not in states(marie, mid), marie.describe()
    assert 1.5 <= rang_for <= 6.0, f"Marie's phone rang {rang_for:.1f}s, 2 rings of 1 s expected\n{marie.describe()}"
    assert "DISCONNECTED" not in states(jean, cid), f"the caller must stay on the line\n{jean.describe()}"

    pid, shown_to_pieter = pieter.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown_to_pieter and "201" in shown_to_pieter, shown_to_pieter
    answer(jean, cid, pieter, pid)
    talk_and_hang_up(jean, cid, pieter, pid, TONES["203"], TONES["201"])

    cancels = received_requests(marie, "CANCEL")
    assert cancels, f"Marie's phone got no CANCEL\n{marie.describe()}"
    for cancel in cancels:  # a no-answer timeout is not "completed elsewhere"
        assert "cause=200" not in (header(cancel, "Reason") or ""), cancel
    invites = received_requests(pieter, "INVITE")
    assert len(invites) == 1, invites
    assert header(invites[0], "Diversion") == f"<{MARIE_URI}>;reason=no-answer;counter=1", invites[0]
    assert f"<{PIETER_URI};cause=408>" in (header(invites[0], "History-Info") or ""), invites[0]

    rows = bed.call_log(jean.sip_call_id(cid), 3)
    placed, missed, received = row(rows, JEAN), row(rows, MARIE), row(rows, PIETER)
    assert (placed.direction, placed.other_number) == ("placed", "203"), placed
    assert (missed.direction, missed.other_number, missed.answered_at) == ("missed", "201", None), missed
    assert (received.direction, received.other_number) == ("received", "201"), received
    assert received.duration is not None and received.duration > 0, received


def test_forward_always_beats_do_not_disturb(make_bed: BedFactory) -> None:
    """Forward always and DND both on: forward always wins (features.md step 2 before 3): Pieter's phone rings
    and answers, audio flows with Jean, Marie's phone never rings."""
    bed = make_bed(**{MARIE: {"forward_always": forward("203"), "dnd": {"active": True}}})
    jean, marie, pieter = bed.phone("201"), bed.phone("202", media=False), bed.phone("203")

    cid = dial(jean, "202")
    pid, shown = pieter.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown, shown
    jean.wait_call_state(cid, "EARLY", timeout=CALL_TIMEOUT)
    answer(jean, cid, pieter, pid)
    talk_and_hang_up(jean, cid, pieter, pid, TONES["203"], TONES["201"])
    never_rang(marie)


# -- do not disturb ------------------------------------------------------------------------------------------------
def test_do_not_disturb_without_voicemail_is_busy(make_bed: BedFactory) -> None:
    """DND on, no voicemail service: Jean's call ends with 486 without ever ringing; Marie's phone never rings."""
    bed = make_bed(**{MARIE: {"dnd": {"active": True}}})
    jean, marie = bed.phone("201", media=False), bed.phone("202", media=False)

    cid = dial(jean, "202")
    ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=CALL_TIMEOUT)
    assert status_of(ended) == 486, ended.line
    assert "EARLY" not in states(jean, cid), f"a DND refusal must not ring first\n{jean.describe()}"
    never_rang(marie)


def test_do_not_disturb_goes_to_a_voicemail_agent(make_bed: BedFactory, tones: dict[str, Path],
                                                  tmp_path: Path) -> None:
    """DND on with voicemail: the server calls the pjsua agent listening at `--voicemail-uri` (not registered,
    reached by address), which answers; Jean and the voicemail hear each other; Marie's phone never rings; her
    call-log row is "missed" (a call left on voicemail)."""
    server_port = free_port()
    # The agent starts first (the server's --voicemail-uri needs its address), on the port the server will take.
    registrar = f"sip:127.0.0.1:{server_port}"
    voicemail = PjsuaAgent.start(
        user=VOICEMAIL, password="unused", registrar=registrar, domain="127.0.0.1", log_dir=tmp_path / "pjsua",
        proxy=f"{registrar};lr", play=tones[VOICEMAIL], record_dir=tmp_path / "recordings", max_lifetime=60.0,
        codecs=MEDIA_CODECS,
    )
    try:
        bed = make_bed(port=server_port, extra_args=("--voicemail-uri", f"sip:voicemail@{voicemail.local}"),
                       **{MARIE: {"dnd": {"active": True}}})
    except BaseException:
        voicemail.close()
        raise
    bed.agents.append(voicemail)  # quit with the others at teardown
    jean, marie = bed.phone("201"), bed.phone("202", media=False)

    cid = dial(jean, "202")
    vid, shown = voicemail.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown, shown
    answer(jean, cid, voicemail, vid)
    talk_and_hang_up(jean, cid, voicemail, vid, TONES[VOICEMAIL], TONES["201"])
    never_rang(marie)

    rows = bed.call_log(jean.sip_call_id(cid), 2)
    assert row(rows, JEAN).direction == "placed", rows
    assert (row(rows, MARIE).direction, row(rows, MARIE).answered_at) == ("missed", None), rows


# -- call waiting --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call_waiting", [False, True], ids=["call-waiting-off", "call-waiting-on"])
def test_call_waiting(make_bed: BedFactory, call_waiting: bool) -> None:
    """Marie talks to Pieter (answered, RTP both ways). Call waiting off: Jean's call to 202 is refused 486 at
    once (no ringing), no second call reaches Marie's phone, her call with Pieter goes on, and her row for Jean's
    call is "missed". Call waiting on (the default): Jean's call rings Marie's phone while her first call goes on;
    then everything is hung up."""
    settings = {} if call_waiting else {MARIE: {"call_waiting": {"active": False}}}
    bed = make_bed(**settings)
    jean, marie, pieter = bed.phone("201", media=False), bed.phone("202"), bed.phone("203")

    first = dial(pieter, "202")
    mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
    pieter.wait_call_state(first, "EARLY", timeout=CALL_TIMEOUT)
    answer(pieter, first, marie, mid)
    rtp_grows(marie, mid)
    rtp_grows(pieter, first)

    mark = marie.mark()
    started = time.monotonic()
    cid = dial(jean, "202")
    if call_waiting:
        second, shown = marie.wait_incoming(after=mark, timeout=CALL_TIMEOUT)
        assert second != mid and "Jean Dupont" in shown, shown
        jean.wait_call_state(cid, "EARLY", timeout=CALL_TIMEOUT)
        rtp_grows(marie, mid)  # the first call goes on while the second rings
        jean.call_command(f"hangup {cid}")
        ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
        assert status_of(ended) == 487, ended.line
        marie.wait_call_state(second, "DISCONNECTED", timeout=PROMPT)
    else:
        ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
        assert time.monotonic() - started < PROMPT
        assert status_of(ended) == 486, ended.line
        assert "EARLY" not in states(jean, cid), f"a busy refusal must not ring first\n{jean.describe()}"
        never_rang(marie, after=mark)
        rtp_grows(marie, mid)  # the first call goes on
        rows = bed.call_log(jean.sip_call_id(cid), 2)
        assert row(rows, JEAN).direction == "placed", rows
        assert (row(rows, MARIE).direction, row(rows, MARIE).other_number) == ("missed", "201"), rows

    assert "DISCONNECTED" not in states(marie, mid), marie.describe()
    time.sleep(1.0)  # a second of each tone at the far end of the first call
    pieter.call_command(f"hangup {first}")
    ended_first = marie.wait_call_state(mid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended_first) == 200, ended_first.line
    pieter.wait_call_state(first, "DISCONNECTED", timeout=PROMPT)
    assert_heard(marie, mid, TONES["203"])
    assert_heard(pieter, first, TONES["202"])


# -- simultaneous ring ---------------------------------------------------------------------------------------------
def test_simultaneous_ring_first_answer_wins(make_bed: BedFactory) -> None:
    """Marie's phone and her simultaneous-ring number (Pieter's line) ring together: both phones have the call
    before anyone answers; Pieter answers, Marie's ringing call is cancelled (never answered) with Reason
    "Call completed elsewhere"; Jean and Pieter
    hear each other; Marie's row is "received" (answered at one of her locations), Jean's names 203."""
    bed = make_bed(**{MARIE: {"simultaneous_ring": {"active": True, "numbers": [{"number": "203"}]}}})
    jean, marie, pieter = bed.phone("201"), bed.phone("202", media=False), bed.phone("203")

    cid = dial(jean, "202")
    mid, shown_to_marie = marie.wait_incoming(timeout=CALL_TIMEOUT)
    pid, shown_to_pieter = pieter.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown_to_marie and "Jean Dupont" in shown_to_pieter, (shown_to_marie, shown_to_pieter)
    jean.wait_call_state(cid, "EARLY", timeout=CALL_TIMEOUT)
    assert "DISCONNECTED" not in states(marie, mid), f"Marie's phone must still ring\n{marie.describe()}"

    answer(jean, cid, pieter, pid)
    cancelled = marie.wait_call_state(mid, "DISCONNECTED", timeout=PROMPT)
    assert "CONFIRMED" not in states(marie, mid), marie.describe()
    assert status_of(cancelled) == 487, cancelled.line
    talk_and_hang_up(jean, cid, pieter, pid, TONES["203"], TONES["201"])
    cancels = received_requests(marie, "CANCEL")
    assert cancels, f"Marie's phone got no CANCEL\n{marie.describe()}"
    for cancel in cancels:
        assert header(cancel, "Reason") == 'SIP;cause=200;text="Call completed elsewhere"', cancel

    rows = bed.call_log(jean.sip_call_id(cid), 2)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "203"), rows
    received = row(rows, MARIE)
    assert (received.direction, received.other_number) == ("received", "201"), received
    assert received.answered_at is not None, received
