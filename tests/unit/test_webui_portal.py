"""The portal's HTML pages through aiohttp's test client, over the real service layer and the in-memory store:
login (throttling, session rotation, logout), CSRF on every form, every tab, validation messages next to the
field with nothing written, per-object authorization, password reset, languages."""

from __future__ import annotations

import html

import pytest

from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]

PAGES = ["/portal/profile", "/portal/settings", "/portal/advanced", "/portal/blf", "/portal/directory",
         "/portal/calllog", "/portal/schedules", "/portal/schedules/new", "/portal/info", "/portal/voicemail"]


async def text_of(response) -> str:
    return html.unescape(await response.text())


async def services(e: Env, user_id: str = "jean.dupont"):
    user = await e.store.get_user(user_id)
    assert user is not None
    return user.services


async def test_pages_need_login(env: Env) -> None:
    for path in PAGES:
        response = await env.client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/login", path


async def test_login_page_is_french_by_default_with_security_headers(env: Env) -> None:
    response = await env.client.get("/login")
    text = await response.text()
    assert "Se connecter" in text and "Réinitialiser le mot de passe" in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.cookies["callconnect_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_login_rotates_session_and_logout_invalidates(env: Env) -> None:
    await env.csrf()
    before = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["callconnect_session"].value
    token = await env.login()
    after = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["callconnect_session"].value
    assert before != after
    assert env.portal.sessions.get(before) is None
    page = await env.client.get("/portal/profile")
    text = await text_of(page)
    assert page.status == 200 and "Jean" in text and "jean.dupont" in text and "022211201" in text
    response = await env.client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    assert env.portal.sessions.get(after) is None
    again = await env.client.get("/portal/profile", allow_redirects=False)
    assert again.status == 303


async def test_wrong_password_and_throttling(env: Env) -> None:
    token = await env.csrf()
    for _ in range(5):
        r = await env.client.post("/login", data={"csrf_token": token, "username": "201", "password": "nope"})
        assert r.status == 401 and "incorrect" in await text_of(r)
    r = await env.client.post("/login", data={"csrf_token": token, "username": "201", "password": "portal201"})
    assert r.status == 401 and "Trop de tentatives" in await text_of(r)
    # an unknown user gets the same answer as a wrong password
    r = await env.client.post("/login", data={"csrf_token": token, "username": "999", "password": "x"})
    assert "Trop de tentatives" in await text_of(r) or "incorrect" in await text_of(r)


async def test_login_without_csrf_is_refused(env: Env) -> None:
    await env.csrf()
    r = await env.client.post("/login", data={"username": "201", "password": "portal201"})
    assert r.status == 403


async def test_every_tab_renders(env: Env) -> None:
    await env.login()
    for path in PAGES:
        r = await env.client.get(path)
        assert r.status == 200, path
        assert 'aria-current="page"' in await text_of(r)


async def test_forward_always_saved_and_csrf_required(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/portal/settings/forward_always", data={"active": "on", "number": "202"},
                              allow_redirects=False)
    assert r.status == 403
    assert not (await services(env)).forward_always.active
    r = await env.client.post("/portal/settings/forward_always",
                              data={"csrf_token": token, "active": "on", "number": "02 221 12 02"},
                              allow_redirects=False)
    assert r.status == 303
    s = await services(env)
    assert s.forward_always.active and s.forward_always.number == "022211202"
    page = await text_of(await env.client.get("/portal/settings"))
    assert "Enregistré." in page and 'value="022211202"' in page


async def test_bad_rings_message_next_to_field_nothing_written(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/portal/settings/forward_no_answer",
                              data={"csrf_token": token, "active": "on", "number": "202", "rings": "1"})
    assert r.status == 400
    text = await text_of(r)
    assert 'id="forward_no_answer-rings-error"' in text and "doit être 0 ou entre 2 et 20" in text
    s = await services(env)
    assert not s.forward_no_answer.active and s.forward_no_answer.rings == 3
    r = await env.client.post("/portal/settings/forward_busy",
                              data={"csrf_token": token, "active": "on", "number": "abc"})
    assert "doit être un numéro de téléphone" in await text_of(r)
    r = await env.client.post("/portal/settings/forward_busy", data={"csrf_token": token, "active": "on"})
    assert "est obligatoire quand la déviation est active" in await text_of(r)
    assert not (await services(env)).forward_busy.active


@pytest.mark.parametrize("section", ["dnd", "clir", "voicemail", "external_clid_delivery", "internal_clid_delivery",
                                     "colr", "call_waiting"])
async def test_toggles(env: Env, section: str) -> None:
    token = await env.login()
    before = getattr(await services(env), section).active
    data = {"csrf_token": token} if before else {"csrf_token": token, "active": "on"}
    r = await env.client.post(f"/portal/settings/{section}", data=data, allow_redirects=False)
    assert r.status == 303
    assert getattr(await services(env), section).active is (not before)


async def test_unknown_section_404(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/portal/settings/blf", data={"csrf_token": token})
    assert r.status == 404


async def test_simultaneous_ring_draft_actions_then_save(env: Env) -> None:
    token = await env.login()
    base = {"csrf_token": token, "active": "on", "do_not_ring_if_on_call": "on"}
    r = await env.client.post("/portal/advanced/simultaneous_ring", data={**base, "action": "add_number"})
    text = await text_of(r)
    assert 'name="numbers-0"' in text and "Sauvegarder" in text
    assert not (await services(env)).simultaneous_ring.active  # a list action saves nothing
    r = await env.client.post("/portal/advanced/simultaneous_ring",
                              data={**base, "numbers-0": "0470 12 34 56", "action": "add_criterion"})
    assert 'name="criteria-0-name"' in await text_of(r)
    r = await env.client.post("/portal/advanced/simultaneous_ring", data={
        **base, "numbers-0": "0470123456", "criteria-0-name": "Bureau", "criteria-0-active": "on",
        "criteria-0-time_schedule": "Heures de bureau", "criteria-0-calls_from": "specific",
        "criteria-0-numbers-0": "02*", "action": "save"}, allow_redirects=False)
    assert r.status == 303, await text_of(r)
    sim = (await services(env)).simultaneous_ring
    assert sim.active and sim.numbers[0].number == "0470123456"
    assert sim.criteria[0].time_schedule == "Heures de bureau" and sim.criteria[0].numbers == ("02*",)


async def test_sequential_ring_order_and_errors(env: Env) -> None:
    token = await env.login()
    base = {"csrf_token": token, "active": "on", "ring_base_first": "on", "base_rings": "3",
            "locations-0-number": "111", "locations-0-rings": "3", "locations-1-number": "222",
            "locations-1-rings": "4"}
    r = await env.client.post("/portal/advanced/sequential_ring", data={**base, "action": "down-0"})
    text = await text_of(r)
    assert text.index('value="222"') < text.index('value="111"')
    r = await env.client.post("/portal/advanced/sequential_ring",
                              data={**base, "locations-1-rings": "1", "action": "save"})
    assert r.status == 400 and "doit être entre 2 et 20" in await text_of(r)
    assert not (await services(env)).sequential_ring.active
    r = await env.client.post("/portal/advanced/sequential_ring", data={**base, "action": "save"},
                              allow_redirects=False)
    assert r.status == 303
    seq = (await services(env)).sequential_ring
    assert [loc.number for loc in seq.locations] == ["111", "222"] and seq.locations[1].rings == 4


async def test_unknown_schedule_in_criterion_is_refused(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/portal/advanced/simultaneous_ring", data={
        "csrf_token": token, "active": "on", "numbers-0": "0470123456", "criteria-0-name": "X",
        "criteria-0-time_schedule": "Nope", "action": "save"})
    assert r.status == 400 and "il n'y a pas d'horaire" in await text_of(r)


async def test_blf_add_order_save(env: Env) -> None:
    token = await env.login()
    current = list((await services(env)).blf.monitored_users)
    assert current == ["marie.martin", "pieter.peeters", "sophie.lambert"]
    data = [("csrf_token", token), *[("selected", u) for u in current], ("action", "up:sophie.lambert")]
    r = await env.client.post("/portal/blf", data=data)
    assert r.status == 200
    data = [("csrf_token", token), ("selected", "marie.martin"), ("selected", "sophie.lambert"),
            ("action", "save")]
    r = await env.client.post("/portal/blf", data=data, allow_redirects=False)
    assert r.status == 303
    assert (await services(env)).blf.monitored_users == ("marie.martin", "sophie.lambert")
    # a user of no group, or oneself: refused with a message, nothing written
    data = [("csrf_token", token), ("selected", "jean.dupont"), ("action", "save")]
    r = await env.client.post("/portal/blf", data=data)
    assert r.status == 400 and "vous ne pouvez pas vous sélectionner" in await text_of(r)
    assert (await services(env)).blf.monitored_users == ("marie.martin", "sophie.lambert")


async def test_contacts_crud_search_paging_and_call(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/portal/directory/contacts", data={"csrf_token": token, "name": "", "number": "x"})
    text = await text_of(r)
    assert r.status == 400 and "ne peut pas être vide" in text
    for i in range(12):
        r = await env.client.post("/portal/directory/contacts",
                                  data={"csrf_token": token, "name": f"Ami {i:02d}", "number": f"0470 00 00 {i:02d}"},
                                  allow_redirects=False)
        assert r.status == 303
    page = await text_of(await env.client.get("/portal/directory?size=10&page=1"))
    assert "Ami 00" in page and "sur 17 éléments" in page  # 12 + 2 group contacts + 3 colleagues
    page = await text_of(await env.client.get("/portal/directory?q=ami 11"))
    assert "Ami 11" in page and "Ami 10" not in page
    r = await env.client.post("/portal/directory/contacts/0", data={"csrf_token": token, "name": "Maison",
                                                                    "number": "02 868 84 12"}, allow_redirects=False)
    assert r.status == 303
    assert (await services(env)).contacts[0].name == "Maison"
    r = await env.client.post("/portal/directory/contacts/99", data={"csrf_token": token, "name": "A", "number": "1"})
    assert r.status == 404
    r = await env.client.post("/portal/directory/contacts/0/delete", data={"csrf_token": token},
                              allow_redirects=False)
    assert r.status == 303 and len((await services(env)).contacts) == 11
    r = await env.client.post("/portal/call", data={"csrf_token": token, "number": "028688412"})
    assert "Votre téléphone sonne" in await text_of(r)
    assert env.dialer.calls == [("jean.dupont", "028688412")]
    r = await env.client.post("/portal/call", data={"number": "1"})
    assert r.status == 403 and len(env.dialer.calls) == 1


async def test_click_to_dial_failure_is_explained(env: Env) -> None:
    class NoRegisteredPhone(Exception):
        pass

    env.dialer.fail = NoRegisteredPhone("no phone")
    token = await env.login()
    r = await env.client.post("/portal/call", data={"csrf_token": token, "number": "202"})
    assert "Aucun de vos téléphones n'est enregistré" in await text_of(r)


async def test_call_log_page_search_and_paging(env: Env) -> None:
    from tests.unit.webui_fixtures import Row
    env.logs["jean.dupont"] = [Row("placed", 1_700_000_000 - i * 60, f"+3222101{i:03d}", "") for i in range(22)]
    env.logs["jean.dupont"].append(Row("missed", 1_600_000_000, "+3222029110", "Marie Martin"))
    env.logs["marie.martin"] = [Row("received", 1_700_000_000, "+32499999999", "Secret")]
    await env.login()
    page = await text_of(await env.client.get("/portal/calllog"))
    assert "Sortant" in page and "sur 23 éléments" in page and "022101000" in page and "Secret" not in page
    page = await text_of(await env.client.get("/portal/calllog?page=3"))
    assert "Manqué" in page and "Marie Martin" in page
    page = await text_of(await env.client.get("/portal/calllog?q=Marie"))
    assert "sur 1 éléments" in page


async def test_schedules_create_opposite_edit_delete(env: Env) -> None:
    token = await env.login()
    form = {"csrf_token": token, "name": "Magasin", "opposite": "yes"}
    for day in ("monday", "tuesday"):
        form.update({f"{day}-active": "on", f"{day}-start": "09:00", f"{day}-end": "18:00",
                     f"{day}-lunch_active": "on", f"{day}-lunch_start": "12:00", f"{day}-lunch_end": "13:00"})
    bad = {**form, "monday-end": "08:00"}
    r = await env.client.post("/portal/schedules/new", data=bad)
    text = await text_of(r)
    assert r.status == 400 and 'id="monday-end-error"' in text and "doit être après l'heure de début" in text
    assert (await services(env)).schedules == ()
    r = await env.client.post("/portal/schedules/new", data=form, allow_redirects=False)
    assert r.status == 303
    s = await services(env)
    assert [x.name for x in s.schedules] == ["Magasin", "non-Magasin"] and s.schedules[1].inverted
    assert s.schedules[0].is_open(0, 10 * 60) and not s.schedules[0].is_open(0, 12 * 60 + 30)
    listing = await text_of(await env.client.get("/portal/schedules"))
    assert "Heures de bureau" in listing and "non-Magasin" in listing
    r = await env.client.post("/portal/schedules/new", data=form)
    assert r.status == 400 and "un autre horaire s'appelle déjà" in await text_of(r)
    r = await env.client.post("/portal/schedules/edit/Magasin", data={**form, "name": "Boutique", "opposite": "no"},
                              allow_redirects=False)
    assert r.status == 303
    assert {x.name for x in (await services(env)).schedules} == {"Boutique", "non-Magasin"}
    r = await env.client.get("/portal/schedules/edit/Nope")
    assert r.status == 404
    r = await env.client.post("/portal/schedules/delete/Boutique", data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303
    r = await env.client.post("/portal/schedules/delete/Boutique", data={"csrf_token": token})
    assert r.status == 404


async def test_schedule_used_by_criterion_cannot_be_deleted(env: Env) -> None:
    token = await env.login()
    form = {"csrf_token": token, "name": "Soir", "opposite": "no", "monday-active": "on", "monday-start": "18:00",
            "monday-end": "22:00"}
    assert (await env.client.post("/portal/schedules/new", data=form, allow_redirects=False)).status == 303
    r = await env.client.post("/portal/advanced/simultaneous_ring", data={
        "csrf_token": token, "active": "on", "numbers-0": "0470123456", "criteria-0-name": "Soirée",
        "criteria-0-active": "on", "criteria-0-time_schedule": "Soir", "action": "save"}, allow_redirects=False)
    assert r.status == 303
    r = await env.client.post("/portal/schedules/delete/Soir", data={"csrf_token": token})
    assert "est encore utilisé par un critère" in await text_of(r)
    assert (await services(env)).schedule_named("Soir") is not None


async def test_other_users_objects_are_not_reachable(env: Env) -> None:
    token = await env.login("202", "portal202")
    # Marie has no contacts: Jean's contact 0 (added by the fixture below) is not hers
    await env.store.update_services("jean.dupont", (await services(env)).__class__(
        contacts=((await services(env)).contacts)))
    r = await env.client.get("/portal/directory/contacts/0")
    assert r.status == 404
    r = await env.client.post("/portal/schedules/delete/Heures de bureau", data={"csrf_token": token})
    assert r.status == 404  # a group schedule is not the user's to delete


async def test_language_switch(env: Env) -> None:
    token = await env.login()
    r = await env.client.post("/language", data={"csrf_token": token, "language": "nl", "next": "/portal/settings"})
    text = await text_of(r)
    assert "Onvoorwaardelijke doorschakeling" in text and 'lang="nl"' in text
    r = await env.client.post("/language", data={"csrf_token": token, "language": "en", "next": "//evil.example"},
                              allow_redirects=False)
    assert r.headers["Location"] == "/"
    text = await text_of(await env.client.get("/portal/settings"))
    assert "Call forwarding always" in text
    r = await env.client.post("/portal/settings/forward_no_answer", data={"csrf_token": token, "rings": "25"})
    assert "must be 0 or 2 to 20" in await text_of(r)


async def test_dutch_user_gets_dutch(env: Env) -> None:
    await env.login("203", "portal203")
    text = await text_of(await env.client.get("/portal/profile"))
    assert "Voornaam" in text and "Pieter" in text


async def test_password_reset_single_use_and_no_enumeration(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    token = await env.csrf("/reset")
    known = await env.client.post("/reset", data={"csrf_token": token, "username": "201"})
    unknown = await env.client.post("/reset", data={"csrf_token": token, "username": "nobody"})
    assert known.status == unknown.status == 200
    assert (await known.text()).replace("nobody", "201") == (await unknown.text()).replace("nobody", "201")
    reset_token = next(iter(env.portal.resets._tokens.values()))
    assert reset_token.user_id == "jean.dupont"
    # the link is in the log (embedded default); fish the token out of it
    import re
    out = capsys.readouterr()
    match = re.search(r"/reset/([A-Za-z0-9_-]{40,})", out.out + out.err)
    assert match, "the reset link was not logged"
    link = f"/reset/{match.group(1)}"
    page = await env.client.get(link)
    assert page.status == 200
    form_token = await env.csrf(link)
    r = await env.client.post(link, data={"csrf_token": form_token, "password": "short", "password2": "short"})
    assert r.status == 400 and "Au moins 10 caractères" in await text_of(r)
    r = await env.client.post(link, data={"csrf_token": form_token, "password": "nouveau-secret",
                                          "password2": "nouveau-secret"}, allow_redirects=False)
    assert r.status == 303
    r = await env.client.post(link, data={"csrf_token": form_token, "password": "encore-autre",
                                          "password2": "encore-autre"})
    assert r.status == 404  # single use
    assert await env.portal.service.authenticate("201", "nouveau-secret") is not None
    assert await env.portal.service.authenticate("201", "portal201") is None


async def test_info_lists_and_serves_manuals(env: Env) -> None:
    await env.login()
    text = await text_of(await env.client.get("/portal/info"))
    for name in ("portail-web-fr", "webportaal-nl", "web-portal-en"):
        assert f"/manuals/{name}.html" in text
        r = await env.client.get(f"/manuals/{name}.html")
        assert r.status == 200 and "<h1>" in await text_of(r)
    assert (await env.client.get("/manuals/nope.html")).status == 404
