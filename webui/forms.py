"""HTML form fields <-> the plain (JSON/TOML) form of the settings that `features.model.from_dict` reads.

The portal's forms post flat fields (`numbers-2`, `criteria-0-numbers-1`, `monday-start`); these functions
turn them into the nested plain dicts the model validates, so a form, the API and `provision apply` share one
set of rules and messages. What a form does not show is kept from the current value (`merged`).

List editing without JavaScript: buttons post `action` (`add_number`, `remove_number-2`, `up-1`, `down-1`,
`add_criterion`, `remove_criterion-0`, `add_cnumber-0`, `remove_cnumber-0-1`); `apply_list_action` changes
the draft, which is shown again unsaved until the user saves.

Pure functions of plain data: no HTTP, no storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from features.model import WEEKDAYS, DaySchedule, format_minutes

__all__ = ["apply_blf_action", "apply_list_action", "criteria_from_form", "merged", "ring_form",
           "schedule_form", "schedule_to_form", "section_form"]

Form = Mapping[str, str]
_INDEXED: Final = re.compile(r"(?P<prefix>[a-z_]+)-(?P<i>\d{1,3})(?:-(?P<rest>.*))?")


def _flag(form: Form, key: str) -> bool:
    return form.get(key, "") in ("on", "true", "1", "yes")


def _integer(text: str) -> int | str:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,6}", text) else text


def _indexes(form: Form, prefix: str) -> list[int]:
    found: set[int] = set()
    for key in form:
        m = _INDEXED.fullmatch(key)
        if m is not None and m["prefix"] == prefix:
            found.add(int(m["i"]))
    return sorted(found)


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def section_form(name: str, form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """One "Paramètres" box: `active`, and `number` / `rings` where the section has them."""
    changes: dict[str, Any] = {"active": _flag(form, "active")}
    if "number" in form:
        number = form["number"].strip()
        changes["number"] = number or None
    if "rings" in form and name == "forward_no_answer":
        changes["rings"] = _integer(form["rings"])
    return merged(current, changes)


def criteria_from_form(form: Form) -> list[dict[str, Any]]:
    criteria = []
    for i in _indexes(form, "criteria"):
        p = f"criteria-{i}-"
        numbers = [form[f"{p}numbers-{j}"].strip() for j in _indexes(
            {k[len(p):]: v for k, v in form.items() if k.startswith(p)}, "numbers")]
        schedule = form.get(f"{p}time_schedule", "").strip()
        criterion: dict[str, Any] = {
            "name": form.get(f"{p}name", "").strip(), "active": _flag(form, f"{p}active"),
            "calls_from": "specific" if form.get(f"{p}calls_from") == "specific" else "any",
            "numbers": numbers, "include_anonymous": _flag(form, f"{p}include_anonymous"),
            "include_unavailable": _flag(form, f"{p}include_unavailable"),
            "blacklisted": _flag(form, f"{p}blacklisted"),
        }
        if schedule:
            criterion["time_schedule"] = schedule
        criteria.append(criterion)
    return criteria


def ring_form(name: str, form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """"Paramètres avancés": simultaneous ring (`numbers-N`) or sequential ring (`locations-N`, `-rings`)."""
    changes: dict[str, Any] = {"active": _flag(form, "active"), "criteria": criteria_from_form(form)}
    if name == "simultaneous_ring":
        changes["do_not_ring_if_on_call"] = _flag(form, "do_not_ring_if_on_call")
        changes["numbers"] = [{"number": form[f"numbers-{i}"].strip()} for i in _indexes(form, "numbers")]
    else:
        changes["ring_base_first"] = _flag(form, "ring_base_first")
        changes["continue_if_base_busy"] = _flag(form, "continue_if_base_busy")
        changes["base_rings"] = _integer(form.get("base_rings", "3"))
        changes["locations"] = [
            {"number": form.get(f"locations-{i}-number", "").strip(),
             "rings": _integer(form.get(f"locations-{i}-rings", "3"))}
            for i in _indexes(form, "locations")]
    return merged(current, changes)


def _move(items: list[Any], i: int, delta: int) -> None:
    j = i + delta
    if 0 <= i < len(items) and 0 <= j < len(items):
        items[i], items[j] = items[j], items[i]


def apply_list_action(name: str, draft: dict[str, Any], action: str) -> bool:
    """Change the draft as the button `action` asks; False when it is not a list action (i.e. "save")."""
    key = "numbers" if name == "simultaneous_ring" else "locations"
    items: list[Any] = draft.setdefault(key, [])
    criteria: list[dict[str, Any]] = draft.setdefault("criteria", [])
    verb, _, arg = action.partition("-")
    args = [int(a) for a in arg.split("-") if a.isdigit()] if arg else []
    if verb == "add_number":
        items.append({"number": ""} if key == "numbers" else {"number": "", "rings": 3})
    elif verb == "remove_number" and args and args[0] < len(items):
        del items[args[0]]
    elif verb == "up" and args:
        _move(items, args[0], -1)
    elif verb == "down" and args:
        _move(items, args[0], +1)
    elif verb == "add_criterion":
        criteria.append({"name": "", "active": True, "calls_from": "any", "numbers": []})
    elif verb == "remove_criterion" and args and args[0] < len(criteria):
        del criteria[args[0]]
    elif verb == "add_cnumber" and args and args[0] < len(criteria):
        criteria[args[0]].setdefault("numbers", []).append("")
        criteria[args[0]]["calls_from"] = "specific"
    elif verb == "remove_cnumber" and len(args) == 2 and args[0] < len(criteria):
        numbers = criteria[args[0]].setdefault("numbers", [])
        if args[1] < len(numbers):
            del numbers[args[1]]
    else:
        return False
    return True


def apply_blf_action(selected: list[str], action: str, allowed: set[str]) -> bool:
    """BLF list buttons: `add:<id>`, `remove:<id>`, `up:<id>`, `down:<id>`; False for "save"."""
    verb, _, user_id = action.partition(":")
    if verb == "add" and user_id in allowed and user_id not in selected:
        selected.append(user_id)
    elif verb == "remove" and user_id in selected:
        selected.remove(user_id)
    elif verb in ("up", "down") and user_id in selected:
        _move(selected, selected.index(user_id), -1 if verb == "up" else +1)
    else:
        return False
    return True


def schedule_form(form: Form) -> dict[str, Any]:
    """The schedule page: `name`, then per weekday `<day>-active`, `-start`, `-end`, `-lunch_active`,
    `-lunch_start`, `-lunch_end` (HH:MM)."""
    data: dict[str, Any] = {"name": form.get("name", "").strip()}
    for day in WEEKDAYS:
        data[day] = {
            "active": _flag(form, f"{day}-active"), "lunch_active": _flag(form, f"{day}-lunch_active"),
            **{key: form.get(f"{day}-{key}", "").strip() or default
               for key, default in (("start", "09:00"), ("end", "17:00"), ("lunch_start", "12:00"),
                                    ("lunch_end", "13:00"))},
        }
    return data


def schedule_to_form(plain: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule's plain form (`Schedule.to_dict()`, times in minutes or HH:MM) for the page."""
    out: dict[str, Any] = {"name": plain.get("name", "")}
    default = DaySchedule()
    for day in WEEKDAYS:
        d = dict(plain.get(day) or {})
        row: dict[str, Any] = {"active": bool(d.get("active", default.active)),
                               "lunch_active": bool(d.get("lunch_active", False))}
        for key, minutes in (("start", default.start), ("end", default.end), ("lunch_start", default.lunch_start),
                             ("lunch_end", default.lunch_end)):
            value = d.get(key, minutes)
            row[key] = format_minutes(value) if isinstance(value, int) else str(value)
        out[day] = row
    return out
