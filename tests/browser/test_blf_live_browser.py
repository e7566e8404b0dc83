"""Live BLF lamps in a real browser (Chromium via Playwright) against the real server, driven by real calls:
Jean's Busy Lamp Field tab shows Marie "Libre"; Pieter's pjsua2 phone calls Marie's, and without a reload her
lamp turns "Sonne" (Pieter's "Appel sortant"), "En ligne" when she answers, "En attente" while she holds the
call, and "Libre" again after she hangs up. Each change must reach the page within `WITHIN` of the SIP
event that caused it; screenshots go to test-artifacts/screenshots/, on a desktop and on a phone-sized
screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import PhoneFactory, base_url, log_in
from tests.helpers.server import DEMO_DOMAIN, ServerProcess

pytestmark = pytest.mark.integration

WITHIN = 3000  # ms: live, no reload (slack for a loaded CI machine running Chromium)


def test_marie_s_lamp_follows_a_real_call(browser: Any, portal_server: ServerProcess, phone: PhoneFactory,
                                          artifacts: Path) -> None:
    from playwright.sync_api import expect

    marie, pieter = phone("202"), phone("203")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, portal_server, "201", "portal201")
    page.goto(base_url(portal_server) + "/portal/blf")
    lamp = page.locator("#lamp-marie\\.martin")
    caller = page.locator("#lamp-pieter\\.peeters")
    expect(lamp).to_have_attribute("data-lamp", "idle")
    expect(lamp.locator(".lamp-text")).to_have_text("Libre")
    expect(lamp).to_have_attribute("aria-live", "polite")
    assert lamp.inner_text().endswith("Libre")  # a word, not only a colour
    page.evaluate("window.sameDocument = 'yes'")  # gone if anything reloads the page

    cid = pieter.call(f"sip:202@{DEMO_DOMAIN}")
    mid, _ = marie.wait_incoming(timeout=10.0)
    expect(lamp).to_have_attribute("data-lamp", "ringing", timeout=WITHIN)
    expect(lamp.locator(".lamp-text")).to_have_text("Sonne")
    expect(caller.locator(".lamp-text")).to_have_text("Appel sortant", timeout=WITHIN)
    assert "Pieter" not in lamp.inner_text()  # only the state, never who calls
    page.screenshot(path=str(artifacts / "desktop-blf-live-ringing.png"), full_page=True)

    marie.call_command(f"answer 200 {mid}")
    marie.wait_call_state(mid, "CONFIRMED", timeout=10.0)
    expect(lamp.locator(".lamp-text")).to_have_text("En ligne", timeout=WITHIN)
    expect(lamp).to_have_attribute("data-lamp", "talking")
    expect(caller.locator(".lamp-text")).to_have_text("En ligne", timeout=WITHIN)
    page.screenshot(path=str(artifacts / "desktop-blf-live-talking.png"), full_page=True)

    held = marie.mark()
    marie.call_command(f"hold {mid}")
    marie.wait_media(mid, "local_hold", after=held, timeout=10.0)
    expect(lamp.locator(".lamp-text")).to_have_text("En attente", timeout=WITHIN)
    marie.call_command(f"unhold {mid}")
    expect(lamp.locator(".lamp-text")).to_have_text("En ligne", timeout=5000)

    marie.call_command(f"hangup {mid}")
    pieter.wait_call_state(cid, "DISCONNECTED", timeout=10.0)
    expect(lamp.locator(".lamp-text")).to_have_text("Libre", timeout=WITHIN)
    expect(lamp).to_have_attribute("data-lamp", "idle")
    expect(caller.locator(".lamp-text")).to_have_text("Libre", timeout=WITHIN)
    assert page.evaluate("window.sameDocument") == "yes", "the page was reloaded"
    page.screenshot(path=str(artifacts / "desktop-blf-live-idle.png"), full_page=True)
    context.close()

    # a phone-sized screen: the lamps fit and still follow a call
    small = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = small.new_page()
    log_in(page, portal_server, "201", "portal201")
    page.goto(base_url(portal_server) + "/portal/blf")
    lamp = page.locator("#lamp-marie\\.martin")
    expect(lamp.locator(".lamp-text")).to_have_text("Libre")
    cid = pieter.call(f"sip:202@{DEMO_DOMAIN}")
    mid, _ = marie.wait_incoming(after=held, timeout=10.0)
    expect(lamp.locator(".lamp-text")).to_have_text("Sonne", timeout=WITHIN)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1, f"the BLF tab is {width}px wide on a 375px screen"
    page.screenshot(path=str(artifacts / "phone-blf-live-ringing.png"), full_page=True)
    pieter.call_command(f"hangup {cid}")
    expect(lamp.locator(".lamp-text")).to_have_text("Libre", timeout=5000)
    small.close()


def test_the_lamps_need_a_session(browser: Any, portal_server: ServerProcess) -> None:
    context = browser.new_context()
    page = context.new_page()
    response = page.request.get(base_url(portal_server) + "/portal/blf/events")
    assert response.status == 401
    page.goto(base_url(portal_server) + "/portal/blf")
    assert re.search(r"/login$", page.url)
    context.close()
