"""One's own account, for an end user (Profil tab, `/portal/profile/...`) and a group administrator
(`/admin/account/...`) alike: change the password, make and revoke API tokens.

The password: the current one is checked and throttled like a login (per account, per address), the new one
given twice and at least `MIN_PASSWORD` long, each refusal shown next to its field; once changed, every other
session of the account ends and this one goes on under a new id. A new API token is shown on the page that
made it and never again (`webui.token_api`).

It knows aiohttp and the two service layers; no SIP, no storage.
"""

from __future__ import annotations

from typing import Final

import structlog
from aiohttp import web

from features.model import SettingError
from webui import admin_views, views
from webui.i18n import gettext
from webui.security import Session, TokenStore
from webui.services import MIN_PASSWORD, NotFound
from webui.token_api import TokenRefused, make_token, revoke_token
from webui.web import CSRF_FIELD, PORTAL_KEY, current_session, login, login_admin, require_csrf

__all__ = ["add_account_routes"]

log = structlog.get_logger("callconnect.portal")

USER_BASE: Final = "/portal/profile"
ADMIN_BASE: Final = "/admin/account"


def _account(request: web.Request) -> tuple[Session, str]:
    """The logged-in session and where its account page is; anyone else goes to the login page."""
    session = current_session(request)
    if session is not None and session.user_id is not None:
        return session, USER_BASE
    if session is not None and session.admin is not None and session.admin_group is not None:
        return session, ADMIN_BASE
    raise web.HTTPSeeOther("/login")


async def _form(request: web.Request) -> tuple[Session, str, dict[str, str]]:
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    require_csrf(request, form.get(CSRF_FIELD))
    session, base = _account(request)
    return session, base, form


async def _page_again(request: web.Request, base: str, **context: object) -> web.StreamResponse:
    if base == USER_BASE:
        return await views.profile(request, **context)
    return await admin_views.account_page(request, **context)


async def _change_password(request: web.Request, session: Session, current: str, password: str) -> None:
    """Raises SettingError ("current_password": wrong, "password": the same as now) or NotFound."""
    portal = request.app[PORTAL_KEY]
    if session.user_id is not None:
        await portal.service.change_password(session.user_id, current, password)
        return
    if portal.admin is None or session.admin is None or session.admin_group is None:
        raise NotFound("no administration")
    await portal.admin.change_password(session.admin_group, session.admin, current, password)


async def password_post(request: web.Request) -> web.StreamResponse:
    session, base, form = await _form(request)
    portal = request.app[PORTAL_KEY]
    who = f"user:{session.user_id}" if session.user_id is not None else f"admin:{session.admin}"
    keys = (who.casefold(), f"peer:{request.remote}")  # an administrator's: the same as their logins
    current, password, again = (form.get(k, "")[:1000] for k in ("current_password", "password", "password2"))
    lang = session.language
    errors: dict[str, str] = {}
    if portal.throttle.blocked(*keys):
        errors["current_password"] = gettext(lang, "Too many attempts. Try again in a few minutes.")
    elif password != again:
        errors["password2"] = gettext(lang, "The passwords differ.")
    elif len(password) < MIN_PASSWORD:
        errors["password"] = gettext(lang, "At least 10 characters.")
    else:
        try:
            await _change_password(request, session, current, password)
        except SettingError as exc:
            if exc.problems[0][0] == "current_password":
                portal.throttle.failed(*keys)
                errors["current_password"] = gettext(lang, "Wrong password.")
            else:
                errors["password"] = gettext(lang, "Choose a password other than the current one.")
    if errors:
        return await _page_again(request, base, errors=errors)
    portal.throttle.succeeded(keys[0])
    if session.user_id is not None:
        portal.sessions.destroy_user(session.user_id)
        session = login(request, session, session.user_id, session.language)
    else:
        assert session.admin is not None and session.admin_group is not None
        portal.sessions.destroy_admin(session.admin)
        session = login_admin(request, session, session.admin, session.admin_group, session.language)
    log.info("portal_password_changed", account=who, peer=request.remote)
    session.flash.append(gettext(session.language, "Your password has been changed."))
    raise web.HTTPSeeOther(base)


def _token_store(request: web.Request) -> TokenStore:
    tokens = request.app[PORTAL_KEY].tokens
    if tokens is None:
        raise web.HTTPNotFound()
    return tokens


async def token_add(request: web.Request) -> web.StreamResponse:
    session, base, form = await _form(request)
    name = form.get("token_name", "")
    try:
        token, _ = await make_token(_token_store(request), session, name)
    except TokenRefused as refused:
        return await _page_again(request, base, token_name=name,
                                 errors={"token_name": gettext(session.language, refused.message)})
    return await _page_again(request, base, new_token=token)


async def token_revoke(request: web.Request) -> web.StreamResponse:
    session, base, _ = await _form(request)
    if await revoke_token(_token_store(request), session, request.match_info["token_id"]):
        session.flash.append(gettext(session.language, "Token revoked."))
    raise web.HTTPSeeOther(base)


def add_account_routes(app: web.Application) -> None:
    for base in (USER_BASE, ADMIN_BASE):
        app.router.add_post(base + "/password", password_post)
        app.router.add_post(base + "/tokens", token_add)
        app.router.add_post(base + "/tokens/{token_id}/revoke", token_revoke)
