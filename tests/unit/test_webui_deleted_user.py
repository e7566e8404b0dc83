"""A user deleted while logged in (by an administrator, `provision apply`, the CLI) is logged out at their next
request: pages go back to the login page, forms get the 403 of a stale form, the API answers 401; never a
server error, and nothing is written for the account that is gone."""

from __future__ import annotations

import dataclasses

import pytest

from provisioning.demo import demo_group_description
from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]

JEAN = "jean.dupont"
PAGES = ("/portal/profile", "/portal/settings", "/portal/advanced", "/portal/blf", "/portal/directory",
         "/portal/calllog", "/portal/schedules", "/portal/schedules/new", "/portal/info", "/portal/voicemail")
FORMS = (("/portal/settings/dnd", {"active": "on"}), ("/portal/blf", {"monitored": "marie.martin"}),
         ("/portal/directory/contacts", {"name": "Bob", "number": "0470123456"}),
         ("/portal/call", {"number": "202"}), ("/portal/schedules/new", {"name": "Soir"}))
API = (("GET", ""), ("GET", "/services"), ("GET", "/services/dnd"), ("PUT", "/services/dnd"),
       ("GET", "/contacts"), ("POST", "/contacts"), ("GET", "/schedules"), ("GET", "/directory"),
       ("GET", "/calls"), ("PUT", "/blf"), ("POST", "/click-to-dial"))


async def delete_jean(env: Env) -> None:
    group = demo_group_description("callconnect.local")
    await env.store.apply_group(dataclasses.replace(
        group, users=tuple(u for u in group.users if u.user_id != JEAN),
        devices=tuple(d for d in group.devices if d.owner != JEAN)))
    await env.reload()


async def logged_out(env: Env) -> bool:
    response = await env.client.get("/portal/profile", allow_redirects=False)
    return response.status == 303 and response.headers["Location"] == "/login"


@pytest.mark.parametrize("path", PAGES)
async def test_a_page(env: Env, path: str) -> None:
    await env.login()
    await delete_jean(env)
    response = await env.client.get(path, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert await logged_out(env)


@pytest.mark.parametrize(("path", "fields"), FORMS)
async def test_a_form(env: Env, path: str, fields: dict[str, str]) -> None:
    token = await env.login()
    await delete_jean(env)
    response = await env.client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)
    # the session is gone before the form is read: its token with it, as for an expired session
    assert response.status == 403, await response.text()
    assert await logged_out(env)


@pytest.mark.parametrize(("method", "route"), API)
async def test_an_api_route(env: Env, method: str, route: str) -> None:
    token = await env.api_login()
    await delete_jean(env)
    response = await env.client.request(method, f"/api/v1/users/{JEAN}{route}", headers={"X-CSRF-Token": token},
                                        json={"active": True, "name": "Bob", "number": "0470123456",
                                              "monitored_users": []})
    assert response.status == 401, (response.status, await response.text())
    assert (await env.client.get(f"/api/v1/users/{JEAN}")).status == 401
