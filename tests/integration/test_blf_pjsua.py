"""BLF and pickup with real user agents: pjsua2 phones call, hold and pick up through the server while a SIPp
BLF key (`sipp_scenarios/blf_subscribe/uac_watch.xml`) watches Marie.

- Jean calls Marie, Marie answers, puts Jean on hold and takes him back, then hangs up: the key goes idle,
  ringing (Jean shown), talking, on hold (`+sip.rendering=no`), talking, idle — versions one by one;
- Jean calls Marie, Pieter dials `*97202`: Pieter's phone talks with Jean (audio both ways: each recording
  holds the other's tone), Marie's phone stops ringing, and the key shows Marie idle again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.helpers.server import DEMO_USERS
from tests.helpers.sipp_calls import SippPeers, SippProcess, SippRun, scenario
from tests.integration.test_features_pjsua import (  # noqa: F401 - fixtures
    CALL_TIMEOUT,
    PROMPT,
    TONES,
    BedFactory,
    FeatureBed,
    answer,
    dial,
    group_template,
    make_bed,
    status_of,
    talk_and_hang_up,
    tones,
    wait_until,
)

pytestmark = pytest.mark.integration

WATCH = scenario("blf_subscribe", "uac_watch.xml")


@pytest.fixture
def watchers(sipp: str, tmp_path: object) -> Iterator[list[SippPeers]]:
    created: list[SippPeers] = []
    yield created
    for peers in created:
        peers.kill_all()


def watch_marie(bed: FeatureBed, created: list[SippPeers]) -> SippProcess:
    peers = SippPeers(bed.tmp_path / "sipp", (bed.server.host, bed.server.port))
    created.append(peers)
    key = peers.start("watcher-204", WATCH, service="204", username="204", password=DEMO_USERS["204"],
                      keys={"dial": "202"}, timeout=60)
    wait_until(lambda: "notify=0 " in key.log_text(), 5, "the first NOTIFY")
    return key


def key_states(run: SippRun) -> list[tuple[int, str, bool]]:
    """(version, dialog state, held) of every NOTIFY the key got."""
    out = []
    for text in run.received("NOTIFY"):
        version = re.search(r'version="(\d+)" state="full"', text)
        state = re.search(r"<state>([a-z]+)</state>", text)
        assert version and state, text
        out.append((int(version.group(1)), state.group(1), 'pvalue="no"' in text))
    return out


def test_the_key_follows_ringing_talking_hold_and_the_end(
        make_bed: BedFactory, watchers: list[SippPeers]) -> None:  # noqa: F811 - the imported fixture
    bed = make_bed()
    jean, marie = bed.phone("201"), bed.phone("202")
    key = watch_marie(bed, watchers)
    cid = dial(jean, "202")
    mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
    answer(jean, cid, marie, mid)
    marie.call_command(f"hold {mid}")
    wait_until(lambda: "confirmed" in key.log_text() and key.log_text().count("notify=") >= 5, 5, "the held NOTIFY")
    marie.call_command(f"unhold {mid}")
    time.sleep(1.0)
    marie.call_command(f"hangup {mid}")
    jean.wait_call_state(cid, "DISCONNECTED", timeout=PROMPT)
    time.sleep(0.5)
    run = key.stop()
    seen = key_states(run)
    assert [v for v, _, _ in seen] == list(range(len(seen))), seen  # versions one by one from 0
    shown = [(state, held) for _, state, held in seen]
    assert shown[0] == ("terminated", False) and shown[-1] == ("terminated", False), seen
    assert ("early", False) in shown and ("confirmed", True) in shown, seen
    held_at = shown.index(("confirmed", True))
    assert ("confirmed", False) in shown[:held_at] and ("confirmed", False) in shown[held_at:], seen


def test_pickup_by_code_joins_the_caller_and_the_picker_with_audio(
        make_bed: BedFactory, watchers: list[SippPeers]) -> None:  # noqa: F811 - the imported fixture
    bed = make_bed()
    jean, marie, pieter = bed.phone("201"), bed.phone("202", media=False), bed.phone("203")
    key = watch_marie(bed, watchers)
    cid = dial(jean, "202")
    mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
    jean.wait_call_state(cid, "EARLY", timeout=CALL_TIMEOUT)
    pid = dial(pieter, "*97202")
    pieter.wait_call_state(pid, "CONFIRMED", timeout=CALL_TIMEOUT)
    jean.wait_call_state(cid, "CONFIRMED", timeout=CALL_TIMEOUT)
    stopped = marie.wait_call_state(mid, "DISCONNECTED", timeout=PROMPT)
    assert status_of(stopped) == 487, stopped.line
    talk_and_hang_up(jean, cid, pieter, pid, TONES["203"], TONES["201"])
    run = key.stop()
    states = [state for _, state, _ in key_states(run)]
    assert states[0] == "terminated" and "early" in states and states[-1] == "terminated", states
    assert "confirmed" not in states, "Marie never talked"
