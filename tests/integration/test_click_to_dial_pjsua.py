"""Click-to-dial (RFC 3725) with real user agents: the server calls the user's pjsua2 phone, then the target's.

The server runs in this process, on its own event loop in a thread (`start_server`, real UDP/TCP sockets on
free loopback ports, the demo group with one ring = 1 s): click-to-dial has no wire of its own to trigger it —
the portal calls `RunningServer.click_to_dial(user_id, number)`, and so does this test, through the loop.
Everything else is as for any call: pjsua2 phones in their own processes register over UDP and talk RTP
straight to each other; a call is proved answered by each side's recording holding the other side's tone, and
the call logs are read from the server's database.

Covered:
- Jean clicks 202: his phone is called with the auto-answer hints and shows Marie; he answers; Marie's phone
  rings showing Jean; she answers; audio both ways; the lamps (live call state) show both talking; Jean hangs
  up, Marie gets the BYE; call log: Jean placed (202), Marie received (201);
- Jean has two phones: both ring, the one he answers is joined with Marie, the other is cancelled
  "completed elsewhere";
- Jean's phone refuses, or does not answer within the answer timeout: Marie's phone never rings, no call log;
- Marie busy (do not disturb without voicemail): Jean's phone, answered, gets a BYE with the 486 as Reason
  and Marie's phone never rings; call log: Jean placed, Marie missed;
- Jean hangs up while Marie's phone rings: Marie's phone is cancelled;
- the callee's features apply as to any call of Jean's: Marie forwards always to Pieter, whose phone rings
  (Diversion naming Marie) and talks with Jean; call log: Jean placed, Marie missed, Pieter received;
- Marie on do not disturb with voicemail: the voicemail (a pjsua agent at `--voicemail-uri`) answers Jean,
  audio both ways, Marie's phone never rings and her row is "missed";
- an outside number through the trunk with Jean's CLIR on: the carrier (SIPp) gets a late-offer INVITE for the
  E.164 number with an anonymous From and `Privacy: id`, answers with its offer, and its ACK carries Jean's
  phone's answer; Jean hangs up, the carrier gets the BYE; call log: Jean placed (the number as clicked);
- refusals before anything is sent: unknown user, a number that cannot be dialled, no registered phone.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sipserver.aio.transports import ListenAddress
from sipserver.app import RunningServer, start_server
from sipserver.b2bua.click_to_dial import NoRegisteredPhone, NotDialable, UnknownUser
from sipserver.b2bua.termination import VoicemailService
from sipserver.config import ServerConfig
from tests.helpers.audio import loudest_window, read_samples, rms, tone_ratio, write_tone
from tests.helpers.pjsua_agent import Event, PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS, free_port
from tests.helpers.sipp_calls import CallLogEntry, GroupTemplate, SippPeers, read_call_log, scenario, set_services

pytestmark = pytest.mark.integration

JEAN, MARIE, PIETER = "jean.dupont", "marie.martin", "pieter.peeters"
VOICEMAIL = "voicemail"
TONES = {"201": 440.0, "202": 1000.0, "203": 697.0, VOICEMAIL: 1209.0}
MEDIA_CODECS = ("G722/16000", "PCMU/8000")
CALL_TIMEOUT = 10.0
PROMPT = 3.0
QUIET = 1.0
T = TypeVar("T")


@dataclass
class ThreadServer:
    """The real server on its own event loop in a thread of this process."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    running: RunningServer
    port: int
    data_dir: Path

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None, voicemail: str | None = None) -> ThreadServer:
        port = port or free_port()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="callconnect-server", daemon=True)
        thread.start()
        config = ServerConfig(sip_listen=(ListenAddress("127.0.0.1", port),), http_listen=None, data_dir=data_dir,
                              use_uvloop=False, log_level="warning",
                              voicemail=(VoicemailService.from_uri(voicemail),) if voicemail else ())
        running = asyncio.run_coroutine_threadsafe(start_server(config), loop).result(20)
        return cls(loop, thread, running, port, data_dir)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def click_to_dial(self, user_id: str, number: str) -> None:
        self.run(self.running.click_to_dial(user_id, number))

    def live_states(self, user_id: str) -> list[tuple[str, str]]:
        """(direction, state) of the user's legs as the lamps see them, read on the server's loop."""
        async def read() -> list[tuple[str, str]]:
            return [(leg.direction, leg.state) for leg in self.running.application.calls.live.legs_of(user_id)]
        return self.run(read())

    def set_answer_timeout(self, seconds: float) -> None:
        async def change() -> None:
            self.running.application.calls.click_answer_timeout = seconds
        self.run(change())

    def stop(self) -> None:
        try:
            self.run(self.running.stop(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("click-to-dial-template"), seconds_per_ring=1)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("click-to-dial-tones")
    return {who: write_tone(where / f"tone-{who}.wav", freq, seconds=1.0) for who, freq in TONES.items()}


@dataclass
class Bed:
    server: ThreadServer
    tmp_path: Path
    tones: dict[str, Path]
    trunk_port: int
    agents: list[PjsuaAgent] = field(default_factory=list)

    def phone(self, user: str, *, media: bool = True) -> PjsuaAgent:
        registrar = f"sip:127.0.0.1:{self.server.port}"
        agent = PjsuaAgent.start(
            user=user, password=DEMO_USERS[user], registrar=registrar, domain=DEMO_DOMAIN,
            log_dir=self.tmp_path / "pjsua", proxy=f"{registrar};lr", play=self.tones[user] if media else None,
            record_dir=self.tmp_path / "recordings" if media else None, max_lifetime=60.0,
            codecs=MEDIA_CODECS if media else (),
        )
        self.agents.append(agent)
        event = agent.register()
        assert event.code == 200, f"{user} did not register\n{agent.describe()}"
        return agent

    def call_log(self, sip_call_id: str, count: int) -> list[CallLogEntry]:
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


@pytest.fixture
def make_bed(pjsua2_available: None, group_template: GroupTemplate, tones: dict[str, Path],
             tmp_path: Path) -> Iterator[Callable[..., Bed]]:
    beds: list[Bed] = []

    def make(port: int | None = None, voicemail: str | None = None, **settings: dict[str, object]) -> Bed:
        data_dir = group_template.copy_to(tmp_path / f"data{len(beds)}")
        for user_id, services in settings.items():
            set_services(data_dir, user_id, services)
        bed = Bed(ThreadServer.start(data_dir, port, voicemail), tmp_path, tones, group_template.trunk_port)
        beds.append(bed)
        return bed

    yield make
    for bed in beds:
        for agent in bed.agents:
            agent.request_quit()
        for agent in bed.agents:
            agent.close()
        bed.server.stop()


# -- helpers -------------------------------------------------------------------------------------------------------
def status_of(event: Event) -> int:
    return int(event.args[2])


def states(agent: PjsuaAgent, call_id: str) -> list[str]:
    return [e.args[1] for e in agent.events_named("call", call=call_id)]


def never_rang(agent: PjsuaAgent) -> None:
    time.sleep(QUIET)
    incoming = agent.events_named("incoming")
    assert not incoming, f"this phone should not have rung: {[e.line for e in incoming]}\n{agent.describe()}"


def received_requests(agent: PjsuaAgent, method: str) -> list[str]:
    """Every `method` request the agent received, from its pjsip log (complete once the agent has quit)."""
    agent.close()
    text = agent.stderr_path.read_text("utf-8", "replace")
    pattern = re.compile(rf"RX \d+ bytes Request msg {method}/[^\n]*\n(.*?)\n--end msg--", re.S)
    return [match.group(1) for match in pattern.finditer(text)]


def header(message: str, name: str) -> str | None:
    match = re.search(rf"(?im)^{re.escape(name)}:[ \t]*(.*?)\s*$", message)
    return match.group(1) if match else None


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(0.05)


def rtp_grows(agent: PjsuaAgent, call_id: str, timeout: float = 3.0) -> None:
    first_rx, _ = agent.rtp_stats(call_id)

    def grew() -> bool:
        rx, tx = agent.rtp_stats(call_id)
        return rx > first_rx and tx > 0

    wait_until(grew, timeout, f"RTP to keep arriving on call {call_id}\n{agent.describe()}")


def assert_heard(agent: PjsuaAgent, call_id: str, frequency: float) -> None:
    path = Path(agent.wait_event("recorded", timeout=5, where=lambda e: e.args[:1] == [call_id]).args[1])
    rate, samples = read_samples(path)
    assert len(samples) > rate // 2, f"{path}: only {len(samples)} samples recorded\n{agent.describe()}"
    window = loudest_window(samples, rate, 0.5)
    level, share = rms(window), tone_ratio(window, frequency, rate)
    assert level > 1500, f"{path}: RMS {level:.0f}, the far end's tone did not arrive\n{agent.describe()}"
    assert share > 0.7, f"{path}: only {share:.0%} of the energy at {frequency} Hz\n{agent.describe()}"


def row(rows: list[CallLogEntry], user_id: str) -> CallLogEntry:
    mine = [r for r in rows if r.user_id == user_id]
    assert len(mine) == 1, f"expected one row for {user_id}: {rows}"
    return mine[0]


# -- tests ---------------------------------------------------------------------------------------------------------
def test_click_to_dial_rings_the_users_phone_then_connects_the_colleague(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    jean, marie = bed.phone("201"), bed.phone("202")

    bed.server.click_to_dial(JEAN, "202")
    jid, shown_to_jean = jean.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Marie Martin" in shown_to_jean and "202" in shown_to_jean, shown_to_jean
    assert not marie.events_named("incoming"), f"the target rang before the user answered\n{marie.describe()}"
    jean.call_command(f"answer 200 {jid}")
    jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)

    mid, shown_to_marie = marie.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown_to_marie and "201" in shown_to_marie, shown_to_marie
    assert bed.server.live_states(MARIE) == [("recipient", "early")]
    marie.call_command(f"answer 200 {mid}")
    marie.wait_call_state(mid, "CONFIRMED", timeout=CALL_TIMEOUT)

    rtp_grows(jean, jid)
    rtp_grows(marie, mid)
    assert bed.server.live_states(JEAN) == [("initiator", "confirmed")]
    assert bed.server.live_states(MARIE) == [("recipient", "confirmed")]
    time.sleep(1.0)
    jean.call_command(f"hangup {jid}")
    ended = marie.wait_call_state(mid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended) == 200, ended.line
    jean.wait_call_state(jid, "DISCONNECTED", timeout=PROMPT)
    assert_heard(jean, jid, TONES["202"])
    assert_heard(marie, mid, TONES["201"])
    wait_until(lambda: not bed.server.live_states(JEAN) and not bed.server.live_states(MARIE), PROMPT,
               "both lamps back to idle")

    rows = bed.call_log(jean.sip_call_id(jid), 2)
    placed, received = row(rows, JEAN), row(rows, MARIE)
    assert (placed.direction, placed.other_number) == ("placed", "202"), placed
    assert (received.direction, received.other_number) == ("received", "201"), received
    assert received.duration is not None and received.duration > 0, received

    [invite] = received_requests(jean, "INVITE")[:1]
    assert header(invite, "Alert-Info") == "<http://127.0.0.1>;info=alert-autoanswer;delay=0", invite
    assert header(invite, "Call-Info") == "<sip:127.0.0.1>;answer-after=0", invite
    assert "Content-Length:  0" in invite or re.search(r"(?im)^Content-Length:\s*0\s*$", invite), invite
    marie_invites = received_requests(marie, "INVITE")
    assert marie_invites and header(marie_invites[0], "Alert-Info") is None, marie_invites


def test_a_phone_that_refuses_places_no_call(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    jean, marie = bed.phone("201", media=False), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"answer 486 {jid}")
    jean.wait_call_state(jid, "DISCONNECTED", timeout=PROMPT)
    never_rang(marie)
    assert read_call_log(bed.server.data_dir) == []


def test_a_phone_that_does_not_answer_is_cancelled_and_places_no_call(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    bed.server.set_answer_timeout(2.0)
    jean, marie = bed.phone("201", media=False), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    rang_at = time.monotonic()
    ended = jean.wait_call_state(jid, "DISCONNECTED", timeout=CALL_TIMEOUT)
    assert status_of(ended) == 487, ended.line
    assert 1.5 <= time.monotonic() - rang_at <= 5.0
    never_rang(marie)
    assert read_call_log(bed.server.data_dir) == []


def test_target_busy_hangs_up_the_users_phone_with_the_reason(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(**{MARIE: {"dnd": {"active": True}}})
    jean, marie = bed.phone("201", media=False), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"answer 200 {jid}")
    jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)
    jean.wait_call_state(jid, "DISCONNECTED", timeout=PROMPT)
    never_rang(marie)
    rows = bed.call_log(jean.sip_call_id(jid), 2)
    assert row(rows, JEAN).direction == "placed" and row(rows, MARIE).direction == "missed", rows
    byes = received_requests(jean, "BYE")
    assert byes and header(byes[0], "Reason") == 'SIP;cause=486;text="Busy Here"', byes


def test_user_hanging_up_while_the_target_rings_cancels_the_target(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    jean, marie = bed.phone("201", media=False), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"answer 200 {jid}")
    jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)
    mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"hangup {jid}")
    ended = marie.wait_call_state(mid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended) == 487, ended.line
    assert "CONFIRMED" not in states(marie, mid), marie.describe()
    rows = bed.call_log(jean.sip_call_id(jid), 2)
    assert row(rows, JEAN).direction == "placed" and row(rows, MARIE).direction == "missed", rows


def test_refusals_come_before_anything_is_sent(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    with pytest.raises(UnknownUser):
        bed.server.click_to_dial("nobody", "202")
    with pytest.raises(NoRegisteredPhone):
        bed.server.click_to_dial(JEAN, "202")  # Jean has no phone registered yet
    bed.phone("201", media=False)
    with pytest.raises(NotDialable):
        bed.server.click_to_dial(JEAN, "not a number")
    with pytest.raises(NotDialable):
        bed.server.click_to_dial(JEAN, "201")  # himself


def test_the_callees_own_features_apply(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(**{MARIE: {"forward_always": {"active": True, "number": "203"}}})
    jean, marie, pieter = bed.phone("201"), bed.phone("202", media=False), bed.phone("203")
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"answer 200 {jid}")
    jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)
    pid, shown = pieter.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown, shown
    pieter.call_command(f"answer 200 {pid}")
    pieter.wait_call_state(pid, "CONFIRMED", timeout=CALL_TIMEOUT)
    rtp_grows(jean, jid)
    rtp_grows(pieter, pid)
    time.sleep(1.0)
    pieter.call_command(f"hangup {pid}")  # the callee hangs up this time: the user's phone gets the BYE
    jean.wait_call_state(jid, "DISCONNECTED", timeout=PROMPT)
    assert_heard(jean, jid, TONES["203"])
    assert_heard(pieter, pid, TONES["201"])
    never_rang(marie)
    rows = bed.call_log(jean.sip_call_id(jid), 3)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "203"), rows
    assert row(rows, MARIE).direction == "missed" and row(rows, PIETER).direction == "received", rows
    [invite] = received_requests(pieter, "INVITE")[:1]
    assert (header(invite, "Diversion") or "").startswith("<sip:+3222211202@callconnect.local;user=phone>"), invite


def test_an_outside_number_goes_through_the_trunk_with_the_users_clir(
        make_bed: Callable[..., Bed], sipp: str, tmp_path: Path) -> None:
    bed = make_bed(**{JEAN: {"clir": {"active": True}}})
    jean = bed.phone("201", media=False)
    with SippPeers(tmp_path / "sipp", ("127.0.0.1", bed.server.port)) as peers:
        carrier = peers.callee(None, scenario("click_to_dial", "carrier.xml"), local_port=bed.trunk_port,
                               register=False, name="carrier", timeout=20)
        bed.server.click_to_dial(JEAN, "0470 12 34 56")
        jid, shown = jean.wait_incoming(timeout=CALL_TIMEOUT)
        assert "0470123456" in shown, shown
        jean.call_command(f"answer 200 {jid}")
        jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)
        wait_until(lambda: bed.server.live_states(JEAN) == [("initiator", "confirmed")], CALL_TIMEOUT,
                   "the carrier to answer")
        time.sleep(0.5)
        jean.call_command(f"hangup {jid}")
        seen = carrier.wait(10)
        assert seen.ok, seen.explain()
    assert seen.logged("ruri") == [f"sip:+32470123456@127.0.0.1:{bed.trunk_port};user=phone"], seen.explain()
    assert seen.logged("from")[0].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>;tag='), seen.explain()
    assert seen.logged("privacy") == ["id"], seen.explain()
    assert seen.logged("invite_length") == ["0"], seen.explain()  # late offer: the carrier offers
    assert seen.logged("alert_info") == [""], seen.explain()
    [media] = seen.logged("ack_media")
    assert re.fullmatch(r"m=audio [1-9][0-9]* RTP/AVP 0\s*", media), media  # Jean's phone's answer, not port 9
    rows = bed.call_log(jean.sip_call_id(jid), 1)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "0470123456"), rows


def test_the_user_reaches_the_callees_voicemail(make_bed: Callable[..., Bed], tones: dict[str, Path],
                                                tmp_path: Path) -> None:
    server_port = free_port()
    registrar = f"sip:127.0.0.1:{server_port}"
    voicemail = PjsuaAgent.start(
        user=VOICEMAIL, password="unused", registrar=registrar, domain="127.0.0.1", log_dir=tmp_path / "pjsua",
        proxy=f"{registrar};lr", play=tones[VOICEMAIL], record_dir=tmp_path / "recordings", max_lifetime=60.0,
        codecs=MEDIA_CODECS)
    try:
        bed = make_bed(port=server_port, voicemail=f"sip:voicemail@{voicemail.local}",
                       **{MARIE: {"dnd": {"active": True}}})
    except BaseException:
        voicemail.close()
        raise
    bed.agents.append(voicemail)
    jean, marie = bed.phone("201"), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    jid, _ = jean.wait_incoming(timeout=CALL_TIMEOUT)
    jean.call_command(f"answer 200 {jid}")
    vid, shown = voicemail.wait_incoming(timeout=CALL_TIMEOUT)
    assert "Jean Dupont" in shown, shown
    voicemail.call_command(f"answer 200 {vid}")
    voicemail.wait_call_state(vid, "CONFIRMED", timeout=CALL_TIMEOUT)
    rtp_grows(jean, jid)
    rtp_grows(voicemail, vid)
    time.sleep(1.0)
    jean.call_command(f"hangup {jid}")
    voicemail.wait_call_state(vid, "DISCONNECTED", timeout=PROMPT)
    assert_heard(jean, jid, TONES[VOICEMAIL])
    assert_heard(voicemail, vid, TONES["201"])
    never_rang(marie)
    rows = bed.call_log(jean.sip_call_id(jid), 2)
    assert row(rows, JEAN).direction == "placed", rows
    assert (row(rows, MARIE).direction, row(rows, MARIE).answered_at) == ("missed", None), rows


def test_every_phone_of_the_user_rings_and_the_other_is_cancelled(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    desk, soft, marie = bed.phone("201", media=False), bed.phone("201", media=False), bed.phone("202", media=False)
    bed.server.click_to_dial(JEAN, "202")
    did, _ = desk.wait_incoming(timeout=CALL_TIMEOUT)
    sid, _ = soft.wait_incoming(timeout=CALL_TIMEOUT)
    soft.call_command(f"answer 200 {sid}")
    ended = desk.wait_call_state(did, "DISCONNECTED", timeout=PROMPT)
    assert status_of(ended) == 487, ended.line
    mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
    marie.call_command(f"answer 200 {mid}")
    marie.wait_call_state(mid, "CONFIRMED", timeout=CALL_TIMEOUT)
    rtp_grows(soft, sid)
    marie.call_command(f"hangup {mid}")
    soft.wait_call_state(sid, "DISCONNECTED", timeout=PROMPT)
    [cancel] = received_requests(desk, "CANCEL")
    assert header(cancel, "Reason") == 'SIP;cause=200;text="Call completed elsewhere"', cancel
