"""`callconnect call USER NUMBER` against a running server process: the CLI process asks, the server process rings.

A server subprocess (the demo group, free ports), two pjsua2 phones (201 Jean, 202 Marie) and the CLI as a third
process on the same data directory: refusals come back as exit status 1 with the reason, a call request makes
Jean's phone ring, then Marie's once Jean answers, and both reach CONFIRMED; without a server the CLI says so
(exit 2) and the request is withdrawn.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.pjsua_agent import PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS
from tests.helpers.sipp_calls import GroupTemplate
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration

CALL_TIMEOUT = 10.0


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sipserver", "call", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=20)


def test_the_cli_asks_the_running_server(pjsua2_available: None, server_factory: ServerFactory,
                                         tmp_path: Path) -> None:
    template = GroupTemplate.create(tmp_path / "template", seconds_per_ring=1)
    data_dir = template.copy_to(tmp_path / "data")
    server = server_factory(data_dir=data_dir, demo=False)
    registrar = f"sip:{server.host}:{server.port}"
    agents: list[PjsuaAgent] = []
    try:
        unknown = cli(data_dir, "nobody", "202")
        assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr, unknown
        unregistered = cli(data_dir, "jean.dupont", "202")
        assert unregistered.returncode == 1 and "registered" in unregistered.stderr, unregistered
        for user in ("201", "202"):
            agent = PjsuaAgent.start(user=user, password=DEMO_USERS[user], registrar=registrar, domain=DEMO_DOMAIN,
                                     log_dir=tmp_path / "pjsua", proxy=f"{registrar};lr", max_lifetime=60.0)
            agents.append(agent)
            assert agent.register().code == 200, agent.describe()
        jean, marie = agents
        placed = cli(data_dir, "jean.dupont", "202")
        assert placed.returncode == 0 and "calling jean.dupont" in placed.stdout, placed
        jid, shown = jean.wait_incoming(timeout=CALL_TIMEOUT)
        assert "Marie Martin" in shown, shown
        jean.call_command(f"answer 200 {jid}")
        mid, _ = marie.wait_incoming(timeout=CALL_TIMEOUT)
        marie.call_command(f"answer 200 {mid}")
        jean.wait_call_state(jid, "CONFIRMED", timeout=CALL_TIMEOUT)
        marie.wait_call_state(mid, "CONFIRMED", timeout=CALL_TIMEOUT)
        jean.call_command(f"hangup {jid}")
        marie.wait_call_state(mid, "DISCONNECTED", timeout=CALL_TIMEOUT)
    finally:
        for agent in agents:
            agent.request_quit()
        for agent in agents:
            agent.close()


def test_without_a_server_the_request_is_withdrawn(tmp_path: Path) -> None:
    result = cli(tmp_path / "nothing-runs-here", "jean.dupont", "202")
    assert result.returncode == 2 and "no server took the request" in result.stderr, result
