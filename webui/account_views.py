"""One's own account, for an end user (Profil tab, `/portal/profile/...`) and a group administrator
(`/admin/account/...`) alike: change the password, make and revoke API tokens.

The password: given twice and at least `MIN_PASSWORD` long, then `webui.web.change_own_password` (the one
path of the pages and both APIs: throttled like a login, checked by the account's service, the account's
other sessions ended), each refusal shown next to its field. A new API token is shown on the page that
made it and never again (`webui.token_api`).

It knows aiohttp and the two service layers; no SIP, no storage.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from features.model import SettingError
from webui import admin_views, views
from webui.i18n import gettext
from webui.security import Session, TokenStore
from webui.services import MIN_PASSWORD
from webui.token_api import TokenRefused, make_token, revoke_token
from webui.web import CSRF_FIELD, PORTAL_KEY, TooManyAttempts, change_own_password, current_session, require_csrf

__all__ = ["add_account_routes"]

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


async def password_post(request: web.Request) -> web.StreamResponse:
    session, base, form = await _form(request)
    current, password, again = (form.get(k, "")[:1000] for k in ("current_password", "password", "password2"))
    lang = session.language
    errors: dict[str, str] = {}
    if password != again:
        errors["password2"] = gettext(lang, "The passwords differ.")
    elif len(password) < MIN_PASSWORD:
        errors["password"] = gettext(lang, "At least 10 characters.")
    else:
        try:
            session = await change_own_password(request, session, current, password)
        except TooManyAttempts:
            errors["current_password"] = gettext(lang, "Too many attempts. Try again in a few minutes.")
        except SettingError as exc:
            if exc.problems[0][0] == "current_password":
                errors["current_password"] = gettext(lang, "Wrong password.")
            else:
                errors["password"] = gettext(lang, "Choose a password other than the current one.")
    if errors:
        return await _page_again(request, base, errors=errors)
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
