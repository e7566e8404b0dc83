"""Every call feature of the "Paramètres" / "Paramètres avancés" tabs on the wire, proved with SIPp on loopback.

A fresh server per test with the demo group (one ring = 1 s here, so no-answer timers are short), settings
changed through the subscriber store as the portal does. Jean (201) calls Marie (202); her settings send the
call to Pieter (203), Sophie (204), the carrier trunk or a voicemail stand-in (a SIPp that answers at the
`--voicemail-uri`). Each test checks who rang (and who did not), the diversion headers the diverted-to party
received (History-Info RFC 7044 with RFC 4458 causes, Diversion RFC 5806, the voicemail Request-URI), the
CANCEL reasons of losing forks, what the caller got, and the call-log rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.server import free_port
from tests.helpers.sipp_calls import (
    CallBed,
    CallLogEntry,
    GroupTemplate,
    SippPeers,
    SippProcess,
    SippRun,
    ok,
    read_services,
    rows_of_call,
    scenario,
    set_services,
)
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

JEAN, MARIE, PIETER, SOPHIE = "jean.dupont", "marie.martin", "pieter.peeters", "sophie.lambert"
MARIE_URI = "sip:+3222211202@callconnect.local;user=phone"
PIETER_URI = "sip:+3222211203@callconnect.local;user=phone"
ANSWER, RING = scenario("feature_calls", "uas_answer.xml"), scenario("feature_calls", "uas_ring.xml")
CALLER, FAILING_CALLER = scenario("feature_calls", "uac.xml"), scenario("call_rejected", "uac.xml")
BUSY = scenario("call_rejected", "uas_busy.xml")

BedFactory = Callable[..., CallBed]


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("features-template"), seconds_per_ring=1)


@pytest.fixture
def make_bed(sipp: str, server_factory: ServerFactory, group_template: GroupTemplate, tmp_path: Path
             ) -> Iterator[BedFactory]:
    """`make_bed(voicemail_port=None, **settings_by_user)`: a server whose users have these settings."""
    peers_list: list[SippPeers] = []

    def make(voicemail_port: int | None = None, **settings: dict[str, object]) -> CallBed:
        data_dir = group_template.copy_to(tmp_path / "data")
        for user_id, services in settings.items():
            set_services(data_dir, user_id, services)
        extra = [] if voicemail_port is None else ["--voicemail-uri", f"sip:voicemail@127.0.0.1:{voicemail_port}"]
        server = server_factory(data_dir=data_dir, demo=False, extra_args=extra)
        peers = SippPeers(tmp_path / "sipp", (server.host, server.port))
        peers_list.append(peers)
        return CallBed(server, peers, group_template.trunk_port)

    yield make
    for peers in peers_list:
        peers.kill_all()


def only(values: list[str], what: str, run: SippRun) -> str:
    assert len(values) == 1, f"expected one {what}, got {values}\n{run.explain()}"
    return values[0]


def row(rows: list[CallLogEntry], user_id: str) -> CallLogEntry:
    mine = [r for r in rows if r.user_id == user_id]
    assert len(mine) == 1, f"expected one row for {user_id}: {rows}"
    return mine[0]


def logged_time(run: SippRun, key: str) -> float:
    """A time the scenario logged as `[$s].[$us]` of SIPp's gettimeofday (SIPp prints each as a double)."""
    seconds, _, micros, _ = only(run.logged(key), key, run).split(".")
    return int(seconds) + int(micros) / 1e6


def never_rang(process: SippProcess) -> None:
    run = process.stop()
    assert not run.received("INVITE"), f"this phone should not have rung\n{run.explain()}"


def call(bed: CallBed, dial: str, *, caller: str = "201", hold_ms: int = 500, **kwargs: object) -> SippRun:
    """`caller` dials `dial`; the call must be answered (by whoever the features pick), held, hung up."""
    return bed.peers.caller(caller, CALLER, keys={"dial": dial}, pause_ms=hold_ms, **kwargs)  # type: ignore[arg-type]


def fails(bed: CallBed, dial: str) -> str:
    """Jean dials `dial`; the call must fail: its final status."""
    run = bed.peers.caller("201", FAILING_CALLER, keys={"dial": dial, "maxfwd": "70"})
    ok(run)
    return only(run.logged("final"), "final status", run)


def forward(number: str, **more: object) -> dict[str, object]:
    return {"active": True, "number": number, **more}


# -- forwarding ----------------------------------------------------------------------------------------------------
def test_forward_always_to_a_colleague(make_bed: BedFactory) -> None:
    """CFA 202 -> 203: Marie's phone stays quiet, Pieter's rings with History-Info (cause 302) and Diversion
    (unconditional); Jean sees who answered; Marie's log has the call as missed, Pieter's as received."""
    bed = make_bed(**{MARIE: {"forward_always": forward("203")}})
    marie = bed.peers.callee("202", ANSWER, timeout=8)
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, pieter.wait())
    never_rang(marie)
    seen = pieter.wait()
    assert only(seen.logged("history"), "History-Info", seen) == (
        f"<{MARIE_URI}?Reason=SIP%3Bcause%3D302>;index=1, <{PIETER_URI};cause=302>;index=1.1;mp=1")
    assert only(seen.logged("diversion"), "Diversion", seen) == f"<{MARIE_URI}>;reason=unconditional;counter=1"
    assert only(seen.logged("from"), "From", seen).startswith('"Jean Dupont" <sip:201@callconnect.local>')
    assert only(caller.logged("connected"), "connected", caller) == \
        '"Pieter Peeters" <sip:203@callconnect.local>'
    rows = rows_of_call(bed, caller, 3)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "203")
    assert row(rows, MARIE).direction == "missed"
    assert (row(rows, PIETER).direction, row(rows, PIETER).other_number) == ("received", "201")


def test_colr_hides_who_answered_a_forwarded_call(make_bed: BedFactory) -> None:
    """Pieter has connected line restriction: Jean, forwarded to him by Marie, is not told who answered; his
    call log then shows the number he dialled (202), not Pieter's."""
    bed = make_bed(**{MARIE: {"forward_always": forward("203")}, PIETER: {"colr": {"active": True}}})
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, pieter.wait())
    assert only(caller.logged("connected"), "connected", caller) == ""
    rows = rows_of_call(bed, caller, 3)
    assert (row(rows, JEAN).direction, row(rows, JEAN).other_number) == ("placed", "202")


def test_forward_busy(make_bed: BedFactory) -> None:
    """Marie's phone answers 486: the call goes on to Pieter with cause 486 / reason user-busy."""
    bed = make_bed(**{MARIE: {"forward_busy": forward("022211203")}})
    marie = bed.peers.callee("202", BUSY)
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, marie.wait(), pieter.wait())
    seen = pieter.wait()
    assert only(seen.logged("diversion"), "Diversion", seen) == f"<{MARIE_URI}>;reason=user-busy;counter=1"
    assert f"<{PIETER_URI};cause=486>;index=1.1;mp=1" in only(seen.logged("history"), "History-Info", seen)


def test_forward_no_answer_after_the_rings(make_bed: BedFactory) -> None:
    """CFNA after 2 rings (1 s each here): Marie's phone rings about 2 s, gets a CANCEL without "completed
    elsewhere", then Pieter's rings (cause 408, reason no-answer) and answers."""
    bed = make_bed(**{MARIE: {"forward_no_answer": forward("203", rings=2)}})
    marie = bed.peers.callee("202", RING)
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, marie.wait(), pieter.wait())
    rang = marie.wait()
    seconds = logged_time(rang, "cancelled_at") - logged_time(rang, "ringing_at")
    assert 1.5 <= seconds <= 5, rang.explain()  # 2 rings of 1 s (a generous upper bound: a loaded machine)
    assert only(rang.logged("cancel_reason"), "Reason", rang) == ""
    seen = pieter.wait()
    assert only(seen.logged("diversion"), "Diversion", seen) == f"<{MARIE_URI}>;reason=no-answer;counter=1"
    rows = rows_of_call(bed, caller, 3)
    assert row(rows, MARIE).direction == "missed" and row(rows, PIETER).direction == "received"


def test_forward_when_unreachable(make_bed: BedFactory) -> None:
    """Marie has no phone registered: "forward when unreachable" sends the call to Pieter (reason unavailable)."""
    bed = make_bed(**{MARIE: {"forward_unreachable": forward("203")}})
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, pieter.wait())
    seen = pieter.wait()
    assert only(seen.logged("diversion"), "Diversion", seen) == f"<{MARIE_URI}>;reason=unavailable;counter=1"


def test_forward_to_an_outside_number_through_the_trunk(make_bed: BedFactory) -> None:
    """CFA to a mobile: the carrier gets the E.164 number, Diversion naming Marie's number (what carriers check),
    History-Info, and the caller's outgoing CLI as From."""
    bed = make_bed(**{MARIE: {"forward_always": forward("0470123456")}})
    carrier = bed.peers.callee(None, ANSWER, local_port=bed.trunk_port, register=False, name="carrier")
    caller = call(bed, "202")
    ok(caller, carrier.wait())
    seen = carrier.wait()
    assert only(seen.logged("ruri"), "Request-URI", seen).startswith("sip:+32470123456@127.0.0.1:")
    assert only(seen.logged("diversion"), "Diversion", seen) == f"<{MARIE_URI}>;reason=unconditional;counter=1"
    assert "cause=302" in only(seen.logged("history"), "History-Info", seen)
    assert only(seen.logged("from"), "From", seen).startswith(
        '"Jean Dupont" <sip:+3222211201@callconnect.local;user=phone>')


def test_a_forwarding_loop_ends_with_a_clean_final_answer(make_bed: BedFactory) -> None:
    """Marie -> Pieter -> Marie -> ...: after 5 diversions the caller gets 482, and nobody's phone rang."""
    bed = make_bed(**{MARIE: {"forward_always": forward("203")}, PIETER: {"forward_always": forward("202")}})
    assert fails(bed, "202") == "482"


def test_a_setting_change_is_used_by_the_next_call(make_bed: BedFactory) -> None:
    """No restart: the first call rings Marie; forward always set while the server runs sends the next to
    Pieter."""
    bed = make_bed()
    marie = bed.peers.callee("202", ANSWER)
    ok(call(bed, "202"), marie.wait())
    set_services(bed.data_dir, MARIE, {"forward_always": forward("203")})
    pieter = bed.peers.callee("203", ANSWER)
    ok(call(bed, "202"), pieter.wait())


# -- do not disturb, call waiting, voicemail ------------------------------------------------------------------------
def test_do_not_disturb_without_voicemail_is_busy(make_bed: BedFactory) -> None:
    bed = make_bed(**{MARIE: {"dnd": {"active": True}}})
    marie = bed.peers.callee("202", ANSWER, timeout=6)
    assert fails(bed, "202") == "486"
    never_rang(marie)


def test_do_not_disturb_goes_to_voicemail(make_bed: BedFactory) -> None:
    """DND with voicemail on: the voicemail service is called with the RFC 4458 Request-URI naming Marie's
    mailbox and cause 486 (busy greeting), and History-Info ending at that URI."""
    voicemail_port = free_port()
    bed = make_bed(voicemail_port=voicemail_port, **{MARIE: {"dnd": {"active": True}}})
    voicemail = bed.peers.callee(None, ANSWER, local_port=voicemail_port, register=False, name="voicemail")
    caller = call(bed, "202")
    ok(caller, voicemail.wait())
    seen = voicemail.wait()
    ruri = only(seen.logged("ruri"), "Request-URI", seen)
    assert ruri == (f"sip:voicemail@127.0.0.1:{voicemail_port};target=sip:marie.martin%40callconnect.local;cause=486"
                    ";tz=Europe/Brussels")  # the owner's time zone, for the voicemail's "received at"
    history = only(seen.logged("history"), "History-Info", seen)
    assert history.endswith(f"<{ruri}>;index=1.1;mp=1"), history  # its own cause=486, not a second one
    rows = rows_of_call(bed, caller, 2)
    assert row(rows, MARIE).direction == "missed"  # a message was left: still a call she missed


def test_no_answer_goes_to_voicemail_after_the_rings(make_bed: BedFactory) -> None:
    voicemail_port = free_port()
    bed = make_bed(voicemail_port=voicemail_port, **{MARIE: {"forward_no_answer": {"rings": 2}}})
    marie = bed.peers.callee("202", RING)
    voicemail = bed.peers.callee(None, ANSWER, local_port=voicemail_port, register=False, name="voicemail")
    caller = call(bed, "202")
    ok(caller, marie.wait(), voicemail.wait())
    seen = voicemail.wait()
    assert only(seen.logged("ruri"), "Request-URI", seen).endswith(
        ";target=sip:marie.martin%40callconnect.local;cause=408;tz=Europe/Brussels")


def test_call_waiting_off_makes_a_user_on_a_call_busy(make_bed: BedFactory) -> None:
    """Marie talks to Pieter; with call waiting off, Jean's call gets 486 at once (no second INVITE to her phone).
    With call waiting on (the default), the same second call rings her phone."""
    bed = make_bed(**{MARIE: {"call_waiting": {"active": False}}})
    marie = bed.peers.callee("202", ANSWER, timeout=20)
    first = bed.peers.start("caller-203", CALLER, service="203", username="203", password="demo203",
                            keys={"dial": "202"}, pause_ms=3000, timeout=20)
    marie.wait_log(lambda text: "answered=yes" in text, timeout=10, what="Marie answering Pieter")
    assert fails(bed, "202") == "486"
    ok(first.wait(), marie.wait())
    assert len(marie.wait().received("INVITE")) == 1, marie.wait().explain()


# -- simultaneous and sequential ring -------------------------------------------------------------------------------
def test_simultaneous_ring_first_answer_wins(make_bed: BedFactory) -> None:
    """Marie's phone and her simultaneous-ring number (Pieter's line) ring together; Pieter answers, Marie's
    phone gets CANCEL "Call completed elsewhere"; Marie's log says received (answered elsewhere, not missed)."""
    bed = make_bed(**{MARIE: {"simultaneous_ring": {"active": True, "numbers": [{"number": "203"}]}}})
    marie = bed.peers.callee("202", RING)
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202")
    ok(caller, marie.wait(), pieter.wait())
    rang = marie.wait()
    assert only(rang.logged("cancel_reason"), "Reason", rang) == 'SIP;cause=200;text="Call completed elsewhere"'
    rows = rows_of_call(bed, caller, 2)
    assert row(rows, MARIE).direction == "received"


def test_simultaneous_ring_criteria_blacklist_a_caller(make_bed: BedFactory) -> None:
    """A blacklisted criterion naming Jean's extension: only Marie's own phone rings for him."""
    bed = make_bed(**{MARIE: {"simultaneous_ring": {
        "active": True, "numbers": [{"number": "203"}],
        "criteria": [{"name": "everyone"},
                     {"name": "not jean", "calls_from": "specific", "numbers": ["201"], "blacklisted": True}]}}})
    marie = bed.peers.callee("202", ANSWER)
    pieter = bed.peers.callee("203", ANSWER, timeout=8)
    ok(call(bed, "202"), marie.wait())
    never_rang(pieter)


def test_sequential_ring_rings_the_base_then_each_location(make_bed: BedFactory) -> None:
    """Sequential ring: Marie's phone for 2 rings, then Sophie's line for 2 rings, then Pieter's, who answers."""
    bed = make_bed(**{MARIE: {"sequential_ring": {"active": True, "base_rings": 2, "locations": [
        {"number": "204", "rings": 2}, {"number": "203", "rings": 3}]}}})
    marie = bed.peers.callee("202", RING)
    sophie = bed.peers.callee("204", RING)
    pieter = bed.peers.callee("203", ANSWER)
    caller = call(bed, "202", timeout=20)
    ok(caller, marie.wait(), sophie.wait(), pieter.wait())
    marie_rang, sophie_rang = marie.wait(), sophie.wait()
    # one after the other: Sophie's line starts when Marie's base rings (2 x 1 s) are over
    assert logged_time(sophie_rang, "ringing_at") - logged_time(marie_rang, "ringing_at") >= 1.5
    assert abs(logged_time(sophie_rang, "ringing_at") - logged_time(marie_rang, "cancelled_at")) < 1.0
    rows = rows_of_call(bed, caller, 2)
    assert row(rows, MARIE).direction == "received"  # answered at one of her locations


# -- feature access codes -------------------------------------------------------------------------------------------
RELEASED = scenario("call_callee_hangup", "uac.xml")  # answered, then the server hangs up


def stored(bed: CallBed, user_id: str) -> dict[str, object]:
    return read_services(bed.data_dir, user_id)


def test_feature_codes_change_the_stored_setting_and_the_next_call(make_bed: BedFactory) -> None:
    """Marie dials *72203: answered and released by the server (the confirmation), her stored forward always is
    on to 203 (what the portal shows), and Jean's next call to her reaches Pieter; #21# (GSM style) switches it
    off again and the call after that rings Marie."""
    bed = make_bed()
    ok(bed.peers.caller("202", RELEASED, keys={"dial": "*72203"}))
    assert stored(bed, MARIE)["forward_always"] == {"active": True, "number": "203", "ring_reminder": False}
    pieter = bed.peers.callee("203", ANSWER)
    ok(call(bed, "202"), pieter.wait())
    ok(bed.peers.caller("202", RELEASED, keys={"dial": "%2321%23"}))  # #21#, escaped in the Request-URI
    assert stored(bed, MARIE)["forward_always"] == {"active": False, "number": "203", "ring_reminder": False}
    marie = bed.peers.callee("202", ANSWER)
    ok(call(bed, "202"), marie.wait())


@pytest.mark.parametrize(("code", "status"), [("*72", "484"), ("*7312", "404")])
def test_bad_feature_codes_are_refused_and_change_nothing(make_bed: BedFactory, code: str, status: str) -> None:
    bed = make_bed()
    before = stored(bed, JEAN)
    assert fails(bed, code) == status
    assert stored(bed, JEAN) == before


def test_do_not_disturb_by_code(make_bed: BedFactory) -> None:
    """*78 from Marie's phone: the next call to her is busy (no voicemail service here); *79 undoes it."""
    bed = make_bed()
    ok(bed.peers.caller("202", RELEASED, keys={"dial": "*78"}))
    assert stored(bed, MARIE)["dnd"] == {"active": True, "ring_reminder": False}
    assert fails(bed, "202") == "486"
    ok(bed.peers.caller("202", RELEASED, keys={"dial": "*79"}))
    assert stored(bed, MARIE)["dnd"] == {"active": False, "ring_reminder": False}
