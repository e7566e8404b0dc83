"""Property-based run of `/api/v1` from its own OpenAPI document (schemathesis): requests generated for every
operation against the real server (`python -m sipserver serve --demo` with HTTP, free port, loopback), logged
in as Jean with his CSRF token (`/api/v1/admin/...` as the demo group's administrator); no answer may be a
server error (5xx)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.helpers.server import ServerProcess, wait_for
from webui.openapi import openapi_document

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_dict(openapi_document())


@dataclass
class Live:
    url: str
    cookies: dict[str, str]
    csrf: str
    admin_cookies: dict[str, str]
    admin_csrf: str


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def log_in(url: str, path: str, username: str, password: str) -> tuple[dict[str, str], str]:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request = urllib.request.Request(url + path, method="POST",
                                     data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=10) as response:
        csrf = json.loads(response.read())["csrf_token"]
    return {c.name: c.value for c in jar if c.value is not None}, csrf


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base: Path = tmp_path_factory.mktemp("api-fuzz")
    server = ServerProcess.start(base / "data", http=True)
    try:
        url = f"http://127.0.0.1:{server.http_port}"
        wait_for(lambda: http_ok(url + "/healthz"), 10.0, what="the HTTP side")  # SIP answers first
        cookies, csrf = log_in(url, "/api/v1/session", "201", "portal201")
        admin_cookies, admin_csrf = log_in(url, "/api/v1/admin/session", "demo.admin", "demoadmin1")
        yield Live(url, cookies, csrf, admin_cookies, admin_csrf)
        assert server.alive(), server.describe()
    finally:
        server.stop()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, live: Live) -> None:
    if case.path_parameters and "user_id" in case.path_parameters and len(str(case.path_parameters)) % 3:
        case.path_parameters["user_id"] = "jean.dupont"  # mostly our own data, so the writes go deep
    admin = case.path.startswith("/api/v1/admin/")
    headers = dict(case.headers or {})
    if not (case.method == "DELETE" and case.path == "/api/v1/session"):  # keep the shared session
        headers["X-CSRF-Token"] = live.admin_csrf if admin else live.csrf
    else:
        headers.pop("X-CSRF-Token", None)
    case.headers = headers
    response = case.call(base_url=live.url, cookies=live.admin_cookies if admin else live.cookies, timeout=10)
    case.validate_response(response, checks=[not_a_server_error])
