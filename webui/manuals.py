"""The user manuals of the Info tab: their list and their rendering from `webui/user_manuals/<file>.md` to HTML.

The manuals are Markdown documents shipped with the package; `render_manual` turns one into a standalone,
printable HTML page (markdown-it-py, CommonMark, raw HTML in the source disabled). Knows no HTTP.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from markdown_it import MarkdownIt

__all__ = ["DEFAULT_MANUALS_DIR", "MANUALS", "Manual", "render_manual"]

DEFAULT_MANUALS_DIR: Final = Path(__file__).resolve().with_name("user_manuals")


@dataclass(frozen=True, slots=True)
class Manual:
    file: str
    title: str
    description: str
    version: str
    language: str  # "fr", "nl", "en"
    language_name: str  # English message id of the language's name (translated in the table)


MANUALS: Final = (
    Manual("portail-web-fr", "Portail Web Call Connect", "Manuel utilisateur Portail Web Call Connect", "1.0", "fr",
           "French"),
    Manual("webportaal-nl", "Call Connect Webportaal", "Gebruikershandleiding Call Connect Webportaal", "1.0", "nl",
           "Dutch"),
    Manual("web-portal-en", "Call Connect Web Portal", "Call Connect Web Portal user manual", "1.0", "en",
           "English"),
)

_MARKDOWN: Final = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_manual(path: Path, language: str) -> str:
    source = path.read_text(encoding="utf-8")
    title = next((line[2:].strip() for line in source.splitlines() if line.startswith("# ")), path.stem)
    body = _MARKDOWN.render(source)
    return (f'<!doctype html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/portal.css"></head>'
            f"<body class=\"manual\">{body}</body></html>\n")
