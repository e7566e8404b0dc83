"""Bring the portal's gettext catalogues in step with the code: what `xgettext` + `msgmerge` do, for our ids.

    python scripts/update_catalogues.py           # add the new message ids (untranslated)
    python scripts/update_catalogues.py --check   # exit 1 if a catalogue lacks an id (what the tests check)

The message ids are the English texts the portal shows: `_("...")` in the templates (and the tab labels
they pass to `_()` as data), the Python strings the views hand to `gettext` (flash messages, field errors,
titles and names kept in tables), and the validation-message templates of `webui.i18n`. Each catalogue
(`webui/locale/<lang>/LC_MESSAGES/portal.po`) keeps its header and its entries in their order, then gets the
new ids with an empty msgstr: a translator fills them in (Poedit, any PO editor), and the portal shows
English until then. Entries whose id this scan does not see are kept and listed: some ids reach `_()`
through tables this scan does not read (lamp names, call directions), so only a person may drop one.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from webui.i18n import LANGUAGES, PROBLEM_TEMPLATES, catalogue_path  # noqa: E402
from webui.po import PoEntry, parse_po, write_po  # noqa: E402

WEBUI = REPO_ROOT / "webui"
_TEMPLATE_ID = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_TAB_LABEL = re.compile(r'\("[a-z]+", "/(?:portal|admin)/[a-z]+", "([^"]+)"\)')
_PYTHON_ID = re.compile(r'''(?:_flash\(session, |gettext\([a-z_.]+, |"error": |error = )"([^"]+)"''')
_PYTHON_SOURCES = ("views.py", "web.py", "admin_views.py", "account_views.py")  # the API answers in English


def template_ids() -> list[str]:
    ids: list[str] = []
    for path in sorted((WEBUI / "templates").glob("*.html")):
        text = path.read_text(encoding="utf-8")
        ids += [a or b for a, b in _TEMPLATE_ID.findall(text)]
        ids += _TAB_LABEL.findall(text)
    return ids


def python_ids() -> list[str]:
    from webui.admin_views import FORBIDDEN
    from webui.mailbox import GREETINGS
    from webui.manuals import MANUALS
    from webui.token_api import TOKEN_PROBLEMS
    from webui.views import DAY_NAMES, DIAL_REASONS, SECTION_TITLES

    ids = [*SECTION_TITLES.values(), *DAY_NAMES.values(), *DIAL_REASONS.values(),
           *(m.language_name for m in MANUALS), *GREETINGS.values(), FORBIDDEN, *TOKEN_PROBLEMS]
    for name in _PYTHON_SOURCES:
        ids += _PYTHON_ID.findall((WEBUI / name).read_text(encoding="utf-8"))
    return ids


def used_ids() -> list[str]:
    """Every message id the portal can show, once each, in a stable order."""
    return list(dict.fromkeys([*template_ids(), *python_ids(), *PROBLEM_TEMPLATES]))


def updated(text: str, ids: list[str]) -> tuple[str, list[str], list[str]]:
    """The catalogue `text` with the ids of `ids` it lacks added: (new text, ids added, ids not seen in `ids`)."""
    entries = parse_po(text)
    known = {e.msgid for e in entries}
    wanted = set(ids)
    added = [i for i in ids if i not in known]
    unseen = [e.msgid for e in entries if e.msgid and e.msgid not in wanted]
    return write_po([*entries, *(PoEntry(i, "") for i in added)]), added, unseen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a catalogue is behind")
    args = parser.parse_args(argv)
    ids = used_ids()
    behind = False
    for lang in LANGUAGES:
        if lang == "en":
            continue
        path = catalogue_path(lang)
        text = path.read_text(encoding="utf-8")
        new, added, unseen = updated(text, ids)
        for msgid in added:
            print(f"{path.relative_to(REPO_ROOT)}: new, to translate: {msgid!r}")
        if not args.check:
            for msgid in unseen:
                print(f"{path.relative_to(REPO_ROOT)}: not seen by the scan (kept; drop it if unused): {msgid!r}")
        if new != text:
            behind = True
            if not args.check:
                path.write_text(new, encoding="utf-8")
    return 1 if behind and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
