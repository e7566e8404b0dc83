"""The OpenAPI 3.0 document of `/api/v1` (served at `/api/v1/openapi.json`), written by hand next to the routes
of `webui.api`; a unit test checks that both list the same operations. Knows nothing but the API's shape."""

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
        op["parameters"] = [{"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}]
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
    return {"openapi": "3.0.3", "info": {"title": "Call Connect portal API", "version": "1.0"}, "paths": paths}
