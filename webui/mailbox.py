"""The Messagerie tab: the logged-in user's voice messages (list, play in the browser, delete) and greetings
(upload a WAV, remove), over the voicemail store shared with the voicemail service.

The store is synchronous SQLite + WAV files (`storage.voicemail.VoicemailStore`, seen here only through the
`MailboxStore` protocol); every call runs in a worker thread, one at a time (its one connection is not shared
by threads at once). Only the session's own mailbox is ever named, so another user's message id is simply
not found (404). Knows aiohttp and the store protocol; no SIP, no SQL.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from aiohttp import web

from webui.i18n import gettext
from webui.security import Session
from webui.services import national
from webui.web import CSRF_FIELD, PORTAL_KEY, current_session, render, require_csrf

__all__ = ["MailboxStore", "add_mailbox_routes"]

GREETINGS: Final = {"busy": "Busy greeting", "no-answer": "No-answer greeting"}
T = TypeVar("T")


class MailboxStore(Protocol):
    def messages(self, user_id: str) -> list[Any]: ...
    def message(self, user_id: str, message_id: str) -> Any | None: ...
    def audio_path(self, message: Any) -> Path: ...
    def mark_heard(self, user_id: str, message_id: str) -> bool: ...
    def delete(self, user_id: str, message_id: str) -> bool: ...
    def greeting(self, user_id: str, kind: Any) -> Path | None: ...
    def save_greeting_bytes(self, user_id: str, kind: Any, wav: bytes) -> float: ...
    def delete_greeting(self, user_id: str, kind: Any) -> bool: ...


_LOCK = threading.Lock()


async def _run(function: Callable[..., T], *args: Any) -> T:
    def locked() -> T:
        with _LOCK:
            return function(*args)

    return await asyncio.to_thread(locked)


def _store(request: web.Request) -> MailboxStore:
    store: MailboxStore | None = request.app[PORTAL_KEY].voicemail
    if store is None:
        raise web.HTTPNotFound(text="404: voicemail is not available\n")
    return store


def _session(request: web.Request) -> Session:
    session = current_session(request)
    if session is None or session.user_id is None:
        raise web.HTTPSeeOther("/login")
    return session


async def mailbox_page(request: web.Request, error: str | None = None) -> web.Response:
    session = _session(request)
    assert session.user_id is not None
    portal = request.app[PORTAL_KEY]
    user = await portal.service.user(session.user_id)
    group = await portal.service.group(user)
    store = portal.voicemail
    messages: list[dict[str, Any]] = []
    greetings: dict[str, bool] = {}
    if store is not None:
        from zoneinfo import ZoneInfo
        zone = ZoneInfo(group.group.time_zone)
        for m in await _run(store.messages, session.user_id):
            messages.append({"id": m.id, "heard": m.heard, "duration": f"{m.duration:.0f} s",
                             "from": m.caller_name or national(m.caller_number, group.group.country_code),
                             "time": datetime.fromtimestamp(m.received_at, zone).strftime("%d/%m/%Y %H:%M")})
        for kind in GREETINGS:
            greetings[kind] = await _run(store.greeting, session.user_id, kind) is not None
    return render(request, "voicemail.html", {"user": user, "tab": "voicemail", "available": store is not None,
                                              "messages": messages, "greetings": greetings,
                                              "greeting_names": GREETINGS, "error": error},
                  status=400 if error else 200)


async def message_audio(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session.user_id is not None
    store = _store(request)
    message_id = request.match_info["id"]
    message = await _run(store.message, session.user_id, message_id)
    if message is None:
        raise web.HTTPNotFound(text=gettext(session.language, "The message does not exist."))
    await _run(store.mark_heard, session.user_id, message_id)
    path = store.audio_path(message)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})


async def message_delete(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    token = data.get(CSRF_FIELD)
    require_csrf(request, token if isinstance(token, str) else None)
    session = _session(request)
    assert session.user_id is not None
    if not await _run(_store(request).delete, session.user_id, request.match_info["id"]):
        raise web.HTTPNotFound(text=gettext(session.language, "The message does not exist."))
    raise web.HTTPSeeOther("/portal/voicemail")


async def greeting_audio(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    assert session.user_id is not None
    kind = request.match_info["kind"]
    path = await _run(_store(request).greeting, session.user_id, kind) if kind in GREETINGS else None
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})


async def greeting_post(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    token = data.get(CSRF_FIELD)
    require_csrf(request, token if isinstance(token, str) else None)
    session = _session(request)
    assert session.user_id is not None
    kind = request.match_info["kind"]
    if kind not in GREETINGS:
        raise web.HTTPNotFound()
    store = _store(request)
    if data.get("action") == "delete":
        await _run(store.delete_greeting, session.user_id, kind)
        raise web.HTTPSeeOther("/portal/voicemail")
    upload = data.get("file")
    if not isinstance(upload, web.FileField):
        return await mailbox_page(request, error="expected 16-bit mono PCM at 8 to 48 kHz")
    try:
        await _run(store.save_greeting_bytes, session.user_id, kind, upload.file.read())
    except ValueError as exc:  # storage.voicemail.StoreError: the message says what is wrong
        return await mailbox_page(request, error=str(exc))
    session.flash.append(gettext(session.language, "Saved."))
    raise web.HTTPSeeOther("/portal/voicemail")


def add_mailbox_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/portal/voicemail", mailbox_page)
    r.add_get("/portal/voicemail/messages/{id}.wav", message_audio)
    r.add_post("/portal/voicemail/messages/{id}/delete", message_delete)
    r.add_get("/portal/voicemail/greetings/{kind}.wav", greeting_audio)
    r.add_post("/portal/voicemail/greetings/{kind}", greeting_post)
