"""HTML form fields of the group administrator pages <-> entries of the provisioning file.

A form posts flat text fields; these functions turn them into the entry `provision apply` reads for that
kind (`[[users]]`, `[[devices]]`, `[[departments]]`, `[[contacts]]`), so the checks and messages are the
file's. An empty optional field becomes None, which removes the key from the entry being changed (the
file's default then applies: the main number as outgoing CLI, the user id as SIP user name...); an empty
password field keeps the current password. `*_draft` give a form's values for a stored object.

Pure functions of plain data: no HTTP, no storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from provisioning.model import Device, User
from webui.services import national

__all__ = ["USER_FIELDS", "contact_entry", "department_entry", "device_draft", "device_entry", "field_errors",
           "holiday_draft", "holiday_entry", "user_draft", "user_entry"]

Form = Mapping[str, str]
USER_FIELDS: Final = ("user_id", "first_name", "last_name", "email", "department_id", "extension", "numbers",
                      "outgoing_cli", "language", "sip_username", "sip_password", "portal_password")
_OPTIONAL: Final = ("email", "department_id", "extension", "outgoing_cli", "sip_username", "sip_password",
                    "portal_password")
_LIST_INDEX: Final = re.compile(r"^(numbers)\[\d+\]$")
_PERIOD: Final = re.compile(r"periods-(\d{1,3})-(start|end|label)")
BLANK_PERIODS: Final = 3  # empty rows offered under a holiday schedule's periods


def _text(form: Form, key: str) -> str:
    return form.get(key, "").strip()


def split_numbers(text: str) -> list[str]:
    """`"02 221 12 05, 0470 12 34 56"` (commas, semicolons or new lines) -> one number per item."""
    return [n.strip() for n in re.split(r"[,;\n]", text) if n.strip()]


def user_entry(form: Form, *, creating: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {key: _text(form, key) for key in ("first_name", "last_name", "language")}
    if creating:
        entry["user_id"] = _text(form, "user_id")
    entry["numbers"] = split_numbers(form.get("numbers", ""))
    for key in _OPTIONAL:
        value = form.get(key, "") if key.endswith("password") else _text(form, key)
        entry[key] = value or None
    if creating:
        entry = {k: v for k, v in entry.items() if v is not None}
    return entry


def user_draft(user: User | None, country_code: str) -> dict[str, str]:
    if user is None:
        return {key: "" for key in USER_FIELDS} | {"language": "fr"}
    return {
        "user_id": user.user_id, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email or "", "department_id": user.department_id or "", "extension": user.extension or "",
        "numbers": ", ".join(national(n, country_code) for n in user.numbers),
        "outgoing_cli": national(user.outgoing_cli, country_code) if user.outgoing_cli != user.main_number else "",
        "language": user.language, "sip_username": user.sip_username if user.sip_username != user.user_id else "",
        "sip_password": "", "portal_password": "",
    }


def device_entry(form: Form) -> dict[str, Any]:
    return {"mac": _text(form, "mac"), "model": _text(form, "model"), "owner": _text(form, "owner"),
            "label": _text(form, "label") or None,
            "provisioning_password": form.get("provisioning_password", "") or None}


def device_draft(device: Device | None) -> dict[str, str]:
    if device is None:
        return {"mac": "", "model": "T48S", "owner": "", "label": "", "provisioning_password": ""}
    return {"mac": ":".join(device.mac[i:i + 2] for i in range(0, 12, 2)), "model": device.model,
            "owner": device.owner, "label": device.label or "", "provisioning_password": ""}


def department_entry(form: Form, *, creating: bool) -> dict[str, Any]:
    entry = {"name": _text(form, "name")}
    if creating:
        entry["id"] = _text(form, "id")
    return entry


def holiday_entry(form: Form) -> dict[str, Any]:
    """`name`, then rows `periods-<i>-start`, `-end`, `-label` (YYYY-MM-DD); empty rows are left out, an
    empty end is the start day, an empty label none."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _PERIOD.fullmatch(key)
        if match is not None:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    periods = []
    for i in sorted(rows):
        row = rows[i]
        if any(row.values()):
            periods.append({k: v for k, v in row.items() if v})
    return {"name": _text(form, "name"), "periods": periods}


def holiday_draft(plain: Mapping[str, Any]) -> dict[str, Any]:
    """A holiday schedule's plain form (or an entry) for the page, with `BLANK_PERIODS` empty rows."""
    periods = [{"start": str(p.get("start", "")), "end": str(p.get("end", "")), "label": str(p.get("label") or "")}
               for p in plain.get("periods", [])]
    return {"name": str(plain.get("name", "")),
            "periods": [*periods, *({"start": "", "end": "", "label": ""} for _ in range(BLANK_PERIODS))]}


def contact_entry(form: Form) -> dict[str, Any]:
    return {"name": _text(form, "name"), "number": _text(form, "number")}


def field_errors(fields: Mapping[str, str]) -> dict[str, str]:
    """Problems keyed for a template: a list item's path is its list's (`numbers[1]` -> `numbers`)."""
    out: dict[str, str] = {}
    for path, message in fields.items():
        match = _LIST_INDEX.match(path)
        out.setdefault(match.group(1) if match else path, message)
    return out
