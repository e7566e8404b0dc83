"""The B2BUA call core under faults and races, proved with SIPp on loopback.

Retransmitted INVITEs must make one call; a BYE crossing a re-INVITE must end the call cleanly and still answer
the re-INVITE; a user with two registered contacts is forked to both: the first 200 wins and the other contact
gets CANCEL with `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326), or, when it answered too,
ACK then BYE; a caller that never ACKs its 200 is hung up on both sides after 64*T1 (32 s: the slowest test
here, run last). Scenarios: `sipp_scenarios/call_retrans`, `call_bye_crossing`, `call_fork`,
`call_fork_late_2xx`, `call_no_ack`. A callee registered over TCP that dies while ringing fails the call at
once (its connection is gone: the INVITE can get no answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import DEMO_USERS
from tests.helpers.sipp_calls import (
    CallBed,
    CallLogEntry,
    GroupTemplate,
    SippPeers,
    ok,
    rows_of_call,
    scenario,
    server_status,
    wait_call_log,
)
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

JEAN, MARIE = "jean.dupont", "marie.martin"
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("faults-template"))


@pytest.fixture
def bed(sipp: str, server_factory: ServerFactory, group_template: GroupTemplate, tmp_path: Path
        ) -> Iterator[CallBed]:
    server = server_factory(data_dir=group_template.copy_to(tmp_path / "data"), demo=False, http=True)
    with SippPeers(tmp_path / "sipp", (server.host, server.port)) as peers:
        yield CallBed(server, peers, group_template.trunk_port)


def directions(rows: list[CallLogEntry]) -> dict[str, str]:
    return {r.user_id: r.direction for r in rows}


def call_ids(messages: list[str]) -> set[str]:
    out = set()
    for message in messages:
        for line in message.splitlines():
            if line.lower().startswith("call-id:"):
                out.add(line.split(":", 1)[1].strip())
    return out


def test_retransmitted_invites_make_one_call(bed: CallBed) -> None:
    """The caller sends its authenticated INVITE three times (same branch) while the callee takes 1 s to
    ring: each copy gets the 100 again, the callee sees one INVITE, the server counts one call."""
    callee = bed.peers.callee("202", scenario("call_retrans", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_retrans", "uac.xml"), keys={"dial": "202"}, pause_ms=300,
                              extra=["-pause_msg_ign"])
    ok(caller, callee.wait())
    seen = callee.wait()
    invites = seen.received("INVITE")
    assert len(call_ids(invites)) == 1, f"the callee was called more than once:\n{seen.explain()}"
    assert len(caller.received("SIP/2.0 100")) >= 4, caller.explain()  # 407 round + the 3 copies
    rows = rows_of_call(bed, caller, 2)
    assert directions(rows) == {JEAN: "placed", MARIE: "received"}
    status = server_status(bed.server)
    assert (status["calls_completed"], status["calls_in_progress"]) == (1, 0), status


def test_bye_crossing_a_reinvite(bed: CallBed) -> None:
    """The callee answers the caller's re-INVITE with a BYE, then 487: the caller gets the BYE and the 487
    for its re-INVITE (which it ACKs); nothing is left behind."""
    callee = bed.peers.callee("202", scenario("call_bye_crossing", "uas.xml"))
    caller = bed.peers.caller("201", scenario("call_bye_crossing", "uac.xml"), keys={"dial": "202"})
    ok(caller, callee.wait())
    assert caller.logged("reinvite_final") == ["487"], caller.explain()
    rows = rows_of_call(bed, caller, 2)
    assert directions(rows) == {JEAN: "placed", MARIE: "received"}
    assert all(r.duration and r.duration > 0 for r in rows), rows
    status = server_status(bed.server)
    assert (status["calls_completed"], status["calls_in_progress"]) == (1, 0), status


def test_forked_call_first_answer_wins_other_gets_cancel_with_reason(bed: CallBed) -> None:
    """202 registered from two SIPps: both ring; the one answering (after 300 ms) wins, the other gets a
    CANCEL whose Reason says the call was completed elsewhere (checked by the scenario's <ereg check_it>)."""
    loser = bed.peers.callee("202", scenario("call_fork", "uas_loser.xml"), name="loser")
    winner = bed.peers.callee("202", scenario("call_fork", "uas_answer.xml"), name="winner", pause_ms=300)
    caller = bed.peers.caller("201", scenario("call_basic", "uac.xml"))
    ok(caller, winner.wait(), loser.wait())
    lost = loser.wait()
    assert lost.logged("cancel_reason") == [COMPLETED_ELSEWHERE], lost.explain()
    assert len(lost.received("CANCEL")) == 1 and len(lost.received("ACK")) == 1, lost.explain()
    assert winner.wait().received("CANCEL") == []
    rows = rows_of_call(bed, caller, 2)  # one row per user, not per contact
    assert directions(rows) == {JEAN: "placed", MARIE: "received"}


def test_forked_call_late_2xx_gets_ack_then_bye(bed: CallBed) -> None:
    """Both contacts of 202 answer 200 at once (no 180): the first 200 wins; the other gets ACK then BYE with
    the completed-elsewhere Reason, never a CANCEL; the caller sees one answered call."""
    first = bed.peers.callee("202", scenario("call_fork_late_2xx", "uas.xml"), name="contact-a")
    second = bed.peers.callee("202", scenario("call_fork_late_2xx", "uas.xml"), name="contact-b")
    caller = bed.peers.caller("201", scenario("call_basic", "uac.xml"))
    ok(caller, first.wait(), second.wait())
    runs = [first.wait(), second.wait()]
    reasons = sorted(r for run in runs for r in run.logged("bye_reason"))
    assert reasons == ["", COMPLETED_ELSEWHERE], "\n".join(run.explain() for run in runs)
    for run in runs:
        assert len(run.received("ACK")) == 1 and run.received("CANCEL") == [], run.explain()
    assert len(caller.received("SIP/2.0 200")) == 2, caller.explain()  # the INVITE's 200 and the BYE's
    rows = rows_of_call(bed, caller, 2)
    assert directions(rows) == {JEAN: "placed", MARIE: "received"}


def test_a_callee_whose_tcp_connection_dies_while_ringing_fails_the_call_at_once(bed: CallBed) -> None:
    """Marie's phone, registered over TCP, rings; then it dies and its connection with it: the INVITE to it can
    get no answer any more, so the caller hears the failure at once (480), not after the 180 s ring limit
    (its SIPp would give up at 20 s)."""
    marie = bed.peers.callee("202", scenario("feature_calls", "uas_ring.xml"), tcp=True, timeout=30)
    jean = bed.peers.start("caller-201", scenario("call_rejected", "uac.xml"), service="201", username="201",
                           password=DEMO_USERS["201"], keys={"dial": "202", "maxfwd": "70"}, timeout=20)
    marie.wait_log(lambda text: "ringing_at=" in text, timeout=10, what="Marie's phone ringing")
    marie.proc.kill()  # the phone is gone; the kernel closes its TCP connection
    run = jean.wait()
    ok(run)
    assert run.logged("final") == ["480"], run.explain()
    status = server_status(bed.server)
    assert status["calls_in_progress"] == 0, status


def test_caller_that_never_acks_is_hung_up_on_both_sides(bed: CallBed) -> None:
    """The caller vanishes after the 200 (never ACKs): after 64*T1 = 32 s the B2BUA gives up on the ACK and
    sends BYE to both legs (RFC 3261 §13.3.1.4). Slow (~33 s) by nature."""
    callee = bed.peers.callee("202", scenario("call_no_ack", "uas.xml"), timeout=50)
    caller = bed.peers.caller("201", scenario("call_no_ack", "uac.xml"), keys={"dial": "202"}, timeout=50)
    ok(caller, callee.wait())
    assert 30.0 <= caller.elapsed <= 40.0, f"BYE after {caller.elapsed:.1f}s\n{caller.explain()}"
    assert len(caller.received("BYE")) == 1 and len(callee.wait().received("BYE")) == 1
    assert caller.received("ACK") == []
    rows = wait_call_log(bed.data_dir, 2)
    assert directions(rows) == {JEAN: "placed", MARIE: "received"}, rows
    status = server_status(bed.server)
    assert (status["calls_completed"], status["calls_in_progress"]) == (1, 0), status
