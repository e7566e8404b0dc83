"""The group administrator's REST API `/api/v1/admin/...`: JSON over `webui.admin_service`, the same layer as
the `/admin` pages, described in `/api/v1/openapi.json`.

Authentication is the portal's session: `POST /api/v1/admin/session` with `{"username", "password"}` (same
throttle and session rotation as the login form) returns `csrf_token`, which every write must send in
`X-CSRF-Token` (403 without). Not logged in is 401, an end user's session 403; the administrator's group is
the session's, so another group's objects are 404 like missing ones. Bodies are entries of the provisioning
file (`[[users]]`, `[[devices]]`, `[[departments]]`, `[[schedules]]`, `[[holiday_schedules]]`,
`[[contacts]]`); for a change, keys
absent keep their value and null removes one. A change `provision apply` would refuse is 422 with
`{"errors": [{"field": "users[4].extension", "message": …}]}`, the paths that command prints, and nothing is
written.

It knows aiohttp and the admin service; it knows no SIP and no storage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from features.model import HolidaySchedule, Schedule, SettingError
from provisioning.model import Device, GroupDescription, User
from webui.admin_service import AdminService, ChangeRefused, NotFound
from webui.security import Session
from webui.web import (
    CSRF_HEADER,
    PORTAL_KEY,
    TooManyAttempts,
    change_own_password,
    current_session,
    ensure_session,
    login_admin,
    require_csrf,
)

__all__ = ["add_admin_api_routes"]

PREFIX: Final = "/api/v1/admin"

log = structlog.get_logger("callconnect.portal")
security_log = structlog.get_logger("callconnect.security")


def _json_error(cls: type[web.HTTPException], message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}), content_type="application/json")


def _problems(exc: ChangeRefused) -> web.Response:
    return web.json_response({"errors": [{"field": p, "message": m} for p, m in exc.problems]}, status=422)


async def _entry(request: web.Request) -> dict[str, Any]:
    try:
        value = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise _json_error(web.HTTPBadRequest, "the body must be JSON") from None
    if not isinstance(value, dict):
        raise _json_error(web.HTTPBadRequest, "the body must be a JSON object")
    return value


class Scope:
    """An authorized request: the administrator's session, group id and the service."""

    __slots__ = ("group_id", "service", "session")

    def __init__(self, session: Session, group_id: str, service: AdminService) -> None:
        self.session, self.group_id, self.service = session, group_id, service


async def _authorized(request: web.Request, *, write: bool = False) -> Scope:
    session = current_session(request)
    if session is None or (session.user_id is None and session.admin is None):
        raise _json_error(web.HTTPUnauthorized, "log in first")
    if write:
        require_csrf(request, request.headers.get(CSRF_HEADER))
    service = request.app[PORTAL_KEY].admin
    if session.admin is None or session.admin_group is None or service is None:
        raise _json_error(web.HTTPForbidden, "for group administrators only")
    try:
        await service.administrator(session.admin_group, session.admin)
    except NotFound:
        raise _json_error(web.HTTPUnauthorized, "log in first") from None
    return Scope(session, session.admin_group, service)


Change = Callable[[Scope], Awaitable[GroupDescription]]


async def _change(scope: Scope, change: Change, answer: Callable[[GroupDescription], Any], *,
                  status: int = 200) -> web.Response:
    try:
        desc = await change(scope)
    except NotFound as exc:
        return web.json_response({"error": f"not found: {exc}"}, status=404)
    except ChangeRefused as exc:
        return _problems(exc)
    log.info("portal_admin_change", admin=scope.session.admin, group=scope.group_id, api=True)
    return web.json_response(answer(desc), status=status)


# -- plain forms -------------------------------------------------------------------------------------------------
def _user(user: User, *, services: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user_id": user.user_id, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "department_id": user.department_id, "extension": user.extension, "numbers": list(user.numbers),
        "outgoing_cli": user.outgoing_cli, "language": user.language, "sip_username": user.sip_username,
        "has_sip_password": bool(user.sip_ha1), "has_portal_password": user.portal_password_hash is not None,
    }
    if services:
        out["services"] = user.services.to_dict()
    return out


def _device(device: Device) -> dict[str, Any]:
    return {"mac": device.mac, "model": device.model, "owner": device.owner, "label": device.label,
            "has_provisioning_password": bool(device.provisioning_ha1)}


def _find_user(desc: GroupDescription, user_id: str) -> dict[str, Any]:
    user = desc.user(user_id)
    if user is None:
        raise _json_error(web.HTTPNotFound, "no such user")
    return _user(user, services=True)


# -- session -------------------------------------------------------------------------------------------------
async def session_post(request: web.Request) -> web.Response:
    body = await _entry(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return web.json_response({"error": "username and password must be strings"}, status=400)
    portal = request.app[PORTAL_KEY]
    if portal.admin is None:
        return web.json_response({"error": "group administration is not offered"}, status=403)
    session = ensure_session(request)
    keys = (f"admin:{username.strip().casefold()[:200]}", f"peer:{request.remote}")
    if portal.throttle.blocked(*keys):
        return web.json_response({"error": "too many attempts, try again later"}, status=429)
    admin = await portal.admin.authenticate(username[:200], password[:1000])
    if admin is None:
        portal.throttle.failed(*keys)
        security_log.warning("portal_login_failed", peer=request.remote, username=username[:200],
                             user_type="groupadmin", api=True)
        return web.json_response({"error": "wrong user name or password"}, status=401)
    portal.throttle.succeeded(keys[0])
    fresh = login_admin(request, session, admin.username, admin.group_id, admin.language)
    return web.json_response({"admin": admin.username, "group_id": admin.group_id, "csrf_token": fresh.csrf_token,
                              "language": fresh.language})


async def password_put(request: web.Request) -> web.Response:
    """The administrator's own password, from a logged-in session only (not with an API token):
    `current_password` (throttled like a login) and `password`; their other sessions end, this one goes on
    under a new id and CSRF token."""
    scope = await _authorized(request, write=True)
    session = scope.session
    if session.token_id is not None:
        raise _json_error(web.HTTPForbidden, "the password is changed from a logged-in session")
    body = await _entry(request)
    current, password = body.get("current_password"), body.get("password")
    if not isinstance(current, str) or not isinstance(password, str):
        return web.json_response({"error": "current_password and password must be strings"}, status=400)
    try:
        fresh = await change_own_password(request, session, current[:1000], password[:1000])
    except TooManyAttempts:
        return web.json_response({"error": "too many attempts, try again later"}, status=429)
    except SettingError as exc:
        return web.json_response({"errors": [{"field": f, "message": m} for f, m in exc.problems[:1]]}, status=422)
    return web.json_response({"changed": True, "csrf_token": fresh.csrf_token})


async def group_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    desc = await scope.service.group(scope.group_id)
    g = desc.group
    return web.json_response({"id": g.id, "name": g.name, "domain": g.domain, "country_code": g.country_code,
                              "time_zone": g.time_zone, "numbers": list(g.numbers), "users": len(desc.users),
                              "devices": len(desc.devices)})


# -- users ---------------------------------------------------------------------------------------------------
async def users_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response([_user(u) for u in (await scope.service.group(scope.group_id)).users])


async def users_post(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    entry = {k: v for k, v in (await _entry(request)).items() if v is not None}
    user_id = entry.get("user_id")
    return await _change(scope, lambda s: s.service.save_user(s.group_id, None, entry),
                         lambda d: _find_user(d, str(user_id)), status=201)


async def user_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_find_user(await scope.service.group(scope.group_id), request.match_info["user_id"]))


async def user_put(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    user_id = request.match_info["user_id"]
    entry = await _entry(request)
    return await _change(scope, lambda s: s.service.save_user(s.group_id, user_id, entry),
                         lambda d: _find_user(d, user_id))


async def user_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    user_id = request.match_info["user_id"]

    def deleted(_: GroupDescription) -> dict[str, bool]:
        request.app[PORTAL_KEY].sessions.destroy_user(user_id)  # a deleted user is logged out at once
        return {"deleted": True}

    return await _change(scope, lambda s: s.service.delete_user(s.group_id, user_id), deleted)


# -- numbers -------------------------------------------------------------------------------------------------
def _numbers(desc: GroupDescription) -> dict[str, Any]:
    held = [{"number": n, "user_id": u.user_id, "extension": u.extension} for u in desc.users for n in u.numbers]
    return {"group_numbers": list(desc.group.numbers), "user_numbers": sorted(held, key=lambda r: str(r["number"])),
            "extensions": sorted(({"extension": u.extension, "user_id": u.user_id} for u in desc.users
                                  if u.extension), key=lambda r: str(r["extension"]))}


async def numbers_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_numbers(await scope.service.group(scope.group_id)))


async def numbers_post(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    number = (await _entry(request)).get("number")
    if not isinstance(number, str):
        return web.json_response({"errors": [{"field": "number", "message": "must be a string"}]}, status=422)
    return await _change(scope, lambda s: s.service.add_number(s.group_id, number), _numbers, status=201)


async def number_assign(request: web.Request) -> web.Response:
    """Move a spare number to a user (body `{"user_id"}`), or with `{"user_id": null}` take it back from
    whoever holds it."""
    scope = await _authorized(request, write=True)
    number = request.match_info["number"]
    user_id = (await _entry(request)).get("user_id")
    if user_id is None:
        return await _change(scope, lambda s: s.service.release_number(s.group_id, number), _numbers)
    if not isinstance(user_id, str):
        return web.json_response({"errors": [{"field": "user_id", "message": "must be a string"}]}, status=422)
    return await _change(scope, lambda s: s.service.assign_number(s.group_id, number, user_id), _numbers)


async def number_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    number = request.match_info["number"]
    return await _change(scope, lambda s: s.service.delete_number(s.group_id, number), _numbers)


# -- departments, devices, schedules, contacts --------------------------------------------------------------------
def _departments(desc: GroupDescription) -> list[dict[str, str]]:
    return [{"id": d.id, "name": d.name} for d in desc.departments]


async def departments_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_departments(await scope.service.group(scope.group_id)))


async def departments_post(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    entry = {k: v for k, v in (await _entry(request)).items() if v is not None}
    return await _change(scope, lambda s: s.service.save_department(s.group_id, None, entry), _departments,
                         status=201)


async def department_put(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    original, entry = request.match_info["department_id"], await _entry(request)
    return await _change(scope, lambda s: s.service.save_department(s.group_id, original, entry), _departments)


async def department_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    original = request.match_info["department_id"]
    return await _change(scope, lambda s: s.service.delete_department(s.group_id, original), _departments)


def _devices(desc: GroupDescription) -> list[dict[str, Any]]:
    return [_device(d) for d in desc.devices]


async def devices_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_devices(await scope.service.group(scope.group_id)))


async def devices_post(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    entry = {k: v for k, v in (await _entry(request)).items() if v is not None}
    return await _change(scope, lambda s: s.service.save_device(s.group_id, None, entry), _devices, status=201)


async def device_put(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    mac, entry = request.match_info["mac"], await _entry(request)
    return await _change(scope, lambda s: s.service.save_device(s.group_id, mac, entry), _devices)


async def device_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    mac = request.match_info["mac"]
    return await _change(scope, lambda s: s.service.delete_device(s.group_id, mac), _devices)


def _schedules(desc: GroupDescription) -> dict[str, list[dict[str, Any]]]:
    return {"time": [s.schedule.to_dict() for s in desc.schedules if isinstance(s.schedule, Schedule)],
            "holiday": [s.schedule.to_dict() for s in desc.schedules if isinstance(s.schedule, HolidaySchedule)]}


async def schedules_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_schedules(await scope.service.group(scope.group_id)))


async def _put_schedule(request: web.Request, *, holiday: bool) -> web.Response:
    scope = await _authorized(request, write=True)
    name = request.match_info["name"]
    entry = {"name": name, **{k: v for k, v in (await _entry(request)).items() if v is not None}}
    kind = HolidaySchedule if holiday else Schedule
    exists = any(s.name == name and isinstance(s.schedule, kind)
                 for s in (await scope.service.group(scope.group_id)).schedules)
    return await _change(scope, lambda s: s.service.save_schedule(s.group_id, name if exists else None, entry,
                                                                  holiday=holiday),
                         _schedules, status=200 if exists else 201)


async def schedule_put(request: web.Request) -> web.Response:
    """Create or replace the group time schedule `name` (body: a `[[schedules]]` entry; `name` renames)."""
    return await _put_schedule(request, holiday=False)


async def schedule_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    name = request.match_info["name"]
    return await _change(scope, lambda s: s.service.delete_schedule(s.group_id, name), _schedules)


async def holiday_put(request: web.Request) -> web.Response:
    """Create or replace the group holiday schedule `name` (body: a `[[holiday_schedules]]` entry)."""
    return await _put_schedule(request, holiday=True)


async def holiday_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    name = request.match_info["name"]
    return await _change(scope, lambda s: s.service.delete_schedule(s.group_id, name, holiday=True), _schedules)


def _contacts(desc: GroupDescription) -> list[dict[str, Any]]:
    return [{"id": i, "name": c.name, "number": c.number} for i, c in enumerate(desc.contacts)]


def _contact_index(request: web.Request) -> int:
    text = request.match_info["index"]
    if not text.isdigit() or len(text) > 6:
        raise _json_error(web.HTTPNotFound, "no such contact")
    return int(text)


async def contacts_get(request: web.Request) -> web.Response:
    scope = await _authorized(request)
    return web.json_response(_contacts(await scope.service.group(scope.group_id)))


async def contacts_post(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    entry = await _entry(request)
    return await _change(scope, lambda s: s.service.save_contact(s.group_id, None, entry), _contacts, status=201)


async def contact_put(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    index, entry = _contact_index(request), await _entry(request)
    return await _change(scope, lambda s: s.service.save_contact(s.group_id, index, entry), _contacts)


async def contact_delete(request: web.Request) -> web.Response:
    scope = await _authorized(request, write=True)
    index = _contact_index(request)
    return await _change(scope, lambda s: s.service.delete_contact(s.group_id, index), _contacts)


ROUTES: Final[tuple[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]], ...]] = (
    ("POST", "/session", session_post),
    ("PUT", "/password", password_put),
    ("GET", "/group", group_get),
    ("GET", "/users", users_get),
    ("POST", "/users", users_post),
    ("GET", "/users/{user_id}", user_get),
    ("PUT", "/users/{user_id}", user_put),
    ("DELETE", "/users/{user_id}", user_delete),
    ("GET", "/numbers", numbers_get),
    ("POST", "/numbers", numbers_post),
    ("PUT", "/numbers/{number}", number_assign),
    ("DELETE", "/numbers/{number}", number_delete),
    ("GET", "/departments", departments_get),
    ("POST", "/departments", departments_post),
    ("PUT", "/departments/{department_id}", department_put),
    ("DELETE", "/departments/{department_id}", department_delete),
    ("GET", "/devices", devices_get),
    ("POST", "/devices", devices_post),
    ("PUT", "/devices/{mac}", device_put),
    ("DELETE", "/devices/{mac}", device_delete),
    ("GET", "/schedules", schedules_get),
    ("PUT", "/schedules/{name}", schedule_put),
    ("DELETE", "/schedules/{name}", schedule_delete),
    ("PUT", "/holiday-schedules/{name}", holiday_put),
    ("DELETE", "/holiday-schedules/{name}", holiday_delete),
    ("GET", "/contacts", contacts_get),
    ("POST", "/contacts", contacts_post),
    ("PUT", "/contacts/{index}", contact_put),
    ("DELETE", "/contacts/{index}", contact_delete),
)


def add_admin_api_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)
