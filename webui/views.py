"""The portal's HTML pages, one handler per tab of the user guide (Accès, Profil, Paramètres, Paramètres
avancés, Busy Lamp Field, Annuaire téléphonique, Journal des appels, Horaires, Info), plus password reset.

Every page needs an end user's session (else a redirect to /login; the group administrator's pages are
`webui.admin_views`); every POST checks the CSRF token first
(403 without it). A form with a problem is shown again with the message next to its field and nothing
written; a good one is saved through `webui.services` and answered with a redirect (post/redirect/get).

It knows aiohttp, the templates and the service layer; it knows no SIP and no storage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from features.model import WEEKDAYS, SettingError
from provisioning.model import User
from webui import forms
from webui.i18n import LANGUAGES, gettext, pick_language
from webui.lamp_stream import HIDDEN, LAMP_NAMES, stream_lamps
from webui.manuals import MANUALS, render_manual
from webui.security import Session
from webui.services import DialFailed, NotFound, national
from webui.token_api import tokens_of
from webui.web import (
    CSRF_FIELD,
    PORTAL_KEY,
    current_session,
    ensure_session,
    login,
    login_admin,
    logout,
    render,
    require_csrf,
)

__all__ = ["add_portal_routes"]

log = structlog.get_logger("callconnect.portal")
security_log = structlog.get_logger("callconnect.security")

SETTINGS_SECTIONS: Final = ("forward_always", "forward_busy", "forward_no_answer", "forward_unreachable", "dnd",
                            "clir", "voicemail", "external_clid_delivery", "internal_clid_delivery", "colr",
                            "call_waiting")
SECTION_TITLES: Final = {
    "forward_always": "Call forwarding always", "forward_busy": "Call forwarding busy",
    "forward_no_answer": "Call forwarding no answer", "forward_unreachable": "Call forwarding not reachable",
    "dnd": "Do not disturb", "clir": "Calling line ID blocking", "voicemail": "Voicemail",
    "external_clid_delivery": "External calling line ID delivery",
    "internal_clid_delivery": "Internal calling line ID delivery", "colr": "Connected line ID restriction",
    "call_waiting": "Call waiting", "simultaneous_ring": "Selective simultaneous ring",
    "sequential_ring": "Selective sequential ring",
}
DAY_NAMES: Final = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                       "Sunday"), strict=True))
PAGE_SIZES: Final = (10, 25, 50, 100)


# -- helpers -------------------------------------------------------------------------------------------------
def _user_session(request: web.Request) -> Session:
    session = current_session(request)
    if session is None or session.user_id is None:
        raise web.HTTPSeeOther("/login")
    return session


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    require_csrf(request, form.get(CSRF_FIELD))
    return form


def _errors(exc: SettingError) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, message in exc.problems:
        out.setdefault(path, message)
    return out


def _flash(session: Session, msgid: str, **values: object) -> None:
    session.flash.append(gettext(session.language, msgid, **values))


async def _page(request: web.Request, template: str, tab: str, **context: Any) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    service = request.app[PORTAL_KEY].service
    try:
        user = await service.user(session.user_id)
    except NotFound:
        logout(request)
        raise web.HTTPSeeOther("/login") from None
    return render(request, template, {"user": user, "tab": tab, **context},
                  status=400 if context.get("errors") else 200)


def paging_of(request: web.Request, items: Sequence[Any]) -> dict[str, Any]:
    """One page of `items` as `?page=&size=` ask (sizes of `PAGE_SIZES`, 10 by default), with what the
    `pager` and `pages` macros show; `q` is the search the page filtered by."""
    try:
        size = int(request.query.get("size", "10"))
    except ValueError:
        size = 10
    size = size if size in PAGE_SIZES else 10
    pages = max(1, math.ceil(len(items) / size))
    try:
        page = min(max(1, int(request.query.get("page", "1"))), pages)
    except ValueError:
        page = 1
    start = (page - 1) * size
    return {"items": items[start:start + size], "page": page, "pages": pages, "size": size, "sizes": PAGE_SIZES,
            "total": len(items), "first": start + 1 if items else 0, "last": min(start + size, len(items)),
            "q": request.query.get("q", "")}


# -- Accès ---------------------------------------------------------------------------------------------------
async def root(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is not None and session.admin is not None:
        raise web.HTTPSeeOther("/admin/users")
    raise web.HTTPSeeOther("/portal/profile" if session is not None and session.user_id else "/login")


async def login_page(request: web.Request) -> web.Response:
    ensure_session(request)
    return render(request, "login.html", {"username": "", "error": None, "user_type": "enduser"})


async def login_post(request: web.Request) -> web.StreamResponse:
    """End users and group administrators (`user_type`) alike: the same throttle (per name, per address),
    the same Argon2id check and the same session rotation; each lands on their own pages."""
    form = await _form(request)
    portal = request.app[PORTAL_KEY]
    session = current_session(request)
    assert session is not None
    username = form.get("username", "").strip()[:200]
    password = form.get("password", "")[:1000]
    user_type = form.get("user_type", "enduser")
    as_admin = user_type == "groupadmin" and portal.admin is not None
    keys = (f"{'admin' if as_admin else 'user'}:{username.casefold()}", f"peer:{request.remote}")
    error: str | None = None
    if user_type not in ("enduser", "groupadmin") or (user_type == "groupadmin" and portal.admin is None):
        error = "Group administrator pages are not available in this version."
    elif portal.throttle.blocked(*keys):
        security_log.warning("portal_login_throttled", peer=request.remote, username=username,
                             user_type=user_type)
        error = "Too many attempts. Try again in a few minutes."
    elif as_admin:
        assert portal.admin is not None
        admin = await portal.admin.authenticate(username, password)
        if admin is None:
            portal.throttle.failed(*keys)
            security_log.warning("portal_login_failed", peer=request.remote, username=username,
                                 user_type=user_type)
            error = "Wrong user name or password."
        else:
            portal.throttle.succeeded(keys[0])
            login_admin(request, session, admin.username, admin.group_id, admin.language)
            raise web.HTTPSeeOther("/admin/users")
    else:
        user = await portal.service.authenticate(username, password)
        if user is None:
            portal.throttle.failed(*keys)
            security_log.warning("portal_login_failed", peer=request.remote, username=username)
            error = "Wrong user name or password."
        else:
            portal.throttle.succeeded(keys[0])
            login(request, session, user.user_id, user.language)
            raise web.HTTPSeeOther("/portal/profile")
    return render(request, "login.html", {"username": username, "error": error, "user_type": user_type},
                  status=401)


async def logout_post(request: web.Request) -> web.StreamResponse:
    await _form(request)
    logout(request)
    raise web.HTTPSeeOther("/login")


async def language_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = current_session(request)
    assert session is not None
    lang = pick_language(form.get("language"))
    if lang is not None and lang in LANGUAGES:
        session.language = lang
    back = form.get("next", "/")
    raise web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//") else "/")


async def reset_page(request: web.Request) -> web.Response:
    ensure_session(request)
    return render(request, "reset.html", {"sent": False})


async def reset_post(request: web.Request) -> web.Response:
    form = await _form(request)
    portal = request.app[PORTAL_KEY]
    username = form.get("username", "").strip()[:200]
    key = f"reset:{request.remote}"
    if not portal.throttle.blocked(key):
        portal.throttle.failed(key)  # every request counts: at most `limit` mails per address and window
        user_id = portal.service.find_user_id(username)
        user = None if user_id is None else await portal.service.store.get_user(user_id)
        if user is not None and user.portal_password_hash:
            token = portal.resets.issue(user.user_id)
            base = portal.public_url or f"{request.scheme}://{request.host}"
            link = f"{base.rstrip('/')}/reset/{token}"
            log.info("portal_reset_link", user=user.user_id, link=link)
            body = gettext(user.language, "Choose a new password") + f":\n\n{link}\n"
            try:
                await portal.mailer.send(user.email or user.user_id, gettext(user.language, "Reset password"),
                                         body)
            except Exception:
                log.exception("portal_reset_mail_failed", user=user.user_id)
    # The same answer whether the account exists or not.
    return render(request, "reset.html", {"sent": True})


async def reset_token_page(request: web.Request) -> web.Response:
    ensure_session(request)
    valid = request.app[PORTAL_KEY].resets.peek(request.match_info["token"]) is not None
    return render(request, "reset_token.html", {"valid": valid, "errors": {}}, status=200 if valid else 404)


async def reset_token_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    portal = request.app[PORTAL_KEY]
    token = request.match_info["token"]
    session = current_session(request)
    assert session is not None
    if portal.resets.peek(token) is None:
        return render(request, "reset_token.html", {"valid": False, "errors": {}}, status=404)
    password, again = form.get("password", ""), form.get("password2", "")
    errors: dict[str, str] = {}
    if password != again:
        errors["password2"] = gettext(session.language, "The passwords differ.")
    elif len(password) < 10:
        errors["password"] = gettext(session.language, "At least 10 characters.")
    if errors:
        return render(request, "reset_token.html", {"valid": True, "errors": errors}, status=400)
    user_id = portal.resets.use(token)
    if user_id is None:
        return render(request, "reset_token.html", {"valid": False, "errors": {}}, status=404)
    await portal.service.set_password(user_id, password)
    portal.sessions.destroy_user(user_id)
    log.info("portal_password_reset", user=user_id)
    _flash(session, "Your password has been changed. Sign in with it.")
    raise web.HTTPSeeOther("/login")


# -- Profil, Paramètres ----------------------------------------------------------------------------------------
async def profile(request: web.Request, **context: Any) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    portal = request.app[PORTAL_KEY]
    user = await portal.service.user(session.user_id)
    group = await portal.service.group(user)
    department = next((d.name for d in group.departments if d.id == user.department_id), "")
    cc = group.group.country_code
    tokens = await token_rows(request, session, group.group.time_zone)
    return await _page(request, "profile.html", "profile", department=department,
                       numbers=[national(n, cc) for n in user.numbers],
                       outgoing_cli=national(user.outgoing_cli or user.main_number, cc), tokens=tokens, **context)


async def token_rows(request: web.Request, session: Session, time_zone: str) -> list[dict[str, Any]] | None:
    """The session's API tokens as the account pages list them (times in the group's zone); None when the
    portal offers no tokens."""
    store = request.app[PORTAL_KEY].tokens
    if store is None:
        return None
    zone = ZoneInfo(time_zone)

    def shown(at: float | None) -> str | None:
        return datetime.fromtimestamp(at, zone).strftime("%d/%m/%Y %H:%M") if at is not None else None

    return [{"id": t.id, "name": t.name, "created": shown(t.created_at), "last_used": shown(t.last_used_at)}
            for t in await tokens_of(store, session)]


def _settings_drafts(user: User) -> dict[str, dict[str, Any]]:
    return {name: getattr(user.services, name).to_dict() for name in SETTINGS_SECTIONS}


async def settings_page(request: web.Request) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    user = await request.app[PORTAL_KEY].service.user(session.user_id)
    return await _page(request, "settings.html", "settings", sections=SETTINGS_SECTIONS, titles=SECTION_TITLES,
                       drafts=_settings_drafts(user))


async def settings_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    name = request.match_info["section"]
    if name not in SETTINGS_SECTIONS:
        raise web.HTTPNotFound()
    service = request.app[PORTAL_KEY].service
    user = await service.user(session.user_id)
    draft = forms.section_form(name, form, getattr(user.services, name).to_dict())
    try:
        await service.update_section(session.user_id, name, draft)
    except SettingError as exc:
        drafts = _settings_drafts(user)
        drafts[name] = draft
        return await _page(request, "settings.html", "settings", sections=SETTINGS_SECTIONS, titles=SECTION_TITLES,
                           drafts=drafts, errors=_errors(exc), failed=name)
    _flash(session, "Saved.")
    raise web.HTTPSeeOther(f"/portal/settings#{name}")


# -- Paramètres avancés ----------------------------------------------------------------------------------------
async def _advanced(request: web.Request, user: User, drafts: dict[str, dict[str, Any]], **context: Any
                    ) -> web.Response:
    schedules = await request.app[PORTAL_KEY].service.time_schedules(user)
    return await _page(request, "advanced.html", "advanced", drafts=drafts, titles=SECTION_TITLES,
                       schedule_names=[s.name for s in schedules], **context)


async def advanced_page(request: web.Request) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    user = await request.app[PORTAL_KEY].service.user(session.user_id)
    drafts = {n: getattr(user.services, n).to_dict() for n in ("simultaneous_ring", "sequential_ring")}
    return await _advanced(request, user, drafts)


async def advanced_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    name = request.match_info["section"]
    if name not in ("simultaneous_ring", "sequential_ring"):
        raise web.HTTPNotFound()
    service = request.app[PORTAL_KEY].service
    user = await service.user(session.user_id)
    drafts = {n: getattr(user.services, n).to_dict() for n in ("simultaneous_ring", "sequential_ring")}
    draft = forms.ring_form(name, form, drafts[name])
    drafts[name] = draft
    if forms.apply_list_action(name, draft, form.get("action", "save")):
        return await _advanced(request, user, drafts, unsaved=name)
    try:
        await service.update_section(session.user_id, name, draft)
    except SettingError as exc:
        return await _advanced(request, user, drafts, errors=_errors(exc), failed=name)
    _flash(session, "Saved.")
    raise web.HTTPSeeOther(f"/portal/advanced#{name}")


# -- Busy Lamp Field -------------------------------------------------------------------------------------------
async def _blf(request: web.Request, user: User, selected: list[str], **context: Any) -> web.Response:
    service = request.app[PORTAL_KEY].service
    group = await service.group(user)
    cc = group.group.country_code
    colleagues = {u.user_id: (u.display_name, u.extension or national(u.main_number, cc)) for u in group.users
                  if u.user_id != user.user_id}
    feed = request.app[PORTAL_KEY].lamps
    lamps: dict[str, str] = {}  # the saved selection's lamps now; the page's script follows their changes
    if feed is not None:
        lamps = {uid: feed.lamp(uid) if visible else HIDDEN
                 for uid, visible in await service.monitored_visibility(user.user_id)}
    return await _page(request, "blf.html", "blf", selected=selected, colleagues=colleagues,
                       others=[uid for uid in colleagues if uid not in selected], lamps=lamps,
                       LAMP_NAMES=LAMP_NAMES, **context)


async def blf_page(request: web.Request) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    user = await request.app[PORTAL_KEY].service.user(session.user_id)
    return await _blf(request, user, list(user.services.blf.monitored_users))


async def blf_events(request: web.Request) -> web.StreamResponse:
    """The BLF tab's live lamps (`webui.lamp_stream`); 401 without an end user's session (EventSource gives
    up on it instead of following a redirect to the login page)."""
    session = current_session(request)
    if session is None or session.user_id is None:
        raise web.HTTPUnauthorized(text="401: log in first\n")
    return await stream_lamps(request, session)


async def blf_post(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    token = data.get(CSRF_FIELD)
    require_csrf(request, token if isinstance(token, str) else None)
    session = _user_session(request)
    assert session.user_id is not None
    service = request.app[PORTAL_KEY].service
    user = await service.user(session.user_id)
    selected = [v for v in data.getall("selected", []) if isinstance(v, str)]
    allowed = {u.user_id for u in await service.colleagues(user)}
    action = data.get("action", "save")
    if forms.apply_blf_action(selected, action if isinstance(action, str) else "save", allowed):
        return await _blf(request, user, selected, unsaved=True)
    try:
        await service.set_blf_users(session.user_id, selected)
    except SettingError as exc:
        return await _blf(request, user, selected, errors=_errors(exc))
    _flash(session, "Saved.")
    raise web.HTTPSeeOther("/portal/blf")


# -- Annuaire téléphonique, Journal des appels, Appel ----------------------------------------------------------
async def directory_page(request: web.Request, **context: Any) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    entries = await request.app[PORTAL_KEY].service.directory(session.user_id, request.query.get("q", ""))
    context.setdefault("contact", {"name": "", "number": ""})
    return await _page(request, "directory.html", "directory", paging=paging_of(request, entries), **context)


async def contact_add(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    data = {"name": form.get("name", "").strip(), "number": form.get("number", "").strip()}
    try:
        await request.app[PORTAL_KEY].service.add_contact(session.user_id, data)
    except SettingError as exc:
        return await directory_page(request, contact=data, errors=_errors(exc))
    _flash(session, "Saved.")
    raise web.HTTPSeeOther("/portal/directory")


def _index(request: web.Request) -> int:
    try:
        return int(request.match_info["index"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def contact_edit_page(request: web.Request, **context: Any) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    user = await request.app[PORTAL_KEY].service.user(session.user_id)
    index = _index(request)
    if not 0 <= index < len(user.services.contacts):
        raise web.HTTPNotFound(text=gettext(session.language, "The contact does not exist."))
    context.setdefault("contact", user.services.contacts[index].to_dict())
    return await _page(request, "contact.html", "directory", index=index, **context)


async def contact_edit(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    data = {"name": form.get("name", "").strip(), "number": form.get("number", "").strip()}
    try:
        await request.app[PORTAL_KEY].service.update_contact(session.user_id, _index(request), data)
    except NotFound:
        raise web.HTTPNotFound(text=gettext(session.language, "The contact does not exist.")) from None
    except SettingError as exc:
        return await contact_edit_page(request, contact=data, errors=_errors(exc))
    _flash(session, "Saved.")
    raise web.HTTPSeeOther("/portal/directory")


async def contact_delete(request: web.Request) -> web.StreamResponse:
    await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    try:
        await request.app[PORTAL_KEY].service.delete_contact(session.user_id, _index(request))
    except NotFound:
        raise web.HTTPNotFound(text=gettext(session.language, "The contact does not exist.")) from None
    raise web.HTTPSeeOther("/portal/directory")


DIAL_REASONS: Final = {"unavailable": "Click-to-dial is not available.", "unknown_user": "Unknown user",
                       "not_dialable": "The number cannot be dialled.",
                       "no_phone": "No phone of yours is registered."}


async def call_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    number = form.get("number", "").strip()[:40]
    try:
        await request.app[PORTAL_KEY].service.dial(session.user_id, number)
        _flash(session, "Your phone is ringing: answer it to be connected to {number}.", number=number)
    except DialFailed as exc:
        _flash(session, "The call could not be placed: {reason}",
               reason=gettext(session.language, DIAL_REASONS.get(exc.reason, "The number cannot be dialled.")))
    back = form.get("next", "/portal/directory")
    raise web.HTTPSeeOther(back if back.startswith("/portal/") else "/portal/directory")


async def calllog_page(request: web.Request) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    service = request.app[PORTAL_KEY].service
    user = await service.user(session.user_id)
    group = await service.group(user)
    zone = ZoneInfo(group.group.time_zone)
    cc = group.group.country_code
    rows = []
    for row in await service.call_log(session.user_id):
        rows.append({"time": datetime.fromtimestamp(row.started_at, zone).strftime("%d/%m/%Y %H:%M:%S"),
                     "number": national(row.other_number, cc) if row.other_number.startswith("+")
                     else row.other_number, "name": row.other_name, "direction": row.direction})
    needle = request.query.get("q", "").strip().casefold()
    if needle:
        rows = [r for r in rows if needle in r["number"].casefold() or needle in r["name"].casefold()]
    return await _page(request, "calllog.html", "calllog", paging=paging_of(request, rows))


# -- Horaires --------------------------------------------------------------------------------------------------
async def schedules_page(request: web.Request) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    service = request.app[PORTAL_KEY].service
    user = await service.user(session.user_id)
    group = await service.group(user)
    return await _page(request, "schedules.html", "schedules", own=[s.name for s in user.services.schedules],
                       group_schedules=[s.name for s in group.schedules])


async def schedule_edit_page(request: web.Request, **context: Any) -> web.Response:
    session = _user_session(request)
    assert session.user_id is not None
    name = request.match_info.get("name")
    if "draft" not in context:
        if name is None:
            context["draft"] = forms.schedule_to_form({"name": ""})
        else:
            user = await request.app[PORTAL_KEY].service.user(session.user_id)
            schedule = user.services.schedule_named(name)
            if schedule is None:
                raise web.HTTPNotFound(text=gettext(session.language, "The schedule does not exist."))
            context["draft"] = forms.schedule_to_form(schedule.to_dict())
            context["inverted"] = schedule.inverted
    context.setdefault("inverted", False)
    context.setdefault("opposite", False)
    return await _page(request, "schedule.html", "schedules", original=name, days=WEEKDAYS, day_names=DAY_NAMES,
                       **context)


async def schedule_save(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    original = request.match_info.get("name")
    data = forms.schedule_form(form)
    opposite = form.get("opposite") == "yes"
    service = request.app[PORTAL_KEY].service
    if original is not None:
        current = (await service.user(session.user_id)).services.schedule_named(original)
        if current is not None and current.inverted:
            data["inverted"] = True
    try:
        await service.save_schedule(session.user_id, original, data, opposite=opposite)
    except NotFound:
        raise web.HTTPNotFound(text=gettext(session.language, "The schedule does not exist.")) from None
    except SettingError as exc:
        return await schedule_edit_page(request, draft=forms.schedule_to_form(data), errors=_errors(exc),
                                        opposite=opposite, inverted=bool(data.get("inverted")))
    _flash(session, "Saved.")
    raise web.HTTPSeeOther("/portal/schedules")


async def schedule_delete(request: web.Request) -> web.StreamResponse:
    await _form(request)
    session = _user_session(request)
    assert session.user_id is not None
    try:
        await request.app[PORTAL_KEY].service.delete_schedule(session.user_id, request.match_info["name"])
    except NotFound:
        raise web.HTTPNotFound(text=gettext(session.language, "The schedule does not exist.")) from None
    except SettingError as exc:
        service = request.app[PORTAL_KEY].service
        user = await service.user(session.user_id)
        group = await service.group(user)
        return await _page(request, "schedules.html", "schedules", own=[s.name for s in user.services.schedules],
                           group_schedules=[s.name for s in group.schedules],
                           errors={f"schedule:{request.match_info['name']}": exc.message})
    _flash(session, "Saved.")
    raise web.HTTPSeeOther("/portal/schedules")


# -- Info ------------------------------------------------------------------------------------------------------
async def info_page(request: web.Request) -> web.Response:
    return await _page(request, "info.html", "info", manuals=MANUALS)


async def manual(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    name = request.match_info["name"]
    entry = next((m for m in MANUALS if m.file == name), None)
    if entry is None or portal.manuals_dir is None:
        raise web.HTTPNotFound()
    return web.Response(text=render_manual(portal.manuals_dir / f"{name}.md", entry.language),
                        content_type="text/html", charset="utf-8")


def add_portal_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", root)
    r.add_get("/login", login_page)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout_post)
    r.add_post("/language", language_post)
    r.add_get("/reset", reset_page)
    r.add_post("/reset", reset_post)
    r.add_get("/reset/{token}", reset_token_page)
    r.add_post("/reset/{token}", reset_token_post)
    r.add_get("/portal/profile", profile)
    r.add_get("/portal/settings", settings_page)
    r.add_post("/portal/settings/{section}", settings_post)
    r.add_get("/portal/advanced", advanced_page)
    r.add_post("/portal/advanced/{section}", advanced_post)
    r.add_get("/portal/blf", blf_page)
    r.add_post("/portal/blf", blf_post)
    r.add_get("/portal/blf/events", blf_events, allow_head=False)  # a HEAD would get an endless stream
    r.add_get("/portal/directory", directory_page)
    r.add_post("/portal/directory/contacts", contact_add)
    r.add_get("/portal/directory/contacts/{index}", contact_edit_page)
    r.add_post("/portal/directory/contacts/{index}", contact_edit)
    r.add_post("/portal/directory/contacts/{index}/delete", contact_delete)
    r.add_post("/portal/call", call_post)
    r.add_get("/portal/calllog", calllog_page)
    r.add_get("/portal/schedules", schedules_page)
    r.add_get("/portal/schedules/new", schedule_edit_page)
    r.add_post("/portal/schedules/new", schedule_save)
    r.add_get("/portal/schedules/edit/{name}", schedule_edit_page)
    r.add_post("/portal/schedules/edit/{name}", schedule_save)
    r.add_post("/portal/schedules/delete/{name}", schedule_delete)
    r.add_get("/portal/info", info_page)
    r.add_get("/manuals/{name}.html", manual)
