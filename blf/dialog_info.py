"""Dialog event package bodies (RFC 4235 §4): what a BLF key shows for one monitored user.

`render_dialog_info(entity, version, dialogs)` gives the `application/dialog-info+xml` document of one
NOTIFY, shaped for Yealink T4x keys (`reference/yealink.md`, "What lights the key"):

- always `state="full"` and the `version` the subscription counts (RFC 4235 §4.1.2), `entity` the monitored AOR;
- no dialog: one `<dialog>` whose state is `terminated` (idle, solid green) instead of an empty document,
  which leaves some phones stuck on the last state;
- several dialogs: only the most urgent is shown (`most_urgent`): ringing towards the user beats talking, which
  beats dialling out, which beats a held call;
- a dialog carries `call-id`, `local-tag` (the monitored user's side) and `remote-tag`, `direction`, the local
  and remote identities (the ringing caller is displayed, and a picking phone builds `Replaces` from them,
  RFC 3891), and for a held call `+sip.rendering=no` on the local target (RFC 4235 §4.1.6.2);
- a withheld caller is `sip:anonymous@anonymous.invalid` shown as "Anonymous" (RFC 3323 §4.1.1.3);
- every value is XML-escaped, so a display name cannot alter the document.

Pure: views in, bytes out. It knows no calls, subscriptions or sockets; the notifier builds `DialogView`s
from the live call state with the privacy rules already applied.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal
from xml.sax.saxutils import escape, quoteattr

NAMESPACE: Final = "urn:ietf:params:xml:ns:dialog-info"
ANONYMOUS_URI: Final = "sip:anonymous@anonymous.invalid"
ANONYMOUS_DISPLAY: Final = "Anonymous"

XML_FORBIDDEN: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0

# Lower is more urgent (what the key shows when the user has several dialogs).
_RINGING, _TALKING, _DIALLING, _HELD = 0, 1, 2, 3
KeyShows = Literal["ringing", "talking", "dialling", "held"]
SHOWN_AS: Final[tuple[KeyShows, ...]] = ("ringing", "talking", "dialling", "held")
"""What a key shows for a dialog, by its `urgency` (the portal's live lamps use the same names)."""


@dataclass(frozen=True, slots=True)
class DialogView:
    """One dialog of the monitored user as a watcher may see it.

    `local_tag` is the tag of the monitored user's side, `remote_tag` the other side's (None while not yet
    known); `direction` "initiator" (the user called) or "recipient" (the user is called); `state` one of
    RFC 4235's trying/proceeding/early/confirmed/terminated; `remote_identity` the other party's URI, None
    when withheld; `held` when the monitored user put the call on hold."""

    call_id: str
    local_tag: str
    remote_tag: str | None
    direction: str
    state: str
    remote_identity: str | None
    remote_display: str = ""
    held: bool = False


def urgency(dialog: DialogView) -> int:
    if dialog.state == "confirmed":
        return _HELD if dialog.held else _TALKING
    return _RINGING if dialog.direction == "recipient" else _DIALLING


def most_urgent(dialogs: Iterable[DialogView]) -> DialogView | None:
    """The dialog a key shows; on a tie, the first given. Terminated dialogs are not shown."""
    best: DialogView | None = None
    for dialog in dialogs:
        if dialog.state == "terminated":
            continue
        if best is None or urgency(dialog) < urgency(best):
            best = dialog
    return best


def dialog_id(call_id: str, tag: str | None) -> str:
    """A stable element id for a dialog (RFC 4235 §4.1.1: unique within the document, the same across
    versions): it must not change when the far tag becomes known, so it uses only our side's identifiers."""
    digest = hashlib.blake2s(f"{call_id}\0{tag or ''}".encode(), digest_size=8).hexdigest()
    return f"d{digest}"


def render_dialog_info(entity: str, version: int, dialogs: Iterable[DialogView], *,
                       local_display: str = "") -> bytes:
    """The full-state document for `entity` (the monitored user's AOR, whose name is `local_display`)."""
    dialog = most_urgent(dialogs)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<dialog-info xmlns="{NAMESPACE}" version="{version}" state="full" entity={quoteattr(entity)}>']
    if dialog is None:
        lines += [f"  <dialog id={quoteattr(_idle_id(entity))}>",
                  "    <state>terminated</state>",
                  "  </dialog>"]
    else:
        lines += _dialog_lines(entity, local_display, dialog)
    lines.append("</dialog-info>")
    return ("\n".join(lines) + "\n").encode()


def _dialog_lines(entity: str, local_display: str, dialog: DialogView) -> list[str]:
    attributes = f"id={quoteattr(dialog_id(dialog.call_id, dialog.remote_tag or dialog.local_tag))}"
    attributes += f" call-id={quoteattr(dialog.call_id)}"
    if dialog.local_tag:
        attributes += f" local-tag={quoteattr(dialog.local_tag)}"
    if dialog.remote_tag:
        attributes += f" remote-tag={quoteattr(dialog.remote_tag)}"
    attributes += f" direction={quoteattr(dialog.direction)}"
    remote_uri = dialog.remote_identity or ANONYMOUS_URI
    remote_display = dialog.remote_display if dialog.remote_identity else ANONYMOUS_DISPLAY
    lines = [f"  <dialog {attributes}>",
             f"    <state>{escape(dialog.state)}</state>",
             "    <local>",
             f"      {_identity(local_display, entity)}"]
    if dialog.held:
        lines += [f"      <target uri={quoteattr(entity)}>",
                  '        <param pname="+sip.rendering" pvalue="no"/>',
                  "      </target>"]
    else:
        lines.append(f"      <target uri={quoteattr(entity)}/>")
    lines += ["    </local>",
              "    <remote>",
              f"      {_identity(remote_display, remote_uri)}",
              f"      <target uri={quoteattr(remote_uri)}/>",
              "    </remote>",
              "  </dialog>"]
    return lines


def _identity(display: str, uri: str) -> str:
    display = XML_FORBIDDEN.sub(" ", display)
    shown = f" display={quoteattr(display)}" if display else ""
    return f"<identity{shown}>{escape(XML_FORBIDDEN.sub('', uri))}</identity>"


def _idle_id(entity: str) -> str:
    user = entity.split(":", 1)[-1].split("@", 1)[0]
    return user or "idle"
