"""Feature access codes dialled from a phone: which code is which, and the settings it leaves behind.

Implements the "Feature access codes" table of `reference/features.md` for the services a code switches:

| service | star style | GSM style |
|---|---|---|
| forward always on / off | `*72<number>` / `*73` | `*21*<number>#` / `#21#` |
| forward on busy on / off | `*90<number>` / `*91` | `*67*<number>#` / `#67#` |
| forward on no answer on / off | `*92<number>` / `*93` | `*61*<number>#` / `#61#` |
| do not disturb on / off | `*78` / `*79` | (none) |
| call waiting on / off | `*43` / `*44` | (none) |

A group accepts star codes, GSM codes or both (`provisioning.model.Group.feature_codes`, a `CodeStyle`).
DND and call waiting have no GSM alternate, so `*78`/`*79`/`*43`/`*44` are accepted in every style: a
"gsm" group would otherwise have no code for them at all.

Not handled here (`parse_feature_code` returns None so that the call is routed as usual): the per-call
identity prefixes `*67<number>`, `*65<number>`, `#31#<number>` (`sipserver.b2bua.routing.parse_dialled`;
note that `*67*<number>#` IS forward on busy, GSM style), directed pickup `*97<ext>` and voicemail access
`1969`/`*98`. The GSM "register", "interrogate" and "erase" forms (`**21*…#`, `*#21#`, `##21#`) and the
no-answer timer (`*61*<number>*<seconds>#`) are not supported.

Results, so that a reader sees at a glance what to do:

- `parse_feature_code()` returns None (not a feature code: route it), a `FeatureCode` (what to switch), or
  a `CodeRefused(status, reason)` for a string that starts like one of these codes but cannot be used:
  484 Address Incomplete when the number is missing or unusable, the closing `#` of a GSM code is missing
  or only the beginning of a code was dialled (`*7`); 404 Not Found for a code followed by characters it
  does not take (`*7312`, `#21#5`, `*21*0470#5`).
- `apply_feature_code()` returns the new `ServiceSettings`, or a `CodeRefused(484, …)` when the model
  refuses the value (`SettingError`).
- `FeatureCode.confirmation` is a short text for logs ("forward always on to 0470123456").

Input is the dialled string as the caller has it (a SIP user part, %-unescaped). The visual separators
the settings model removes from numbers (spaces, dots, dashes, slashes) are removed first, so
`*72 0470 12 34 56` is `*720470123456`; a number is digits with an optional leading `+`, checked by the
settings model itself. Phones that use `#` as their "send" key may append it: one trailing `#` after a
star-style code is ignored (`*720470123456#`, `*73#`).

Pure: knows nothing of SIP, sockets, asyncio or storage; it imports only `features.model`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

from features.model import (
    ForwardAlways,
    ForwardBusy,
    ForwardNoAnswer,
    ServiceSettings,
    SettingError,
    clean_dial_string,
)

__all__ = [
    "CODE_STYLES",
    "CodeRefused",
    "CodeService",
    "CodeStyle",
    "FeatureCode",
    "apply_feature_code",
    "parse_feature_code",
]

CodeStyle = Literal["both", "star", "gsm"]
"""Which codes a group accepts: star codes (`*72…`), GSM codes (`*21*…#`) or both."""

CODE_STYLES: Final[tuple[CodeStyle, ...]] = ("both", "star", "gsm")

CodeService = Literal["forward_always", "forward_busy", "forward_no_answer", "dnd", "call_waiting"]
"""The `ServiceSettings` field a code switches."""

FORWARDS: Final[tuple[CodeService, ...]] = ("forward_always", "forward_busy", "forward_no_answer")

ADDRESS_INCOMPLETE: Final = 484
NOT_FOUND: Final = 404

_LABELS: Final[dict[CodeService, str]] = {
    "forward_always": "forward always",
    "forward_busy": "forward on busy",
    "forward_no_answer": "forward on no answer",
    "dnd": "do not disturb",
    "call_waiting": "call waiting",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureCode:
    """A recognised feature access code: switch `service` on (`activate`) or off.

    `number` is the forward target as dialled (separators removed), present exactly when a forward is
    switched on; its validity is the settings model's to judge (`apply_feature_code`).
    """

    service: CodeService
    activate: bool
    number: str | None = None

    def __post_init__(self) -> None:
        needs_number = self.activate and self.service in FORWARDS
        if needs_number and not self.number:
            raise ValueError(f"switching {self.service} on needs a number")
        if not needs_number and self.number is not None:
            raise ValueError(f"{self.service} {'on' if self.activate else 'off'} takes no number")

    @property
    def confirmation(self) -> str:
        """`"forward always on to 0470123456"`, `"do not disturb off"`: for logs."""
        text = f"{_LABELS[self.service]} {'on' if self.activate else 'off'}"
        return f"{text} to {self.number}" if self.number is not None else text


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeRefused:
    """A feature code that cannot be carried out: answer the call with `status` (484, 404); `reason` says
    why, for logs (`"number missing after *72"`)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Head:
    """The fixed start of a code. `family` "any": accepted in every style."""

    text: str
    family: Literal["star", "gsm", "any"]
    service: CodeService
    activate: bool
    takes_number: bool


_HEADS: Final[tuple[_Head, ...]] = (
    _Head("*72", "star", "forward_always", True, True),
    _Head("*73", "star", "forward_always", False, False),
    _Head("*90", "star", "forward_busy", True, True),
    _Head("*91", "star", "forward_busy", False, False),
    _Head("*92", "star", "forward_no_answer", True, True),
    _Head("*93", "star", "forward_no_answer", False, False),
    _Head("*21*", "gsm", "forward_always", True, True),
    _Head("#21#", "gsm", "forward_always", False, False),
    _Head("*67*", "gsm", "forward_busy", True, True),
    _Head("#67#", "gsm", "forward_busy", False, False),
    _Head("*61*", "gsm", "forward_no_answer", True, True),
    _Head("#61#", "gsm", "forward_no_answer", False, False),
    _Head("*78", "any", "dnd", True, False),
    _Head("*79", "any", "dnd", False, False),
    _Head("*43", "any", "call_waiting", True, False),
    _Head("*44", "any", "call_waiting", False, False),
)

_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "both": ("star", "gsm", "any"),
    "star": ("star", "any"),
    "gsm": ("gsm", "any"),
}

# Codes other parts of the server own (CLIR per call, pickup, voicemail): a string that could still become
# one of them is not an incomplete code of ours.
_FOREIGN_HEADS: Final = ("*67", "*65", "#31#", "*97", "*98")

_NUMBER_CHECK: Final[dict[CodeService, type[ForwardAlways | ForwardBusy | ForwardNoAnswer]]] = {
    "forward_always": ForwardAlways,
    "forward_busy": ForwardBusy,
    "forward_no_answer": ForwardNoAnswer,
}


def parse_feature_code(dialled: str, style: CodeStyle = "both") -> FeatureCode | CodeRefused | None:
    """What `dialled` asks for, under the group's code `style` (see the module docstring): None when it
    is not one of the codes of this module (an ordinary number, an extension, a CLIR prefix, a code of the
    other style), a `FeatureCode`, or a `CodeRefused` when it starts like a code but cannot be used."""
    families = _FAMILIES.get(style)
    if families is None:
        raise ValueError(f"style must be one of {', '.join(CODE_STYLES)}, got {style!r}")
    text = clean_dial_string(dialled)
    if not text or text[0] not in "*#":
        return None
    heads = [h for h in _HEADS if h.family in families]
    for head in heads:
        if text.startswith(head.text):
            return _parse_rest(head, text[len(head.text):], text)
    if any(h.text.startswith(text) for h in heads) and not any(f.startswith(text) for f in _FOREIGN_HEADS):
        return CodeRefused(status=ADDRESS_INCOMPLETE, reason=f"incomplete feature code {text!r}")
    return None


def _parse_rest(head: _Head, rest: str, text: str) -> FeatureCode | CodeRefused:
    if head.family == "gsm":
        if head.takes_number:
            end = rest.find("#")
            if end < 0:
                reason = f"number missing after {head.text}" if not rest else f"{text!r} must end with #"
                return CodeRefused(status=ADDRESS_INCOMPLETE, reason=reason)
            if rest[end + 1:]:
                return CodeRefused(status=NOT_FOUND, reason=f"characters after the closing # in {text!r}")
            rest = rest[:end]
    elif rest.endswith("#"):
        rest = rest[:-1]  # a phone's "send" key
    if not head.takes_number:
        if rest:
            return CodeRefused(status=NOT_FOUND, reason=f"{head.text} takes no number, got {text!r}")
        return FeatureCode(service=head.service, activate=head.activate)
    if not rest:
        return CodeRefused(status=ADDRESS_INCOMPLETE, reason=f"number missing after {head.text}")
    try:
        _NUMBER_CHECK[head.service](active=True, number=rest)
    except SettingError as exc:
        return CodeRefused(status=ADDRESS_INCOMPLETE, reason=f"bad number in {text!r}: {exc.message}")
    return FeatureCode(service=head.service, activate=True, number=rest)


def apply_feature_code(code: FeatureCode, services: ServiceSettings) -> ServiceSettings | CodeRefused:
    """The settings after `code`. A forward switched on gets the code's number; switched off it keeps the
    stored number (as BroadWorks does), and forward on no answer keeps its `rings`. A value the settings
    model refuses gives `CodeRefused(484, message)`; nothing else changes."""
    try:
        if code.service == "forward_always":
            fa = services.forward_always
            return replace(services, forward_always=replace(fa, active=True, number=code.number)
                           if code.activate else replace(fa, active=False))
        if code.service == "forward_busy":
            fb = services.forward_busy
            return replace(services, forward_busy=replace(fb, active=True, number=code.number)
                           if code.activate else replace(fb, active=False))
        if code.service == "forward_no_answer":
            fna = services.forward_no_answer
            return replace(services, forward_no_answer=replace(fna, active=True, number=code.number)
                           if code.activate else replace(fna, active=False))
        if code.service == "dnd":
            return replace(services, dnd=replace(services.dnd, active=code.activate))
        return replace(services, call_waiting=replace(services.call_waiting, active=code.activate))
    except SettingError as exc:
        return CodeRefused(status=ADDRESS_INCOMPLETE,
                           reason=f"{code.confirmation} refused: {exc.prefixed(code.service)}")
