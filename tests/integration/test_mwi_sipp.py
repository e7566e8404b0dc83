"""Message waiting (RFC 3842) on the wire: the counts set with `callconnect mwi` (the voicemail service's store
until that service exists) light the lamp of a subscribed phone, and of a phone that only registered.

SIPp phones on loopback against a real server; the counts are changed by running the real CLI on the server's
data directory while it runs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import DEMO_USERS, REPO_ROOT
from tests.helpers.sipp_calls import CallBed, GroupTemplate, SippPeers, ok, scenario
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

SUBSCRIBER, UNSOLICITED = scenario("mwi", "uac_subscribe.xml"), scenario("mwi", "uas_unsolicited.xml")


@pytest.fixture(scope="module")
def group_template(tmp_path_factory: pytest.TempPathFactory) -> GroupTemplate:
    return GroupTemplate.create(tmp_path_factory.mktemp("mwi-template"))


@pytest.fixture
def bed(sipp: str, server_factory: ServerFactory, group_template: GroupTemplate, tmp_path: Path) -> Iterator[CallBed]:
    data_dir = group_template.copy_to(tmp_path / "data")
    server = server_factory(data_dir=data_dir, demo=False)
    with SippPeers(tmp_path / "sipp", (server.host, server.port)) as peers:
        yield CallBed(server, peers, group_template.trunk_port)


def mwi(data_dir: Path, user: str, new: int, old: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sipserver", "mwi", user, str(new), str(old),
                           "--data-dir", str(data_dir)], cwd=str(REPO_ROOT), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)


def test_a_subscribed_phone_sees_every_change_of_its_counts(bed: CallBed) -> None:
    phone = bed.peers.start("mwi-203", SUBSCRIBER, service="203", username="203", password=DEMO_USERS["203"],
                            timeout=20)
    phone.wait_log(lambda text: "mwi=no 0/0" in text, timeout=5, what="the first NOTIFY")
    assert mwi(bed.data_dir, "pieter.peeters", 2, 1).returncode == 0
    phone.wait_log(lambda text: "mwi=yes 2/1" in text, timeout=5, what="the lamp going on")
    assert mwi(bed.data_dir, "pieter.peeters", 0, 3).returncode == 0
    run = phone.wait()
    ok(run)
    states = [" ".join(line.split(";", 1)[0].split()) for line in run.logged("mwi")]
    assert states == ["no 0/0 active", "yes 2/1 active", "no 0/3 active", "no 0/3 terminated"], run.explain()


def test_a_phone_that_only_registered_gets_an_unsolicited_notify(bed: CallBed) -> None:
    phone = bed.peers.callee("202", UNSOLICITED)
    assert mwi(bed.data_dir, "marie.martin", 1, 0).returncode == 0
    run = phone.wait()
    ok(run)
    assert [" ".join(v.split(";", 1)[0].split()) for v in run.logged("mwi")] == ["yes 1/0 active"], run.explain()
    assert [v.strip() for v in run.logged("event")] == ["message-summary"]


@pytest.mark.parametrize(("args", "message"), [
    (("nobody.here", "1", "0"), "no user 'nobody.here'"),
    (("marie.martin", "-1", "0"), "cannot be negative"),
    (("marie.martin", "two", "0"), "must be a whole number"),
])
def test_the_cli_refuses_bad_input(bed: CallBed, args: tuple[str, str, str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "sipserver", "mwi", *args, "--data-dir", str(bed.data_dir)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode != 0 and message in done.stderr
