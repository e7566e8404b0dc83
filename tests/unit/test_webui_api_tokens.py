"""API tokens (`/api/v1/tokens`, `Authorization: Bearer`, RFC 6750) through aiohttp's test client over the real
service layer and a real SQLite token store: made from a session only (CSRF), shown once, stored as a digest;
a token acts as its owner on every route without cookie or CSRF token, never on another user's data, never to
make tokens; revoked, unknown, malformed or orphaned (the user removed) tokens get 401 with the RFC 6750
challenge; an administrator's token reaches `/api/v1/admin` only; the Profile tab makes and revokes them."""

from __future__ import annotations

import sqlite3

from aiohttp.test_utils import TestClient

from storage.api_tokens import MAX_TOKENS_PER_OWNER
from storage.database import database_path
from tests.unit.test_webui_deleted_user import delete_jean
from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]

U = "/api/v1/users/jean.dupont"


async def make(env: Env, name: str = "my script", *, admin: bool = False) -> str:
    csrf = await (env.api_admin_login() if admin else env.api_login())
    r = await env.client.post("/api/v1/tokens", json={"name": name}, headers={"X-CSRF-Token": csrf})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["name"] == name and body["token"].startswith(f"cc_{body['id']}_")
    return str(body["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forget_cookies(client: TestClient) -> None:
    client.session.cookie_jar.clear()


async def test_a_token_is_made_from_a_session_with_csrf_and_listed_without_its_secret(env: Env) -> None:
    assert (await env.client.post("/api/v1/tokens", json={"name": "x"})).status == 401
    await env.api_login()
    assert (await env.client.post("/api/v1/tokens", json={"name": "x"})).status == 403  # no CSRF token
    token = await make(env, "backup script")
    csrf = str((await (await env.client.get("/api/v1/session")).json())["csrf_token"])
    listed = await (await env.client.get("/api/v1/tokens")).json()
    assert [t["name"] for t in listed] == ["backup script"] and listed[0]["last_used_at"] is None
    assert token not in str(listed) and set(listed[0]) == {"id", "name", "created_at", "last_used_at"}
    with sqlite3.connect(database_path(env.portal.tokens.data_dir)) as db:  # type: ignore[union-attr]
        stored = db.execute("SELECT * FROM api_tokens").fetchall()
    assert len(stored) == 1 and token not in str(stored)  # only its SHA-256
    for bad in ({"name": ""}, {"name": " "}, {"name": "x" * 61}, {"name": "a\nb"}, {"name": 3}, {}):
        r = await env.client.post("/api/v1/tokens", json=bad, headers={"X-CSRF-Token": csrf})
        assert r.status == 422 and (await r.json())["errors"][0]["field"] == "name", bad
    r = await env.client.post("/api/v1/tokens", data=b"{", headers={"X-CSRF-Token": csrf})
    assert r.status == 400


async def test_a_token_acts_as_its_user_without_cookie_or_csrf_token(env: Env) -> None:
    token = await make(env)
    forget_cookies(env.client)
    assert (await env.client.get(U + "/services")).status == 401
    r = await env.client.get(U + "/services/dnd", headers=bearer(token))
    assert r.status == 200 and (await r.json())["active"] is False
    r = await env.client.put(U + "/services/dnd", json={"active": True}, headers=bearer(token))
    assert r.status == 200
    user = await env.store.get_user("jean.dupont")
    assert user is not None and user.services.dnd.active
    assert "Set-Cookie" not in r.headers  # a token request never gets a session
    r = await env.client.put(U + "/services/forward_no_answer", json={"active": True, "number": "202", "rings": 1},
                             headers=bearer(token))
    assert r.status == 422  # the same validation
    marie = "/api/v1/users/marie.martin"
    assert (await env.client.get(marie + "/services", headers=bearer(token))).status == 403
    r = await env.client.put(marie + "/services/dnd", json={"active": True}, headers=bearer(token))
    assert r.status == 403
    assert (await env.client.get("/api/v1/admin/group", headers=bearer(token))).status == 403


async def test_a_token_cannot_make_or_revoke_tokens(env: Env) -> None:
    token = await make(env)
    listed = await (await env.client.get("/api/v1/tokens")).json()
    forget_cookies(env.client)
    assert (await env.client.get("/api/v1/tokens", headers=bearer(token))).status == 403
    assert (await env.client.post("/api/v1/tokens", json={"name": "more"}, headers=bearer(token))).status == 403
    assert (await env.client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=bearer(token))).status == 403


async def test_refused_tokens_get_401_with_the_bearer_challenge(env: Env) -> None:
    token = await make(env)
    csrf = await env.api_login()  # the cookie stays: a bad token is refused even with a good session
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for header in (f"Bearer {wrong}", "Bearer cc_nothing", "Bearer ", "Basic MjAxOnBvcnRhbDIwMQ==", "Bearer"):
        r = await env.client.get(U + "/services", headers={"Authorization": header})
        assert r.status == 401, header
        assert r.headers["WWW-Authenticate"].startswith('Bearer realm="callconnect", error="invalid_token"')
    [listed] = await (await env.client.get("/api/v1/tokens")).json()
    assert (await env.client.delete("/api/v1/tokens/" + listed["id"])).status == 403  # no CSRF token
    assert (await env.client.delete("/api/v1/tokens/" + listed["id"], headers={"X-CSRF-Token": csrf})).status == 200
    assert (await env.client.delete("/api/v1/tokens/" + listed["id"], headers={"X-CSRF-Token": csrf})).status == 404
    assert (await env.client.get(U + "/services", headers=bearer(token))).status == 401  # revoked
    assert (await env.client.get("/api/v1/tokens")).status == 200  # the session itself is untouched


async def test_a_removed_users_token_stops_working(env: Env) -> None:
    token = await make(env)
    assert (await env.client.get(U, headers=bearer(token))).status == 200
    await delete_jean(env)
    r = await env.client.get(U, headers=bearer(token))
    assert r.status == 401 and "no longer exists" in (await r.json())["error"]


async def test_an_administrators_token_reaches_the_admin_api_only(env: Env) -> None:
    token = await make(env, "provisioning", admin=True)
    forget_cookies(env.client)
    r = await env.client.get("/api/v1/admin/group", headers=bearer(token))
    assert r.status == 200
    r = await env.client.post("/api/v1/admin/departments", json={"id": "support", "name": "Support"},
                              headers=bearer(token))
    assert r.status == 201, await r.text()
    assert (await env.client.get(U + "/services", headers=bearer(token))).status == 401


async def test_an_owner_has_at_most_the_allowed_number_of_tokens(env: Env) -> None:
    csrf = await env.api_login()
    for i in range(MAX_TOKENS_PER_OWNER):
        r = await env.client.post("/api/v1/tokens", json={"name": f"t{i}"}, headers={"X-CSRF-Token": csrf})
        assert r.status == 201
    r = await env.client.post("/api/v1/tokens", json={"name": "one more"}, headers={"X-CSRF-Token": csrf})
    assert r.status == 422 and "revoke one first" in (await r.json())["errors"][0]["message"]


async def test_the_profile_tab_makes_shows_once_and_revokes_a_token(env: Env) -> None:
    csrf = await env.login()
    page = await (await env.client.get("/portal/profile")).text()
    assert 'id="no-tokens"' in page and "Jetons d&#39;API" in page  # French by default
    r = await env.client.post("/portal/profile/tokens", data={"csrf_token": csrf, "token_name": ""})
    assert r.status == 400 and "Donnez un nom au jeton." in await r.text()
    r = await env.client.post("/portal/profile/tokens", data={"token_name": "x"})
    assert r.status == 403  # no CSRF token
    r = await env.client.post("/portal/profile/tokens", data={"csrf_token": csrf, "token_name": "Outlook"})
    page = await r.text()
    assert r.status == 200 and 'id="new-token"' in page
    token = page.split('id="new-token" readonly value="', 1)[1].split('"', 1)[0]
    assert token.startswith("cc_")
    again = await (await env.client.get("/portal/profile")).text()
    assert "Outlook" in again and token not in again  # shown that once
    assert (await env.client.get(U, headers=bearer(token))).status == 200
    [listed] = await (await env.client.get("/api/v1/tokens")).json()
    r = await env.client.post(f"/portal/profile/tokens/{listed['id']}/revoke", data={"csrf_token": csrf},
                              allow_redirects=False)
    assert r.status == 303
    assert "Jeton révoqué." in await (await env.client.get("/portal/profile")).text()
    assert (await env.client.get(U, headers=bearer(token))).status == 401
