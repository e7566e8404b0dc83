"""The group administrator's HTML pages through aiohttp's test client, over the real admin service and the
in-memory store: login as group administrator (throttle, session rotation), every page and form, the
`provision apply` messages next to their fields with nothing written, changes seen by the directory the SIP
side reloads, CSRF on every POST, end users refused (403), another group's objects invisible (404)."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest

from features.model import Criterion, ServiceSettings, SimultaneousRing, SimultaneousRingNumber
from provisioning.demo import demo_group_description
from provisioning.model import verify_portal_password
from tests.unit.admin_fixtures import OTHER, admin_env
from tests.unit.webui_fixtures import Env
from webui.admin_views import ROUTES

__all__ = ["admin_env"]

env = admin_env  # the fixture's name in these tests

GETS = ["/admin/users", "/admin/users/new", "/admin/users/jean.dupont", "/admin/numbers", "/admin/departments",
        "/admin/devices", "/admin/devices/001565000201", "/admin/schedules", "/admin/schedules/new",
        "/admin/schedules/edit/Heures de bureau", "/admin/holidays/new", "/admin/holidays/edit/Noël",
        "/admin/directory", "/admin/directory/0", "/admin/account"]
POSTS = ["/admin/users/new", "/admin/users/marie.martin", "/admin/users/marie.martin/services",
         "/admin/users/marie.martin/delete", "/admin/numbers",
         "/admin/numbers/+3222211290/assign", "/admin/numbers/+3222211290/release",
         "/admin/numbers/+3222211290/delete", "/admin/departments", "/admin/departments/ventes",
         "/admin/departments/ventes/delete", "/admin/devices", "/admin/devices/001565000201",
         "/admin/devices/001565000201/delete", "/admin/schedules/new", "/admin/schedules/edit/Heures de bureau",
         "/admin/schedules/delete/Heures de bureau", "/admin/holidays/new", "/admin/holidays/edit/Noël",
         "/admin/holidays/delete/Noël", "/admin/directory", "/admin/directory/0",
         "/admin/directory/0/delete"]


async def text_of(response) -> str:
    return html.unescape(await response.text())


def error_of(text: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}">([^<]*)<', text)
    assert match, f"no #{element_id} in the page"
    return match.group(1)


async def post(e: Env, path: str, token: str, **fields: str):
    return await e.client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)


def test_every_route_is_exercised() -> None:
    def shape(path: str) -> str:
        return re.sub(r"/(jean\.dupont|marie\.martin|001565000201|Heures de bureau|Noël|ventes|0|\+3222211290)"
                      r"(?=/|$)",
                      "/{}", path)

    served = {(m, re.sub(r"\{[a-z_]+\}", "{}", p)) for m, p, _ in ROUTES} - {("GET", "/admin")}
    exercised = {("GET", shape(p)) for p in GETS} | {("POST", shape(p)) for p in POSTS}
    assert served == exercised


async def test_admin_login_rotates_the_session_and_shows_only_the_group(env: Env) -> None:
    await env.csrf()
    before = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["callconnect_session"].value
    await env.admin_login()
    assert env.portal.sessions.get(before) is None
    page = await env.client.get("/admin/users")
    text = await text_of(page)
    assert page.status == 200 and "<h1>Utilisateurs</h1>" in text
    assert "Administrateur Demo" in text and "Jean Dupont" in text and "Sophie Lambert" in text
    assert "Olivier" not in text
    assert (await env.client.get("/", allow_redirects=False)).headers["Location"] == "/admin/users"
    assert (await env.client.get("/admin", allow_redirects=False)).headers["Location"] == "/admin/users"
    assert page.headers["Cache-Control"] == "no-store"
    # an administrator is not an end user
    for path in ("/portal/profile", "/portal/settings", "/portal/advanced", "/portal/blf", "/portal/directory",
                 "/portal/calllog", "/portal/schedules", "/portal/info", "/portal/voicemail"):
        r = await env.client.get(path, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login", path
    assert (await env.client.get("/api/v1/users/jean.dupont")).status == 401


async def test_admin_login_failures_are_throttled(env: Env) -> None:
    token = await env.csrf()
    for password in ("wrong", "portal201"):
        r = await env.client.post("/login", data={"csrf_token": token, "username": "demo.admin", "password": password,
                                                  "user_type": "groupadmin"})
        assert r.status == 401 and "Nom d'utilisateur ou mot de passe incorrect." in await text_of(r)
    r = await env.client.post("/login", data={"csrf_token": token, "username": "201", "password": "portal201",
                                              "user_type": "groupadmin"})
    assert r.status == 401  # an end user's credentials are not an administrator's
    for _ in range(3):
        await env.client.post("/login", data={"csrf_token": token, "username": "demo.admin", "password": "x",
                                              "user_type": "groupadmin"})
    r = await env.client.post("/login", data={"csrf_token": token, "username": "demo.admin",
                                              "password": "demoadmin1", "user_type": "groupadmin"})
    assert r.status == 401 and "Trop de tentatives" in await text_of(r)
    r = await env.client.post("/login", data={"username": "demo.admin", "password": "demoadmin1",
                                              "user_type": "groupadmin"})
    assert r.status == 403  # the login form needs its CSRF token too


async def test_pages_need_a_login_and_posts_a_csrf_token(env: Env) -> None:
    for path in GETS:
        r = await env.client.get(path, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login", path
    before = await env.store.export_group("demo")
    token = await env.admin_login()
    for path in POSTS:
        assert (await env.client.post(path, data={"name": "x"}, allow_redirects=False)).status == 403, path
        assert (await post(env, path, "wrong", name="x")).status == 403, path
    assert await env.store.export_group("demo") == before
    assert token


async def test_an_end_user_never_reaches_the_admin_pages(env: Env) -> None:
    token = await env.login()
    for path in GETS:
        r = await env.client.get(path, allow_redirects=False)
        assert r.status == 403 and "réservée aux administrateurs" in await text_of(r), path
    before = await env.store.export_group("demo")
    for path in POSTS:
        assert (await post(env, path, token, name="x", user_id="x", first_name="x", last_name="x")).status == 403
    assert await env.store.export_group("demo") == before


async def add_christmas(e: Env) -> None:
    assert e.portal.admin is not None
    await e.portal.admin.save_schedule("demo", None, {"name": "Noël", "periods": [
        {"start": "2026-12-24", "end": "2026-12-26", "label": "Noël"}]}, holiday=True)


async def test_every_page_shows(env: Env) -> None:
    await env.admin_login()
    await add_christmas(env)
    for path in GETS:
        r = await env.client.get(path)
        assert r.status == 200, path
    assert "022211201" in await text_of(await env.client.get("/admin/numbers"))
    assert (await env.client.get("/admin/users/nobody")).status == 404
    assert (await env.client.get("/admin/devices/001565999999")).status == 404
    assert (await env.client.get("/admin/schedules/edit/nope")).status == 404
    assert (await env.client.get("/admin/directory/9")).status == 404
    r = await env.client.get("/admin/users?q=sophie")
    text = await text_of(r)
    assert "Sophie Lambert" in text and "Jean Dupont" not in text


async def test_the_users_list_comes_a_page_at_a_time(env: Env) -> None:
    """A group of 30 users: 10 per page by default, the size and page asked in the query, searching first."""
    group = demo_group_description("callconnect.local")
    extra = tuple(replace(group.users[0], user_id=f"user{i:02d}", first_name="Test", last_name=f"{i:02d}",
                          sip_username=f"3{i:02d}", extension=f"3{i:02d}", numbers=(), services=ServiceSettings())
                  for i in range(26))
    await env.store.apply_group(replace(group, users=group.users + extra))
    await env.admin_login()
    text = await text_of(await env.client.get("/admin/users"))
    assert text.count('id="edit-') == 10 and "élément 1 à 10 sur 30" in text
    text = await text_of(await env.client.get("/admin/users?page=3&size=10"))
    assert text.count('id="edit-') == 10 and "élément 21 à 30 sur 30" in text
    text = await text_of(await env.client.get("/admin/users?size=50"))
    assert text.count('id="edit-') == 30
    text = await text_of(await env.client.get("/admin/users?q=test&size=25&page=2"))
    assert text.count('id="edit-') == 1 and 'id="edit-user25"' in text


async def test_create_a_user_with_the_provisioning_messages(env: Env) -> None:
    token = await env.admin_login()
    before = await env.store.export_group("demo")
    fields = {"user_id": "luc.leroy", "first_name": "Luc", "last_name": "Leroy", "extension": "201",
              "numbers": "02 221 12 05", "language": "fr", "sip_password": "demo205", "portal_password": "portal205",
              "department_id": "ventes"}
    r = await post(env, "/admin/users/new", token, **fields)
    text = await text_of(r)
    assert r.status == 400
    assert error_of(text, "u-extension-error") == "'201' est déjà l'extension de 'jean.dupont'"
    r = await post(env, "/admin/users/new", token, **{**fields, "extension": "205", "numbers": "12ab"})
    assert "n'est pas un numéro de téléphone" in error_of(await text_of(r), "u-numbers-error")
    r = await post(env, "/admin/users/new", token, **{**fields, "extension": "205", "first_name": ""})
    assert error_of(await text_of(r), "u-first_name-error") == "ne peut pas être vide"
    assert await env.store.export_group("demo") == before
    await env.store.load_directory()
    assert not env.store.has_changed()
    r = await post(env, "/admin/users/new", token, **{**fields, "extension": "205"})
    assert r.status == 303 and r.headers["Location"] == "/admin/users"
    assert env.store.has_changed()  # the SIP side reloads before its next request
    directory = await env.store.load_directory()
    group = directory.group_by_id("demo")
    assert group is not None
    luc = directory.resolve_user("205", group)
    assert luc is not None and luc.user_id == "luc.leroy" and luc.numbers == ("+3222211205",)
    assert directory.user_by_sip_username("luc.leroy", "callconnect.local") is luc
    assert luc.portal_password_hash is not None and verify_portal_password(luc.portal_password_hash, "portal205")
    assert luc.sip_ha1 and luc.department_id == "ventes"
    assert "Enregistré." in await text_of(await env.client.get("/admin/users"))
    # the other users kept what they had
    jean = await env.store.get_user("jean.dupont")
    assert jean is not None and jean.services.blf.monitored_users == before.users[0].services.blf.monitored_users


async def test_edit_a_user_keeps_passwords_and_settings(env: Env) -> None:
    token = await env.admin_login()
    marie = await env.store.get_user("marie.martin")
    assert marie is not None
    changed = replace(marie.services, simultaneous_ring=SimultaneousRing(
        active=True, numbers=(SimultaneousRingNumber(number="0470123456"),)))
    await env.store.update_services("marie.martin", changed)  # what Marie chose in her portal
    page = await text_of(await env.client.get("/admin/users/marie.martin"))
    assert 'value="022211202"' in page and 'value="Martin"' in page
    r = await post(env, "/admin/users/marie.martin", token, first_name="Marie", last_name="Martin-Durand",
                   extension="212", numbers="02 221 12 02, 02 221 12 12", language="nl", user_id="hacked",
                   sip_username="202", department_id="ventes", email="marie.martin@demo.example")
    assert r.status == 303
    after = await env.store.get_user("marie.martin")
    assert after is not None and await env.store.get_user("hacked") is None
    assert after.last_name == "Martin-Durand" and after.extension == "212" and after.language == "nl"
    assert after.numbers == ("+3222211202", "+3222211212")
    assert after.sip_ha1 == marie.sip_ha1 and after.portal_password_hash == marie.portal_password_hash
    assert after.services == changed
    r = await post(env, "/admin/users/marie.martin", token, first_name="Marie", last_name="Martin",
                   outgoing_cli="02 999 99 99", language="fr", sip_username="202")
    assert r.status == 400
    assert error_of(await text_of(r), "u-outgoing_cli-error") == "+3229999999 n'est pas un des numéros du groupe"
    r = await post(env, "/admin/users/marie.martin", token, first_name="Marie", last_name="Martin",
                   numbers="02 221 12 02", language="fr", sip_username="202", sip_password="new-secret")
    assert r.status == 303
    again = await env.store.get_user("marie.martin")
    assert again is not None and again.sip_ha1 != marie.sip_ha1 and again.extension is None
    r = await post(env, "/admin/users/marie.martin", token, first_name="Marie", last_name="Martin", language="fr",
                   sip_username="marie")  # the stored HA1 covers the SIP user name
    assert error_of(await text_of(r), "u-sip_password-error") == ("est obligatoire quand le nom d'utilisateur "
                                                                  "SIP change")
    assert (await post(env, "/admin/users/nobody", token, first_name="A", last_name="B")).status == 404


async def test_switch_a_users_services(env: Env) -> None:
    token = await env.admin_login()
    marie = await env.store.get_user("marie.martin")
    assert marie is not None and marie.services.voicemail.active and not marie.services.dnd.active
    page = await text_of(await env.client.get("/admin/users/marie.martin"))
    assert 'id="svc-voicemail" checked' in page and 'id="svc-dnd">' in page and "Ne pas déranger" in page
    r = await post(env, "/admin/users/marie.martin/services", token, **{"svc-dnd": "on", "svc-call_waiting": "on"})
    assert r.status == 303 and r.headers["Location"] == "/admin/users/marie.martin"
    after = await env.store.get_user("marie.martin")
    assert after is not None and after.services.dnd.active and not after.services.voicemail.active
    assert after.services.blf == marie.services.blf and after.sip_ha1 == marie.sip_ha1
    assert (await post(env, "/admin/users/olivier.autre/services", token, **{"svc-dnd": "on"})).status == 404


async def test_a_deletion_asks_first(env: Env) -> None:
    token = await env.admin_login()
    before = await env.store.export_group("demo")
    r = await post(env, "/admin/users/pieter.peeters/delete", token)
    page = await text_of(r)
    assert r.status == 200 and "Supprimer Pieter Peeters ?" in page
    assert 'name="confirm" value="yes"' in page and 'action="/admin/users/pieter.peeters/delete"' in page
    assert 'id="cancel-delete" href="/admin/users"' in page.replace('href="/admin/users" id="cancel-delete"',
                                                                   'id="cancel-delete" href="/admin/users"')
    assert await env.store.get_user("pieter.peeters") is not None  # nothing deleted yet
    for path in ("/admin/departments/ventes/delete", "/admin/devices/001565000201/delete",
                 "/admin/schedules/delete/Heures de bureau", "/admin/directory/0/delete"):
        r = await post(env, path, token)
        assert r.status == 200 and "Cette opération est définitive." in await text_of(r), path
    assert (await env.store.export_group("demo")) == before
    assert (await post(env, "/admin/numbers", token, number="02 221 12 99")).status == 303
    r = await post(env, "/admin/numbers/022211299/delete", token)
    assert r.status == 200 and "Supprimer 022211299 ?" in await text_of(r)
    assert (await env.store.export_group("demo")).group.numbers == ("+3222211299",)
    assert (await post(env, "/admin/holidays/delete/Noël", token)).status == 404  # the demo group has none
    assert (await post(env, "/admin/users/nobody/delete", token)).status == 404  # asks nothing about nothing
    assert (await post(env, "/admin/devices/not-a-mac/delete", token)).status == 404


async def test_delete_a_user(env: Env) -> None:
    token = await env.admin_login()
    r = await post(env, "/admin/users/marie.martin/delete", token, confirm="yes")  # owns a phone: refused
    assert r.status == 400
    assert "devices[1].owner: il n'y a pas d'utilisateur 'marie.martin'" in await text_of(r)
    assert await env.store.get_user("marie.martin") is not None
    pieter = env.portal.sessions.rotate(env.portal.sessions.create(), "pieter.peeters")  # Pieter is logged in
    r = await post(env, "/admin/users/pieter.peeters/delete", token, confirm="yes")
    assert r.status == 303 and await env.store.get_user("pieter.peeters") is None
    assert env.portal.sessions.get(pieter.id) is None
    jean = await env.store.get_user("jean.dupont")
    assert jean is not None and jean.services.blf.monitored_users == ("marie.martin", "sophie.lambert")
    assert (await post(env, "/admin/users/pieter.peeters/delete", token, confirm="yes")).status == 404


async def test_numbers_and_extensions(env: Env) -> None:
    token = await env.admin_login()
    r = await post(env, "/admin/numbers", token, number="02 221 12 99")
    assert r.status == 303
    assert (await env.store.export_group("demo")).group.numbers == ("+3222211299",)
    text = await text_of(await env.client.get("/admin/numbers"))
    assert "022211299" in text and "Libre (numéro du groupe)" in text
    r = await post(env, "/admin/numbers", token, number="02 221 12 99")
    assert error_of(await text_of(r), "n-number-error") == "le numéro +3222211299 figure déjà dans la liste"
    r = await post(env, "/admin/numbers", token, number="hello")
    assert "n'est pas un numéro de téléphone" in error_of(await text_of(r), "n-number-error")
    r = await post(env, "/admin/numbers/022211299/assign", token, user_id="sophie.lambert")
    assert r.status == 303
    sophie = await env.store.get_user("sophie.lambert")
    assert sophie is not None and sophie.numbers == ("+3222211204", "+3222211299")
    assert (await env.store.export_group("demo")).group.numbers == ()
    assert (await post(env, "/admin/numbers/022211299/assign", token, user_id="jean.dupont")).status == 404
    assert (await post(env, "/admin/numbers/+3222211299/release", token)).status == 303
    sophie = await env.store.get_user("sophie.lambert")
    assert sophie is not None and sophie.numbers == ("+3222211204",)
    r = await post(env, "/admin/numbers/022211299/assign", token, user_id="olivier.autre")
    assert r.status == 404  # another group's user
    assert (await post(env, "/admin/numbers/022211299/delete", token, confirm="yes")).status == 303
    assert (await env.store.export_group("demo")).group.numbers == ()
    assert (await post(env, "/admin/numbers/022211299/delete", token, confirm="yes")).status == 404
    jeans = "/admin/numbers/+3222211201/delete"
    assert (await post(env, jeans, token, confirm="yes")).status == 404  # Jean's, not spare


async def test_departments(env: Env) -> None:
    token = await env.admin_login()
    assert (await post(env, "/admin/departments", token, id="support", name="Support")).status == 303
    r = await post(env, "/admin/departments", token, id="ventes", name="Encore")
    assert error_of(await text_of(r), "d-id-error") == "'ventes' est déjà utilisé"
    r = await post(env, "/admin/departments", token, id="bad id", name="")
    text = await text_of(r)
    assert "doit être composé de lettres" in error_of(text, "d-id-error")
    assert (await post(env, "/admin/departments/support", token, name="Assistance")).status == 303
    desc = await env.store.export_group("demo")
    assert {d.id: d.name for d in desc.departments} == {"support": "Assistance", "ventes": "Ventes"}
    r = await post(env, "/admin/departments/ventes/delete", token, confirm="yes")
    assert r.status == 400 and "department_id: il n'y a pas de département 'ventes'" in await text_of(r)
    assert (await post(env, "/admin/departments/support/delete", token, confirm="yes")).status == 303
    assert (await post(env, "/admin/departments/support/delete", token, confirm="yes")).status == 404
    assert (await post(env, "/admin/departments/support", token, name="X")).status == 404


async def test_devices(env: Env) -> None:
    token = await env.admin_login()
    r = await post(env, "/admin/devices", token, mac="00:15:65:zz", model="T48S", owner="sophie.lambert")
    assert "doit être une adresse MAC" in error_of(await text_of(r), "dev-mac-error")
    r = await post(env, "/admin/devices", token, mac="00:15:65:00:02:04", model="T48S", owner="nobody")
    assert error_of(await text_of(r), "dev-owner-error") == "il n'y a pas d'utilisateur 'nobody'"
    r = await post(env, "/admin/devices", token, mac="00:15:65:00:02:04", model="T42S", owner="sophie.lambert",
                   label="Sophie", provisioning_password="phone-secret")
    assert r.status == 303
    directory = await env.store.load_directory()
    device = directory.device_by_mac("001565000204")
    assert device is not None and device.owner == "sophie.lambert" and device.provisioning_ha1
    r = await post(env, "/admin/devices/001565000204", token, mac="001565000204", model="T48U",
                   owner="pieter.peeters", label="")
    assert r.status == 303
    moved = (await env.store.load_directory()).device_by_mac("001565000204")
    assert moved is not None and moved.owner == "pieter.peeters" and moved.model == "T48U"
    assert moved.provisioning_ha1 == device.provisioning_ha1 and moved.label is None
    assert (await post(env, "/admin/devices/001565000204/delete", token, confirm="yes")).status == 303
    assert (await env.store.load_directory()).device_by_mac("001565000204") is None
    assert (await post(env, "/admin/devices/001565000204/delete", token, confirm="yes")).status == 404


def week(**changes: str) -> dict[str, str]:
    fields = {"name": "Accueil"}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday"):
        fields |= {f"{day}-active": "on", f"{day}-start": "08:00", f"{day}-end": "18:00"}
    return fields | changes


async def test_group_schedules(env: Env) -> None:
    token = await env.admin_login()
    r = await post(env, "/admin/schedules/new", token, **week(**{"monday-end": "07:00"}))
    assert r.status == 400 and "doit être après l'heure de début" in error_of(await text_of(r), "monday-end-error")
    assert (await post(env, "/admin/schedules/new", token, **week())).status == 303
    r = await post(env, "/admin/schedules/new", token, **week())
    assert r.status == 400 and "'Accueil' est déjà utilisé" in await text_of(r)
    names = {s.name for s in (await env.store.export_group("demo")).schedules}
    assert names == {"Heures de bureau", "Accueil"}
    assert (await post(env, "/admin/schedules/edit/Accueil", token, **week(name="Accueil 2"))).status == 303
    names = {s.name for s in (await env.store.export_group("demo")).schedules}
    assert names == {"Heures de bureau", "Accueil 2"}
    # a schedule a user's criterion names cannot go
    jean = await env.store.get_user("jean.dupont")
    assert jean is not None
    await env.store.update_services("jean.dupont", replace(jean.services, simultaneous_ring=SimultaneousRing(
        numbers=(SimultaneousRingNumber(number="0470123456"),),
        criteria=(Criterion(name="Bureau", time_schedule="Heures de bureau"),))))
    r = await post(env, "/admin/schedules/delete/Heures de bureau", token, confirm="yes")
    assert r.status == 400
    assert ("users[0].services.simultaneous_ring.criteria[0].time_schedule: il n'y a pas d'horaire "
            "'Heures de bureau'</p>") in await text_of(r)
    assert (await post(env, "/admin/schedules/delete/Accueil 2", token, confirm="yes")).status == 303
    assert (await post(env, "/admin/schedules/delete/Accueil 2", token, confirm="yes")).status == 404


async def test_group_holiday_schedules(env: Env) -> None:
    token = await env.admin_login()
    await add_christmas(env)
    page = await text_of(await env.client.get("/admin/holidays/edit/Noël"))
    assert 'value="2026-12-24"' in page and 'value="2026-12-26"' in page and 'id="p3-start" value=""' in page
    assert "Noël" in await text_of(await env.client.get("/admin/schedules"))
    fields = {"name": "Été", "periods-0-start": "2027-07-20", "periods-0-end": "2027-07-10",
              "periods-1-start": "", "periods-1-end": "", "periods-1-label": "",
              "periods-2-start": "2027-08-15", "periods-2-label": "Assomption"}
    r = await post(env, "/admin/holidays/new", token, **fields)
    assert r.status == 400
    assert "ne peut pas précéder le premier jour (2027-07-20)" in error_of(await text_of(r), "p0-end-error")
    r = await post(env, "/admin/holidays/new", token, **{**fields, "periods-0-end": "2027-07-31"})
    assert r.status == 303
    schedule = next(s.schedule for s in (await env.store.export_group("demo")).schedules if s.name == "Été")
    assert [(p.start.isoformat(), p.end.isoformat(), p.label) for p in schedule.periods] == [  # type: ignore[union-attr]
        ("2027-07-20", "2027-07-31", None), ("2027-08-15", "2027-08-15", "Assomption")]
    r = await post(env, "/admin/holidays/edit/Été", token, name="Été", **{"periods-0-start": "2027-07-01"})
    assert r.status == 303
    assert (await post(env, "/admin/holidays/delete/Été", token, confirm="yes")).status == 303
    assert (await post(env, "/admin/holidays/delete/Été", token, confirm="yes")).status == 404
    assert (await env.client.get("/admin/holidays/edit/Été")).status == 404


async def test_group_directory(env: Env) -> None:
    token = await env.admin_login()
    r = await post(env, "/admin/directory", token, name="Accueil", number="abc")
    assert r.status == 400 and "n'est pas un numéro de téléphone" in error_of(await text_of(r), "c-number-error")
    r = await post(env, "/admin/directory", token, name=" ", number="100")
    assert r.status == 400 and error_of(await text_of(r), "c-name-error") == "ne peut pas être vide"
    assert (await post(env, "/admin/directory", token, name="Accueil", number="02 555 01 00")).status == 303
    contacts = (await env.store.export_group("demo")).contacts
    assert (contacts[0].name, contacts[0].number) == ("Accueil", "+3225550100")
    assert (await post(env, "/admin/directory/0", token, name="Réception", number="100")).status == 303
    contacts = (await env.store.export_group("demo")).contacts
    assert ("Réception", "100") in [(c.name, c.number) for c in contacts]
    index = [c.name for c in contacts].index("Réception")
    assert (await post(env, f"/admin/directory/{index}/delete", token, confirm="yes")).status == 303
    assert len((await env.store.export_group("demo")).contacts) == 2
    assert (await post(env, "/admin/directory/7/delete", token, confirm="yes")).status == 404


async def test_another_groups_objects_are_not_found(env: Env) -> None:
    token = await env.admin_login()
    other_before = await env.store.export_group(OTHER)
    assert (await env.client.get("/admin/users/olivier.autre")).status == 404
    assert (await post(env, "/admin/users/olivier.autre", token, first_name="X", last_name="Y")).status == 404
    assert (await post(env, "/admin/users/olivier.autre/delete", token, confirm="yes")).status == 404
    assert await env.store.export_group(OTHER) == other_before
    await env.client.post("/logout", data={"csrf_token": token})
    await env.admin_login("other.admin", "otheradmin1")
    text = await text_of(await env.client.get("/admin/users"))
    assert "Olivier Autre" in text and "Jean Dupont" not in text
    assert (await env.client.get("/admin/users/jean.dupont")).status == 404


@pytest.mark.parametrize(("lang", "title"), [("nl", "Gebruikers"), ("en", "Users")])
async def test_pages_in_dutch_and_english(env: Env, lang: str, title: str) -> None:
    token = await env.admin_login()
    await env.client.post("/language", data={"csrf_token": token, "language": lang, "next": "/admin/users"})
    assert f"<h1>{title}</h1>" in await text_of(await env.client.get("/admin/users"))


async def test_a_removed_administrator_is_logged_out(env: Env) -> None:
    await env.admin_login()
    assert (await env.client.get("/admin/users")).status == 200
    desc = await env.store.export_group("demo")
    await env.store.apply_group(replace(desc, administrators=()))
    r = await env.client.get("/admin/users", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert (await env.client.get("/api/v1/admin/users")).status == 401
