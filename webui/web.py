"""The portal's HTTP plumbing shared by the HTML views and the REST API: its state (`Portal`, under
`PORTAL_KEY`), the middleware that loads the session from its cookie (or, on `/api/v1`, from an API token:
`Authorization: Bearer`, RFC 6750 §2.1) and adds the security headers to every answer, CSRF checks, the
session cookie, login/logout with session rotation, changing one's own password (`change_own_password`),
and the page renderer (Jinja2 templates with the request's language).

It knows aiohttp, the security state and the service layer; it knows no SIP and no storage.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import smtplib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final, Protocol

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from features.model import SettingError
from webui.admin_service import AdminService
from webui.i18n import LANGUAGE_NAMES, LANGUAGES, Language, gettext, pick_language, translate_problem
from webui.security import LoginThrottle, ResetTokens, Session, SessionStore, TokenStore, csrf_matches, parse_owner
from webui.services import NotFound, PortalService

__all__ = [
    "PORTAL_KEY",
    "LampFeed",
    "LogMailer",
    "Mailer",
    "Portal",
    "SmtpMailer",
    "TooManyAttempts",
    "add_security_headers",
    "change_own_password",
    "current_session",
    "ensure_session",
    "login",
    "login_admin",
    "logout",
    "render",
    "require_csrf",
    "security_headers_middleware",
    "session_middleware",
]

log = structlog.get_logger("callconnect.portal")
security_log = structlog.get_logger("callconnect.security")

COOKIE: Final = "callconnect_session"
SECURE_COOKIE: Final = "__Host-callconnect_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
TEMPLATES: Final = Path(__file__).with_name("templates")
STATIC: Final = Path(__file__).with_name("static")
CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
              "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class LampFeed(Protocol):
    """The live lamps of the SIP side (`blf.lamp.LiveLamps`): a user's lamp now ("idle", "ringing", "talking",
    "dialling", "held"), and a subscription told the id of every user whose calls changed, synchronously
    from the call path (a listener must only take note), returning its unsubscribe function."""

    def lamp(self, user_id: str) -> str: ...
    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]: ...


class LogMailer:
    """The embedded default: the message (with the reset link) goes to the server log, nowhere else."""

    async def send(self, to: str, subject: str, body: str) -> None:
        log.warning("portal_mail_not_sent_logged_instead", to=to, subject=subject, body=body)


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    """Plain SMTP (STARTTLS when `starttls`), run in a worker thread."""

    host: str
    port: int = 25
    sender: str = "callconnect@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def _send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=20) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        await asyncio.to_thread(self._send, to, subject, body)


@dataclass(slots=True)
class Portal:
    """Everything the portal's handlers share; one per application."""

    service: PortalService
    sessions: SessionStore = field(default_factory=SessionStore)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    resets: ResetTokens = field(default_factory=ResetTokens)
    mailer: Mailer = field(default_factory=LogMailer)
    public_url: str | None = None  # base of the links in reset mails; None: the request's own scheme and host
    manuals_dir: Path | None = None
    voicemail: Any = None  # a `webui.mailbox.MailboxStore` (storage.voicemail.VoicemailStore), or None
    admin: AdminService | None = None  # the group administrator pages and API; None: not offered
    lamps: LampFeed | None = None  # live BLF lamps on the BLF tab (`webui.lamp_stream`); None: not offered
    tokens: TokenStore | None = None  # API tokens (`webui.token_api`); None: bearer tokens refused


PORTAL_KEY: web.AppKey[Portal] = web.AppKey("portal", Portal)
SESSION: web.RequestKey[Session | None] = web.RequestKey("session", object)  # type: ignore[arg-type]
SET_COOKIE: web.RequestKey[bool] = web.RequestKey("set_cookie", bool)
CLEAR_COOKIE: web.RequestKey[bool] = web.RequestKey("clear_cookie", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _cookie_name(request: web.Request) -> str:
    return SECURE_COOKIE if request.secure else COOKIE


def current_session(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION)
    return session


def ensure_session(request: web.Request) -> Session:
    """The visitor's session, created (and its cookie set by the middleware) when there is none."""
    session = current_session(request)
    if session is None:
        lang = pick_language(request.headers.get("Accept-Language")) or "fr"
        session = request.app[PORTAL_KEY].sessions.create(lang)
        request[SESSION] = session
        request[SET_COOKIE] = True
    return session


def request_language(request: web.Request) -> Language:
    session = current_session(request)
    if session is not None:
        return session.language
    return pick_language(request.headers.get("Accept-Language")) or "fr"


def _token_refused(description: str) -> web.HTTPUnauthorized:
    """RFC 6750 §3: 401 with the challenge and why."""
    return web.HTTPUnauthorized(
        text=json.dumps({"error": description}), content_type="application/json",
        headers={"WWW-Authenticate": f'Bearer realm="callconnect", error="invalid_token", '
                                     f'error_description="{description}"'})


async def token_session(request: web.Request, portal: Portal, authorization: str) -> Session:
    """The session of an API request that carries `Authorization: Bearer <token>`: its owner as stored now
    (a removed user or administrator, a revoked or unknown token: 401). Never stored, no cookie, no CSRF."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _token_refused("use Authorization: Bearer <token>")
    now = time.time()
    found = await portal.tokens.authenticate(token.strip(), now) if portal.tokens is not None else None
    if found is None:
        security_log.warning("api_token_refused", peer=request.remote, path=request.path)
        raise _token_refused("unknown or revoked token")
    user_id, admin = parse_owner(found.owner)
    session = Session(id=f"token:{found.id}", csrf_token=secrets.token_urlsafe(16), created=now, last_seen=now,
                      token_id=found.id)
    try:
        if user_id is not None:
            user = await portal.service.user(user_id)
            session.user_id, session.language = user.user_id, user.language
        elif admin is not None and portal.admin is not None:
            administrator, _ = await portal.admin.administrator(*admin)
            session.admin, session.admin_group = administrator.username, administrator.group_id
            session.language = administrator.language
        else:
            raise NotFound(found.owner)
    except NotFound:
        raise _token_refused("the token's account no longer exists") from None
    return session


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    portal = request.app.get(PORTAL_KEY)
    authorization = request.headers.get("Authorization")
    if portal is not None and authorization is not None and request.path.startswith("/api/v1/"):
        request[SESSION] = await token_session(request, portal, authorization)
    elif portal is not None:
        session = portal.sessions.get(request.cookies.get(_cookie_name(request)))
        request[SESSION] = session
        if session is not None and session.user_id is not None and await portal.service.account_gone(
                session.user_id):
            logout(request)  # the request goes on as a logged-out one: the login page, or the API's 401
    try:
        try:
            response: web.StreamResponse = await handler(request)
        except NotFound as gone:
            raise _gone(request, gone) from None
    except web.HTTPException as exc:  # redirects are raised: they carry the cookie too
        response = exc
        _cookies(request, response, portal is not None)
        raise
    _cookies(request, response, portal is not None)
    return response


_API_NOT_FOUND: Final = "not found"  # the API answers in English
_API_ACCOUNT_GONE: Final = "the account no longer exists"


def _gone(request: web.Request, gone: NotFound) -> web.HTTPException:
    """A handler found no object: the session's own user (deleted by an administrator, `provision apply`, the
    CLI) ends the session (back to the login page, 401 for the API); anything else is a plain 404."""
    session = current_session(request)
    api = request.path.startswith("/api/")
    if session is None or session.user_id is None or gone.args[:1] != (session.user_id,):
        return web.HTTPNotFound(text=json.dumps({"error": _API_NOT_FOUND}), content_type="application/json") \
            if api else web.HTTPNotFound()
    logout(request)
    if api:
        return web.HTTPUnauthorized(text=json.dumps({"error": _API_ACCOUNT_GONE}), content_type="application/json")
    return web.HTTPSeeOther("/login")


def _cookies(request: web.Request, response: web.StreamResponse, enabled: bool) -> None:
    if enabled:
        if request.get(CLEAR_COOKIE):
            response.del_cookie(_cookie_name(request), path="/")
        session = current_session(request)
        if session is not None and request.get(SET_COOKIE):
            response.set_cookie(_cookie_name(request), session.id, path="/", httponly=True, samesite="Lax",
                                secure=request.secure)


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    _secure(request, response)
    return response


def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The middleware's headers, for a streamed answer that is sent before the middleware sees it."""
    _secure(request, response)


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith(("/portal", "/admin", "/api", "/login", "/reset")):
        headers.setdefault("Cache-Control", "no-store")


def require_csrf(request: web.Request, token: str | None) -> Session:
    """The session when `token` (form field or header) is its CSRF token, or when the request came with an
    API token (a browser never sends one by itself: nothing to forge); otherwise 403."""
    session = current_session(request)
    if session is not None and session.token_id is not None:
        return session
    if session is None or not csrf_matches(session, token):
        security_log.warning("portal_csrf_refused", peer=request.remote, path=request.path,
                             has_session=session is not None)
        raise web.HTTPForbidden(text="403 Forbidden: missing or wrong CSRF token\n")
    return session


def login(request: web.Request, session: Session, user_id: str, language: Language) -> Session:
    """A fresh session for `user_id` replacing `session` (new id and CSRF token: no session fixation)."""
    portal = request.app[PORTAL_KEY]
    fresh = portal.sessions.rotate(session, user_id)
    fresh.language = language
    request[SESSION] = fresh
    request[SET_COOKIE] = True
    log.info("portal_login", user=user_id, peer=request.remote)
    return fresh


def login_admin(request: web.Request, session: Session, username: str, group_id: str,
                language: Language) -> Session:
    """A fresh session for the group administrator `username` of `group_id` replacing `session`."""
    portal = request.app[PORTAL_KEY]
    fresh = portal.sessions.rotate(session, None, admin=username, admin_group=group_id)
    fresh.language = language
    request[SESSION] = fresh
    request[SET_COOKIE] = True
    log.info("portal_admin_login", admin=username, group=group_id, peer=request.remote)
    return fresh


class TooManyAttempts(Exception):
    """The account (or the address) failed too often lately: nothing was checked."""


async def change_own_password(request: web.Request, session: Session, current: str, new: str) -> Session:
    """The logged-in end user or administrator of `session` changes their own password (the portal pages and
    both APIs): throttled like their logins (per account, per address; raises TooManyAttempts), checked by
    their service (raises SettingError: "current_password" counts as a failed attempt, "password"). Once
    changed, every other session of the account ends and this one goes on under a new id: returns it."""
    portal = request.app[PORTAL_KEY]
    account = f"user:{session.user_id}" if session.user_id is not None else f"admin:{session.admin}"
    keys = (account.casefold(), f"peer:{request.remote}")  # an administrator's: the same as their logins
    if portal.throttle.blocked(*keys):
        raise TooManyAttempts(account)
    try:
        if session.user_id is not None:
            await portal.service.change_password(session.user_id, current, new)
        elif portal.admin is not None and session.admin is not None and session.admin_group is not None:
            await portal.admin.change_password(session.admin_group, session.admin, current, new)
        else:
            raise NotFound(account)
    except SettingError as exc:
        if exc.problems[0][0] == "current_password":
            portal.throttle.failed(*keys)
        raise
    portal.throttle.succeeded(keys[0])
    log.info("portal_password_changed", account=account, peer=request.remote)
    if session.user_id is not None:
        portal.sessions.destroy_user(session.user_id)
        return login(request, session, session.user_id, session.language)
    assert session.admin is not None and session.admin_group is not None
    portal.sessions.destroy_admin(session.admin)
    return login_admin(request, session, session.admin, session.admin_group, session.language)


def logout(request: web.Request) -> None:
    session = current_session(request)
    if session is not None:
        request.app[PORTAL_KEY].sessions.destroy(session)
        log.info("portal_logout", user=session.user_id, admin=session.admin, peer=request.remote)
    request[SESSION] = None
    request[CLEAR_COOKIE] = True


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    lang = request_language(request)
    session = current_session(request)

    def _(msgid: str, **values: object) -> str:
        return gettext(lang, msgid, **values)

    def problem(message: str) -> str:
        return translate_problem(lang, message)

    base: dict[str, Any] = {
        "_": _, "problem": problem, "lang": lang, "request": request, "session": session,
        "csrf_token": session.csrf_token if session is not None else "",
        "flash": session.flash[:] if session is not None else [],
        "errors": {}, "path": request.path,
    }
    if session is not None:
        session.flash.clear()
    base.update(context)
    return aiohttp_jinja2.render_template(template, request, base, status=status)
