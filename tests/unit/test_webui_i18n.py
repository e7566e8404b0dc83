"""Every string the portal shows is in the gettext catalogues with its French and Dutch forms, and every
validation message the forms can produce is translated (no English left in a French or Dutch page); the
catalogues are in step with the code (`scripts/update_catalogues.py --check`)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

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
from webui.i18n import (
    CATALOGUE,
    PROBLEM_TEMPLATES,
    TRANSLATIONS,
    catalogue_path,
    gettext,
    pick_language,
    translate_problem,
)
from webui.po import parse_po, write_po

REPO_ROOT = Path(__file__).resolve().parents[2]


def _update_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_catalogues", REPO_ROOT / "scripts" / "update_catalogues.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


update_catalogues = _update_script()


def test_every_template_string_is_translated() -> None:
    ids = update_catalogues.template_ids()
    assert len(set(ids)) > 100
    missing = sorted(i for i in set(ids) if i not in CATALOGUE)
    assert missing == []


def test_python_strings_are_translated() -> None:
    missing = sorted(i for i in set(update_catalogues.python_ids()) if i not in CATALOGUE)
    assert missing == []


def test_validation_message_templates_are_translated() -> None:
    for template in PROBLEM_TEMPLATES:
        assert TRANSLATIONS["fr"].get(template) and TRANSLATIONS["nl"].get(template), template


def test_the_catalogues_are_in_step_with_the_code_and_in_canonical_form() -> None:
    """What `scripts/update_catalogues.py --check` checks, and that re-writing a catalogue changes nothing (so
    the script's output is a clean diff)."""
    ids = update_catalogues.used_ids()
    for lang in ("fr", "nl"):
        text = catalogue_path(lang).read_text(encoding="utf-8")
        new, added, _ = update_catalogues.updated(text, ids)
        assert added == [], f"{lang}: run scripts/update_catalogues.py and translate {added}"
        assert new == text
        assert write_po(parse_po(text)) == text
        header = parse_po(text)[0]
        assert header.msgid == "" and f"Language: {lang}" in header.msgstr and "charset=UTF-8" in header.msgstr


def test_catalogue_entries_are_complete() -> None:
    """Both translations, the same named placeholders; a validation message's translation may leave out one of
    its values ({1}) but never name one the English lacks."""
    for msgid, (fr, nl) in CATALOGUE.items():
        assert fr.strip() and nl.strip(), msgid
        named = set(re.findall(r"{[a-z_]\w*}", msgid))
        assert named == set(re.findall(r"{[a-z_]\w*}", fr)) == set(re.findall(r"{[a-z_]\w*}", nl)), msgid
        values = set(re.findall(r"{\d+}", msgid))
        assert set(re.findall(r"{\d+}", fr)) <= values and set(re.findall(r"{\d+}", nl)) <= values, msgid


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
