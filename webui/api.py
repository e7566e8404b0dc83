"""The REST API `/api/v1`: JSON over the same service layer as the HTML pages, described by `/api/v1/openapi.json`.

Authentication is the portal's session: `POST /api/v1/session` with `{"username", "password"}` sets the session
cookie and returns `csrf_token`, which every write (POST/PUT/DELETE) must send in `X-CSRF-Token` (403 without).
Objects live under `/api/v1/users/{user_id}/…`: another user's id is 403, an unknown object 404. A setting
with a problem is 422 with `{"errors": [{"field": "services.forward_no_answer.rings", "message": …}]}`, the
paths `provision apply` prints, and nothing is written. The group administrator's operations live under
`/api/v1/admin` (`webui.admin_api`), in the same OpenAPI document.

It knows aiohttp and the service layer; it knows no SIP and no storage.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from features.model import SettingError
from webui.lamp_stream import stream_lamps
from webui.openapi import openapi_document
from webui.security import Session
from webui.services import SECTIONS, DialFailed, NotFound, PortalService, national
from webui.web import (
    CSRF_HEADER,
    PORTAL_KEY,
    TooManyAttempts,
    change_own_password,
    current_session,
    ensure_session,
    login,
    logout,
    require_csrf,
)

__all__ = ["add_api_routes"]

PREFIX: Final = "/api/v1"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _problems(exc: SettingError) -> web.Response:
    return web.json_response({"errors": [{"field": p, "message": m} for p, m in exc.problems]}, status=422)


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "the body must be JSON"}', content_type="application/json") from None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}', content_type="application/json")
    return value


def _authorized(request: web.Request, *, write: bool = False) -> tuple[Session, PortalService]:
    session = current_session(request)
    if session is None or session.user_id is None:
        raise web.HTTPUnauthorized(text='{"error": "log in first"}', content_type="application/json")
    if write:
        require_csrf(request, request.headers.get(CSRF_HEADER))
    if request.match_info.get("user_id", session.user_id) != session.user_id:
        raise web.HTTPForbidden(text='{"error": "not your data"}', content_type="application/json")
    return session, request.app[PORTAL_KEY].service


def _uid(session: Session) -> str:
    assert session.user_id is not None
    return session.user_id


# -- session ---------------------------------------------------------------------------------------------------
async def session_get(request: web.Request) -> web.Response:
    session = ensure_session(request)
    return web.json_response({"user_id": session.user_id, "admin": session.admin, "group_id": session.admin_group,
                              "csrf_token": session.csrf_token, "language": session.language})


async def session_post(request: web.Request) -> web.Response:
    body = _object(await _body(request))
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _error(400, "username and password must be strings")
    portal = request.app[PORTAL_KEY]
    session = ensure_session(request)
    keys = (f"user:{username.strip().casefold()[:200]}", f"peer:{request.remote}")
    if portal.throttle.blocked(*keys):
        return _error(429, "too many attempts, try again later")
    user = await portal.service.authenticate(username[:200], password[:1000])
    if user is None:
        portal.throttle.failed(*keys)
        return _error(401, "wrong user name or password")
    portal.throttle.succeeded(keys[0])
    fresh = login(request, session, user.user_id, user.language)
    return web.json_response({"user_id": user.user_id, "csrf_token": fresh.csrf_token, "language": fresh.language})


async def session_delete(request: web.Request) -> web.Response:
    require_csrf(request, request.headers.get(CSRF_HEADER))
    logout(request)
    return web.json_response({"logged_out": True})


# -- the user's data -------------------------------------------------------------------------------------------
async def profile(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    user = await service.user(_uid(session))
    return web.json_response({
        "user_id": user.user_id, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "department_id": user.department_id, "extension": user.extension, "numbers": list(user.numbers),
        "outgoing_cli": user.outgoing_cli, "language": user.language})


async def services_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    user = await service.user(_uid(session))
    return web.json_response({name: getattr(user.services, name).to_dict() for name in SECTIONS})


async def section_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    name = request.match_info["section"]
    if name not in SECTIONS:
        return _error(404, f"no setting {name!r}")
    user = await service.user(_uid(session))
    return web.json_response(getattr(user.services, name).to_dict())


async def section_put(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    name = request.match_info["section"]
    if name not in SECTIONS:
        return _error(404, f"no setting {name!r}")
    body = _object(await _body(request))
    try:
        services = await service.update_section(_uid(session), name, body)
    except SettingError as exc:
        return _problems(exc)
    return web.json_response(getattr(services, name).to_dict())


async def contacts_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    user = await service.user(_uid(session))
    return web.json_response([{"id": i, **c.to_dict()} for i, c in enumerate(user.services.contacts)])


async def contacts_post(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    body = _object(await _body(request))
    try:
        services = await service.add_contact(_uid(session), body)
    except SettingError as exc:
        return _problems(exc)
    index = len(services.contacts) - 1
    return web.json_response({"id": index, **services.contacts[index].to_dict()}, status=201)


def _index(request: web.Request) -> int:
    text = request.match_info["index"]
    if not text.isdigit() or len(text) > 6:
        raise web.HTTPNotFound(text='{"error": "no such contact"}', content_type="application/json")
    return int(text)


async def contact_put(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    index = _index(request)
    body = _object(await _body(request))
    try:
        services = await service.update_contact(_uid(session), index, body)
    except NotFound:
        return _error(404, "no such contact")
    except SettingError as exc:
        return _problems(exc)
    return web.json_response({"id": index, **services.contacts[index].to_dict()})


async def contact_delete(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    try:
        await service.delete_contact(_uid(session), _index(request))
    except NotFound:
        return _error(404, "no such contact")
    return web.json_response({"deleted": True})


async def schedules_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    user = await service.user(_uid(session))
    group = await service.group(user)
    return web.json_response({"user": [s.to_dict() for s in user.services.schedules],
                              "group": [s.schedule.to_dict() for s in group.schedules]})


async def schedule_put(request: web.Request) -> web.Response:
    """Create or replace the user's time schedule `name` (body: the plain form; `opposite`: also non-<name>)."""
    session, service = _authorized(request, write=True)
    name = request.match_info["name"]
    body = _object(await _body(request))
    opposite = body.pop("opposite", False)
    if not isinstance(opposite, bool):
        return web.json_response({"errors": [{"field": "opposite", "message": "must be true or false"}]}, status=422)
    user = await service.user(_uid(session))
    original = name if user.services.schedule_named(name) is not None else None
    body.setdefault("name", name)
    try:
        services = await service.save_schedule(_uid(session), original, body, opposite=opposite)
    except SettingError as exc:
        return _problems(exc)
    saved = services.schedule_named(str(body["name"]))
    assert saved is not None
    return web.json_response(saved.to_dict(), status=200 if original else 201)


async def schedule_delete(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    try:
        await service.delete_schedule(_uid(session), request.match_info["name"])
    except NotFound:
        return _error(404, "no such schedule")
    except SettingError as exc:
        return web.json_response({"errors": [{"field": p, "message": m} for p, m in exc.problems]}, status=409)
    return web.json_response({"deleted": True})


async def blf_put(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    body = _object(await _body(request))
    monitored = body.get("monitored_users")
    if not isinstance(monitored, list) or not all(isinstance(u, str) for u in monitored):
        return web.json_response({"errors": [{"field": "monitored_users", "message": "must be a list of user ids"}]},
                                 status=422)
    try:
        services = await service.set_blf_users(_uid(session), monitored)
    except SettingError as exc:
        return _problems(exc)
    return web.json_response(services.blf.to_dict())


async def blf_events(request: web.Request) -> web.StreamResponse:
    session, _ = _authorized(request)
    return await stream_lamps(request, session)


async def directory_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    entries = await service.directory(_uid(session), request.query.get("q", "")[:100])
    return web.json_response([{"name": e.name, "number": e.number, "type": e.kind, "id": e.index}
                              for e in entries])


async def calls_get(request: web.Request) -> web.Response:
    session, service = _authorized(request)
    text = request.query.get("limit", "100")
    limit = int(text) if text.isdigit() and len(text) < 5 else 100
    user = await service.user(_uid(session))
    cc = (await service.group(user)).group.country_code
    rows = await service.call_log(_uid(session), max(1, min(limit, 1000)))
    return web.json_response([{"direction": r.direction, "started_at": r.started_at,
                               "number": national(r.other_number, cc) if r.other_number.startswith("+")
                               else r.other_number, "name": r.other_name} for r in rows])


async def dial_post(request: web.Request) -> web.Response:
    session, service = _authorized(request, write=True)
    body = _object(await _body(request))
    number = body.get("number")
    if not isinstance(number, str) or not number.strip() or len(number) > 40:
        return web.json_response({"errors": [{"field": "number", "message": "must be a number to call"}]},
                                 status=422)
    try:
        await service.dial(_uid(session), number.strip())
    except DialFailed as exc:
        return _error(503 if exc.reason == "unavailable" else 409, exc.reason)
    return web.json_response({"calling": number.strip()}, status=202)


async def password_put(request: web.Request) -> web.Response:
    """The user's own password, from a logged-in session only (an API token cannot take the account over):
    `current_password` (throttled like a login) and `password`; the user's other sessions end, this one goes
    on under a new id and CSRF token."""
    session, _ = _authorized(request, write=True)
    if session.token_id is not None:
        return _error(403, "the password is changed from a logged-in session")
    body = _object(await _body(request))
    current, password = body.get("current_password"), body.get("password")
    if not isinstance(current, str) or not isinstance(password, str):
        return _error(400, "current_password and password must be strings")
    try:
        fresh = await change_own_password(request, session, current, password)
    except TooManyAttempts:
        return _error(429, "too many attempts, try again later")
    except SettingError as exc:
        return _problems(exc)
    return web.json_response({"changed": True, "csrf_token": fresh.csrf_token})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def add_api_routes(app: web.Application) -> None:
    r = app.router
    u = PREFIX + "/users/{user_id}"
    r.add_get(PREFIX + "/openapi.json", openapi)
    r.add_get(PREFIX + "/session", session_get)
    r.add_post(PREFIX + "/session", session_post)
    r.add_delete(PREFIX + "/session", session_delete)
    r.add_get(u, profile)
    r.add_put(u + "/password", password_put)
    r.add_get(u + "/services", services_get)
    r.add_get(u + "/services/{section}", section_get)
    r.add_put(u + "/services/{section}", section_put)
    r.add_get(u + "/contacts", contacts_get)
    r.add_post(u + "/contacts", contacts_post)
    r.add_put(u + "/contacts/{index}", contact_put)
    r.add_delete(u + "/contacts/{index}", contact_delete)
    r.add_get(u + "/schedules", schedules_get)
    r.add_put(u + "/schedules/{name}", schedule_put)
    r.add_delete(u + "/schedules/{name}", schedule_delete)
    r.add_put(u + "/blf", blf_put)
    r.add_get(u + "/blf/events", blf_events, allow_head=False)
    r.add_get(u + "/directory", directory_get)
    r.add_get(u + "/calls", calls_get)
    r.add_post(u + "/click-to-dial", dial_post)
