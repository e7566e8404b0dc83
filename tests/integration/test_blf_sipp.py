"""Busy Lamp Field on the wire: SIPp watchers that SUBSCRIBE like a Yealink key, real calls between SIPp phones.

A fresh server per test with the demo group. Pieter (203) watches Marie (202) with `Event: dialog`; Jean (201)
calls Marie. The watcher logs every NOTIFY's `version`, dialog `state`, `Subscription-State`, the remote identity
and the dialog's call-id; the tests check the sequence a key goes through (idle, ringing with the caller shown,
talking, idle again), that versions go up by exactly one, and that unsubscribing ends with a terminated NOTIFY.
Refusals: an unknown user (404), a colleague who does not allow Pieter (403), an unknown package (489 with
Allow-Events), a too short Expires (423 with Min-Expires).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.sipp_calls import (
    CallBed,
    GroupTemplate,
    SippPeers,
    SippProcess,
    SippRun,
    ok,
    rows_of_call,
    scenario,
    set_services,
)
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

MARIE, PIETER = "marie.martin", "pieter.peeters"
WATCHER, REFUSED = scenario("blf_subscribe", "uac.xml"), scenario("blf_subscribe", "uac_refused.xml")
ANSWER, CALLER = scenario("feature_calls", "uas_answer.xml"), scenario("feature_calls", "uac.xml")
FAILING = scenario("call_rejected", "uac.xml")

BedFactory = Callable[..., CallBed]


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("blf-template"), seconds_per_ring=1)


@pytest.fixture
def make_bed(sipp: str, server_factory: ServerFactory, group_template: GroupTemplate, tmp_path: Path
             ) -> Iterator[BedFactory]:
    peers_list: list[SippPeers] = []

    def make(**settings: dict[str, object]) -> CallBed:
        data_dir = group_template.copy_to(tmp_path / "data")
        for user_id, services in settings.items():
            set_services(data_dir, user_id, services)
        server = server_factory(data_dir=data_dir, demo=False)
        peers = SippPeers(tmp_path / "sipp", (server.host, server.port))
        peers_list.append(peers)
        return CallBed(server, peers, group_template.trunk_port)

    yield make
    for peers in peers_list:
        peers.kill_all()


def watch(bed: CallBed, watcher: str, watched: str):  # type: ignore[no-untyped-def]
    from tests.helpers.server import DEMO_USERS

    return bed.peers.start(f"watcher-{watcher}", WATCHER, service=watcher, username=watcher,
                           password=DEMO_USERS[watcher], keys={"dial": watched}, timeout=20)


def notifies(run: SippRun) -> list[tuple[int, str, str]]:
    out = []
    for line in run.logged("notify"):
        version, state, substate = line.split(None, 2)
        out.append((int(version), state, substate.split(";", 1)[0].strip()))
    return out


def test_a_key_follows_a_call_from_idle_to_ringing_to_talking_and_back(make_bed: BedFactory) -> None:
    bed = make_bed()
    watcher = watch(bed, "203", "202")
    marie = bed.peers.callee("202", ANSWER)

    watcher.wait_log(lambda text: "notify=0 " in text, timeout=5, what="the first NOTIFY")
    caller = bed.peers.caller("201", CALLER, keys={"dial": "202"}, pause_ms=300)
    ok(caller, marie.wait())
    seen = watcher.wait()
    ok(seen)
    assert notifies(seen) == [
        (0, "terminated", "active"),
        (1, "trying", "active"),
        (2, "early", "active"),
        (3, "confirmed", "active"),
        (4, "terminated", "active"),
        (5, "terminated", "terminated"),
    ], seen.explain()
    remotes = {int(line.split(" ", 1)[0]): line.split(" ")[1:] for line in seen.logged("remote")}
    assert remotes[2][0] == "sip:201@callconnect.local", seen.explain()  # the ringing caller is shown
    assert remotes[2][1], "the early dialog carries its call-id (Replaces pickup)"


@pytest.mark.parametrize(("watched", "event", "expires", "status"), [
    ("299", "dialog", "1800", "404"),
    ("202", "presence", "1800", "489"),
    ("202", "dialog", "10", "423"),
    ("203", "dialog", "1800", "403"),  # yourself
])
def test_refused_subscriptions(make_bed: BedFactory, watched: str, event: str, expires: str, status: str) -> None:
    from tests.helpers.server import DEMO_USERS

    bed = make_bed()
    run = bed.peers.run("refused", REFUSED, service="203", username="203", password=DEMO_USERS["203"],
                        keys={"dial": watched, "event": event, "expires": expires}, timeout=10)
    ok(run)
    assert run.logged("final") == [status], run.explain()
    if status == "489":
        assert "dialog" in run.logged("allow_events")[0]
    if status == "423":
        assert run.logged("min_expires") == ["60"]


def test_monitoring_privacy_refuses_an_unlisted_watcher(make_bed: BedFactory) -> None:
    from tests.helpers.server import DEMO_USERS

    bed = make_bed(**{MARIE: {"blf": {"privacy": "listed", "allowed_watchers": ["jean.dupont"]}}})
    run = bed.peers.run("refused", REFUSED, service="203", username="203", password=DEMO_USERS["203"],
                        keys={"dial": "202", "event": "dialog", "expires": "1800"}, timeout=10)
    ok(run)
    assert run.logged("final") == ["403"], run.explain()


# -- pickup ------------------------------------------------------------------------------------------------------
RING, PICKER = scenario("feature_calls", "uas_ring.xml"), scenario("pickup", "uac_picker.xml")
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


def ringing_call(bed: CallBed, hold_ms: int = 1500) -> tuple[SippProcess, SippProcess]:
    """Jean calls Marie, whose phone rings until it is cancelled: (Marie's phone, Jean's phone) once ringing."""
    from tests.helpers.server import DEMO_USERS

    marie = bed.peers.callee("202", RING)
    jean = bed.peers.start("caller-201", CALLER, service="201", username="201", password=DEMO_USERS["201"],
                           keys={"dial": "202"}, pause_ms=hold_ms, timeout=15)
    marie.wait_log(lambda text: "ringing_at=" in text, timeout=5, what="Marie's phone ringing")
    return marie, jean


def pick_up(bed: CallBed, dial: str, replaces: str) -> SippProcess:
    from tests.helpers.server import DEMO_USERS

    return bed.peers.start("picker-203", PICKER, service="203", username="203", password=DEMO_USERS["203"],
                           keys={"dial": dial, "replaces": replaces}, timeout=15)


def offered_port(run: SippRun) -> str:
    """The audio port of the first offer this SIPp sent (its INVITE)."""
    found = re.search(r"m=audio (\d+)", run.messages())
    assert found, run.explain()
    return found.group(1)


def check_picked_up(bed: CallBed, marie: SippProcess, jean: SippProcess, picker: SippProcess) -> None:
    caller, taken, rang = jean.wait(), picker.wait(), marie.wait()
    ok(caller, taken, rang)
    assert rang.logged("cancel_reason") == [COMPLETED_ELSEWHERE], rang.explain()
    # The two phones are joined directly: each got the other's offered media port in its answer.
    assert caller.logged("answer_port") == [offered_port(taken)], caller.explain()
    assert taken.logged("answer_port") == [offered_port(caller)], taken.explain()
    assert caller.logged("connected")[0].startswith('"Pieter Peeters"'), caller.explain()
    rows = rows_of_call(bed, caller, 3)
    by_user = {r.user_id: r.direction for r in rows}
    assert by_user["jean.dupont"] == "placed" and by_user[PIETER] == "received", rows


def test_directed_pickup_by_code(make_bed: BedFactory) -> None:
    """Pieter dials *97202 while Marie's phone rings: he is connected to Jean, Marie's phone stops ringing with
    "completed elsewhere"; Jean's log shows the call placed, Pieter's received."""
    bed = make_bed()
    marie, jean = ringing_call(bed)
    check_picked_up(bed, marie, jean, pick_up(bed, "*97202", "X-Pickup: code"))


def test_group_pickup_by_code(make_bed: BedFactory) -> None:
    bed = make_bed()
    marie, jean = ringing_call(bed)
    check_picked_up(bed, marie, jean, pick_up(bed, "*8", "X-Pickup: group"))


def test_pickup_with_replaces_built_from_the_blf_notify(make_bed: BedFactory) -> None:
    """Pieter's BLF key shows Marie ringing; his phone sends INVITE with Replaces built from the NOTIFY's
    call-id and tags (as `account.X.dialoginfo_callpickup = 1` does): the call is his."""

    bed = make_bed()
    watcher = watch(bed, "203", "202")
    watcher.wait_log(lambda text: "notify=0 " in text, timeout=5, what="the first NOTIFY")
    marie, jean = ringing_call(bed)
    watcher.wait_log(lambda text: "notify=2 early" in text, timeout=5, what="the ringing NOTIFY")
    line = next(v for v in watcher.log_text().splitlines() if v.startswith("remote=2 "))
    _, _, call_id, local_tag, remote_tag = line.split()
    picker = pick_up(bed, "202", f"Replaces: {call_id};to-tag={local_tag};from-tag={remote_tag}")
    check_picked_up(bed, marie, jean, picker)
    watcher.stop()


def test_nothing_to_pick_up(make_bed: BedFactory) -> None:
    from tests.helpers.server import DEMO_USERS

    bed = make_bed()
    run = bed.peers.run("nothing", FAILING, service="203", username="203", password=DEMO_USERS["203"],
                        keys={"dial": "*97202", "maxfwd": "70"}, timeout=10)
    ok(run)
    assert run.logged("final") == ["481"], run.explain()


# -- BLF list (RFC 4662) -----------------------------------------------------------------------------------------
LIST = scenario("blf_list", "uac.xml")


def list_notifies(run: SippRun) -> list[dict[str, object]]:
    """Each list NOTIFY the SIPp phone received: fullState, RLMI resources (uri, name), each part's state."""
    out: list[dict[str, object]] = []
    for text in run.received("NOTIFY"):
        full = re.search(r'fullState="(true|false)"', text)
        out.append({
            "full": full.group(1) if full else None,
            "require": re.search(r"(?im)^Require:\s*eventlist", text) is not None,
            "resources": re.findall(r'<resource uri="([^"]+)">\s*<name>([^<]*)</name>', text),
            "states": re.findall(r'entity="([^"]+)">\s*<dialog[^>]*>\s*<state>([a-z]+)</state>', text),
        })
    return out


def test_a_blf_list_over_tcp_follows_calls_and_membership_changes(make_bed: BedFactory) -> None:
    """Pieter's phone watches his list `pieter-blf` (Marie and Sophie): full state first, one partial NOTIFY
    per change of Marie's key while Jean calls her, then a full state with Jean added when the selection
    changes (no reboot, no new subscription)."""
    from tests.helpers.server import DEMO_USERS

    bed = make_bed(**{PIETER: {"blf": {"monitored_users": [MARIE, "sophie.lambert"], "list_uri": "pieter-blf"}}})
    phone = bed.peers.start("list-203", LIST, service="203", username="203", password=DEMO_USERS["203"],
                            keys={"dial": "pieter-blf"}, timeout=20, extra=["-t", "t1"])
    phone.wait_log(lambda text: "list_notify=true" in text, timeout=5, what="the full-state NOTIFY")
    marie = bed.peers.callee("202", ANSWER)
    caller = bed.peers.caller("201", CALLER, keys={"dial": "202"}, pause_ms=300)
    ok(caller, marie.wait())
    phone.wait_log(lambda text: text.count("list_notify=") == 5, timeout=5, what="the four partial NOTIFYs")
    set_services(bed.data_dir, PIETER, {"blf": {"monitored_users": [MARIE, "sophie.lambert", "jean.dupont"],
                                                "list_uri": "pieter-blf"}})
    run = phone.wait()
    ok(run)
    assert run.logged("require")[0].strip() == "eventlist"
    seen = list_notifies(run)
    assert [n["full"] for n in seen] == ["true", "false", "false", "false", "false", "true", "true"], run.explain()
    assert all(n["require"] for n in seen)
    assert seen[0]["resources"] == [("sip:202@callconnect.local", "Marie Martin 202"),
                                    ("sip:204@callconnect.local", "Sophie Lambert 204")]
    assert [n["states"] for n in seen[1:5]] == [[("sip:202@callconnect.local", s)]
                                                for s in ("trying", "early", "confirmed", "terminated")]
    assert [uri for uri, _ in seen[5]["resources"]] == [  # type: ignore[union-attr]
        "sip:202@callconnect.local", "sip:204@callconnect.local", "sip:201@callconnect.local"]
    assert all(" TCP message" in line or "TCP" in line for line in run.messages().splitlines()
               if "message received" in line)


# -- restart -----------------------------------------------------------------------------------------------------
def test_after_a_restart_the_phone_is_told_to_subscribe_again(make_bed: BedFactory) -> None:
    """The server stops (SIGTERM) and starts again: the watching phone gets `terminated;reason=deactivated`
    on its old dialog and subscribes again; the new subscription starts with the full state (version 0)."""
    from tests.helpers.server import DEMO_USERS

    bed = make_bed()
    watcher = bed.peers.start("watcher-203", scenario("blf_subscribe", "uac_restart.xml"), service="203",
                              username="203", password=DEMO_USERS["203"], keys={"dial": "202"}, timeout=40)
    watcher.wait_log(lambda text: "notify=0 " in text, timeout=5, what="the first NOTIFY")
    assert bed.server.stop() == 0, bed.server.describe()
    bed.server.restart()
    run = watcher.wait()
    ok(run)
    assert [(state, substate) for _, state, substate in notifies(run)] == [
        ("terminated", "active"), ("terminated", "terminated"), ("terminated", "active")], run.explain()
    assert "reason=deactivated" in run.logged("notify")[1], run.explain()
    assert [version for version, _, _ in notifies(run)][2] == 0


# -- phone key sync (as-feature-event) ---------------------------------------------------------------------------
FEATURE_SYNC = scenario("feature_sync", "uac.xml")


def feature_documents(run: SippRun) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for text in run.received("NOTIFY"):
        fields = dict(re.findall(r"<(doNotDisturbOn|forwardingType|forwardStatus|forwardTo)>([^<]*)<", text))
        kind = re.search(r"<(DoNotDisturbEvent|ForwardingEvent)", text)
        fields["event"] = kind.group(1) if kind else ""
        out.append(fields)
    return out


def test_the_phone_dnd_key_and_the_portal_stay_the_same(make_bed: BedFactory) -> None:
    """DND pressed on the phone is stored (the portal shows it, calls get it); forwarding set in the store (as
    the portal does) reaches the phone's key at once."""
    from tests.helpers.server import DEMO_USERS
    from tests.helpers.sipp_calls import read_services

    bed = make_bed()
    phone = bed.peers.start("keys-203", FEATURE_SYNC, service="203", username="203", password=DEMO_USERS["203"],
                            timeout=20)
    phone.wait_log(lambda text: text.count("feature_notify=") >= 5, timeout=10, what="DND on NOTIFY")
    assert read_services(bed.data_dir, PIETER)["dnd"]["active"] is True  # type: ignore[index]
    set_services(bed.data_dir, PIETER, {"dnd": {"active": True},
                                        "forward_always": {"active": True, "number": "0470123456"}})
    run = phone.wait()
    ok(run)
    docs = feature_documents(run)
    assert [d["event"] for d in docs[:4]] == ["DoNotDisturbEvent"] + ["ForwardingEvent"] * 3, run.explain()
    assert docs[0]["doNotDisturbOn"] == "false"
    assert [d["forwardingType"] for d in docs[1:4]] == ["forwardImmediate", "forwardBusy", "forwardNoAns"]
    assert (docs[4]["event"], docs[4]["doNotDisturbOn"]) == ("DoNotDisturbEvent", "true")
    assert (docs[5]["forwardingType"], docs[5]["forwardStatus"], docs[5]["forwardTo"]) == (
        "forwardImmediate", "true", "0470123456")


# -- re-provisioning without reboot --------------------------------------------------------------------------------
def test_a_changed_selection_makes_the_phone_fetch_its_file_again(make_bed: BedFactory) -> None:
    """Marie's T42S registered; her BLF selection changes (as the portal would): her phone gets
    `NOTIFY Event: check-sync;reboot=false` (it then fetches its new file; `sip.notify_reboot_enable = 0`
    keeps it from rebooting)."""
    from tests.helpers.server import DEMO_USERS, free_port

    bed = make_bed()
    port = free_port("127.0.0.1")
    registered = bed.peers.run("register-yealink-202", scenario("check_sync", "register_yealink.xml"),
                               local_port=port, service="202", username="202", password=DEMO_USERS["202"],
                               timeout=10)
    ok(registered)
    phone = bed.peers.start("phone-202", scenario("check_sync", "uas_check_sync.xml"), local_port=port,
                            service="202", timeout=15)
    from tests.helpers.sipp_calls import wait_udp_bound

    assert wait_udp_bound(port, alive=phone.running)
    set_services(bed.data_dir, MARIE, {"blf": {"monitored_users": [PIETER]}})
    run = phone.wait()
    ok(run)
    assert [v.strip() for v in run.logged("event")] == ["check-sync;reboot=false"], run.explain()
    assert run.logged("substate")[0].strip() == "terminated"
    assert "provisioning@" in run.logged("from")[0]
