"""The group administrator's HTML pages (`/admin/...`): users (list, create, edit, delete, their main
services switched on or off), numbers and extensions, departments, devices, group time and holiday
schedules and the group directory of the administrator's own group; their own account (`account_page`:
password and API tokens, posted to `webui.account_views`).

Access: no session -> redirect to /login; an end user's session -> 403; an administrator sees and changes
their own group only (an object of another group is 404, as one that does not exist). Every POST checks the
CSRF token first (403). A change goes through `webui.admin_service` (the provisioning path): a refused one is
shown again with the `provision apply` message next to its field and nothing written; a good one is answered
with a redirect (post/redirect/get) and acts on the next call. A deletion asks for confirmation first (a page
naming what goes, whose button posts again with `confirm=yes`).

It knows aiohttp, the templates, the form conversions and the admin service; it knows no SIP and no storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from features.model import WEEKDAYS, HolidaySchedule, Schedule
from provisioning.model import DEVICE_MODELS, LANGUAGES, GroupAdministrator, GroupDescription, User, normalize_mac
from provisioning.numbers import NumberError, to_e164
from webui import admin_forms, forms
from webui.admin_service import AdminService, ChangeRefused, NotFound
from webui.i18n import gettext
from webui.security import Session
from webui.services import national
from webui.views import DAY_NAMES, SECTION_TITLES, paging_of, token_rows
from webui.web import CSRF_FIELD, PORTAL_KEY, current_session, logout, render, require_csrf

__all__ = ["add_admin_routes"]

log = structlog.get_logger("callconnect.portal")

FORBIDDEN: Final = "This page is for group administrators."
SERVICE_TOGGLES: Final = ("dnd", "call_waiting", "voicemail", "clir", "colr", "external_clid_delivery",
                          "internal_clid_delivery")
"""The settings an administrator switches on or off for a user on the user's page (the rest is the user's)."""


# -- helpers -------------------------------------------------------------------------------------------------
class Admin:
    """The request's administrator, their group as stored now and the service, once access is checked."""

    __slots__ = ("admin", "group", "service", "session")

    def __init__(self, session: Session, admin: GroupAdministrator, group: GroupDescription,
                 service: AdminService) -> None:
        self.session = session
        self.admin = admin
        self.group = group
        self.service = service

    @property
    def group_id(self) -> str:
        return self.group.group.id


async def _admin(request: web.Request) -> Admin:
    session = current_session(request)
    if session is None or (session.user_id is None and session.admin is None):
        raise web.HTTPSeeOther("/login")
    service = request.app[PORTAL_KEY].admin
    if session.admin is None or session.admin_group is None or service is None:
        raise web.HTTPForbidden(text=gettext(session.language, FORBIDDEN))
    try:
        admin, group = await service.administrator(session.admin_group, session.admin)
    except NotFound:
        logout(request)
        raise web.HTTPSeeOther("/login") from None
    return Admin(session, admin, group, service)


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    require_csrf(request, form.get(CSRF_FIELD))
    return form


async def _posted(request: web.Request) -> tuple[Admin, dict[str, str]]:
    form = await _form(request)
    return await _admin(request), form


def _page(request: web.Request, a: Admin, template: str, tab: str, **context: Any) -> web.Response:
    cc = a.group.group.country_code

    def nat(number: str | None) -> str:
        return national(number, cc)

    return render(request, template, {"admin": a.admin, "group": a.group, "tab": tab, "nat": nat, **context},
                  status=400 if context.get("errors") else 200)


def _saved(a: Admin, to: str) -> web.HTTPSeeOther:
    a.session.flash.append(gettext(a.session.language, "Saved."))
    log.info("portal_admin_change", admin=a.admin.username, group=a.group_id, page=to)
    return web.HTTPSeeOther(to)


def _not_found(a: Admin) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=gettext(a.session.language, "Not found in your group."))


def _confirm(request: web.Request, a: Admin, form: dict[str, str], what: str | None, back: str
             ) -> web.Response | None:
    """A deletion asks first: without `confirm=yes` in the form, the page naming `what` with the button that
    posts again with it, and a way back; None once confirmed. `what` None: not in the group (404)."""
    if what is None:
        raise _not_found(a)
    if form.get("confirm") == "yes":
        return None
    return _page(request, a, "admin_confirm.html", back.rsplit("/", 1)[-1], what=what, action=request.path,
                 back=back)


async def _refusal(a: Admin, change: Awaitable[object]) -> ChangeRefused | None:
    """Carry out one change of the group: None once saved, else provisioning's refusal (its messages go next
    to the fields); an object no longer in the group is a 404."""
    try:
        await change
    except NotFound:
        raise _not_found(a) from None
    except ChangeRefused as exc:
        return exc
    return None


# -- users ---------------------------------------------------------------------------------------------------
async def users_page(request: web.Request, **context: Any) -> web.Response:
    """The group's users, searched by name, id or extension, a page at a time."""
    a = await _admin(request)
    needle = request.query.get("q", "").strip().casefold()
    users = [u for u in a.group.users
             if not needle or needle in f"{u.display_name} {u.user_id} {u.extension or ''}".casefold()]
    departments = {d.id: d.name for d in a.group.departments}
    return _page(request, a, "admin_users.html", "users", paging=paging_of(request, users),
                 departments=departments, **context)


def _user_form(request: web.Request, a: Admin, original: str | None, draft: dict[str, str],
               **context: Any) -> web.Response:
    user = None if original is None else a.group.user(original)
    toggles = {} if user is None else {name: getattr(user.services, name).active for name in SERVICE_TOGGLES}
    return _page(request, a, "admin_user.html", "users", original=original, draft=draft, languages=LANGUAGES,
                 toggles=toggles, titles=SECTION_TITLES, **context)


async def user_page(request: web.Request) -> web.Response:
    a = await _admin(request)
    user_id = request.match_info.get("user_id")
    user = None if user_id is None else a.group.user(user_id)
    if user_id is not None and user is None:
        raise _not_found(a)
    return _user_form(request, a, user_id, admin_forms.user_draft(user, a.group.group.country_code))


async def user_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    original = request.match_info.get("user_id")
    entry = admin_forms.user_entry(form, creating=original is None)
    if (refused := await _refusal(a, a.service.save_user(a.group_id, original, entry))) is not None:
        draft = {key: form.get(key, "") for key in admin_forms.USER_FIELDS} | {"sip_password": "",
                                                                              "portal_password": ""}
        if original is not None:
            draft["user_id"] = original
        return _user_form(request, a, original, draft, errors=admin_forms.field_errors(refused.fields()))
    raise _saved(a, "/admin/users")


async def user_services_save(request: web.Request) -> web.StreamResponse:
    """Switch the `SERVICE_TOGGLES` of a user on or off (`svc-<name>` check boxes); the rest is kept."""
    a, form = await _posted(request)
    user_id = request.match_info["user_id"]
    user = a.group.user(user_id)
    if user is None:
        raise _not_found(a)
    services = user.services.to_dict()
    for name in SERVICE_TOGGLES:
        services[name] = {**services[name], "active": form.get(f"svc-{name}") == "on"}
    if (refused := await _refusal(a, a.service.save_user(a.group_id, user_id, {"services": services}))) \
            is not None:
        return _user_form(request, a, user_id, admin_forms.user_draft(user, a.group.group.country_code),
                          errors=admin_forms.field_errors(refused.fields()))
    raise _saved(a, f"/admin/users/{user_id}")


async def user_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    user_id = request.match_info["user_id"]
    user = next((u for u in a.group.users if u.user_id == user_id), None)
    if (asked := _confirm(request, a, form, user.display_name if user else None, "/admin/users")) is not None:
        return asked
    if (refused := await _refusal(a, a.service.delete_user(a.group_id, user_id))) is not None:
        return await users_page(request, errors=refused.fields())
    request.app[PORTAL_KEY].sessions.destroy_user(user_id)  # a deleted user is logged out at once
    raise _saved(a, "/admin/users")


# -- numbers and extensions ------------------------------------------------------------------------------------
def _numbers(request: web.Request, a: Admin, **context: Any) -> web.Response:
    rows: list[tuple[str, User | None]] = [(n, None) for n in a.group.group.numbers]
    rows += [(n, u) for u in a.group.users for n in u.numbers]
    rows.sort(key=lambda r: r[0])
    extensions = sorted((u for u in a.group.users if u.extension), key=lambda u: u.extension or "")
    context.setdefault("number", "")
    return _page(request, a, "admin_numbers.html", "numbers", rows=rows, extensions=extensions, **context)


async def numbers_page(request: web.Request) -> web.Response:
    return _numbers(request, await _admin(request))


async def number_add(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    number = form.get("number", "").strip()
    if (refused := await _refusal(a, a.service.add_number(a.group_id, number))) is not None:
        return _numbers(request, a, number=number, errors=refused.fields("number"))
    raise _saved(a, "/admin/numbers")


async def number_assign(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    change = a.service.assign_number(a.group_id, request.match_info["number"], form.get("user_id", ""))
    if (refused := await _refusal(a, change)) is not None:
        return _numbers(request, a, errors=refused.fields())
    raise _saved(a, "/admin/numbers")


async def number_release(request: web.Request) -> web.StreamResponse:
    a, _ = await _posted(request)
    if (refused := await _refusal(a, a.service.release_number(a.group_id, request.match_info["number"]))) is not None:
        return _numbers(request, a, errors=refused.fields())
    raise _saved(a, "/admin/numbers")


async def number_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    cc = a.group.group.country_code
    try:
        number = to_e164(request.match_info["number"], cc)
    except NumberError:
        raise _not_found(a) from None
    shown = national(number, cc) if number in a.group.group.numbers else None
    if (asked := _confirm(request, a, form, shown, "/admin/numbers")) is not None:
        return asked
    if (refused := await _refusal(a, a.service.delete_number(a.group_id, request.match_info["number"]))) is not None:
        return _numbers(request, a, errors=refused.fields())
    raise _saved(a, "/admin/numbers")


# -- departments ------------------------------------------------------------------------------------------------
def _departments(request: web.Request, a: Admin, **context: Any) -> web.Response:
    counts = {d.id: sum(1 for u in a.group.users if u.department_id == d.id) for d in a.group.departments}
    context.setdefault("draft", {"id": "", "name": ""})
    return _page(request, a, "admin_departments.html", "departments", counts=counts, **context)


async def departments_page(request: web.Request) -> web.Response:
    return _departments(request, await _admin(request))


async def department_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    original = request.match_info.get("department_id")
    entry = admin_forms.department_entry(form, creating=original is None)
    if (refused := await _refusal(a, a.service.save_department(a.group_id, original, entry))) is not None:
        prefix = "new" if original is None else f"department:{original}"
        return _departments(request, a, draft=entry if original is None else {"id": "", "name": ""},
                            errors=refused.fields(prefix))
    raise _saved(a, "/admin/departments")


async def department_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    name = next((d.name for d in a.group.departments if d.id == request.match_info["department_id"]), None)
    if (asked := _confirm(request, a, form, name, "/admin/departments")) is not None:
        return asked
    change = a.service.delete_department(a.group_id, request.match_info["department_id"])
    if (refused := await _refusal(a, change)) is not None:
        return _departments(request, a, errors=refused.fields())
    raise _saved(a, "/admin/departments")


# -- devices ------------------------------------------------------------------------------------------------------
def _devices(request: web.Request, a: Admin, template: str, **context: Any) -> web.Response:
    owners = {u.user_id: u.display_name for u in a.group.users}
    return _page(request, a, template, "devices", owners=owners, models=DEVICE_MODELS, **context)


async def devices_page(request: web.Request) -> web.Response:
    return _devices(request, await _admin(request), "admin_devices.html", draft=admin_forms.device_draft(None))


async def device_page(request: web.Request) -> web.Response:
    a = await _admin(request)
    mac = request.match_info["mac"]
    device = next((d for d in a.group.devices if d.mac == mac), None)
    if device is None:
        raise _not_found(a)
    return _devices(request, a, "admin_device.html", original=mac, draft=admin_forms.device_draft(device))


async def device_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    original = request.match_info.get("mac")
    if (refused := await _refusal(a, a.service.save_device(a.group_id, original, admin_forms.device_entry(form)))) \
            is not None:
        draft = {k: form.get(k, "") for k in ("mac", "model", "owner", "label")} | {"provisioning_password": ""}
        template = "admin_devices.html" if original is None else "admin_device.html"
        return _devices(request, a, template, original=original, draft=draft, errors=refused.fields())
    raise _saved(a, "/admin/devices")


async def device_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    try:
        mac = normalize_mac(request.match_info["mac"])
    except ValueError:
        raise _not_found(a) from None
    device = next((d for d in a.group.devices if d.mac == mac), None)
    shown = f"{device.model} {device.mac}" if device else None
    if (asked := _confirm(request, a, form, shown, "/admin/devices")) is not None:
        return asked
    if (refused := await _refusal(a, a.service.delete_device(a.group_id, request.match_info["mac"]))) is not None:
        return _devices(request, a, "admin_devices.html", draft=admin_forms.device_draft(None),
                        errors=refused.fields())
    raise _saved(a, "/admin/devices")


# -- group schedules ---------------------------------------------------------------------------------------------
async def schedules_page(request: web.Request, **context: Any) -> web.Response:
    a = await _admin(request)
    time = [s.schedule for s in a.group.schedules if isinstance(s.schedule, Schedule)]
    holiday = [s.schedule for s in a.group.schedules if isinstance(s.schedule, HolidaySchedule)]
    return _page(request, a, "admin_schedules.html", "schedules", time_schedules=time, holidays=holiday,
                 **context)


def _schedule_form(request: web.Request, a: Admin, original: str | None, draft: dict[str, Any],
                   **context: Any) -> web.Response:
    action = "/admin/schedules/new" if original is None else f"/admin/schedules/edit/{original}"
    return _page(request, a, "schedule.html", "schedules", original=original, draft=draft, days=WEEKDAYS,
                 day_names=DAY_NAMES, form_action=action, inverted=context.pop("inverted", False), opposite=False,
                 **context)


def _group_schedule(a: Admin, name: str) -> Schedule | None:
    return next((s.schedule for s in a.group.schedules
                 if isinstance(s.schedule, Schedule) and s.schedule.name == name), None)


async def schedule_page(request: web.Request) -> web.Response:
    a = await _admin(request)
    name = request.match_info.get("name")
    if name is None:
        return _schedule_form(request, a, None, forms.schedule_to_form({"name": ""}))
    schedule = _group_schedule(a, name)
    if schedule is None:
        raise _not_found(a)
    return _schedule_form(request, a, name, forms.schedule_to_form(schedule.to_dict()), inverted=schedule.inverted)


async def schedule_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    original = request.match_info.get("name")
    entry = forms.schedule_form(form)
    current = None if original is None else _group_schedule(a, original)
    if current is not None and current.inverted:
        entry["inverted"] = True
    if (refused := await _refusal(a, a.service.save_schedule(a.group_id, original, entry))) is not None:
        return _schedule_form(request, a, original, forms.schedule_to_form(entry),
                              inverted=bool(entry.get("inverted")), errors=refused.fields("schedule"))
    raise _saved(a, "/admin/schedules")


async def schedule_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    name = request.match_info["name"]
    known = any(isinstance(s.schedule, Schedule) and s.schedule.name == name for s in a.group.schedules)
    if (asked := _confirm(request, a, form, name if known else None, "/admin/schedules")) is not None:
        return asked
    if (refused := await _refusal(a, a.service.delete_schedule(a.group_id, request.match_info["name"]))) is not None:
        return await schedules_page(request, errors=refused.fields())
    raise _saved(a, "/admin/schedules")


def _holiday(a: Admin, name: str) -> HolidaySchedule | None:
    return next((s.schedule for s in a.group.schedules
                 if isinstance(s.schedule, HolidaySchedule) and s.schedule.name == name), None)


def _holiday_form(request: web.Request, a: Admin, original: str | None, draft: dict[str, Any],
                  **context: Any) -> web.Response:
    action = "/admin/holidays/new" if original is None else f"/admin/holidays/edit/{original}"
    return _page(request, a, "admin_holiday.html", "schedules", original=original, draft=draft,
                 form_action=action, **context)


async def holiday_page(request: web.Request) -> web.Response:
    a = await _admin(request)
    name = request.match_info.get("name")
    if name is None:
        return _holiday_form(request, a, None, admin_forms.holiday_draft({}))
    schedule = _holiday(a, name)
    if schedule is None:
        raise _not_found(a)
    return _holiday_form(request, a, name, admin_forms.holiday_draft(schedule.to_dict()))


async def holiday_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    original = request.match_info.get("name")
    entry = admin_forms.holiday_entry(form)
    if (refused := await _refusal(a, a.service.save_schedule(a.group_id, original, entry, holiday=True))) \
            is not None:
        return _holiday_form(request, a, original, admin_forms.holiday_draft(entry), errors=refused.fields())
    raise _saved(a, "/admin/schedules")


async def holiday_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    name = request.match_info["name"]
    if (asked := _confirm(request, a, form, name if _holiday(a, name) else None, "/admin/schedules")) is not None:
        return asked
    change = a.service.delete_schedule(a.group_id, request.match_info["name"], holiday=True)
    if (refused := await _refusal(a, change)) is not None:
        return await schedules_page(request, errors=refused.fields())
    raise _saved(a, "/admin/schedules")


# -- group directory -----------------------------------------------------------------------------------------------
def _directory(request: web.Request, a: Admin, **context: Any) -> web.Response:
    context.setdefault("contact", {"name": "", "number": ""})
    return _page(request, a, "admin_directory.html", "directory", **context)


async def directory_page(request: web.Request) -> web.Response:
    return _directory(request, await _admin(request))


def _contact_index(request: web.Request, a: Admin) -> int:
    text = request.match_info["index"]
    if not text.isdigit() or int(text) >= len(a.group.contacts):
        raise _not_found(a)
    return int(text)


async def contact_page(request: web.Request) -> web.Response:
    a = await _admin(request)
    index = _contact_index(request, a)
    contact = a.group.contacts[index]
    return _page(request, a, "admin_contact.html", "directory", index=index,
                 contact={"name": contact.name, "number": national(contact.number, a.group.group.country_code)})


async def contact_save(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    index = None if "index" not in request.match_info else _contact_index(request, a)
    entry = admin_forms.contact_entry(form)
    if (refused := await _refusal(a, a.service.save_contact(a.group_id, index, entry))) is not None:
        if index is None:
            return _directory(request, a, contact=entry, errors=refused.fields("contact"))
        return _page(request, a, "admin_contact.html", "directory", index=index, contact=entry,
                     errors=refused.fields("contact"))
    raise _saved(a, "/admin/directory")


async def contact_delete(request: web.Request) -> web.StreamResponse:
    a, form = await _posted(request)
    index = _contact_index(request, a)
    if (asked := _confirm(request, a, form, a.group.contacts[index].name, "/admin/directory")) is not None:
        return asked
    if (refused := await _refusal(a, a.service.delete_contact(a.group_id, index))) is not None:
        return _directory(request, a, errors=refused.fields())
    raise _saved(a, "/admin/directory")


async def account_page(request: web.Request, **context: Any) -> web.Response:
    """The administrator's own account: their password and API tokens (`webui.account_views` posts)."""
    a = await _admin(request)
    tokens = await token_rows(request, a.session, a.group.group.time_zone)
    return _page(request, a, "admin_account.html", "account", tokens=tokens, **context)


async def admin_root(request: web.Request) -> web.StreamResponse:
    await _admin(request)
    raise web.HTTPSeeOther("/admin/users")


ROUTES: Final[tuple[tuple[str, str, Callable[[web.Request], Any]], ...]] = (
    ("GET", "/admin", admin_root),
    ("GET", "/admin/account", account_page),
    ("GET", "/admin/users", users_page),
    ("GET", "/admin/users/new", user_page),
    ("POST", "/admin/users/new", user_save),
    ("GET", "/admin/users/{user_id}", user_page),
    ("POST", "/admin/users/{user_id}", user_save),
    ("POST", "/admin/users/{user_id}/services", user_services_save),
    ("POST", "/admin/users/{user_id}/delete", user_delete),
    ("GET", "/admin/numbers", numbers_page),
    ("POST", "/admin/numbers", number_add),
    ("POST", "/admin/numbers/{number}/assign", number_assign),
    ("POST", "/admin/numbers/{number}/release", number_release),
    ("POST", "/admin/numbers/{number}/delete", number_delete),
    ("GET", "/admin/departments", departments_page),
    ("POST", "/admin/departments", department_save),
    ("POST", "/admin/departments/{department_id}", department_save),
    ("POST", "/admin/departments/{department_id}/delete", department_delete),
    ("GET", "/admin/devices", devices_page),
    ("POST", "/admin/devices", device_save),
    ("GET", "/admin/devices/{mac}", device_page),
    ("POST", "/admin/devices/{mac}", device_save),
    ("POST", "/admin/devices/{mac}/delete", device_delete),
    ("GET", "/admin/schedules", schedules_page),
    ("GET", "/admin/schedules/new", schedule_page),
    ("POST", "/admin/schedules/new", schedule_save),
    ("GET", "/admin/schedules/edit/{name}", schedule_page),
    ("POST", "/admin/schedules/edit/{name}", schedule_save),
    ("POST", "/admin/schedules/delete/{name}", schedule_delete),
    ("GET", "/admin/holidays/new", holiday_page),
    ("POST", "/admin/holidays/new", holiday_save),
    ("GET", "/admin/holidays/edit/{name}", holiday_page),
    ("POST", "/admin/holidays/edit/{name}", holiday_save),
    ("POST", "/admin/holidays/delete/{name}", holiday_delete),
    ("GET", "/admin/directory", directory_page),
    ("POST", "/admin/directory", contact_save),
    ("GET", "/admin/directory/{index}", contact_page),
    ("POST", "/admin/directory/{index}", contact_save),
    ("POST", "/admin/directory/{index}/delete", contact_delete),
)


def add_admin_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
