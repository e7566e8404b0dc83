"""Live call state per user (the source of BLF): legs come and go, subscribers hear every change."""

from __future__ import annotations

from sipserver.b2bua.call import LegStateChanged
from sipserver.b2bua.live import LiveCalls


def leg(state: str, call_id: str = "c1", user: str = "marie") -> LegStateChanged:
    return LegStateChanged(user_id=user, call_id=call_id, local_tag="t", remote_tag=None, direction="recipient",
                           state=state, peer='"Jean" <sip:201@x>')


def test_a_user_is_on_a_call_only_while_a_leg_is_confirmed() -> None:
    live = LiveCalls()
    heard: list[str] = []
    unsubscribe = live.subscribe(lambda event: heard.append(event.state))
    live.publish(leg("early"))
    assert not live.is_on_call("marie") and len(live.legs_of("marie")) == 1
    live.publish(leg("confirmed"))
    assert live.is_on_call("marie")
    live.publish(leg("terminated"))
    assert not live.is_on_call("marie") and live.legs_of("marie") == [] and live.active_users() == 0
    unsubscribe()
    live.publish(leg("early", "c2"))
    assert heard == ["early", "confirmed", "terminated"]
