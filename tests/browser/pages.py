"""What the browser tests do on the portal's pages: its address, and logging in with the keyboard as an end
user or as a group administrator (the user type chosen first); the type of conftest's `phone` fixture."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.helpers.pjsua_agent import PjsuaAgent
from tests.helpers.server import ServerProcess

PhoneFactory = Callable[..., PjsuaAgent]  # phone(user, password=None) -> a registered pjsua2 phone


def base_url(server: ServerProcess) -> str:
    return f"http://127.0.0.1:{server.http_port}"


def log_in(page: Any, server: ServerProcess, user: str, password: str, *, admin: bool = False) -> None:
    page.goto(base_url(server) + "/login")
    if admin:
        page.select_option("#user_type", "groupadmin")
    page.locator("#username").focus()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/admin/users$" if admin else r".*/portal/profile$"))
