"""Live BLF lamps as Server-Sent Events (`text/event-stream`): the BLF tab's lamps without a reload.

`stream_lamps(request, session)` answers one logged-in user's stream (the page's `GET /portal/blf/events` and
the API's `GET /api/v1/users/{user_id}/blf/events` both end here once they have checked who asks). It sends
every monitored colleague's lamp at once, then one `lamp` event per colleague whose lamp changed:

    event: lamp
    data: {"user": "marie.martin", "lamp": "ringing"}

`lamp` is the feed's word ("idle", "ringing", "talking", "dialling", "held") or "hidden" for a colleague whose
"who may monitor me" does not allow this user (or who is gone): no state at all, like the SIP side's 403.
Only the state is sent, never the other party, so CLIR needs no rule here. Changes are coalesced per
colleague and sent only when the lamp differs from what this client was last told; a comment line keeps the
connection alive every `keepalive` seconds. The selection, privacy and the session are looked at again every
`recheck` seconds: a colleague who stops sharing turns "hidden", and the stream ends at logout or expiry.

The feed's listener runs synchronously on the SIP call path, so it only puts the colleague's id on this
client's bounded queue; a client too slow to take `queue` pending changes is dropped (the browser's
EventSource reconnects and gets a fresh full state). A client that goes away unsubscribes; so does every
stream at server shutdown (`setup_lamp_streams`), so a page left open never holds up a stop.

It knows aiohttp, the portal's `LampFeed` and the service layer's BLF selection; it knows no SIP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import structlog
from aiohttp import web

from webui.security import Session
from webui.services import NotFound
from webui.web import PORTAL_KEY, Portal, add_security_headers

__all__ = ["HIDDEN", "LAMP_NAMES", "LIMITS_KEY", "StreamLimits", "lamp_changes", "setup_lamp_streams", "stream_lamps"]

log = structlog.get_logger("callconnect.portal")

HIDDEN: Final = "hidden"
LAMP_NAMES: Final = {"idle": "Idle", "ringing": "Ringing", "talking": "On a call", "dialling": "Dialling out",
                     "held": "On hold", HIDDEN: "Not shared"}
"""Each lamp's label (a message id of `webui.i18n`): the page shows a word, never only a colour."""
_WAKE: Final = ""  # not a user id: ends the wait (shutdown)


@dataclass(slots=True)
class StreamLimits:
    keepalive: float = 15.0  # seconds without a write before a keep-alive comment
    recheck: float = 5.0  # seconds between two looks at the selection, privacy and the session
    queue: int = 256  # pending changes one client may have before it is dropped as too slow


@dataclass(eq=False, slots=True)
class _Client:
    queue: asyncio.Queue[str]
    watched: frozenset[str] = frozenset()
    dropped: bool = False
    closing: bool = False

    def offer(self, user_id: str) -> None:
        """The feed's listener, on the call path: take note, never wait."""
        if user_id not in self.watched or self.dropped:
            return
        try:
            self.queue.put_nowait(user_id)
        except asyncio.QueueFull:
            self.dropped = True

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_WAKE)


@dataclass(slots=True)
class _Clients:
    open: set[_Client] = field(default_factory=set)


LIMITS_KEY: web.AppKey[StreamLimits] = web.AppKey("lamp_stream_limits", StreamLimits)
_CLIENTS_KEY: web.AppKey[_Clients] = web.AppKey("lamp_stream_clients", _Clients)


def setup_lamp_streams(app: web.Application, limits: StreamLimits | None = None) -> None:
    app[LIMITS_KEY] = limits or StreamLimits()
    app[_CLIENTS_KEY] = clients = _Clients()

    async def end_streams(_: web.Application) -> None:
        for client in list(clients.open):
            client.close()

    app.on_shutdown.append(end_streams)


def lamp_changes(scope: Iterable[tuple[str, bool]], lamp: Callable[[str], str], sent: dict[str, str],
                 changed: set[str] | None) -> list[tuple[str, str]]:
    """What to tell a client: `(colleague, lamp)` for each colleague of `scope` (in order, with whether they
    may be watched) whose lamp is not what `sent` says it was told, looking only at `changed` (None: all).
    Updates `sent`."""
    out: list[tuple[str, str]] = []
    for user_id, visible in scope:
        if changed is not None and user_id not in changed:
            continue
        shown = lamp(user_id) if visible else HIDDEN
        if sent.get(user_id) != shown:
            sent[user_id] = shown
            out.append((user_id, shown))
    return out


def _visible(scope: Iterable[tuple[str, bool]]) -> frozenset[str]:
    return frozenset(user_id for user_id, visible in scope if visible)


def _event(user_id: str, lamp: str) -> bytes:
    return f"event: lamp\ndata: {json.dumps({'user': user_id, 'lamp': lamp})}\n\n".encode()


async def _still_allowed(portal: Portal, session: Session) -> bool:
    """The session is not logged out or expired; an API token's, that the token is not revoked."""
    if session.token_id is None:
        return portal.sessions.is_live(session)
    return portal.tokens is not None and await portal.tokens.exists(session.token_id)


async def stream_lamps(request: web.Request, session: Session) -> web.StreamResponse:
    """The stream of `session`'s user (already checked by the caller: logged in, their own id)."""
    portal = request.app[PORTAL_KEY]
    feed = portal.lamps
    if feed is None:
        raise web.HTTPServiceUnavailable(text="503: live lamps are not offered\n")
    user_id = session.user_id
    assert user_id is not None
    try:
        scope = await portal.service.monitored_visibility(user_id)
    except NotFound:
        raise web.HTTPNotFound(text="404: no such user\n") from None
    limits = request.app[LIMITS_KEY]
    clients = request.app[_CLIENTS_KEY]
    client = _Client(asyncio.Queue(limits.queue), watched=_visible(scope))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "X-Accel-Buffering": "no"})
    add_security_headers(request, response)
    response.headers["Cache-Control"] = "no-store"
    unsubscribe = feed.subscribe(client.offer)
    clients.open.add(client)
    loop = asyncio.get_running_loop()
    sent: dict[str, str] = {}
    changed: set[str] | None = None  # whose lamps to look at: None, all of them
    last_check = last_write = loop.time()
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        last_write = loop.time()
        while not client.closing:
            now = loop.time()
            if now - last_check >= limits.recheck:
                last_check, changed = now, None
                if not await _still_allowed(portal, session) or request.transport is None or \
                        request.transport.is_closing():
                    break
                try:
                    scope = await portal.service.monitored_visibility(user_id)
                except NotFound:
                    break
                client.watched = _visible(scope)
            lines = b"".join(_event(uid, lamp) for uid, lamp in lamp_changes(scope, feed.lamp, sent, changed))
            if not lines and now - last_write >= limits.keepalive:
                lines = b": keep-alive\n\n"
            if lines:
                await response.write(lines)
                last_write = loop.time()
            if client.dropped:
                log.info("portal_lamp_stream_dropped", user=user_id, why="too slow")
                break
            timeout = max(0.0, min(last_check + limits.recheck, last_write + limits.keepalive) - loop.time())
            try:
                first = await asyncio.wait_for(client.queue.get(), timeout)
            except TimeoutError:
                changed = set()
                continue
            changed = {first}
            while not client.queue.empty():
                changed.add(client.queue.get_nowait())
    except ConnectionError:
        pass  # the client went away: nothing more to send
    finally:
        unsubscribe()
        clients.open.discard(client)
    return response
