"""The B2BUA call core proved with SIPp (a real, independent SIP implementation) on loopback.

Every test starts a fresh server (the demo group, its carrier trunk moved to a free port), registers SIPp
callees with digest auth, then runs a SIPp caller through the server: answered calls hung up from either side,
rejections (486, 603), CANCEL while ringing and before any ringing, unknown number (404), unregistered callee
(480), Max-Forwards: 0 (483), hold/resume re-INVITEs and INFO relayed both ways, calls out through the trunk
(outgoing CLI, `*67` anonymity) and in from it (a DID rings its user). SIPp's exit status says whether each
side saw exactly the messages its scenario expects (`sipp_scenarios/call_*/`, each with a header saying what it
proves); what the peers saw is then checked from the lines their `<log>` actions wrote, and the `call_log` rows
from the server's SQLite file, opened read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sipp_calls import (
    CallBed,
    CallLogEntry,
    GroupTemplate,
    SippPeers,
    SippRun,
    ok,
    rows_of_call,
    scenario,
    wait_call_log,
)
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

JEAN, MARIE, PIETER = "jean.dupont", "marie.martin", "pieter.peeters"


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("calls-template"))


@pytest.fixture
def bed(sipp: str, server_factory: ServerFactory, group_template: GroupTemplate, tmp_path: Path
        ) -> Iterator[CallBed]:
    server = server_factory(data_dir=group_template.copy_to(tmp_path / "data"), demo=False)
    with SippPeers(tmp_path / "sipp", (server.host, server.port)) as peers:
        yield CallBed(server, peers, group_template.trunk_port)


# -- assertions ----------------------------------------------------------------------------------------------------
def row(rows: list[CallLogEntry], user_id: str) -> CallLogEntry:
    mine = [r for r in rows if r.user_id == user_id]
    assert len(mine) == 1, f"expected one row for {user_id}: {rows}"
    return mine[0]


def assert_answered(entry: CallLogEntry, direction: str, number: str, name: str) -> None:
    assert (entry.direction, entry.other_number, entry.other_name) == (direction, number, name), entry
    assert entry.answered_at is not None and entry.ended_at is not None, entry
    assert entry.duration is not None and entry.duration > 0, entry
    assert entry.started_at <= entry.answered_at <= entry.ended_at, entry


def assert_unanswered(entry: CallLogEntry, direction: str, number: str, name: str | None = None) -> None:
    assert (entry.direction, entry.other_number) == (direction, number), entry
    if name is not None:
        assert entry.other_name == name, entry
    assert entry.answered_at is None and not entry.duration, entry


def one(values: list[str], what: str, run: SippRun) -> str:
    assert len(values) == 1, f"expected one {what}, got {values}\n{run.explain()}"
    return values[0]


# -- answered calls ------------------------------------------------------------------------------------------------
def test_basic_call_caller_hangs_up(bed: CallBed) -> None:
    """201 calls 202 (407 round), 180, 200, ACK, 500 ms, the caller's BYE reaches the callee."""
    callee = bed.peers.callee("202", scenario("call_basic", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_basic", "uac.xml"))
    ok(caller, callee.wait())
    seen = callee.wait()
    assert one(seen.logged("from"), "From", seen).startswith('"Jean Dupont" <sip:201@callconnect.local>'), \
        seen.explain()
    assert one(seen.logged("pai"), "PAI", seen) == '"Jean Dupont" <sip:+3222211201@callconnect.local;user=phone>'
    assert len(seen.received("INVITE")) == 1 and len(seen.received("BYE")) == 1, seen.explain()
    rows = rows_of_call(bed, caller, 2)
    assert_answered(row(rows, JEAN), "placed", "202", "Marie Martin")
    assert_answered(row(rows, MARIE), "received", "201", "Jean Dupont")


def test_callee_hangs_up(bed: CallBed) -> None:
    """The callee's BYE ends the call: the caller receives the B2BUA's BYE."""
    callee = bed.peers.callee("202", scenario("call_callee_hangup", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_callee_hangup", "uac.xml"), keys={"dial": "202"})
    ok(caller, callee.wait())
    assert len(caller.received("BYE")) == 1, caller.explain()
    rows = rows_of_call(bed, caller, 2)
    assert_answered(row(rows, JEAN), "placed", "202", "Marie Martin")
    assert_answered(row(rows, MARIE), "received", "201", "Jean Dupont")


@pytest.mark.parametrize(("status", "uas"), [(486, "uas_busy.xml"), (603, "uas_decline.xml")])
def test_callee_rejects(bed: CallBed, status: int, uas: str) -> None:
    """A callee answering 486 / 603 makes the caller get the same status; the callee has a missed call."""
    callee = bed.peers.callee("202", scenario("call_rejected", uas))
    caller = bed.peers.caller("201", scenario("call_rejected", "uac.xml"), keys={"dial": "202", "maxfwd": "70"})
    ok(caller, callee.wait())
    assert caller.logged("final") == [str(status)], caller.explain()
    rows = rows_of_call(bed, caller, 2)
    assert_unanswered(row(rows, JEAN), "placed", "202")
    assert_unanswered(row(rows, MARIE), "missed", "201", "Jean Dupont")


# -- cancelled calls -----------------------------------------------------------------------------------------------
def test_caller_cancels_while_ringing(bed: CallBed) -> None:
    """CANCEL after 180: 200 + 487 to the caller; the ringing callee gets CANCEL (without a Reason: nobody
    answered elsewhere), answers 487 and gets its ACK; a missed call for 202."""
    callee = bed.peers.callee("202", scenario("call_cancel", "uas.xml"), pause_ms=0)
    caller = bed.peers.caller("201", scenario("call_cancel", "uac.xml"), keys={"dial": "202"}, pause_ms=1000)
    ok(caller, callee.wait())
    seen = callee.wait()
    assert len(seen.received("CANCEL")) == 1, seen.explain()
    assert seen.logged("cancel_reason") == [""], seen.explain()
    rows = rows_of_call(bed, caller, 2)
    assert_unanswered(row(rows, JEAN), "placed", "202")
    assert_unanswered(row(rows, MARIE), "missed", "201", "Jean Dupont")
    assert row(rows, JEAN).ended_at - row(rows, JEAN).started_at >= 0.9  # type: ignore[operator]


def test_callee_never_answers_caller_gives_up_before_ringing(bed: CallBed) -> None:
    """The callee stays silent (no 180 for 1.5 s, never a 200); the caller CANCELs after 0.5 s and gets 487 at
    once. The B2BUA may not CANCEL a leg before a provisional (RFC 3261 §9.1): the callee gets the CANCEL only
    after its late 180, and ends with 487/ACK. (The server's own no-answer limit, Timer C, is 180 s: too
    long for a test, so the short CANCEL paths stand in for it.)"""
    callee = bed.peers.callee("202", scenario("call_cancel", "uas.xml"), pause_ms=1500)
    caller = bed.peers.caller("201", scenario("call_cancel", "uac_before_ring.xml"), keys={"dial": "202"},
                              pause_ms=500)
    ok(caller)
    assert caller.elapsed < 1.4, f"the 487 waited for the callee: {caller.elapsed:.2f}s\n{caller.explain()}"
    ok(callee.wait())
    assert len(callee.wait().received("CANCEL")) == 1
    rows = rows_of_call(bed, caller, 2)
    assert_unanswered(row(rows, JEAN), "placed", "202")
    assert_unanswered(row(rows, MARIE), "missed", "201", "Jean Dupont")


# -- refused calls -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dial", "status"), [("299", 404), ("203", 480)],
                         ids=["unknown-number-404", "unregistered-callee-480"])
def test_call_refused(bed: CallBed, dial: str, status: int) -> None:
    """299 is neither a user nor a number (404); 203 exists but has no registered contact (480). The caller
    gets a `placed` row; 203, whom the call was for although no phone of theirs rang, gets a `missed` row
    showing the caller (a user who was offline sees who tried to reach them)."""
    caller = bed.peers.caller("201", scenario("call_rejected", "uac.xml"), keys={"dial": dial, "maxfwd": "70"})
    ok(caller)
    assert caller.logged("final") == [str(status)], caller.explain()
    rows = rows_of_call(bed, caller, 1 if status == 404 else 2)
    assert_unanswered(row(rows, JEAN), "placed", dial)
    if status == 480:
        assert_unanswered(row(rows, PIETER), "missed", "201", "Jean Dupont")


def test_max_forwards_zero_gets_483(bed: CallBed) -> None:
    """An authenticated INVITE with Max-Forwards: 0 gets 483 and never reaches the (registered) callee."""
    callee = bed.peers.callee("202", scenario("call_basic", "uas.xml"), timeout=5)
    caller = bed.peers.caller("201", scenario("call_rejected", "uac.xml"), keys={"dial": "202", "maxfwd": "0"})
    ok(caller)
    assert caller.logged("final") == ["483"], caller.explain()
    seen = callee.stop()
    assert seen.received("INVITE") == [], seen.explain()
    assert wait_call_log(bed.data_dir, 1, timeout=1.0) == []


# -- in-dialog requests --------------------------------------------------------------------------------------------
def test_hold_and_resume_relayed_both_ways(bed: CallBed) -> None:
    """re-INVITE a=sendonly from either side reaches the other, whose a=recvonly answer comes back; resume
    with a=sendrecv; every ACK relayed (each scenario checks the SDP with <ereg check_it>)."""
    callee = bed.peers.callee("202", scenario("call_hold", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_hold", "uac.xml"), keys={"dial": "202"})
    ok(caller, callee.wait())
    seen = callee.wait()
    expected = {"held_offer": "sendonly", "hold_answer": "recvonly", "resumed_offer": "sendrecv",
                "resume_answer": "sendrecv"}
    for run in (caller, seen):
        assert {key: run.logged(key) for key in expected} == {k: [v] for k, v in expected.items()}, run.explain()
    assert len(seen.received("ACK")) == 3 and len(caller.received("ACK")) == 2, seen.explain()
    rows = rows_of_call(bed, caller, 2)
    assert_answered(row(rows, JEAN), "placed", "202", "Marie Martin")
    assert_answered(row(rows, MARIE), "received", "201", "Jean Dupont")


def test_info_relayed_both_ways(bed: CallBed) -> None:
    """INFO (application/dtmf-relay) from each side reaches the other with its body; 200s relayed back."""
    callee = bed.peers.callee("202", scenario("call_info", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_info", "uac.xml"), keys={"dial": "202"})
    ok(caller, callee.wait())
    assert callee.wait().logged("got_info") == ["5"]
    assert caller.logged("got_info") == ["7"]
    rows = rows_of_call(bed, caller, 2)
    assert_answered(row(rows, JEAN), "placed", "202", "Marie Martin")


# -- the trunk -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dial", "from_prefix", "privacy"),
    [("0470123456", '"Jean Dupont" <sip:+3222211201@callconnect.local;user=phone>;tag=', ""),
     ("*670470123456", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=', "id")],
    ids=["outgoing-cli", "star67-anonymous"],
)
def test_outgoing_call_goes_to_the_trunk(bed: CallBed, dial: str, from_prefix: str, privacy: str) -> None:
    """A national number goes out to the carrier as E.164; the carrier sees the user's outgoing CLI in From and
    P-Asserted-Identity, or with `*67` an anonymous From with `Privacy: id` (the PAI stays: the trusted carrier
    strips it, RFC 3325)."""
    trunk = bed.peers.callee(None, scenario("call_trunk_out", "uas.xml"), local_port=bed.trunk_port,
                             register=False, name="carrier")
    caller = bed.peers.caller("201", scenario("call_trunk_out", "uac.xml"), keys={"dial": dial}, pause_ms=300)
    ok(caller, trunk.wait())
    seen = trunk.wait()
    assert one(seen.logged("ruri"), "Request-URI", seen) == f"sip:+32470123456@127.0.0.1:{bed.trunk_port};user=phone"
    assert one(seen.logged("from"), "From", seen).startswith(from_prefix), seen.explain()
    assert one(seen.logged("pai"), "PAI", seen) == "<sip:+3222211201@callconnect.local;user=phone>"
    assert one(seen.logged("privacy"), "Privacy", seen) == privacy
    rows = rows_of_call(bed, caller, 1)
    assert_answered(row(rows, JEAN), "placed", "0470123456", "")


def test_incoming_call_from_the_trunk_rings_the_did(bed: CallBed) -> None:
    """INVITE from the carrier's trusted address (no digest) to +3222211202 rings 202, who sees the caller's
    national number; the carrier gets Marie's number as connected identity; a `received` row for 202."""
    callee = bed.peers.callee("202", scenario("call_basic", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_trunk_in", "uac.xml"), authenticate=False,
                              local_port=bed.trunk_port, pause_ms=300, name="carrier",
                              keys={"dial": "+3222211202", "cli": "+3225550199"})
    ok(caller, callee.wait())
    seen = callee.wait()
    assert one(seen.logged("from"), "From", seen).startswith('"Carrier Caller" <sip:025550199@callconnect.local>')
    assert one(caller.logged("connected"), "PAI", caller) == \
        '"Marie Martin" <sip:+3222211202@callconnect.local;user=phone>'
    rows = rows_of_call(bed, caller, 1)
    assert_answered(row(rows, MARIE), "received", "025550199", "Carrier Caller")
