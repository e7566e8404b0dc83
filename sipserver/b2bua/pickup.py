"""Call pickup requests: which ringing call a picking phone asks for.

Two ways to ask (`reference/yealink.md`, "Pickup"):

- a dialled code: `*97<ext>` picks up the call ringing that colleague (directed pickup; the code our
  provisioned BLF keys send), `*8` picks up a call ringing any colleague of the group (group pickup; the
  oldest ringing call wins) — `parse_pickup_code`;
- an INVITE with `Replaces` (RFC 3891 §6.1) naming the early dialog that the BLF NOTIFY showed (call-id and
  the two tags; phones differ on which tag they call `to-tag`, so both orders are tried) —
  `parse_replaces`.

Pure: strings in, requests out; finding the call and joining it is the controller's and `Call.pick_up`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DIRECTED_PICKUP: Final = "*97"
GROUP_PICKUP: Final = "*8"


@dataclass(frozen=True, slots=True)
class PickupCode:
    """`extension` None: group pickup; else the colleague (extension, number or user) whose call to take."""

    extension: str | None


@dataclass(frozen=True, slots=True)
class ReplacesTarget:
    call_id: str
    tags: tuple[str, str]  # (to-tag, from-tag) as written
    early_only: bool


def parse_pickup_code(dialled: str) -> PickupCode | None:
    text = dialled.strip()
    if text.endswith("#"):
        text = text[:-1]
    if text == GROUP_PICKUP:
        return PickupCode(None)
    if text.startswith(DIRECTED_PICKUP) and len(text) > len(DIRECTED_PICKUP):
        return PickupCode(text[len(DIRECTED_PICKUP):])
    return None


def parse_replaces(value: str) -> ReplacesTarget | None:
    """`call-id;to-tag=x;from-tag=y[;early-only]` (RFC 3891 §6.1); None when malformed (the INVITE gets 400)."""
    call_id, *params = (part.strip() for part in value.split(";"))
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, _, val = param.partition("=")
        name = name.strip().lower()
        if name in ("to-tag", "from-tag"):
            tags[name] = val.strip()
        elif name == "early-only":
            early_only = True
    if not call_id or "to-tag" not in tags or "from-tag" not in tags:
        return None
    return ReplacesTarget(call_id, (tags["to-tag"], tags["from-tag"]), early_only)
