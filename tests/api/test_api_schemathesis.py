"""Property-based run of `/api/v1` from its own OpenAPI document (schemathesis): requests generated for every
operation against the real server (`python -m sipserver serve --demo` with HTTP, free port, loopback), logged
in as Jean with his CSRF token (`/api/v1/admin/...` as the demo group's administrator); no answer may be a
server error (5xx). Event streams (`text/event-stream`, which never end by themselves) are left out of the
generated cases; their own test here reads the first events of one over real HTTP and checks the refusals.
An API token made with the session is used alone over real HTTP, then revoked."""

from __future__ import annotations

import json
import urllib.error
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

DOCUMENT = openapi_document()
STREAMS = [path for path, item in DOCUMENT["paths"].items() for method, op in item.items()
           if method != "parameters" and "text/event-stream" in op["responses"].get("200", {}).get("content", {})]
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path=STREAMS)


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


def test_the_lamp_stream_over_real_http(live: Live) -> None:
    assert STREAMS == ["/api/v1/users/{user_id}/blf/events"]
    cookie = "; ".join(f"{k}={v}" for k, v in live.cookies.items())
    choose = urllib.request.Request(live.url + "/api/v1/users/jean.dupont/blf", method="PUT",  # after the fuzzing
                                    data=json.dumps({"monitored_users": ["marie.martin"]}).encode(),
                                    headers={"Cookie": cookie, "X-CSRF-Token": live.csrf,
                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(choose, timeout=10) as response:
        assert response.status == 200
    request = urllib.request.Request(live.url + "/api/v1/users/jean.dupont/blf/events", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = [response.readline().decode() for _ in range(5)]  # retry, blank, then Marie's lamp
    assert lines[2] == "event: lamp\n" and json.loads(lines[3].removeprefix("data: "))["user"] == "marie.martin"
    for user, cookies, status in (("marie.martin", live.cookies, 403), ("jean.dupont", {}, 401)):
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        refused = urllib.request.Request(f"{live.url}/api/v1/users/{user}/blf/events", headers={"Cookie": header})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(refused, timeout=10)
        assert error.value.code == status


def test_an_api_token_over_real_http(live: Live) -> None:
    """A token made with the session works alone (no cookie, no CSRF token) against the running server, and
    stops working once revoked."""
    cookie = "; ".join(f"{k}={v}" for k, v in live.cookies.items())
    make = urllib.request.Request(live.url + "/api/v1/tokens", method="POST", data=b'{"name": "real http"}',
                                  headers={"Cookie": cookie, "X-CSRF-Token": live.csrf,
                                           "Content-Type": "application/json"})
    with urllib.request.urlopen(make, timeout=10) as response:
        made = json.loads(response.read())
    assert response.status == 201 and made["token"].startswith("cc_")
    bearer = {"Authorization": f"Bearer {made['token']}", "Content-Type": "application/json"}
    put = urllib.request.Request(live.url + "/api/v1/users/jean.dupont/services/call_waiting", method="PUT",
                                 data=b'{"active": true}', headers=bearer)
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 200 and json.loads(response.read())["active"] is True
    revoke = urllib.request.Request(f"{live.url}/api/v1/tokens/{made['id']}", method="DELETE",
                                    headers={"Cookie": cookie, "X-CSRF-Token": live.csrf})
    with urllib.request.urlopen(revoke, timeout=10) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(urllib.request.Request(live.url + "/api/v1/users/jean.dupont", headers=bearer),
                               timeout=10)
    assert error.value.code == 401 and error.value.headers["WWW-Authenticate"].startswith("Bearer ")
