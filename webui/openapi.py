"""The OpenAPI 3.0 document of `/api/v1` (served at `/api/v1/openapi.json`), written by hand next to the routes
of `webui.api`, `webui.admin_api` (`/api/v1/admin`) and `webui.token_api` (`/api/v1/tokens`); a unit test
checks that both list the same operations. Two ways in: the session cookie (with `X-CSRF-Token` on writes)
or an API token (`Authorization: Bearer`). Knows nothing but the API's shape."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["openapi_document"]

_SECTIONS: Final = ("forward_always", "forward_busy", "forward_no_answer", "forward_unreachable", "dnd", "clir",
                    "external_clid_delivery", "internal_clid_delivery", "colr", "call_waiting", "voicemail",
                    "simultaneous_ring", "sequential_ring", "blf")
_JSON: Final = "application/json"


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    out["content"] = {_JSON: {"schema": schema or {"type": "object"}}}
    return out


def _op(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None, write: bool = False,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "401": _resp("not logged in")}}
    if write:
        op["responses"]["403"] = _resp("missing CSRF token or another user's id")
        op["parameters"] = [{"name": "X-CSRF-Token", "in": "header", "required": False,
                             "description": "the session's CSRF token: required with the session cookie, not "
                                            "with an API token", "schema": {"type": "string"}}]
    if params:
        op.setdefault("parameters", []).extend(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": body}}}
    return op


def openapi_document() -> dict[str, Any]:
    user = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
    problems = _resp("invalid setting: every problem with its field path", {
        "type": "object", "properties": {"errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}})
    ok = {"200": _resp("OK")}
    section = {"name": "section", "in": "path", "required": True, "schema": {"type": "string", "enum": list(_SECTIONS)}}
    index = {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1,
                                                                        "maxLength": 40}}
    contact = {"type": "object", "required": ["name", "number"],
               "properties": {"name": {"type": "string"}, "number": {"type": "string"}}}
    u = "/api/v1/users/{user_id}"
    paths: dict[str, Any] = {
        "/api/v1/openapi.json": {"get": {"summary": "this document", "responses": ok}},
        "/api/v1/session": {
            "get": {"summary": "the current session and its CSRF token", "responses": ok},
            "post": {"summary": "log in", "requestBody": {"required": True, "content": {_JSON: {"schema": {
                "type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {**ok, "400": _resp("bad body"), "401": _resp("wrong credentials"),
                              "429": _resp("too many attempts")}},
            "delete": _op("log out", ok, write=True),
        },
        u: {"get": _op("the user's profile", ok), "parameters": [user]},
        u + "/password": {"parameters": [user], "put": _op(
            "change the user's password (from a session, not with an API token); the other sessions end and "
            "this one gets a new CSRF token", {**ok, "400": _resp("bad body"), "422": problems,
                                               "429": _resp("too many attempts")},
            body={"type": "object", "required": ["current_password", "password"],
                  "properties": {"current_password": {"type": "string"}, "password": {"type": "string"}}},
            write=True)},
        u + "/services": {"get": _op("every setting", ok), "parameters": [user]},
        u + "/services/{section}": {
            "parameters": [user, section],
            "get": _op("one setting", {**ok, "404": _resp("no such setting")}),
            "put": _op("replace one setting", {**ok, "400": _resp("bad body"), "404": _resp("no such setting"),
                                               "422": problems}, body={"type": "object"}, write=True),
        },
        u + "/contacts": {
            "parameters": [user],
            "get": _op("personal contacts", ok),
            "post": _op("add a contact", {"201": _resp("created"), "400": _resp("bad body"), "422": problems},
                        body=contact, write=True),
        },
        u + "/contacts/{index}": {
            "parameters": [user, index],
            "put": _op("change a contact", {**ok, "400": _resp("bad body"), "404": _resp("no such contact"),
                                            "422": problems}, body=contact, write=True),
            "delete": _op("delete a contact", {**ok, "404": _resp("no such contact")}, write=True),
        },
        u + "/schedules": {"parameters": [user], "get": _op("the user's and the group's schedules", ok)},
        u + "/schedules/{name}": {
            "parameters": [user, name],
            "put": _op("create or replace a time schedule", {**ok, "201": _resp("created"), "400": _resp("bad body"),
                                                             "422": problems}, body={"type": "object"}, write=True),
            "delete": _op("delete a schedule", {**ok, "404": _resp("no such schedule"),
                                                "409": _resp("still used by a criterion")}, write=True),
        },
        u + "/blf": {"parameters": [user], "put": _op(
            "choose and order the monitored colleagues", {**ok, "400": _resp("bad body"), "422": problems},
            body={"type": "object", "required": ["monitored_users"],
                  "properties": {"monitored_users": {"type": "array", "items": {"type": "string"}}}}, write=True)},
        u + "/blf/events": {"parameters": [user], "get": _op(
            "the monitored colleagues' live lamps, as Server-Sent Events: first each one's lamp, then one event "
            "per change (`event: lamp`, data `{\"user\", \"lamp\"}` with lamp idle, ringing, talking, dialling, "
            "held or hidden when the colleague does not allow it); a comment every 15 s", {
                "200": {"description": "the event stream (never ends by itself)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "403": _resp("another user's id"), "404": _resp("no such user"),
                "503": _resp("live lamps unavailable")})},
        u + "/directory": {"parameters": [user], "get": _op("personal, group and colleague entries", ok, params=[
            {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}])},
        u + "/calls": {"parameters": [user], "get": _op("the call log, newest first", ok, params=[
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                            "maximum": 1000}}])},
        u + "/click-to-dial": {"parameters": [user], "post": _op(
            "ring the user's phone, then the number", {"202": _resp("calling"), "400": _resp("bad body"),
                                                       "409": _resp("cannot call"), "422": problems,
                                                       "503": _resp("click-to-dial unavailable")},
            body={"type": "object", "required": ["number"], "properties": {"number": {"type": "string"}}},
            write=True)},
    }
    paths.update(_admin_paths(problems))
    paths.update(_token_paths(problems))
    return {"openapi": "3.0.3", "info": {"title": "Call Connect portal API", "version": "1.0"}, "paths": paths,
            "components": {"securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "callconnect_session",
                            "description": "POST /api/v1/session (or /api/v1/admin/session) sets it"},
                "token": {"type": "http", "scheme": "bearer",
                          "description": "an API token (cc_...), made at POST /api/v1/tokens or on the Profile "
                                         "tab"}}},
            "security": [{"session": []}, {"token": []}]}


def _token_paths(problems: dict[str, Any]) -> dict[str, Any]:
    """`/api/v1/tokens`: the logged-in user's or administrator's API tokens (from a session only)."""
    only_session = _resp("called with an API token: tokens are managed from a logged-in session")
    token_id = {"name": "token_id", "in": "path", "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 40}}
    listed = {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "created_at": {"type": "number"},
        "last_used_at": {"type": "number", "nullable": True}}}}
    return {
        "/api/v1/tokens": {
            "get": _op("the API tokens (never the tokens themselves)", {"200": _resp("OK", listed),
                                                                       "403": only_session}),
            "post": _op("make an API token: the answer is the only place it ever appears", {
                "201": _resp("made: `token` is the bearer token"), "400": _resp("bad body"), "422": problems},
                body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                write=True),
        },
        "/api/v1/tokens/{token_id}": {"parameters": [token_id], "delete": _op(
            "revoke an API token", {"200": _resp("OK"), "404": _resp("no such token")}, write=True)},
    }


def _admin_op(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
              write: bool = False) -> dict[str, Any]:
    op = _op(summary, responses, body=body, write=write)
    op["responses"]["403"] = _resp("an end user's session" + (", or a missing CSRF token" if write else ""))
    return op


def _admin_paths(problems: dict[str, Any]) -> dict[str, Any]:
    """`/api/v1/admin`: the group administrator's operations on their own group. Bodies are entries of the
    provisioning file (docs/provisioning.md); 422 lists the problems with the paths `provision apply` prints."""
    a = "/api/v1/admin"
    ok = {"200": _resp("OK")}
    entry = {"type": "object"}
    text = {"type": "string", "minLength": 1, "maxLength": 80}

    def param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema or text}

    def crud(what: str) -> dict[str, Any]:
        return {"get": _admin_op(f"the group's {what}", ok),
                "post": _admin_op(f"add to the group's {what}", {"201": _resp("created"), "400": _resp("bad body"),
                                                                 "422": problems}, body=entry, write=True)}

    def one(what: str, key: dict[str, Any], *, get: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {
            "parameters": [key],
            "put": _admin_op(f"change {what}", {**ok, "400": _resp("bad body"), "404": _resp("not in the group"),
                                                "422": problems}, body=entry, write=True),
            "delete": _admin_op(f"delete {what}", {**ok, "404": _resp("not in the group"), "422": problems},
                                write=True),
        }
        if get:
            item["get"] = _admin_op(f"{what} with its settings", {**ok, "404": _resp("not in the group")})
        return item

    return {
        a + "/session": {"post": {
            "summary": "log in as a group administrator", "requestBody": {"required": True, "content": {_JSON: {
                "schema": {"type": "object", "required": ["username", "password"],
                           "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {**ok, "400": _resp("bad body"), "401": _resp("wrong credentials"),
                          "403": _resp("group administration not offered"), "429": _resp("too many attempts")}}},
        a + "/password": {"put": _admin_op(
            "change the administrator's own password (from a session, not with an API token); their other "
            "sessions end and this one gets a new CSRF token", {
                **ok, "400": _resp("bad body"), "422": problems, "429": _resp("too many attempts")},
            body={"type": "object", "required": ["current_password", "password"],
                  "properties": {"current_password": {"type": "string"}, "password": {"type": "string"}}},
            write=True)},
        a + "/group": {"get": _admin_op("the administrator's group", ok)},
        a + "/users": crud("users ([[users]] entries)"),
        a + "/users/{user_id}": one("a user (keys absent are kept, null removes)", param("user_id"), get=True),
        a + "/numbers": {
            "get": _admin_op("the group's spare numbers, the users' numbers and extensions", ok),
            "post": _admin_op("add a spare number to the group", {"201": _resp("added"), "400": _resp("bad body"),
                                                                  "422": problems}, write=True, body={
                "type": "object", "required": ["number"], "properties": {"number": {"type": "string"}}}),
        },
        a + "/numbers/{number}": {"parameters": [param("number", {"type": "string", "minLength": 1,
                                                                  "maxLength": 20})],
                                  "put": _admin_op("give a spare number to a user, or (user_id null) take a "
                                                   "number back to the spare ones", {
                                      **ok, "400": _resp("bad body"), "404": _resp("no such number or user"),
                                      "422": problems}, write=True, body={
                                      "type": "object", "required": ["user_id"],
                                      "properties": {"user_id": {"type": "string", "nullable": True}}}),
                                  "delete": _admin_op("remove a spare number", {
                                      **ok, "404": _resp("not a spare number of the group"), "422": problems},
                                      write=True)},
        a + "/departments": crud("departments"),
        a + "/departments/{department_id}": one("a department", param("department_id")),
        a + "/devices": crud("devices (MAC, model, owner)"),
        a + "/devices/{mac}": one("a device", param("mac", {"type": "string", "minLength": 12, "maxLength": 17})),
        a + "/schedules": {"get": _admin_op("the group's time and holiday schedules", ok)},
        a + "/schedules/{name}": {
            "parameters": [param("name", {"type": "string", "minLength": 1, "maxLength": 40})],
            "put": _admin_op("create or replace a group time schedule", {
                **ok, "201": _resp("created"), "400": _resp("bad body"), "422": problems}, body=entry, write=True),
            "delete": _admin_op("delete a group time schedule", {
                **ok, "404": _resp("no such schedule"), "422": problems}, write=True),
        },
        a + "/holiday-schedules/{name}": {
            "parameters": [param("name", {"type": "string", "minLength": 1, "maxLength": 40})],
            "put": _admin_op("create or replace a group holiday schedule", {
                **ok, "201": _resp("created"), "400": _resp("bad body"), "422": problems}, body=entry, write=True),
            "delete": _admin_op("delete a group holiday schedule", {
                **ok, "404": _resp("no such schedule"), "422": problems}, write=True),
        },
        a + "/contacts": crud("directory contacts"),
        a + "/contacts/{index}": one("a directory contact", param("index", {"type": "integer", "minimum": 0})),
    }
