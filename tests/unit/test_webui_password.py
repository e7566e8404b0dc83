"""A user changes their own portal password (Profile tab, `PUT /api/v1/users/{id}/password`) through aiohttp's
test client over the real service layer: the current password is checked and throttled like a login, the new
one twice and long enough, each refusal next to its field; afterwards only the new password logs in, every
other session of the user has ended and this one goes on under a new id; an API token cannot do it. A group
administrator does the same on "Mon compte" (`/admin/account`), and makes an API token there."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]

U = "/api/v1/users/jean.dupont"
NEW = "a new long password"


async def change(env: Env, csrf: str, current: str, password: str, again: str | None = None) -> tuple[int, str]:
    r = await env.client.post("/portal/profile/password", allow_redirects=False, data={
        "csrf_token": csrf, "current_password": current, "password": password,
        "password2": password if again is None else again})
    return r.status, await r.text()


async def test_the_profile_tab_changes_the_password_and_ends_the_other_sessions(env: Env) -> None:
    other = TestClient(TestServer(env.client.app))  # Jean's other browser, logged in too
    await other.start_server()
    try:
        r = await other.post("/api/v1/session", json={"username": "201", "password": "portal201"})
        assert r.status == 200
        csrf = await env.login()
        old_cookie = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))
        assert (await change(env, "x", "portal201", NEW))[0] == 403  # CSRF
        status, page = await change(env, csrf, "wrong one", NEW)
        assert status == 400 and 'id="current-password-error"' in page and "Mot de passe erroné." in page
        status, page = await change(env, csrf, "portal201", NEW, "something else")
        assert status == 400 and 'id="new-password2-error"' in page
        status, page = await change(env, csrf, "portal201", "short", "short")
        assert status == 400 and 'id="new-password-error"' in page
        assert (await change(env, csrf, "portal201", NEW))[0] == 303
        page = await (await env.client.get("/portal/profile")).text()
        assert "Votre mot de passe a été modifié." in page  # still logged in, under a new session id
        assert env.client.session.cookie_jar.filter_cookies(env.client.make_url("/")) != old_cookie
        assert (await other.get(U + "/services")).status == 401  # the other browser was logged out
        status, page = await change(env, await env.csrf("/portal/profile"), NEW, NEW)
        assert status == 400 and "Choisissez un autre mot de passe" in page
    finally:
        await other.close()
    assert (await env.client.post("/api/v1/session", json={"username": "201", "password": "portal201"})).status == 401
    assert (await env.client.post("/api/v1/session", json={"username": "201", "password": NEW})).status == 200


async def test_wrong_current_passwords_are_throttled(env: Env) -> None:
    csrf = await env.login()
    for _ in range(5):
        assert (await change(env, csrf, "wrong one", NEW))[0] == 400
    status, page = await change(env, csrf, "portal201", NEW)  # right, but too late
    assert status == 400 and "Trop de tentatives" in page
    user = await env.store.get_user("jean.dupont")
    assert user is not None
    assert await env.portal.service.authenticate("201", "portal201") is not None  # unchanged


async def test_the_api_changes_the_password_from_a_session_only(env: Env) -> None:
    csrf = await env.api_login()
    body = {"current_password": "portal201", "password": NEW}
    assert (await env.client.put(U + "/password", json=body)).status == 403  # CSRF
    r = await env.client.put(U + "/password", json={**body, "current_password": "nope"},
                             headers={"X-CSRF-Token": csrf})
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "current_password"
    r = await env.client.put(U + "/password", json={**body, "password": "short"}, headers={"X-CSRF-Token": csrf})
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "password"
    assert (await env.client.put(U + "/password", json={"password": NEW},
                                 headers={"X-CSRF-Token": csrf})).status == 400
    r = await env.client.put("/api/v1/users/marie.martin/password", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status == 403
    r = await env.client.post("/api/v1/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf})
    token = (await r.json())["token"]
    r = await env.client.put(U + "/password", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status == 403  # a token cannot take the account over
    r = await env.client.put(U + "/password", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status == 200
    fresh = (await r.json())["csrf_token"]
    assert fresh != csrf and (await env.client.get(U + "/services")).status == 200
    assert await env.portal.service.authenticate("201", NEW) is not None


async def test_a_group_administrator_changes_their_password_and_makes_a_token(env: Env) -> None:
    csrf = await env.admin_login()
    page = await (await env.client.get("/admin/account")).text()
    assert 'id="a-username">demo.admin<' in page and 'action="/admin/account/password"' in page
    r = await env.client.post("/admin/account/password", allow_redirects=False, data={
        "csrf_token": csrf, "current_password": "wrong", "password": NEW, "password2": NEW})
    assert r.status == 400 and "Mot de passe erroné." in await r.text()
    r = await env.client.post("/admin/account/password", allow_redirects=False, data={
        "csrf_token": csrf, "current_password": "demoadmin1", "password": NEW, "password2": NEW})
    assert r.status == 303 and r.headers["Location"] == "/admin/account"
    assert await env.portal.admin.authenticate("demo.admin", NEW) is not None  # type: ignore[union-attr]
    assert await env.portal.admin.authenticate("demo.admin", "demoadmin1") is None  # type: ignore[union-attr]
    csrf = await env.csrf("/admin/account")  # still logged in, under a new session
    r = await env.client.post("/admin/account/tokens", data={"csrf_token": csrf, "token_name": "provisioning"})
    page = await r.text()
    token = page.split('id="new-token" readonly value="', 1)[1].split('"', 1)[0]
    env.client.session.cookie_jar.clear()
    r = await env.client.get("/api/v1/admin/group", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200


async def test_the_admin_api_changes_the_administrators_password_from_a_session_only(env: Env) -> None:
    csrf = await env.api_admin_login()
    body = {"current_password": "demoadmin1", "password": NEW}
    assert (await env.client.put("/api/v1/admin/password", json=body)).status == 403  # CSRF
    r = await env.client.put("/api/v1/admin/password", json={**body, "current_password": "nope"},
                             headers={"X-CSRF-Token": csrf})
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "current_password"
    r = await env.client.put("/api/v1/admin/password", json={**body, "password": "short"},
                             headers={"X-CSRF-Token": csrf})
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "password"
    r = await env.client.post("/api/v1/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf})
    token = (await r.json())["token"]
    r = await env.client.put("/api/v1/admin/password", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status == 403
    r = await env.client.put("/api/v1/admin/password", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status == 200 and (await r.json())["csrf_token"] != csrf
    assert await env.portal.admin.authenticate("demo.admin", NEW) is not None  # type: ignore[union-attr]
    assert (await env.client.get("/api/v1/admin/group")).status == 200  # this session goes on
