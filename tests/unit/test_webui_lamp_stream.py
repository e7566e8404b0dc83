"""The BLF tab's live lamps as Server-Sent Events (`webui.lamp_stream`) through aiohttp's test client, fed by
the real `LiveCalls` publishing `LegStateChanged` events as the call path does: the full state first, then
one event per lamp change (coalesced, nothing when the lamp stays), privacy ("hidden", also when it changes
while the page is open), authorization (not logged in, an administrator, another user's id), keep-alives,
unsubscribing when the client goes, a too slow client dropped, logout and shutdown ending the stream; and
the BLF page's own lamps and script."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pytest
from aiohttp import ClientResponse

from blf.lamp import LAMPS, LiveLamps
from sipserver.b2bua.call import LegStateChanged
from tests.unit.webui_fixtures import Env, env
from webui.lamp_stream import HIDDEN, LAMP_NAMES, LIMITS_KEY, lamp_changes
from webui.web import STATIC

__all__ = ["env"]

PAGE = "/portal/blf/events"
API = "/api/v1/users/jean.dupont/blf/events"
JEAN_WATCHES = ["marie.martin", "pieter.peeters", "sophie.lambert"]  # the demo's selection, in key order


def leg(user: str, state: str, direction: str = "recipient", *, call_id: str = "call-1",
        held: bool = False) -> LegStateChanged:
    return LegStateChanged(user_id=user, call_id=call_id, local_tag=f"b2bua-{call_id}", remote_tag="phone",
                           direction=direction, state=state, peer='"Secret" <sip:anonymous@anonymous.invalid>',
                           held=held)


async def next_event(response: ClientResponse, timeout: float = 2.0) -> tuple[str, Any]:
    """The next event of the stream: ("lamp", data), ("comment", text), ("retry", ms) or ("end", None)."""
    kind, data = "", ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), timeout)).decode()
        if not line:
            return "end", None
        line = line.rstrip("\n")
        if line == "":
            if kind == "lamp":
                return "lamp", json.loads(data)
            if kind:
                return kind, data
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            kind, data = "comment", value
        elif name == "event":
            kind = value
        elif name == "data":
            data = value
        elif name == "retry":
            kind, data = "retry", value


async def lamps(response: ClientResponse, count: int, timeout: float = 2.0) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while len(out) < count:
        kind, data = await next_event(response, timeout)
        assert kind in ("lamp", "retry", "comment"), (kind, data)
        if kind == "lamp":
            out.append((data["user"], data["lamp"]))
    return out


async def open_stream(env: Env, path: str = PAGE) -> ClientResponse:
    response = await env.client.get(path)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


@dataclass
class CountingFeed:
    """The real feed, counting who is subscribed."""

    inner: LiveLamps
    subscribed: int = 0
    listeners: list[Callable[[str], None]] = field(default_factory=list)

    def lamp(self, user_id: str) -> str:
        return self.inner.lamp(user_id)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        unsubscribe = self.inner.subscribe(listener)
        self.subscribed += 1

        def done() -> None:
            self.subscribed -= 1
            unsubscribe()

        return done


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def set_privacy(env: Env, user_id: str, privacy: Literal["all", "listed"], allowed: tuple[str, ...] = ()) -> None:
    user = await env.store.get_user(user_id)
    assert user is not None
    blf = replace(user.services.blf, privacy=privacy, allowed_watchers=allowed)
    await env.store.update_services(user_id, replace(user.services, blf=blf))
    await env.reload()


# -- the pure part -------------------------------------------------------------------------------------------
def test_lamp_changes_sends_only_what_differs_and_hides_what_is_not_shared() -> None:
    now = {"a": "idle", "b": "talking", "c": "ringing"}
    sent: dict[str, str] = {}
    scope = [("a", True), ("b", True), ("c", False)]
    assert lamp_changes(scope, now.__getitem__, sent, None) == [("a", "idle"), ("b", "talking"), ("c", HIDDEN)]
    assert lamp_changes(scope, now.__getitem__, sent, None) == []
    now["a"], now["b"] = "ringing", "held"
    assert lamp_changes(scope, now.__getitem__, sent, {"a"}) == [("a", "ringing")]  # b: not told it changed
    assert lamp_changes(scope, now.__getitem__, sent, {"b", "c"}) == [("b", "held")]
    assert lamp_changes([("a", False)], now.__getitem__, sent, None) == [("a", HIDDEN)]


def test_every_lamp_of_the_feed_has_a_label_and_the_script_knows_it() -> None:
    assert set(LAMP_NAMES) == {*LAMPS, HIDDEN}
    script = (STATIC / "blf.js").read_text()
    assert all(f'"{lamp}"' in script for lamp in LAMP_NAMES)


# -- who may read the stream -----------------------------------------------------------------------------------
async def test_not_logged_in_is_401(env: Env) -> None:
    assert (await env.client.get(PAGE)).status == 401
    assert (await env.client.get(API)).status == 401


async def test_an_administrator_has_no_lamps(env: Env) -> None:
    await env.admin_login()
    assert (await env.client.get(PAGE)).status == 401
    assert (await env.client.get(API)).status == 401


async def test_another_users_stream_is_403(env: Env) -> None:
    await env.api_login()
    assert (await env.client.get("/api/v1/users/marie.martin/blf/events")).status == 403


async def test_head_is_not_an_endless_stream(env: Env) -> None:
    await env.login()
    assert (await env.client.head(PAGE)).status == 405
    assert (await env.client.head(API)).status == 405


async def test_without_a_feed_the_stream_is_503_and_the_page_has_no_lamps(env: Env) -> None:
    await env.login()
    env.portal.lamps = None
    assert (await env.client.get(PAGE)).status == 503
    html = await (await env.client.get("/portal/blf")).text()
    assert 'class="lamp"' not in html and "blf.js" not in html


# -- the stream ------------------------------------------------------------------------------------------------
async def test_the_full_state_first_in_key_order_then_each_change(env: Env) -> None:
    env.live.publish(leg("pieter.peeters", "confirmed", "initiator", call_id="p1"))
    await env.login()
    response = await open_stream(env)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert await lamps(response, 3) == [("marie.martin", "idle"), ("pieter.peeters", "talking"),
                                        ("sophie.lambert", "idle")]
    env.live.publish(leg("marie.martin", "early"))
    assert await lamps(response, 1, timeout=1.0) == [("marie.martin", "ringing")]
    env.live.publish(leg("marie.martin", "early"))  # a 183 after the 180: the lamp stays, nothing is sent
    env.live.publish(leg("lucas.janssens", "early", call_id="x"))  # nobody Jean watches
    env.live.publish(leg("marie.martin", "confirmed"))
    assert await lamps(response, 1, timeout=1.0) == [("marie.martin", "talking")]
    env.live.publish(leg("marie.martin", "confirmed", held=True))
    assert await lamps(response, 1, timeout=1.0) == [("marie.martin", "held")]
    env.live.publish(leg("marie.martin", "terminated"))
    env.live.publish(leg("pieter.peeters", "terminated", call_id="p1"))
    assert await lamps(response, 2, timeout=1.0) == [("marie.martin", "idle"), ("pieter.peeters", "idle")]
    response.close()


async def test_the_api_stream_is_the_same(env: Env) -> None:
    await env.api_login()
    response = await open_stream(env, API)
    assert [lamp for _, lamp in await lamps(response, 3)] == ["idle", "idle", "idle"]
    env.live.publish(leg("sophie.lambert", "trying", "initiator"))
    assert await lamps(response, 1, timeout=1.0) == [("sophie.lambert", "dialling")]
    response.close()


async def test_changes_in_one_burst_are_one_event(env: Env) -> None:
    await env.login()
    response = await open_stream(env)
    await lamps(response, 3)
    env.live.publish(leg("marie.martin", "trying"))  # one synchronous burst of the call path
    env.live.publish(leg("marie.martin", "early"))
    env.live.publish(leg("marie.martin", "confirmed"))
    env.live.publish(leg("sophie.lambert", "early", call_id="s1"))
    env.live.publish(leg("sophie.lambert", "terminated", call_id="s1"))  # back to what Jean was told: nothing
    env.live.publish(leg("pieter.peeters", "early", call_id="p1"))
    assert await lamps(response, 2, timeout=1.0) == [("marie.martin", "talking"), ("pieter.peeters", "ringing")]
    response.close()


async def test_a_colleague_who_does_not_share_shows_no_state(env: Env) -> None:
    await set_privacy(env, "marie.martin", "listed", ("pieter.peeters",))
    env.live.publish(leg("marie.martin", "early"))
    await env.login()
    html = await (await env.client.get("/portal/blf")).text()
    assert re.search(r'id="lamp-marie\.martin"[^>]*data-lamp="hidden"', html)
    response = await open_stream(env)
    assert await lamps(response, 3) == [("marie.martin", HIDDEN), ("pieter.peeters", "idle"),
                                        ("sophie.lambert", "idle")]
    env.live.publish(leg("marie.martin", "confirmed"))
    env.live.publish(leg("pieter.peeters", "early", call_id="p1"))
    assert await lamps(response, 1, timeout=1.0) == [("pieter.peeters", "ringing")]  # never Marie's
    response.close()


async def test_privacy_changed_while_the_page_is_open(env: Env) -> None:
    env.client.app[LIMITS_KEY].recheck = 0.1
    env.live.publish(leg("marie.martin", "confirmed"))
    await env.login()
    response = await open_stream(env)
    assert (await lamps(response, 3))[0] == ("marie.martin", "talking")
    await set_privacy(env, "marie.martin", "listed")
    assert await lamps(response, 1, timeout=1.0) == [("marie.martin", HIDDEN)]
    await set_privacy(env, "marie.martin", "listed", ("jean.dupont",))
    assert await lamps(response, 1, timeout=1.0) == [("marie.martin", "talking")]
    response.close()


async def test_a_keep_alive_comment_when_nothing_changes(env: Env) -> None:
    env.client.app[LIMITS_KEY].keepalive = 0.2
    await env.login()
    response = await open_stream(env)
    await lamps(response, 3)
    assert await next_event(response, timeout=1.0) == ("comment", "keep-alive")
    response.close()


async def test_the_client_going_away_unsubscribes(env: Env) -> None:
    env.client.app[LIMITS_KEY].recheck = 0.1
    feed = CountingFeed(LiveLamps(env.live))
    env.portal.lamps = feed
    await env.login()
    first, second = await open_stream(env), await open_stream(env)
    await lamps(first, 3)
    await lamps(second, 3)
    assert feed.subscribed == 2
    first.close()
    await eventually(lambda: feed.subscribed == 1)
    env.live.publish(leg("marie.martin", "early"))  # the one left still hears it
    assert await lamps(second, 1) == [("marie.martin", "ringing")]
    second.close()
    await eventually(lambda: feed.subscribed == 0)


async def test_a_client_too_slow_for_a_burst_is_dropped(env: Env) -> None:
    env.client.app[LIMITS_KEY].queue = 3
    feed = CountingFeed(LiveLamps(env.live))
    env.portal.lamps = feed
    await env.login()
    response = await open_stream(env)
    await lamps(response, 3)
    for i in range(10):  # more than the queue holds before the stream's task can run
        env.live.publish(leg("marie.martin", "early" if i % 2 else "confirmed", call_id="m1"))
    while (event := await next_event(response))[0] != "end":
        assert event[0] in ("lamp", "comment"), event
    assert feed.subscribed == 0


async def test_logout_ends_the_stream(env: Env) -> None:
    env.client.app[LIMITS_KEY].recheck = 0.1
    token = await env.login()
    response = await open_stream(env)
    await lamps(response, 3)
    assert (await env.client.post("/logout", data={"csrf_token": token}, allow_redirects=False)).status == 303
    while (event := await next_event(response))[0] != "end":
        assert event[0] in ("lamp", "comment"), event
    assert (await env.client.get(PAGE)).status == 401


async def test_shutdown_ends_open_streams_at_once(env: Env) -> None:
    await env.login()
    response = await open_stream(env)
    await lamps(response, 3)
    await env.client.app.shutdown()  # what the server's stop runs first (else aiohttp waits up to 60 s)
    assert await next_event(response, timeout=1.0) == ("end", None)


# -- the page --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("language", "words"), [("fr", ("Sonne", "Libre", "En ligne")),
                                                  ("nl", ("Gaat over", "Vrij", "In gesprek")),
                                                  ("en", ("Ringing", "Idle", "On a call"))])
async def test_the_page_shows_each_lamp_as_a_word_and_loads_the_script(env: Env, language: str,
                                                                        words: tuple[str, str, str]) -> None:
    env.live.publish(leg("marie.martin", "early"))
    token = await env.login()
    await env.client.post("/language", data={"csrf_token": token, "language": language, "next": "/portal/blf"},
                          allow_redirects=False)
    html = await (await env.client.get("/portal/blf")).text()
    assert '<script src="/static/blf.js" defer></script>' in html
    assert 'data-events="/portal/blf/events"' in html
    marie = re.search(r'<span class="lamp" id="lamp-marie\.martin"[^>]*data-lamp="ringing"[^>]*'
                      r'aria-live="polite".*?</span></span>', html)
    assert marie and words[0] in marie.group(0), html
    assert f'data-label-idle="{words[1]}"' in html and f'data-label-talking="{words[2]}"' in html
    assert "Secret" not in html  # the caller is never shown
    script = await env.client.get("/static/blf.js")
    assert script.status == 200 and "EventSource" in await script.text()
