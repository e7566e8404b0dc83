"""The group administrator's pages in a real browser (Chromium via Playwright) against the real server: the
demo group's administrator logs in choosing the user type "Administrateur de groupe", every admin page is
shown on a desktop and a 375 px phone (screenshots in test-artifacts/), a user with an extension is created
(first with a taken extension: the `provision apply` message shows next to the field and nothing is saved),
and then that new user's pjsua2 phone registers with the SIP password chosen in the browser and rings when
Jean dials the new extension."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from provisioning.demo import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from tests.browser.pages import PhoneFactory, base_url, log_in
from tests.helpers.server import DEMO_DOMAIN, ServerProcess

pytestmark = pytest.mark.integration

ADMIN_TABS = ["users", "numbers", "departments", "devices", "schedules", "directory"]


def test_admin_creates_a_user_whose_phone_then_rings(browser: Any, portal_server: ServerProcess, artifacts: Path,
                                                     phone: PhoneFactory) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, portal_server, DEMO_ADMIN, DEMO_ADMIN_PASSWORD, admin=True)
    assert "Administrateur Demo" in page.locator("#who").inner_text()
    assert page.locator("h1").inner_text() == "Utilisateurs"
    for tab in ADMIN_TABS:
        page.locator(f"#tab-{tab}").click()
        assert page.locator(f"#tab-{tab}").get_attribute("aria-current") == "page"
        page.screenshot(path=str(artifacts / f"admin-{tab}.png"), full_page=True)
    for path, name in (("/admin/users/jean.dupont", "user-edit"), ("/admin/schedules/edit/Heures de bureau",
                                                                    "schedule-edit"),
                       ("/admin/holidays/new", "holiday-new"), ("/admin/devices/001565000201", "device-edit"),
                       ("/admin/directory/0", "contact-edit")):
        page.goto(base_url(portal_server) + path)
        assert page.locator("h1").is_visible()
        page.screenshot(path=str(artifacts / f"admin-{name}.png"), full_page=True)

    # a new user: the taken extension is refused next to its field, then the user is created
    page.goto(base_url(portal_server) + "/admin/users")
    page.click("#add-user")
    page.fill("#u-user_id", "luc.leroy")
    page.fill("#u-first_name", "Luc")
    page.fill("#u-last_name", "Leroy")
    page.select_option("#u-department_id", "ventes")
    page.fill("#u-extension", "203")
    page.fill("#u-numbers", "02 221 12 05")
    page.fill("#u-sip_username", "205")
    page.fill("#u-sip_password", "demo205")
    page.fill("#u-portal_password", "portal205")
    page.click("#u-save")
    assert page.locator("#u-extension-error").inner_text() == "'203' est déjà l'extension de 'pieter.peeters'"
    page.screenshot(path=str(artifacts / "admin-user-error.png"), full_page=True)
    page.fill("#u-extension", "205")
    page.fill("#u-sip_password", "demo205")  # password fields are never sent back
    page.fill("#u-portal_password", "portal205")
    page.click("#u-save")
    page.wait_for_url(re.compile(r".*/admin/users$"))
    assert page.locator(".flash").inner_text() == "Enregistré."
    assert "Luc Leroy" in page.locator("#users").inner_text()
    page.screenshot(path=str(artifacts / "admin-user-created.png"), full_page=True)
    page.goto(base_url(portal_server) + "/admin/numbers")
    assert "022211205" in page.locator("#numbers").inner_text()
    context.close()

    phone_screen = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = phone_screen.new_page()
    log_in(page, portal_server, DEMO_ADMIN, DEMO_ADMIN_PASSWORD, admin=True)
    for path in [*(f"/admin/{tab}" for tab in ADMIN_TABS), "/admin/users/luc.leroy"]:
        page.goto(base_url(portal_server) + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, f"{path} is {width}px wide on a 375px screen"
        page.screenshot(path=str(artifacts / f"phone-admin-{path.split('/')[2]}{'-edit' if path.count('/') > 2 else ''}"
                                              ".png"), full_page=True)
    phone_screen.close()

    # the SIP side routes with it at once: Luc's phone registers and rings when Jean dials 205
    luc = phone("205", "demo205")
    jean = phone("201")
    jean.call(f"sip:205@{DEMO_DOMAIN}")
    _, shown = luc.wait_incoming(timeout=10.0)
    assert "Jean Dupont" in shown, shown

    # and Luc can sign in to his own portal with the password the administrator chose
    context = browser.new_context()
    page = context.new_page()
    page.goto(base_url(portal_server) + "/login")
    page.fill("#username", "205")
    page.fill("#password", "portal205")
    page.click("#signin")
    page.wait_for_url(re.compile(r".*/portal/profile$"))
    assert page.locator("#who").inner_text() == "Luc Leroy"
    context.close()
