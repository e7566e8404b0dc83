"""A colleague's lamp from their live legs (`blf.lamp`): the key's precedence (ringing, then talking, then
dialling out, then held), idle without legs, and `LiveLamps` over the real `LiveCalls`."""

from __future__ import annotations

import pytest

from blf.lamp import LAMPS, LiveLamps, lamp_of
from sipserver.b2bua.call import LegStateChanged
from sipserver.b2bua.live import LiveCalls


def leg(state: str, direction: str = "recipient", *, held: bool = False, call_id: str = "c1",
        user: str = "marie.martin") -> LegStateChanged:
    return LegStateChanged(user_id=user, call_id=call_id, local_tag=f"t-{call_id}", remote_tag=None,
                           direction=direction, state=state, peer='"Jean Dupont" <sip:201@callconnect.local>',
                           held=held)


def test_no_leg_is_idle() -> None:
    assert lamp_of([]) == "idle"


@pytest.mark.parametrize(("state", "direction", "held", "lamp"), [
    ("trying", "recipient", False, "ringing"),
    ("early", "recipient", False, "ringing"),
    ("trying", "initiator", False, "dialling"),
    ("early", "initiator", False, "dialling"),
    ("confirmed", "recipient", False, "talking"),
    ("confirmed", "initiator", False, "talking"),
    ("confirmed", "initiator", True, "held"),
    ("terminated", "recipient", False, "idle"),
])
def test_one_leg(state: str, direction: str, held: bool, lamp: str) -> None:
    assert lamp_of([leg(state, direction, held=held)]) == lamp


@pytest.mark.parametrize(("legs", "lamp"), [
    ([leg("confirmed", held=True, call_id="a"), leg("early", call_id="b")], "ringing"),  # call waiting
    ([leg("confirmed", call_id="a"), leg("early", "initiator", call_id="b")], "talking"),
    ([leg("confirmed", held=True, call_id="a"), leg("early", "initiator", call_id="b")], "dialling"),
    ([leg("confirmed", held=True, call_id="a"), leg("confirmed", call_id="b")], "talking"),
    ([leg("confirmed", held=True, call_id="a"), leg("terminated", call_id="b")], "held"),
])
def test_several_legs_show_the_most_urgent(legs: list[LegStateChanged], lamp: str) -> None:
    assert lamp_of(legs) == lamp
    assert lamp_of(reversed(legs)) == lamp


def test_every_lamp_is_a_known_word() -> None:
    assert set(LAMPS) == {"idle", "ringing", "talking", "dialling", "held"}


def test_live_lamps_follow_live_calls_and_unsubscribe() -> None:
    live = LiveCalls()
    lamps = LiveLamps(live)
    heard: list[tuple[str, str]] = []
    unsubscribe = lamps.subscribe(lambda user: heard.append((user, lamps.lamp(user))))
    assert lamps.lamp("marie.martin") == "idle"
    live.publish(leg("early"))
    live.publish(leg("confirmed"))
    live.publish(leg("early", "initiator", call_id="c2", user="pieter.peeters"))
    live.publish(leg("terminated"))
    assert heard == [("marie.martin", "ringing"), ("marie.martin", "talking"), ("pieter.peeters", "dialling"),
                     ("marie.martin", "idle")]
    unsubscribe()
    live.publish(leg("early"))
    assert len(heard) == 4
    assert lamps.lamp("marie.martin") == "ringing"  # still read, no longer told
