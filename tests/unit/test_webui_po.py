"""webui.po: the PO subset of the portal's catalogues, read and written (GNU gettext's format)."""

from __future__ import annotations

import pytest

from webui.po import PoEntry, PoError, parse_po, read_po, write_po

SAMPLE = '''# The portal's French messages.
msgid ""
msgstr ""
"Language: fr\\n"
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Password"
msgstr "Mot de passe"

# a translator's note
msgid ""
"Enter your user name: if it has an account, a link to choose a new password "
"is sent to its e-mail address."
msgstr ""
"Saisissez votre nom d'utilisateur : s'il a un compte, un lien est envoyé à "
"son adresse e-mail."

#, fuzzy
msgid "Saved."
msgstr "Enregistré."

msgid "Not yet"
msgstr ""

msgid "Say \\"hello\\"\\tand\\\\go"
msgstr "Dites \\"bonjour\\"\\tet\\\\partez"

#~ msgid "Gone"
#~ msgstr "Parti"
'''


def test_reading_joins_continued_strings_and_unescapes() -> None:
    found = read_po(SAMPLE)
    assert found["Password"] == "Mot de passe"
    assert found["Enter your user name: if it has an account, a link to choose a new password is sent to its "
                 "e-mail address."].startswith("Saisissez votre nom d'utilisateur : s'il a un compte")
    assert found['Say "hello"\tand\\go'] == 'Dites "bonjour"\tet\\partez'
    assert found[""] == "Language: fr\nContent-Type: text/plain; charset=UTF-8\n"


def test_fuzzy_empty_and_obsolete_entries_are_not_translations() -> None:
    found = read_po(SAMPLE)
    assert "Saved." not in found  # fuzzy: as gettext's tools, not used
    assert "Not yet" not in found  # empty msgstr: untranslated
    assert "Gone" not in found  # obsolete (#~)
    entries = {e.msgid: e for e in parse_po(SAMPLE)}
    assert entries["Saved."].fuzzy and entries["Saved."].msgstr == "Enregistré."
    assert entries[next(k for k in entries if k.startswith("Enter"))].comments == ("a translator's note",)


def test_writing_what_was_read_gives_the_same_text() -> None:
    entries = parse_po(SAMPLE)
    text = write_po(entries)
    assert parse_po(text) == entries
    assert write_po(parse_po(text)) == text
    long_id = next(e.msgid for e in entries if e.msgid.startswith("Enter"))
    assert f'msgid ""\n"{long_id[:20]}' in text  # long strings continued on the next lines
    assert all(len(line) <= 80 for line in text.splitlines())


def test_writing_keeps_newlines_and_long_words() -> None:
    entries = [PoEntry("", "Language: nl\nMIME-Version: 1.0\n"), PoEntry("x" * 120, "y"),
               PoEntry("two\nlines", "twee\nregels")]
    text = write_po(entries)
    assert parse_po(text) == entries
    assert '"Language: nl\\n"\n"MIME-Version: 1.0\\n"' in text


@pytest.mark.parametrize(("text", "line", "words"), [
    ('msgid "a"\nmsgid_plural "as"\nmsgstr[0] "x"\n', 2, "msgid_plural"),
    ('msgctxt "menu"\nmsgid "a"\nmsgstr "b"\n', 1, "msgctxt"),
    ('msgid "a\n', 1, "quoted string"),
    ('msgid "a"\n\nmsgstr "b"\n', 2, "without msgstr"),
    ('msgstr "b"\n', 1, "without its msgid"),
    ('msgid "a"\nmsgstr "b"\n"\\q"\n', 3, "unknown escape"),
    ('"floating"\n', 1, "outside an entry"),
    ('msgid "a"\nmsgstr "b" "c"\n', 2, "unescaped quote"),
])
def test_malformed_catalogues_are_refused_with_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(PoError, match=words) as caught:
        parse_po(text)
    assert caught.value.line == line


def test_a_repeated_msgid_is_refused() -> None:
    with pytest.raises(PoError, match="twice"):
        parse_po('msgid "a"\nmsgstr "b"\n\nmsgid "a"\nmsgstr "c"\n')
