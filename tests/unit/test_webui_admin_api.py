"""`/api/v1/admin` through aiohttp's test client over the real admin service: the administrator's session
(throttled, rotated, CSRF on every write), 401 without login, 403 for an end user, 404 for another group's
objects, every operation, 422 with the field paths of `provision apply` and nothing written."""

from __future__ import annotations

import re

import pytest

from tests.unit.admin_fixtures import OTHER, admin_env
from tests.unit.webui_fixtures import Env
from webui.admin_api import PREFIX, ROUTES

__all__ = ["admin_env"]

env = admin_env

SAMPLES = {"user_id": "marie.martin", "number": "+3222211290", "department_id": "ventes", "mac": "001565000201",
           "name": "Heures de bureau", "index": "0"}


def concrete(path: str) -> str:
    return PREFIX + re.sub(r"\{([a-z_]+)\}", lambda m: SAMPLES[m.group(1)], path)


OPERATIONS = [(method, concrete(path)) for method, path, _ in ROUTES if path != "/session"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_every_operation_needs_an_administrator(env: Env, method: str, path: str) -> None:
    assert (await env.client.request(method, path, json={})).status == 401
    token = await env.api_login()
    before = await env.store.export_group("demo")
    r = await env.client.request(method, path, json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert r.status == 403, await r.text()
    assert await env.store.export_group("demo") == before


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in OPERATIONS if m != "GET"])
async def test_every_write_needs_the_csrf_token(env: Env, method: str, path: str) -> None:
    await env.api_admin_login()
    before = await env.store.export_group("demo")
    assert (await env.client.request(method, path, json={"name": "x"})).status == 403
    r = await env.client.request(method, path, json={"name": "x"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status == 403
    assert await env.store.export_group("demo") == before


async def test_session(env: Env) -> None:
    r = await env.client.post(PREFIX + "/session", json={"username": "demo.admin", "password": "bad"})
    assert r.status == 401
    assert (await env.client.post(PREFIX + "/session", json={"username": 1, "password": "x"})).status == 400
    assert (await env.client.post(PREFIX + "/session", data=b"[1")).status == 400
    r = await env.client.post(PREFIX + "/session", json={"username": "201", "password": "portal201"})
    assert r.status == 401  # end users log in at /api/v1/session
    token = await env.api_admin_login()
    session = await (await env.client.get("/api/v1/session")).json()
    assert session["admin"] == "demo.admin" and session["group_id"] == "demo" and session["user_id"] is None
    assert session["csrf_token"] == token
    assert (await env.client.get("/api/v1/users/jean.dupont")).status == 401  # not an end user
    group = await (await env.client.get(PREFIX + "/group")).json()
    assert group["id"] == "demo" and group["users"] == 4
    assert (await env.client.delete("/api/v1/session", headers={"X-CSRF-Token": token})).status == 200
    assert (await env.client.get(PREFIX + "/group")).status == 401


async def test_session_is_throttled(env: Env) -> None:
    for _ in range(5):
        await env.client.post(PREFIX + "/session", json={"username": "demo.admin", "password": "bad"})
    r = await env.client.post(PREFIX + "/session", json={"username": "demo.admin", "password": "demoadmin1"})
    assert r.status == 429


async def test_users(env: Env) -> None:
    h = {"X-CSRF-Token": await env.api_admin_login()}
    users = await (await env.client.get(PREFIX + "/users")).json()
    assert [u["user_id"] for u in users] == ["jean.dupont", "marie.martin", "pieter.peeters", "sophie.lambert"]
    assert users[0]["has_sip_password"] and users[0]["has_portal_password"] and "services" not in users[0]
    entry = {"user_id": "luc.leroy", "first_name": "Luc", "last_name": "Leroy", "extension": "202",
             "numbers": ["02 221 12 05"], "sip_password": "demo205"}
    r = await env.client.post(PREFIX + "/users", json=entry, headers=h)
    assert r.status == 422
    assert (await r.json())["errors"] == [{"field": "users[4].extension",
                                           "message": "'202' is already the extension of user 'marie.martin'"}]
    assert await env.store.get_user("luc.leroy") is None
    r = await env.client.post(PREFIX + "/users", json={**entry, "extension": "205", "first_name": 3}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "users[4].first_name"
    r = await env.client.post(PREFIX + "/users", json={**entry, "extension": "205"}, headers=h)
    assert r.status == 201
    luc = await r.json()
    assert luc["numbers"] == ["+3222211205"] and luc["has_sip_password"] and not luc["has_portal_password"]
    assert luc["services"]["dnd"]["active"] is False
    assert env.store.has_changed()
    directory = await env.store.load_directory()
    group = directory.group_by_id("demo")
    assert group is not None and directory.resolve_user("205", group) is not None
    r = await env.client.put(PREFIX + "/users/luc.leroy", json={"extension": None, "language": "nl",
                                                                "services": {"dnd": {"active": True}}}, headers=h)
    assert r.status == 200
    body = await r.json()
    assert body["extension"] is None and body["language"] == "nl" and body["services"]["dnd"]["active"]
    assert body["has_sip_password"]
    r = await env.client.put(PREFIX + "/users/luc.leroy", json={"user_id": "other"}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "users[1].user_id"  # stored order
    assert (await (await env.client.get(PREFIX + "/users/luc.leroy")).json())["first_name"] == "Luc"
    assert (await env.client.delete(PREFIX + "/users/luc.leroy", headers=h)).status == 200
    assert (await env.client.get(PREFIX + "/users/luc.leroy")).status == 404
    assert (await env.client.delete(PREFIX + "/users/luc.leroy", headers=h)).status == 404
    r = await env.client.delete(PREFIX + "/users/marie.martin", headers=h)
    assert r.status == 422 and (await r.json())["errors"] == [{"field": "devices[1].owner",
                                                               "message": "unknown user 'marie.martin'"}]
    assert (await env.client.post(PREFIX + "/users", data=b"nope", headers=h)).status == 400
    assert (await env.client.post(PREFIX + "/users", json=[1], headers=h)).status == 400


async def test_numbers(env: Env) -> None:
    h = {"X-CSRF-Token": await env.api_admin_login()}
    numbers = await (await env.client.get(PREFIX + "/numbers")).json()
    assert numbers["group_numbers"] == [] and {"extension": "201", "user_id": "jean.dupont"} in numbers["extensions"]
    assert {"number": "+3222211201", "user_id": "jean.dupont", "extension": "201"} in numbers["user_numbers"]
    r = await env.client.post(PREFIX + "/numbers", json={"number": "02 221 12 90"}, headers=h)
    assert r.status == 201 and (await r.json())["group_numbers"] == ["+3222211290"]
    r = await env.client.post(PREFIX + "/numbers", json={"number": "+32 2 221 12 90"}, headers=h)
    assert r.status == 422 and (await r.json())["errors"] == [{"field": "group.numbers[1]",
                                                               "message": "duplicate number +3222211290"}]
    r = await env.client.post(PREFIX + "/numbers", json={"number": 5}, headers=h)
    assert r.status == 422
    r = await env.client.put(PREFIX + "/numbers/022211290", json={"user_id": "marie.martin"}, headers=h)
    assert r.status == 200 and {"number": "+3222211290", "user_id": "marie.martin", "extension": "202"} in (
        await r.json())["user_numbers"]
    r = await env.client.put(PREFIX + "/numbers/+3222211202", json={"user_id": None}, headers=h)
    assert r.status == 200 and "+3222211202" in (await r.json())["group_numbers"]
    marie = await env.store.get_user("marie.martin")
    assert marie is not None and marie.numbers == ("+3222211290",) and marie.outgoing_cli == "+3222211290"
    r = await env.client.put(PREFIX + "/numbers/+3222211202", json={"user_id": 7}, headers=h)
    assert r.status == 422
    assert (await env.client.put(PREFIX + "/numbers/+3299", json={"user_id": None}, headers=h)).status == 404
    r = await env.client.put(PREFIX + "/numbers/+3222211290", json={"user_id": None}, headers=h)
    assert (await env.client.delete(PREFIX + "/numbers/+3222211290", headers=h)).status == 200
    assert (await env.client.delete(PREFIX + "/numbers/+3222211290", headers=h)).status == 404


async def test_departments_devices_schedules_contacts(env: Env) -> None:
    h = {"X-CSRF-Token": await env.api_admin_login()}
    r = await env.client.post(PREFIX + "/departments", json={"id": "support", "name": "Support"}, headers=h)
    assert r.status == 201 and {"id": "support", "name": "Support"} in await r.json()
    r = await env.client.put(PREFIX + "/departments/support", json={"name": ""}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "departments[0].name"
    assert (await env.client.put(PREFIX + "/departments/support", json={"name": "Aide"}, headers=h)).status == 200
    assert (await env.client.delete(PREFIX + "/departments/support", headers=h)).status == 200
    assert (await (await env.client.get(PREFIX + "/departments")).json()) == [{"id": "ventes", "name": "Ventes"}]

    r = await env.client.post(PREFIX + "/devices", json={"mac": "00-15-65-00-02-03", "model": "T48U",
                                                         "owner": "pieter.peeters"}, headers=h)
    assert r.status == 201 and any(d["mac"] == "001565000203" for d in await r.json())
    r = await env.client.put(PREFIX + "/devices/001565000203", json={"model": "T12"}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "devices[2].model"
    r = await env.client.put(PREFIX + "/devices/00:15:65:00:02:03", json={"owner": "sophie.lambert"}, headers=h)
    assert r.status == 200
    devices = await (await env.client.get(PREFIX + "/devices")).json()
    assert {"mac": "001565000203", "model": "T48U", "owner": "sophie.lambert", "label": None,
            "has_provisioning_password": False} in devices
    assert (await env.client.delete(PREFIX + "/devices/001565000203", headers=h)).status == 200
    assert (await env.client.delete(PREFIX + "/devices/not-a-mac", headers=h)).status == 404

    day = {"active": True, "start": "08:00", "end": "12:00"}
    r = await env.client.put(PREFIX + "/schedules/Matin", json={"monday": {**day, "end": "07:00"}}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "schedules[1].monday.end"
    r = await env.client.put(PREFIX + "/schedules/Matin", json={"monday": day}, headers=h)
    assert r.status == 201 and any(s["name"] == "Matin" for s in (await r.json())["time"])
    r = await env.client.put(PREFIX + "/schedules/Matin", json={"monday": day, "tuesday": day}, headers=h)
    assert r.status == 200
    assert len((await (await env.client.get(PREFIX + "/schedules")).json())["time"]) == 2
    assert (await env.client.delete(PREFIX + "/schedules/Matin", headers=h)).status == 200
    assert (await env.client.delete(PREFIX + "/schedules/Matin", headers=h)).status == 404
    r = await env.client.put(PREFIX + "/holiday-schedules/Noël", json={"periods": [{"start": "2026-12-24"}]},
                             headers=h)
    assert r.status == 201 and (await r.json())["holiday"] == [
        {"name": "Noël", "level": "group", "periods": [{"start": "2026-12-24", "end": "2026-12-24"}]}]
    r = await env.client.put(PREFIX + "/holiday-schedules/Noël", json={"periods": [{"start": "24/12"}]}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "holiday_schedules[0].periods[0].start"
    r = await env.client.put(PREFIX + "/holiday-schedules/Heures de bureau", json={}, headers=h)
    assert r.status == 422  # a time schedule has that name already
    assert (await env.client.delete(PREFIX + "/holiday-schedules/Noël", headers=h)).status == 200
    assert (await env.client.delete(PREFIX + "/holiday-schedules/Noël", headers=h)).status == 404

    r = await env.client.post(PREFIX + "/contacts", json={"name": "Accueil", "number": "02 555 01 00"}, headers=h)
    assert r.status == 201 and (await r.json())[0] == {"id": 0, "name": "Accueil", "number": "+3225550100"}
    r = await env.client.put(PREFIX + "/contacts/0", json={"name": "Accueil", "number": "x"}, headers=h)
    assert r.status == 422 and (await r.json())["errors"][0]["field"] == "contacts[0].number"
    assert (await env.client.put(PREFIX + "/contacts/9", json={"name": "A", "number": "1"}, headers=h)).status == 404
    assert (await env.client.delete(PREFIX + "/contacts/0", headers=h)).status == 200
    assert len(await (await env.client.get(PREFIX + "/contacts")).json()) == 2


async def test_another_group_is_out_of_reach(env: Env) -> None:
    h = {"X-CSRF-Token": await env.api_admin_login()}
    other = await env.store.export_group(OTHER)
    assert (await env.client.get(PREFIX + "/users/olivier.autre")).status == 404
    r = await env.client.put(PREFIX + "/users/olivier.autre", json={"first_name": "X"}, headers=h)
    assert r.status == 404
    assert (await env.client.delete(PREFIX + "/users/olivier.autre", headers=h)).status == 404
    r = await env.client.post(PREFIX + "/users", json={"user_id": "olivier.autre", "first_name": "O",
                                                       "last_name": "A"}, headers=h)
    assert r.status == 422 and (await r.json())["errors"] == [
        {"field": "users[4].user_id", "message": "user id 'olivier.autre' already belongs to group 'other'"}]
    assert await env.store.export_group(OTHER) == other
    await env.api_admin_login("other.admin", "otheradmin1")
    assert [u["user_id"] for u in await (await env.client.get(PREFIX + "/users")).json()] == ["olivier.autre"]
