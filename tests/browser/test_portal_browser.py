"""The portal in a real browser (Chromium via Playwright) against the real server: log in with the keyboard,
every tab on a desktop and a phone-sized screen (screenshots), change settings on each tab and see the
message next to a bad field; then the change acts in signalling: forward always set in the browser makes a
pjsua2 call to Marie ring Pieter's phone, and "Appel" in the directory rings Jean's own pjsua2 phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import PhoneFactory, base_url, log_in
from tests.helpers.server import DEMO_DOMAIN, ServerProcess

pytestmark = pytest.mark.integration

TABS = ["profile", "settings", "advanced", "blf", "directory", "calllog", "schedules", "voicemail", "info"]


def test_every_tab_and_settings_in_the_browser(browser: Any, portal_server: ServerProcess,
                                              artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, portal_server, "201", "portal201")
    assert page.locator("#who").inner_text() == "Jean Dupont"
    assert page.locator("h1").inner_text() == "Profil"
    for tab in TABS:
        page.locator(f"#tab-{tab}").click()
        assert page.locator(f"#tab-{tab}").get_attribute("aria-current") == "page"
        page.screenshot(path=str(artifacts / f"desktop-{tab}.png"), full_page=True)

    # Paramètres: a bad ring count is refused next to its field, then forward always is saved
    page.goto(base_url(portal_server) + "/portal/settings")
    page.check("#forward_no_answer-active")
    page.fill("#forward_no_answer-number", "203")
    page.fill("#forward_no_answer-rings", "1")
    page.click("#forward_no_answer-confirm")
    assert "doit être 0 ou entre 2 et 20" in page.locator("#forward_no_answer-rings-error").inner_text()
    page.screenshot(path=str(artifacts / "desktop-settings-error.png"), full_page=True)
    page.goto(base_url(portal_server) + "/portal/settings")
    assert page.locator("#forward_no_answer-active").is_checked() is False  # nothing was written
    page.check("#dnd-active")
    page.click("#dnd-confirm")
    assert page.locator(".flash").inner_text() == "Enregistré."
    assert page.locator("#dnd-active").is_checked()
    page.uncheck("#dnd-active")
    page.click("#dnd-confirm")
    assert not page.locator("#dnd-active").is_checked()

    # Paramètres avancés: add a number and a criterion on a schedule, save
    page.goto(base_url(portal_server) + "/portal/advanced")
    page.click("#simultaneous_ring-add-number")
    page.fill("#sim-n0", "0470 12 34 56")
    page.click("#simultaneous_ring-add-criterion")
    page.fill("#simultaneous_ring-c0-name", "Bureau")
    page.select_option("#simultaneous_ring-c0-sched", "Heures de bureau")
    page.check("#simultaneous_ring-active")
    page.click("#simultaneous_ring-save")
    assert page.locator(".flash").inner_text() == "Enregistré."
    assert page.locator("#sim-n0").input_value() == "0470123456"

    # Horaires: create one with its opposite
    page.goto(base_url(portal_server) + "/portal/schedules/new")
    page.fill("#s-name", "Magasin")
    page.check("#monday-active")
    page.fill("#monday-start", "09:00")
    page.fill("#monday-end", "08:00")
    page.click("#s-save")
    assert "doit être après" in page.locator("#monday-end-error").inner_text()
    page.fill("#monday-end", "18:00")
    page.select_option("#s-opposite", "yes")
    page.click("#s-save")
    assert "non-Magasin" in page.locator("#schedules").inner_text()

    # BLF: remove Pieter, confirm
    page.goto(base_url(portal_server) + "/portal/blf")
    page.click("#blf-selected button[value='remove:pieter.peeters']")
    page.click("#blf-confirm")
    assert "Pieter" not in page.locator("#blf-selected").inner_text()
    assert "Pieter" in page.locator("#blf-others").inner_text()

    # Annuaire: add a contact, search it
    page.goto(base_url(portal_server) + "/portal/directory")
    page.fill("#c-name", "Maison")
    page.fill("#c-number", "02 868 84 12")
    page.click("#c-add")
    page.fill("input[name=q]", "maison")
    page.keyboard.press("Enter")
    assert "028688412" in page.locator("#directory").inner_text()

    # language: Dutch
    page.select_option("#language", "nl")
    page.click("form.lang button")
    assert page.locator("#tab-settings").inner_text() == "Instellingen"
    context.close()

    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = phone.new_page()
    log_in(page, portal_server, "204", "portal204")
    for tab in TABS:
        page.goto(base_url(portal_server) + f"/portal/{tab}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, f"{tab} is {width}px wide on a 375px screen"
        page.screenshot(path=str(artifacts / f"phone-{tab}.png"), full_page=True)
    phone.close()


def test_forward_always_from_the_browser_rings_the_target(browser: Any, portal_server: ServerProcess,
                                                         phone: PhoneFactory) -> None:
    jean, marie, pieter = phone("201"), phone("202"), phone("203")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, portal_server, "202", "portal202")
    page.goto(base_url(portal_server) + "/portal/settings")
    page.check("#forward_always-active")
    page.fill("#forward_always-number", "203")
    page.click("#forward_always-confirm")
    assert page.locator(".flash").inner_text() == "Enregistré."
    context.close()

    jean.call(f"sip:202@{DEMO_DOMAIN}")
    _, shown = pieter.wait_incoming(timeout=10.0)
    assert "Jean Dupont" in shown, shown
    assert not marie.events_named("incoming"), "Marie's phone rang although she forwards everything"

    # "Appel" in Jean's directory: his own phone rings first (third-party call control)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, portal_server, "201", "portal201")
    page.goto(base_url(portal_server) + "/portal/directory?q=Sophie")
    after = len(jean.events_named("incoming"))
    page.click("#directory button:has-text('Appel')")
    assert "Votre téléphone sonne" in page.locator(".flash").inner_text()
    jean.wait_incoming(after=after, timeout=10.0)
    context.close()
