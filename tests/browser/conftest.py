"""Browser tests of the portal: the real server (`python -m sipserver serve --demo` with HTTP, free ports,
loopback only) driven by Playwright through Debian's Chromium at /usr/bin/chromium.

A missing Chromium or Playwright FAILS the test (never a skip): `./scripts/test` installs both. Screenshots
of every tab go to `test-artifacts/screenshots/` (gitignored), kept as the run's artifacts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.pages import PhoneFactory
from tests.helpers.pjsua_agent import PjsuaAgent
from tests.helpers.server import DEMO_DOMAIN, DEMO_USERS, ServerProcess

CHROMIUM = Path(os.environ.get("CALLCONNECT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./scripts/test does)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("portal-server")
    server = ServerProcess.start(base / "data", http=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def phone(portal_server: ServerProcess, tmp_path: Path) -> Iterator[PhoneFactory]:
    """`phone(user, password=None)`: a pjsua2 phone registered to the portal's server (the demo password by
    default), closed when the test ends."""
    registrar = f"sip:{portal_server.host}:{portal_server.port}"
    agents: list[PjsuaAgent] = []

    def start(user: str, password: str | None = None) -> PjsuaAgent:
        agent = PjsuaAgent.start(user=user, password=password or DEMO_USERS[user], registrar=registrar,
                                 domain=DEMO_DOMAIN, log_dir=tmp_path / "pjsua", proxy=f"{registrar};lr",
                                 max_lifetime=90.0)
        agents.append(agent)
        assert agent.register().code == 200, agent.describe()
        return agent

    yield start
    for agent in agents:
        agent.close()
