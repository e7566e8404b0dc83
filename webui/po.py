"""GNU gettext PO files, the subset the portal's catalogues use: read one into a dict, write one back.

Read: `msgid` / `msgstr` pairs, each string possibly continued on the following lines (`"..."` concatenated),
with the C escapes `\\n \\t \\" \\\\`; `#` comment lines, where a `#, fuzzy` flag makes the next entry count as
untranslated (as gettext's own tools do); the header entry (empty msgid) is returned under "". Obsolete entries
(`#~`) are comments. Plural forms and contexts are not used by the portal and are refused, like any malformed
line, with `PoError` naming the line. Write: the same shape, one entry per message, in the order given, long
strings split after spaces at 78 columns; what `write_po` wrote reads back equal and re-writes unchanged.

Pure: text in, dict out (and back). Knows nothing of languages, HTTP or where the files live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["PoEntry", "PoError", "parse_po", "read_po", "write_po"]

_ESCAPES: Final = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_WIDTH: Final = 78


class PoError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class PoEntry:
    msgid: str
    msgstr: str
    fuzzy: bool = False
    comments: tuple[str, ...] = ()  # translator comments ("# ..."), without the "# "


def _unquote(text: str, line: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(line, f"expected a quoted string, got {text[:40]!r}")
    out: list[str] = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise PoError(line, f"unknown escape in {text[:40]!r}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if char == '"':
            raise PoError(line, f"unescaped quote in {text[:40]!r}")
        out.append(char)
        i += 1
    return "".join(out)


def parse_po(text: str) -> list[PoEntry]:
    """Every entry of a PO file, in file order (the header first when there is one)."""
    entries: list[PoEntry] = []
    seen: set[str] = set()
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    fuzzy = False  # the flags and comments before the entry being read (a comment line ends the entry before)
    comments: list[str] = []

    def flush(line: int) -> None:
        nonlocal msgid, msgstr, fuzzy, comments
        if msgid is None:
            return
        if msgstr is None:
            raise PoError(line, "msgid without msgstr")
        entry = PoEntry("".join(msgid), "".join(msgstr), fuzzy, tuple(comments))
        if entry.msgid in seen:
            raise PoError(line, f"msgid {entry.msgid[:40]!r} appears twice")
        seen.add(entry.msgid)
        entries.append(entry)
        msgid = msgstr = None
        fuzzy, comments = False, []

    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("msgid "):
            flush(number)
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in (flag.strip() for flag in line[2:].split(",")):
                fuzzy = True
            elif line.startswith("# ") or line == "#":
                comments.append(line[2:])
        elif line.startswith("msgid "):
            msgid = [_unquote(line[6:], number)]
        elif line.startswith("msgstr "):
            if msgid is None or msgstr is not None:
                raise PoError(number, "msgstr without its msgid")
            msgstr = [_unquote(line[7:], number)]
        elif line.startswith('"'):
            current = msgstr if msgstr is not None else msgid
            if current is None:
                raise PoError(number, "a continued string outside an entry")
            current.append(_unquote(line, number))
        else:
            raise PoError(number, f"{line.split(maxsplit=1)[0]!r} is not supported here (only msgid / msgstr)")
    flush(len(lines) + 1)
    return entries


def read_po(text: str) -> dict[str, str]:
    """msgid -> msgstr for every translated entry (fuzzy and empty ones left out, the header under "")."""
    return {e.msgid: e.msgstr for e in parse_po(text) if e.msgstr and not e.fuzzy}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _pieces(text: str) -> list[str]:
    """`text` cut after spaces and newlines into pieces of at most _WIDTH quoted characters (a longer word
    stays whole); joined, they are `text`."""
    tokens = [t for t in re.findall(r"[^ \n]*(?: |\n|$)", text) if t]
    pieces: list[str] = []
    chunk = ""
    for token in tokens:
        if chunk and len(_quote(chunk + token)) > _WIDTH:
            pieces.append(chunk)
            chunk = ""
        chunk += token
        if token.endswith("\n"):
            pieces.append(chunk)
            chunk = ""
    if chunk:
        pieces.append(chunk)
    return pieces


def _field(keyword: str, text: str) -> list[str]:
    single = f"{keyword} {_quote(text)}"
    if len(single) <= _WIDTH and "\n" not in text[:-1]:
        return [single]
    return [f'{keyword} ""', *(_quote(piece) for piece in _pieces(text))]


def write_po(entries: Iterable[PoEntry]) -> str:
    blocks: list[str] = []
    for entry in entries:
        lines = [f"# {comment}" if comment else "#" for comment in entry.comments]
        if entry.fuzzy:
            lines.append("#, fuzzy")
        lines += _field("msgid", entry.msgid)
        lines += _field("msgstr", entry.msgstr)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
