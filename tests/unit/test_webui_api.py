"""`/api/v1` through aiohttp's test client over the real service layer: session login, CSRF on every write,
per-user authorization (another user's id -> 403), validation (422 with the provisioning field paths, nothing
written), every route, and the OpenAPI document listing exactly the routes the app serves."""

from __future__ import annotations

from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]

U = "/api/v1/users/jean.dupont"


async def test_login_required_and_wrong_password(env: Env) -> None:
    assert (await env.client.get(U + "/services")).status == 401
    r = await env.client.post("/api/v1/session", json={"username": "201", "password": "bad"})
    assert r.status == 401
    r = await env.client.post("/api/v1/session", json={"username": 1, "password": "bad"})
    assert r.status == 400
    r = await env.client.post("/api/v1/session", data=b"not json")
    assert r.status == 400


async def test_section_put_with_csrf_and_validation(env: Env) -> None:
    token = await env.api_login()
    body = {"active": True, "number": "202", "rings": 4}
    r = await env.client.put(U + "/services/forward_no_answer", json=body)
    assert r.status == 403
    r = await env.client.put(U + "/services/forward_no_answer", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status == 403
    r = await env.client.put(U + "/services/forward_no_answer", json={**body, "rings": 1},
                             headers={"X-CSRF-Token": token})
    assert r.status == 422
    assert (await r.json())["errors"] == [{"field": "services.forward_no_answer.rings",
                                           "message": "must be 0 or 2..20, got 1"}]
    user = await env.store.get_user("jean.dupont")
    assert user is not None and not user.services.forward_no_answer.active
    r = await env.client.put(U + "/services/forward_no_answer", json=body, headers={"X-CSRF-Token": token})
    assert r.status == 200 and (await r.json())["rings"] == 4
    r = await env.client.get(U + "/services/forward_no_answer")
    assert (await r.json()) == {"active": True, "number": "202", "rings": 4}
    all_services = await (await env.client.get(U + "/services")).json()
    assert all_services["forward_no_answer"]["rings"] == 4 and "blf" in all_services
    assert (await env.client.get(U + "/services/nope")).status == 404
    r = await env.client.put(U + "/services/forward_always", json=[1], headers={"X-CSRF-Token": token})
    assert r.status == 400
    r = await env.client.put(U + "/services/forward_always", json={"bogus": 1}, headers={"X-CSRF-Token": token})
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "services.forward_always.bogus"


async def test_other_users_ids_are_forbidden(env: Env) -> None:
    token = await env.api_login()
    other = "/api/v1/users/marie.martin"
    for method, path in (("GET", ""), ("GET", "/services"), ("GET", "/contacts"), ("GET", "/calls"),
                         ("GET", "/schedules"), ("GET", "/directory")):
        r = await env.client.request(method, other + path)
        assert r.status == 403, path
    r = await env.client.put(other + "/services/dnd", json={"active": True}, headers={"X-CSRF-Token": token})
    assert r.status == 403
    marie = await env.store.get_user("marie.martin")
    assert marie is not None and not marie.services.dnd.active
    r = await env.client.post(other + "/click-to-dial", json={"number": "201"}, headers={"X-CSRF-Token": token})
    assert r.status == 403 and env.dialer.calls == []


async def test_contacts_schedules_blf_directory_calls_dial(env: Env) -> None:
    token = await env.api_login()
    h = {"X-CSRF-Token": token}
    r = await env.client.post(U + "/contacts", json={"name": "Maison", "number": "02 868 84 12"}, headers=h)
    assert r.status == 201 and (await r.json()) == {"id": 0, "name": "Maison", "number": "028688412"}
    r = await env.client.post(U + "/contacts", json={"name": "", "number": "x"}, headers=h)
    assert r.status == 422 and {e["field"] for e in (await r.json())["errors"]} == {"contact.name", "contact.number"}
    r = await env.client.put(U + "/contacts/0", json={"name": "Chez moi", "number": "028688412"}, headers=h)
    assert r.status == 200
    assert (await (await env.client.get(U + "/contacts")).json())[0]["name"] == "Chez moi"
    assert (await env.client.put(U + "/contacts/5", json={"name": "A", "number": "1"}, headers=h)).status == 404
    assert (await env.client.delete(U + "/contacts/0")).status == 403
    assert (await env.client.delete(U + "/contacts/0", headers=h)).status == 200
    assert (await env.client.delete(U + "/contacts/0", headers=h)).status == 404

    day = {"active": True, "start": "09:00", "end": "18:00"}
    r = await env.client.put(U + "/schedules/Magasin", json={"monday": day, "opposite": True}, headers=h)
    assert r.status == 201, await r.text()
    listing = await (await env.client.get(U + "/schedules")).json()
    assert [s["name"] for s in listing["user"]] == ["Magasin", "non-Magasin"]
    assert [s["name"] for s in listing["group"]] == ["Heures de bureau"]
    r = await env.client.put(U + "/schedules/Magasin", json={"monday": {**day, "end": "08:00"}}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "schedule.monday.end"
    assert (await env.client.delete(U + "/schedules/Magasin", headers=h)).status == 200
    assert (await env.client.delete(U + "/schedules/Magasin", headers=h)).status == 404

    r = await env.client.put(U + "/blf", json={"monitored_users": ["sophie.lambert", "marie.martin"]}, headers=h)
    assert r.status == 200 and (await r.json())["monitored_users"] == ["sophie.lambert", "marie.martin"]
    r = await env.client.put(U + "/blf", json={"monitored_users": ["ghost"]}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "services.blf.monitored_users[0]"

    names = {e["name"] for e in await (await env.client.get(U + "/directory")).json()}
    assert {"Marie Martin", "Fournisseur Bureautique"} <= names
    found = await (await env.client.get(U + "/directory?q=fourn")).json()
    assert [e["name"] for e in found] == ["Fournisseur Bureautique"]

    from tests.unit.webui_fixtures import Row
    env.logs["jean.dupont"] = [Row("missed", 1.0e9, "+3222211202", "Marie Martin")]
    calls = await (await env.client.get(U + "/calls?limit=5")).json()
    assert calls == [{"direction": "missed", "started_at": 1.0e9, "number": "022211202", "name": "Marie Martin"}]

    r = await env.client.post(U + "/click-to-dial", json={"number": "202"}, headers=h)
    assert r.status == 202 and env.dialer.calls == [("jean.dupont", "202")]
    assert (await env.client.post(U + "/click-to-dial", json={"number": ""}, headers=h)).status == 422


async def test_logout_ends_the_session(env: Env) -> None:
    token = await env.api_login()
    assert (await env.client.delete("/api/v1/session")).status == 403
    assert (await env.client.delete("/api/v1/session", headers={"X-CSRF-Token": token})).status == 200
    assert (await env.client.get(U)).status == 401


async def test_openapi_lists_every_api_route(env: Env) -> None:
    doc = await (await env.client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item
                  if method != "parameters"}
    served = {(r.method, r.resource.canonical) for r in env.client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1") and r.method != "HEAD"}
    assert documented == served
