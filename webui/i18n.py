"""The portal's translations: French (default, as in the guide), Dutch and English.

GNU gettext catalogues: every message id is the English text; `webui/locale/<fr|nl>/LC_MESSAGES/portal.po`
hold the French and Dutch forms (a translator's usual tools open them; `scripts/update_catalogues.py` adds the
ids the code gained and marks the ones it lost), read once at import (`webui.po`); `gettext(lang, msgid)`
picks one. A unit test checks that every id used in the templates and in `webui/*.py` is translated in both,
so no string can appear untranslated. The settings' validation messages come from `features.model` /
`provisioning.model` in English with their values and field paths; `translate_problem()` matches the ones
the forms can produce against `_PROBLEMS` and shows the catalogue's translation of its English template
(anything unknown is shown as it is).

It knows only strings and its catalogue files: no HTTP, no model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal

from webui.po import read_po

__all__ = ["CATALOGUE", "DEFAULT_LANGUAGE", "LANGUAGES", "PROBLEM_TEMPLATES", "TRANSLATIONS", "Language",
           "catalogue_path", "gettext", "pick_language", "translate_problem"]

Language = Literal["fr", "nl", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("fr", "nl", "en")
DEFAULT_LANGUAGE: Final[Language] = "fr"
LANGUAGE_NAMES: Final = {"fr": "français", "nl": "Nederlands", "en": "English"}

LOCALE_DIR: Final = Path(__file__).resolve().with_name("locale")
DOMAIN: Final = "portal"


def catalogue_path(lang: Language) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _load(lang: Language) -> dict[str, str]:
    return {k: v for k, v in read_po(catalogue_path(lang).read_text(encoding="utf-8")).items() if k}


# English message id -> its translation, per language (English needs none)
TRANSLATIONS: Final[dict[Language, dict[str, str]]] = {"fr": _load("fr"), "nl": _load("nl")}
# English message id -> (French, Dutch), for the catalogue tests
CATALOGUE: Final[dict[str, tuple[str, str]]] = {
    msgid: (TRANSLATIONS["fr"].get(msgid, ""), TRANSLATIONS["nl"].get(msgid, ""))
    for msgid in {*TRANSLATIONS["fr"], *TRANSLATIONS["nl"]}
}

# A validation message of the models (English, with values in it) -> the English template whose translation
# (in the catalogues, "{0}", "{1}" standing for the values) the portal shows.
_PROBLEMS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), template) for pattern, template in (
        (r"must be 0 or 2\.\.20, got (.+)", "must be 0 or 2 to 20, got {0}"),
        (r"must be 2\.\.20, got (.+)", "must be 2 to 20, got {0}"),
        (r"must be a number \(digits, optional leading \+\), got (.+)",
         "must be a phone number (digits, optional leading +), got {0}"),
        ("is required when the forward is active", "is required when the forward is active"),
        ("must be an integer, got (.+)", "must be a whole number"),
        ("must not be empty", "must not be empty"),
        ("is required", "is required"),
        (r"must be at most (\d+) characters, got (\d+)", "must be at most {0} characters, got {1}"),
        ("must not start or end with spaces", "must not start or end with spaces"),
        (r"must be after start \((.+)\), got (.+)", "must be after the start time ({0}), got {1}"),
        (r"must be after lunch_start \((.+)\), got (.+)",
         "must be after the start of the lunch break ({0}), got {1}"),
        ("lunch break (.+) must lie within (.+)", "the lunch break {0} must lie within {1}"),
        ("must be a time HH:MM, got (.+)", "must be a time HH:MM, got {0}"),
        ("must be a time between 00:00 and 24:00, got (.+)", "must be a time between 00:00 and 24:00, got {0}"),
        ("duplicate number (.+)", "the number {0} is already in the list"),
        ("must not repeat a number", "must not repeat a number"),
        ("duplicate criterion name (.+)", "another criterion is already called {0}"),
        ("duplicate schedule name (.+)", "another schedule is already called {0}"),
        ("unknown time schedule (.+)", "there is no schedule {0}"),
        ("unknown holiday schedule (.+)", "there is no holiday schedule {0}"),
        ("unknown user (.+)", "there is no user {0}"),
        ("a user cannot list themselves", "you cannot select yourself"),
        ("duplicate user (.+)", "{0} is selected twice"),
        ("at least one number is required when simultaneous ring is active",
         "at least one number is required when simultaneous ring is active"),
        ("at least one location is required when sequential ring is active",
         "at least one number is required when sequential ring is active"),
        (r"at most (\d+) (\w+), got (\d+)", "at most {0} {1}, got {2}"),
        (r"must be digits with optional \? and a final \*, got (.+)",
         "must be digits, with ? for any digit and a final * for any end, got {0}"),
        ("specific callers need numbers, include_anonymous or include_unavailable",
         "choose at least one number, anonymous callers or callers without a number"),
        ("is still used by a criterion", "is still used by a criterion of the advanced settings"),
        (r"must be at least (\d+) characters", "must be at least {0} characters"),
        ("expected 16-bit mono PCM at 8 to 48 kHz", "the file must be a WAV: 16-bit mono PCM at 8 to 48 kHz"),
        ("not a RIFF/WAVE file", "the file is not a WAV file"),
        ("must be true or false, got (.+)", "must be on or off"),
        ("must be 1 to 10 digits, got (.+)", "must be 1 to 10 digits, got {0}"),
        ("(.+) is already the extension of user (.+)", "{0} is already the extension of {1}"),
        ("(.+) is already the sip_username of user (.+)", "{0} is already the SIP user name of {1}"),
        ("(.+) is already the user_id of user (.+)", "{0} is already the user ID of {1}"),
        ("(.+) is the voicemail number", "{0} is the voicemail number"),
        ("(.+) is already a number of (.+)", "{0} is already a number of {1}"),
        ("(.+) is an emergency number.*", "{0} is an emergency number"),
        (r"(.+) is neither national \(starting with 0\) nor international \(\+ or 00\)",
         "{0} is neither national (starting with 0) nor international (+ or 00)"),
        ("(.+) is not a phone number.*", "{0} is not a phone number"),
        ("unknown department (.+)", "there is no department {0}"),
        ("(.+) is not one of the group's numbers", "{0} is not one of the group's numbers"),
        (r"must be a MAC address \(12 hex digits\), got (.+)",
         "must be a MAC address (12 hex digits), got {0}"),
        ("duplicate (mac|id|user_id|username|name) (.+)", "{1} is already used"),
        (r"must have at least (\d+) characters", "must have at least {0} characters"),
        (r"must be letters, digits, \. _ - \(starting with a letter or digit\), got (.+)",
         "must be letters, digits, . _ - (starting with a letter or digit), got {0}"),
        (r"must be letters, digits, \. _ ~ \+ -, got (.+)", "must be letters, digits, . _ ~ + -, got {0}"),
        ("must be an e-mail address, got (.+)", "must be an e-mail address, got {0}"),
        (r"must be an E\.164 number or a short number, got (.+)", "must be a phone number or a short number, got {0}"),
        ("(.+) already belongs to group (.+)", "{0} already belongs to group {1}"),
        ("cannot be changed: delete the user and create a new one",
         "cannot be changed: delete the user and create a new one"),
        (r"must not be before start \((.+)\), got (.+)", "must not be before the first day ({0}), got {1}"),
        ("must be a date YYYY-MM-DD, got (.+)", "must be a date YYYY-MM-DD, got {0}"),
        ("is required when the SIP user name changes.*", "is required when the SIP user name changes"),
        ("must be one of (.+), got (.+)", "must be one of {0}, got {1}"),
    )
)
PROBLEM_TEMPLATES: Final = tuple(template for _, template in _PROBLEMS)


def pick_language(value: str | None) -> Language | None:
    """`value` when it is one of `LANGUAGES` (case-insensitive, `nl-BE` counts as `nl`), else None."""
    if not value:
        return None
    code = value.strip().lower()[:2]
    for lang in LANGUAGES:
        if lang == code:
            return lang
    return None


def gettext(lang: Language, msgid: str, **values: object) -> str:
    """The translation of `msgid` (English) into `lang`, with `{name}` placeholders filled from `values`.
    An id missing from the catalogue, or not translated yet, is returned as it is (gettext's rule; the
    catalogue test catches it first)."""
    text = msgid if lang == "en" else TRANSLATIONS[lang].get(msgid, msgid)
    return text.format(**values) if values else text


def translate_problem(lang: Language, message: str) -> str:
    """A validation message of `features.model` / `provisioning.model` in `lang` (unknown ones unchanged)."""
    for pattern, template in _PROBLEMS:
        match = pattern.fullmatch(message)
        if match is not None:
            return gettext(lang, template).format(*match.groups())
    return message
