"""Call-log rows of a finished call: placed / received / missed per user involved (the guide's "Journal des
appels").

One row for the caller (if a user placed it): `placed`, with the party they reached as they may see it (COLR
hides who answered a diverted call: then the dialled party is shown). One row per called user (each user a leg
rang for: `Target.served_user`): `received` when a leg of theirs answered — another device, a simultaneous or
sequential ring number ("answered elsewhere" is never `missed`); `missed` when nobody answered or the call was
diverted away and answered by someone else. Numbers and names are the ones that user was shown. Pure: a
finished `Call` in, rows out; nothing here knows storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from sipserver.b2bua.call import Call


@dataclass(init=False, unsafe_hash=True, slots=True)
class CallLogRow:
    user_id: Final[str]
    direction: Final[str]  # "placed" | "received" | "missed"
    started_at: Final[float]  # wall-clock seconds
    answered_at: Final[float | None]
    ended_at: Final[float]
    other_number: Final[str]
    other_name: Final[str]
    call_id: Final[str]

    def __init__(self, user_id: str, direction: str, started_at: float, answered_at: float | None, ended_at: float,
                 other_number: str, other_name: str, call_id: str) -> None:
        self.user_id = user_id
        self.direction = direction
        self.started_at = started_at
        self.answered_at = answered_at
        self.ended_at = ended_at
        self.other_number = other_number
        self.other_name = other_name
        self.call_id = call_id

    @property
    def duration(self) -> float:
        return 0.0 if self.answered_at is None else max(0.0, self.ended_at - self.answered_at)


@dataclass(init=False, unsafe_hash=True, slots=True)
class Presentation:
    """What the call-log writer needs beyond the call: how the caller was shown to callees and what the caller
    dialled, each as (number, name)."""

    caller_as_seen: Final[tuple[str, str]]
    dialled: Final[tuple[str, str]]
    callee_user_id: Final[str | None]  # the user called, even when no device of theirs rang (offline, busy)

    def __init__(self, caller_as_seen: tuple[str, str], dialled: tuple[str, str],
                 callee_user_id: str | None = None) -> None:
        self.caller_as_seen = caller_as_seen
        self.dialled = dialled
        self.callee_user_id = callee_user_id


def call_log_rows(call: Call, presentation: Presentation, wall_offset: float) -> list[CallLogRow]:
    """Rows for `call`; `wall_offset` converts the call's loop-clock times to wall-clock time."""
    started = call.started_at + wall_offset
    ended = (call.ended_at if call.ended_at is not None else call.started_at) + wall_offset
    answered = None if call.answered_at is None else call.answered_at + wall_offset
    rows: list[CallLogRow] = []
    winner = call.winner
    if call.caller_user_id is not None:
        number, name = presentation.dialled
        if winner is not None and call.answered_by is not None and winner.target.number:
            number, name = winner.target.number, winner.target.name
        rows.append(CallLogRow(call.caller_user_id, "placed", started, answered, ended, number, name,
                               call.a_invite.call_id))
    seen: set[str] = set()
    answered_for = winner.target.served_user if winner is not None else None
    for leg in call.legs:
        user_id = leg.target.served_user
        if user_id is None or user_id in seen or user_id == call.caller_user_id:
            continue
        seen.add(user_id)
        number, name = presentation.caller_as_seen
        if leg.target.caller_view is not None and "anonymous.invalid" in leg.target.caller_view.from_uri:
            number, name = "", "Anonymous"
        direction = "received" if winner is not None and answered_for == user_id else "missed"
        rows.append(CallLogRow(user_id, direction, started, answered if direction == "received" else None,
                               ended, number, name, call.a_invite.call_id))
    callee = presentation.callee_user_id
    if callee is not None and callee not in seen and callee != call.caller_user_id:
        # Refused before any of their devices rang (no registration, busy without call waiting): still a
        # missed call for them — the user expects to see who tried to reach them.
        number, name = presentation.caller_as_seen
        rows.append(CallLogRow(callee, "missed", started, None, ended, number, name, call.a_invite.call_id))
    return rows


class CallLogStore(Protocol):
    async def add_rows(self, rows: list[CallLogRow]) -> None: ...

    async def rows_of(self, user_id: str, limit: int = 100) -> list[CallLogRow]: ...


class InMemoryCallLogStore:
    def __init__(self) -> None:
        self.rows: list[CallLogRow] = []

    async def add_rows(self, rows: list[CallLogRow]) -> None:
        self.rows.extend(rows)

    async def rows_of(self, user_id: str, limit: int = 100) -> list[CallLogRow]:
        mine = [r for r in self.rows if r.user_id == user_id]
        return sorted(mine, key=lambda r: r.started_at, reverse=True)[:limit]
