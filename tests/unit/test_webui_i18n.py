"""Every string the portal shows is in the catalogue with its French and Dutch forms, and every validation
message the forms can produce is translated (no English left in a French or Dutch page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.model import (
    DaySchedule,
    ForwardBusy,
    ForwardNoAnswer,
    PersonalContact,
    Schedule,
    SequentialRing,
    SettingError,
    SimultaneousRing,
)
from webui.i18n import CATALOGUE, gettext, pick_language, translate_problem

WEBUI = Path(__file__).resolve().parents[2] / "webui"
MSGID = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
PY_IDS = re.compile(r'''(?:_flash\(session, |gettext\([a-z_.]+, |"error": |error = )"([^"]+)"''')


def template_ids() -> set[str]:
    ids: set[str] = set()
    for path in (WEBUI / "templates").glob("*.html"):
        for a, b in MSGID.findall(path.read_text()):
            ids.add(a or b)
        # labels passed as data to _() in loops and dicts
        ids.update(re.findall(r'\("[a-z]+", "/(?:portal|admin)/[a-z]+", "([^"]+)"\)', path.read_text()))
    return ids


def test_every_template_string_is_translated() -> None:
    ids = template_ids()
    assert len(ids) > 100
    missing = sorted(i for i in ids if i not in CATALOGUE)
    assert missing == []


def test_python_strings_are_translated() -> None:
    from webui.admin_views import FORBIDDEN
    from webui.mailbox import GREETINGS
    from webui.manuals import MANUALS
    from webui.views import DAY_NAMES, DIAL_REASONS, SECTION_TITLES
    ids = {*SECTION_TITLES.values(), *DAY_NAMES.values(), *DIAL_REASONS.values(), *(m.language_name for m in MANUALS),
           *GREETINGS.values(), FORBIDDEN}
    for path in (WEBUI / "views.py", WEBUI / "web.py", WEBUI / "admin_views.py"):  # the API answers in English
        ids.update(PY_IDS.findall(path.read_text()))
    missing = sorted(i for i in ids if i not in CATALOGUE)
    assert missing == []


def test_catalogue_entries_are_complete() -> None:
    for msgid, (fr, nl) in CATALOGUE.items():
        assert fr.strip() and nl.strip(), msgid
        assert set(re.findall(r"{\w+}", msgid)) == set(re.findall(r"{\w+}", fr)) == set(re.findall(r"{\w+}", nl))


def test_gettext_and_language_pick() -> None:
    assert gettext("fr", "Confirm") == "Confirmer"
    assert gettext("nl", "Confirm") == "Bevestigen"
    assert gettext("en", "Confirm") == "Confirm"
    assert gettext("fr", "Page {n}", n=2) == "Page 2"
    assert pick_language("nl-BE,nl;q=0.9") == "nl" and pick_language("de") is None and pick_language(None) is None


def problems_of(build) -> list[str]:
    with pytest.raises(SettingError) as info:
        build()
    return [m for _, m in info.value.problems]


FORM_PROBLEMS = [
    lambda: ForwardNoAnswer.from_dict({"active": True, "rings": 1}),
    lambda: ForwardNoAnswer.from_dict({"rings": "x"}),
    lambda: ForwardBusy.from_dict({"active": True, "number": "abc"}),
    lambda: PersonalContact.from_dict({"name": "", "number": "1"}),
    lambda: PersonalContact.from_dict({"name": " a", "number": "1"}),
    lambda: DaySchedule.from_dict({"start": "10:00", "end": "09:00"}),
    lambda: DaySchedule.from_dict({"start": "9h", "end": "25:00"}),
    lambda: DaySchedule.from_dict({"lunch_active": True, "lunch_start": "13:00", "lunch_end": "12:00"}),
    lambda: DaySchedule.from_dict({"lunch_active": True, "lunch_start": "07:00", "lunch_end": "08:00"}),
    lambda: Schedule.from_dict({"name": "x" * 41}),
    lambda: SimultaneousRing.from_dict({"active": True}),
    lambda: SimultaneousRing.from_dict({"numbers": [{"number": "1"}, {"number": "1"}]}),
    lambda: SequentialRing.from_dict({"active": True, "base_rings": 30}),
    lambda: SimultaneousRing.from_dict({"criteria": [{"name": "a", "calls_from": "specific"},
                                                     {"name": "a", "numbers": ["1x"]}]}),
]


@pytest.mark.parametrize("build", FORM_PROBLEMS)
def test_validation_messages_are_translated(build) -> None:
    for message in problems_of(build):
        for lang in ("fr", "nl"):
            translated = translate_problem(lang, message)
            assert translated != message, (lang, message)


def provisioning_problems(change) -> list[str]:
    """The messages `provision apply` gives for the demo file changed by `change` (what admin forms show)."""
    from provisioning.apply import group_document, parse_group
    from provisioning.demo import demo_group_description
    from provisioning.model import ProvisioningError

    doc = group_document(demo_group_description())
    change(doc)
    with pytest.raises(ProvisioningError) as info:
        parse_group(doc, "portal")
    return [m for _, m in info.value.fields]


def _user(**fields: object) -> dict[str, object]:
    return {"user_id": "luc", "first_name": "Luc", "last_name": "Leroy", **fields}


ADMIN_PROBLEMS = [
    lambda d: d["users"].append(_user(extension="201")),
    lambda d: d["users"].append(_user(extension="12x")),
    lambda d: d["users"].append(_user(extension="112")),
    lambda d: d["users"].append(_user(extension="1969")),
    lambda d: d["users"].append(_user(numbers=["02 221 12 01"])),
    lambda d: d["users"].append(_user(numbers=["abc"])),
    lambda d: d["users"].append(_user(numbers=["221 12 01"])),
    lambda d: d["users"].append(_user(department_id="none")),
    lambda d: d["users"].append(_user(numbers=["02 221 12 05"], outgoing_cli="02 999 99 99")),
    lambda d: d["users"].append(_user(user_id="bad id", email="nope", sip_username="a b", language="de")),
    lambda d: d["users"].append(_user(portal_password="short")),
    lambda d: d["users"].append(_user(user_id="jean.dupont")),
    lambda d: d["devices"].append({"mac": "zz", "model": "T99", "owner": "jean.dupont"}),
    lambda d: d["devices"].append({"mac": "001565000201", "model": "T48S", "owner": "nobody"}),
    lambda d: d["departments"].append({"id": "ventes", "name": "Encore"}),
    lambda d: d["contacts"].append({"name": "A", "number": "12ab"}),
    lambda d: d.setdefault("holiday_schedules", []).append({"name": "H", "periods": [
        {"start": "24/12"}, {"start": "2026-12-24", "end": "2026-12-01"}]}),
]


@pytest.mark.parametrize("change", ADMIN_PROBLEMS)
def test_group_administrator_messages_are_translated(change) -> None:
    messages = provisioning_problems(change)
    assert messages
    for message in messages:
        for lang in ("fr", "nl"):
            assert translate_problem(lang, message) != message, (lang, message)
