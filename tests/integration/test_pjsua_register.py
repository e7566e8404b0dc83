"""pjsua2 (PJSIP 2.15, a real softphone stack) registers with the real server over UDP and TCP.

Each user agent is its own process (`tests/helpers/pjsua_agent.py`, one pjsua Endpoint per process) driven
by a line protocol. We check onRegState's code, and that the binding is on the server's disk with pjsua's
Contact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.pjsua_agent import PjsuaAgent
from tests.helpers.server import DEMO_USERS, ServerProcess, read_bindings, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def agents(tmp_path: Path, pjsua2_available: None) -> Iterator[list[PjsuaAgent]]:
    """Agents started by a test; all quit (or killed) at teardown."""
    started: list[PjsuaAgent] = []
    yield started
    for agent in started:
        agent.request_quit()  # all at once: each takes about a second to unregister and destroy pjsua
    for agent in started:
        agent.close()


def start_agent(agents: list[PjsuaAgent], server: ServerProcess, tmp_path: Path, user: str, password: str,
                transport: str) -> PjsuaAgent:
    agent = PjsuaAgent.start(user=user, password=password, registrar=f"sip:{server.host}:{server.port}",
                             transport=transport, log_dir=tmp_path / "pjsua")
    agents.append(agent)
    return agent


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_pjsua_registers_and_unregisters(server: ServerProcess, tmp_path: Path, agents: list[PjsuaAgent],
                                         transport: str) -> None:
    agent = start_agent(agents, server, tmp_path, "201", DEMO_USERS["201"], transport)
    event = agent.register()
    assert event.code == 200, agent.describe()
    assert int(event.args[1]) > 0, f"a positive expiration was expected: {event.line}"

    bindings = read_bindings(server.data_dir, "201")
    assert len(bindings) == 1, f"{bindings}\n{agent.describe()}"
    binding = bindings[0]
    assert binding.contact.startswith("sip:201@127.0.0.1:"), binding
    assert ";ob" in binding.contact, binding  # pjsua's RFC 5626 contact is kept as sent
    assert binding.source.startswith(transport), binding
    if transport == "udp":
        assert binding.contact.startswith(f"sip:201@{agent.local}"), (binding, agent.local)
    else:
        assert "transport=tcp" in binding.contact.lower(), binding

    event = agent.unregister()
    assert event.code == 200, agent.describe()
    wait_for(lambda: read_bindings(server.data_dir, "201") == [], 5, what="the binding to be removed")
    assert agent.close() == 0, agent.describe()


def test_pjsua_wrong_password_is_refused(server: ServerProcess, tmp_path: Path,
                                         agents: list[PjsuaAgent]) -> None:
    agent = start_agent(agents, server, tmp_path, "202", "not-the-password", "udp")
    event = agent.register()
    assert event.code in (401, 403), agent.describe()
    assert read_bindings(server.data_dir, "202") == []


def test_two_pjsua_agents_register_side_by_side(server: ServerProcess, tmp_path: Path,
                                                agents: list[PjsuaAgent]) -> None:
    """One over UDP, one over TCP, at the same time: both bound, each with its own Contact."""
    a = start_agent(agents, server, tmp_path, "203", DEMO_USERS["203"], "udp")
    b = start_agent(agents, server, tmp_path, "204", DEMO_USERS["204"], "tcp")
    a.send("register")
    b.send("register")
    for agent in (a, b):
        event = agent.expect("reg", timeout=10, where=lambda e: e.code >= 200)
        assert event.code == 200, agent.describe()
    assert len(read_bindings(server.data_dir, "203")) == 1
    assert len(read_bindings(server.data_dir, "204")) == 1
