"""A colleague's lamp as one word, from their live legs: what the portal's live BLF page shows.

`lamp_of(legs)` is "idle" when no leg is up, else what a Yealink key shows for the most urgent leg, by the very
rule the SIP notifier renders (`blf.dialog_info.most_urgent`): "ringing" (called, not yet answered) before
"talking" before "dialling" (calling out, not yet answered) before "held" (the colleague put the call on hold).
`LiveLamps` gives the portal a view of `LiveCalls` in these words: the current lamp of a user, and a
subscription that names the user whose legs changed (synchronously, from the call path).

Pure and synchronous. It knows legs (`LegStateChanged`: state, direction, held), never who is on the other
side (no caller identity leaves this module, so CLIR cannot leak), and nothing of HTTP or privacy rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, Literal

from blf.dialog_info import SHOWN_AS, DialogView, KeyShows, most_urgent, urgency
from sipserver.b2bua.call import LegStateChanged
from sipserver.b2bua.live import LiveCalls

__all__ = ["LAMPS", "Lamp", "LiveLamps", "lamp_of"]

Lamp = Literal["idle"] | KeyShows
LAMPS: Final[tuple[Lamp, ...]] = ("idle", "ringing", "talking", "dialling", "held")


def _view(leg: LegStateChanged) -> DialogView:
    """Only what decides the lamp: no tags, no remote identity."""
    return DialogView(call_id=leg.call_id, local_tag="", remote_tag=None, direction=leg.direction,
                      state=leg.state, remote_identity=None, held=leg.held)


def lamp_of(legs: Iterable[LegStateChanged]) -> Lamp:
    shown = most_urgent(_view(leg) for leg in legs)
    if shown is None:
        return "idle"
    return SHOWN_AS[urgency(shown)]


class LiveLamps:
    """`LiveCalls` as lamps: `lamp(user_id)` now, `subscribe(listener)` told the user id of every leg change
    (the listener runs inside `LiveCalls.publish`, on the call path: it must only take note)."""

    def __init__(self, live: LiveCalls) -> None:
        self._live = live

    def lamp(self, user_id: str) -> Lamp:
        return lamp_of(self._live.legs_of(user_id))

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Returns the function that unsubscribes `listener`."""
        return self._live.subscribe(lambda event: listener(event.user_id))
