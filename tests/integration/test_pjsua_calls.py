"""Real user agents (pjsua2, PJSIP 2.15) calling each other through the B2BUA, over UDP and TCP.

Every test starts a fresh server (the demo group, applied once per module and copied), then pjsua agents
(`tests/helpers/pjsua_agent.py`, one pjsua Endpoint per process, driven over stdin/stdout) that register as demo
users 201..204 and send their INVITEs through the server (outbound proxy `sip:127.0.0.1:PORT;lr`, digest
credentials: the server challenges INVITEs with 407). The server relays SDP only: RTP flows directly between the
agents, so an answered call is proved end to end by what arrives there: each agent plays its own tone (201:
440 Hz, 202: 1 kHz) and records what it receives, and each recording must hold the other side's tone.

Covered: answered calls hung up from either side over UDP, TCP and mixed transports; 486 / 603 rejections;
CANCEL while ringing (487); hold and resume from either side; RFC 4733 DTMF both ways; unknown extension (404),
unregistered user (480); what the callee is shown (Jean Dupont, 201); the national and E.164 forms of a
number; pjsua's codec-locking UPDATE after a multi-codec 200 (SIPp callee); and the `call_log` rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.audio import loudest_window, read_samples, rms, tone_ratio, write_tone
from tests.helpers.pjsua_agent import PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS, ServerProcess
from tests.helpers.sipp_calls import CallLogEntry, GroupTemplate, SippPeers, read_call_log, wait_call_log
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

JEAN, MARIE = "jean.dupont", "marie.martin"
TONES = {"201": 440.0, "202": 1000.0, "203": 697.0, "204": 1209.0}  # what each user's agent plays
# Waveform codecs for the tone checks (pjsua's first choice, speex, sometimes turns a pure tone into loud noise)
MEDIA_CODECS = ("G722/16000", "PCMU/8000")
PROMPT = 3.0  # "promptly": a hang-up, CANCEL or re-INVITE is relayed well within this


# -- the test bed --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    """The demo group applied once; each test's server starts from a copy (faster than `--demo`)."""
    return GroupTemplate.create(tmp_path_factory.mktemp("pjsua-calls-template"))


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("tones")
    return {user: write_tone(where / f"tone-{user}.wav", freq, seconds=1.0) for user, freq in TONES.items()}


@dataclass
class Phones:
    """The server of one test and the pjsua agents started on it (all quit, or killed, at teardown)."""

    server: ServerProcess
    tmp_path: Path
    tones: dict[str, Path]
    agents: list[PjsuaAgent] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"sip:{self.server.host}:{self.server.port};lr"

    def start(self, user: str, transport: str = "udp", *, media: bool = True, register: bool = True
              ) -> PjsuaAgent:
        """An agent for demo user `user` (AOR sip:USER@callconnect.local), registered unless told otherwise;
        with `media`, it plays its tone into its calls and records what it receives."""
        agent = PjsuaAgent.start(
            user=user, password=DEMO_USERS[user], registrar=f"sip:{self.server.host}:{self.server.port}",
            transport=transport, domain=DEMO_DOMAIN, log_dir=self.tmp_path / "pjsua", proxy=self.proxy,
            play=self.tones[user] if media else None,
            record_dir=self.tmp_path / "recordings" if media else None, max_lifetime=60.0,
            codecs=MEDIA_CODECS if media else (),
        )
        self.agents.append(agent)
        if register:
            event = agent.register()
            assert event.code == 200, f"{user} did not register over {transport}\n{agent.describe()}"
        return agent

    def call_log(self, sip_call_id: str, count: int) -> list[CallLogEntry]:
        """The `call_log` rows of the caller's call (the A leg's Call-ID), waiting for `count` of them."""
        deadline = time.monotonic() + 5.0
        rows: list[CallLogEntry] = []
        while time.monotonic() < deadline:
            rows = [r for r in read_call_log(self.server.data_dir) if r.call_id == sip_call_id]
            if len(rows) >= count:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # an unexpected extra row would show up too
        rows = [r for r in read_call_log(self.server.data_dir) if r.call_id == sip_call_id]
        everything = wait_call_log(self.server.data_dir, 0, timeout=0, settle=0)
        assert len(rows) == count, f"expected {count} call_log rows for {sip_call_id}, got {rows}\nall: {everything}"
        return rows


@pytest.fixture
def phones(pjsua2_available: None, server_factory: ServerFactory, group_template: GroupTemplate,
           tones: dict[str, Path], tmp_path: Path) -> Iterator[Phones]:
    server = server_factory(data_dir=group_template.copy_to(tmp_path / "data"), demo=False)
    bed = Phones(server, tmp_path, tones)
    yield bed
    for agent in bed.agents:
        agent.request_quit()  # in parallel: each takes about a second to hang up, unregister and destroy
    for agent in bed.agents:
        agent.close()


# -- helpers -------------------------------------------------------------------------------------------------------
def row(rows: list[CallLogEntry], user_id: str) -> CallLogEntry:
    mine = [r for r in rows if r.user_id == user_id]
    assert len(mine) == 1, f"expected one row for {user_id}: {rows}"
    return mine[0]


def connect(caller: PjsuaAgent, callee: PjsuaAgent, dial: str = "202") -> tuple[str, str, str]:
    """Caller dials `dial`; the callee rings (180), answers 200; both CONFIRMED. (caller ID, callee ID, what the
    callee was shown as the caller)."""
    cid = caller.call(f"sip:{dial}@{DEMO_DOMAIN}")
    bid, shown = callee.wait_incoming(timeout=5)
    caller.wait_call_state(cid, "EARLY", timeout=5)
    callee.call_command(f"answer 200 {bid}")
    caller.wait_call_state(cid, "CONFIRMED", timeout=5)
    callee.wait_call_state(bid, "CONFIRMED", timeout=5)
    return cid, bid, shown


def status_of(event_args: list[str]) -> int:
    """The SIP status of a `call ID STATE CODE REASON...` event."""
    return int(event_args[2])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(0.05)


def rtp_grows(agent: PjsuaAgent, call_id: str, timeout: float = 3.0) -> tuple[int, int]:
    """Wait until the agent has received RTP on `call_id` (and more than at the first look); (rx, tx)."""
    first_rx, _ = agent.rtp_stats(call_id)
    stats = (first_rx, 0)

    def grew() -> bool:
        nonlocal stats
        stats = agent.rtp_stats(call_id)
        return stats[0] > first_rx and stats[1] > 0

    wait_until(grew, timeout, f"RTP to keep arriving on call {call_id}\n{agent.describe()}")
    return stats


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


def assert_answered_rows(rows: list[CallLogEntry]) -> None:
    placed, received = row(rows, JEAN), row(rows, MARIE)
    assert (placed.direction, placed.other_number, placed.other_name) == ("placed", "202", "Marie Martin"), placed
    assert (received.direction, received.other_number) == ("received", "201"), received
    assert received.other_name == "Jean Dupont", received
    for entry in (placed, received):
        assert entry.answered_at is not None and entry.ended_at is not None, entry
        assert entry.duration is not None and entry.duration > 0, entry


# -- answered calls ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("caller_transport", "callee_transport", "hangs_up"),
    [("udp", "udp", "caller"), ("udp", "udp", "callee"), ("tcp", "tcp", "caller"), ("tcp", "tcp", "callee"),
     ("udp", "tcp", "caller")],
    ids=["udp-caller-hangs-up", "udp-callee-hangs-up", "tcp-caller-hangs-up", "tcp-callee-hangs-up",
         "udp-to-tcp"],
)
def test_answered_call_media_both_ways_and_call_log(phones: Phones, caller_transport: str,
                                                    callee_transport: str, hangs_up: str) -> None:
    """201 calls 202: 180, 200, both CONFIRMED; each side's tone arrives at the other (RTP straight between
    the agents on the SDP the B2BUA relayed); one side hangs up and the other is disconnected promptly; the
    callee was shown "Jean Dupont" <...201...>; call_log: placed (jean.dupont -> 202) and received
    (marie.martin <- 201), both with a duration."""
    jean = phones.start("201", caller_transport)
    marie = phones.start("202", callee_transport)
    cid, bid, shown = connect(jean, marie)
    assert "Jean Dupont" in shown and "201" in shown, shown

    rtp_grows(jean, cid)
    rtp_grows(marie, bid)
    time.sleep(1.0)  # a second of each tone at the far end

    ender, ender_id, other, other_id = (jean, cid, marie, bid) if hangs_up == "caller" else (marie, bid, jean, cid)
    start = time.monotonic()
    ender.call_command(f"hangup {ender_id}")
    ended = other.wait_call_state(other_id, "DISCONNECTED", timeout=PROMPT)
    assert time.monotonic() - start < PROMPT
    assert status_of(ended.args) == 200, ended.line
    ender.wait_call_state(ender_id, "DISCONNECTED", timeout=PROMPT)

    assert_heard(jean, cid, TONES["202"])
    assert_heard(marie, bid, TONES["201"])
    assert_answered_rows(phones.call_log(jean.sip_call_id(cid), 2))


@pytest.mark.parametrize("dial", ["022211202", "+3222211202"], ids=["national", "e164"])
def test_other_forms_of_the_number_ring_the_user(phones: Phones, dial: str) -> None:
    """The national and E.164 numbers of 202 ring 202's phone; the caller's log shows who answered (202)."""
    jean = phones.start("201", media=False)
    marie = phones.start("202", media=False)
    cid, bid, shown = connect(jean, marie, dial)
    assert "Jean Dupont" in shown, shown
    jean.call_command(f"hangup {cid}")
    marie.wait_call_state(bid, "DISCONNECTED", timeout=PROMPT)
    rows = phones.call_log(jean.sip_call_id(cid), 2)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "202"), rows
    assert (row(rows, MARIE).direction, row(rows, MARIE).other_number) == ("received", "201"), rows


# -- unanswered calls ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [486, 603])
def test_callee_rejects(phones: Phones, status: int) -> None:
    """The ringing callee answers 486 / 603: the caller's call ends with that status; a missed call for 202."""
    jean = phones.start("201", media=False)
    marie = phones.start("202", media=False)
    cid = jean.call(f"sip:202@{DEMO_DOMAIN}")
    bid, _ = marie.wait_incoming(timeout=5)
    jean.wait_call_state(cid, "EARLY", timeout=5)
    marie.call_command(f"answer {status} {bid}")
    ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended.args) == status, ended.line
    marie.wait_call_state(bid, "DISCONNECTED", timeout=PROMPT)
    rows = phones.call_log(jean.sip_call_id(cid), 2)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "202"), rows
    assert (row(rows, MARIE).direction, row(rows, MARIE).other_number) == ("missed", "201"), rows
    assert row(rows, JEAN).answered_at is None and row(rows, MARIE).answered_at is None, rows


def test_caller_cancels_while_ringing(phones: Phones) -> None:
    """The caller hangs up during the 180: it gets 487, the ringing callee's call is cancelled; 202 missed it."""
    jean = phones.start("201", media=False)
    marie = phones.start("202", media=False)
    cid = jean.call(f"sip:202@{DEMO_DOMAIN}")
    bid, _ = marie.wait_incoming(timeout=5)
    jean.wait_call_state(cid, "EARLY", timeout=5)
    marie.wait_call_state(bid, "EARLY", timeout=5)
    time.sleep(0.3)
    jean.call_command(f"hangup {cid}")
    ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended.args) == 487, ended.line
    cancelled = marie.wait_call_state(bid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(cancelled.args) == 487, cancelled.line
    assert marie.events_named("call", call=bid)[-1].args[1] == "DISCONNECTED"
    assert not any(e.args[1] == "CONFIRMED" for e in marie.events_named("call", call=bid)), marie.describe()
    rows = phones.call_log(jean.sip_call_id(cid), 2)
    assert row(rows, MARIE).direction == "missed" and row(rows, MARIE).other_number == "201", rows
    assert row(rows, JEAN).direction == "placed" and row(rows, JEAN).answered_at is None, rows


@pytest.mark.parametrize(("dial", "status", "was_registered"),
                         [("299", 404, False), ("203", 480, False), ("203", 480, True)],
                         ids=["unknown-extension-404", "never-registered-480", "unregistered-480"])
def test_call_refused(phones: Phones, dial: str, status: int, was_registered: bool) -> None:
    """299 is nobody (404); 203 exists but has no registered phone (480), never or no longer (its phone
    registered, then unregistered)."""
    if was_registered:
        pieter = phones.start("203", media=False)
        assert pieter.unregister().code == 200, pieter.describe()
    jean = phones.start("201", media=False)
    cid = jean.call(f"sip:{dial}@{DEMO_DOMAIN}")
    ended = jean.wait_call_state(cid, "DISCONNECTED", timeout=5)
    assert status_of(ended.args) == status, ended.line
    assert not jean.events_named("media", call=cid), jean.describe()
    if was_registered:
        assert not pieter.events_named("incoming"), pieter.describe()


# -- in-dialog requests --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("holder", "transport"), [("caller", "udp"), ("callee", "udp"), ("caller", "tcp"),
                                                   ("callee", "tcp")])
def test_hold_and_resume(phones: Phones, holder: str, transport: str) -> None:
    """A re-INVITE a=sendonly from either side reaches the other (remote hold: its media goes recvonly), and
    a=sendrecv resumes it; RTP flows again after the resume."""
    jean = phones.start("201", transport, media=False)
    marie = phones.start("202", transport, media=False)
    cid, bid, _ = connect(jean, marie)
    a, a_id, b, b_id = (jean, cid, marie, bid) if holder == "caller" else (marie, bid, jean, cid)
    rtp_grows(b, b_id)

    a_mark, b_mark = a.mark(), b.mark()
    a.call_command(f"hold {a_id}")
    held = a.wait_media(a_id, "local_hold", after=a_mark, timeout=PROMPT)
    assert held.args[2] == "sendonly", held.line
    remote = b.wait_media(b_id, "remote_hold", after=b_mark, timeout=PROMPT)
    assert remote.args[2] == "recvonly", remote.line
    a.wait_event("tsx", after=a_mark, timeout=PROMPT, where=lambda e: e.args[:3] == [a_id, "uac", "INVITE"])
    assert a.events_named("tsx", after=a_mark, call=a_id)[0].args[3] == "200", a.describe()

    a_mark, b_mark = a.mark(), b.mark()
    a.call_command(f"unhold {a_id}")
    resumed = a.wait_media(a_id, "active", after=a_mark, timeout=PROMPT)
    assert resumed.args[2] == "sendrecv", resumed.line
    back = b.wait_media(b_id, "active", after=b_mark, timeout=PROMPT)
    assert back.args[2] == "sendrecv", back.line
    rtp_grows(b, b_id)
    rtp_grows(a, a_id)
    for agent, call_id in ((a, a_id), (b, b_id)):
        states = [e.args[1] for e in agent.events_named("call", call=call_id)]
        assert "DISCONNECTED" not in states, agent.describe()


def test_dtmf_both_ways(phones: Phones) -> None:
    """RFC 4733 digits from the caller reach the callee in order, and the other way round."""
    jean = phones.start("201", media=False)
    marie = phones.start("202", media=False)
    cid, bid, _ = connect(jean, marie)
    rtp_grows(marie, bid)
    jean.call_command(f"dtmf 1234*#9 {cid}")
    wait_until(lambda: len(marie.events_named("digit", call=bid)) >= 7, 5, f"7 digits\n{marie.describe()}")
    assert "".join(e.args[1] for e in marie.events_named("digit", call=bid)) == "1234*#9"
    marie.call_command(f"dtmf 0#5 {bid}")
    wait_until(lambda: len(jean.events_named("digit", call=cid)) >= 3, 5, f"3 digits\n{jean.describe()}")
    assert "".join(e.args[1] for e in jean.events_named("digit", call=cid)) == "0#5"


# -- pjsua's codec-locking UPDATE ----------------------------------------------------------------------------------
UAS_MULTI_CODEC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- A callee whose 200 answers with three codecs: pjsua (the offerer) then locks one with an in-dialog UPDATE
     (RFC 3311), which the B2BUA must relay; its 200 answers with one codec. Then the caller's BYE. -->
<scenario name="callee multi-codec answer">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 3 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:3 GSM/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16

  ]]></send>
  <recv request="ACK"/>
  <recv request="UPDATE">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP [0-9]+( [0-9]+)?[^ 0-9]" search_in="body" check_it="true"
            assign_to="locked"/>
      <log message="locked=[$locked]"/>
    </action>
  </recv>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16

  ]]></send>
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
</scenario>
"""


def test_codec_locking_update_after_a_multi_codec_200(phones: Phones, sipp: str, tmp_path: Path) -> None:
    """pjsua, offered a 200 with PCMU, PCMA and GSM, sends an UPDATE with one codec (RFC 3311, in dialog): the
    B2BUA relays it to the callee and its 200 back; the call stays up and ends normally."""
    scenario_file = tmp_path / "uas_multi_codec.xml"
    scenario_file.write_text(UAS_MULTI_CODEC, "ISO-8859-1")
    jean = phones.start("201", media=False)
    with SippPeers(tmp_path / "sipp", (phones.server.host, phones.server.port)) as peers:
        callee = peers.callee("202", scenario_file, timeout=15)
        cid = jean.call(f"sip:202@{DEMO_DOMAIN}")
        jean.wait_call_state(cid, "CONFIRMED", timeout=5)
        update = jean.wait_event("tsx", timeout=5, where=lambda e: e.args[:3] == [cid, "uac", "UPDATE"])
        assert update.args[3] == "200", f"{update.line}\n{jean.describe()}"
        time.sleep(0.3)
        states = [e.args[1] for e in jean.events_named("call", call=cid)]
        assert "DISCONNECTED" not in states, jean.describe()
        jean.call_command(f"hangup {cid}")
        jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
        run = callee.wait(10)
        assert run.ok, run.explain()
        updates = run.received("UPDATE")
        assert len(updates) == 1, run.explain()
        m_line = re.search(r"(?m)^m=audio \d+ RTP/AVP ([\d ]+?)\s*$", updates[0])
        assert m_line is not None and m_line.group(1).split()[0] in ("0", "8", "3"), updates[0]
