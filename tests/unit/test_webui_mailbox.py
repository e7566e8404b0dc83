"""The Messagerie tab over the real voicemail store (SQLite + WAV files in tmp_path): list, play (marks heard),
delete, greeting upload with a bad file refused, another user's message not found, CSRF on every write."""

from __future__ import annotations

import html
import io
import wave
from pathlib import Path

import aiohttp

from storage.voicemail import VoicemailStore
from tests.unit.webui_fixtures import Env, env

__all__ = ["env"]


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(rate * seconds))
    return buffer.getvalue()


def deposit(store: VoicemailStore, user_id: str, caller: str) -> str:
    recording = store.new_recording(user_id)
    recording.write_bytes(wav_bytes())
    return store.deposit(user_id, recording, caller_number="+3222211202", caller_name=caller, reason="no-answer").id


async def test_messages_play_delete_and_isolation(env: Env, tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    env.portal.voicemail = store
    try:
        mine = deposit(store, "jean.dupont", "Marie Martin")
        hers = deposit(store, "marie.martin", "Secret Caller")
        token = await env.login()
        page = html.unescape(await (await env.client.get("/portal/voicemail")).text())
        assert "Marie Martin" in page and "Secret Caller" not in page and "(Nouveau)" in page
        audio = await env.client.get(f"/portal/voicemail/messages/{mine}.wav")
        assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
        assert store.counts("jean.dupont").new == 0 and store.counts("jean.dupont").old == 1
        assert (await env.client.get(f"/portal/voicemail/messages/{hers}.wav")).status == 404
        r = await env.client.post(f"/portal/voicemail/messages/{hers}/delete", data={"csrf_token": token})
        assert r.status == 404 and store.message("marie.martin", hers) is not None
        r = await env.client.post(f"/portal/voicemail/messages/{mine}/delete", data={})
        assert r.status == 403 and store.message("jean.dupont", mine) is not None
        r = await env.client.post(f"/portal/voicemail/messages/{mine}/delete", data={"csrf_token": token},
                                  allow_redirects=False)
        assert r.status == 303 and store.messages("jean.dupont") == []
    finally:
        store.close()


async def test_greeting_upload(env: Env, tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    env.portal.voicemail = store
    try:
        token = await env.login()
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("action", "upload")
        form.add_field("file", b"not a wav", filename="x.wav", content_type="audio/wav")
        r = await env.client.post("/portal/voicemail/greetings/busy", data=form)
        assert r.status == 400 and "fichier WAV" in html.unescape(await r.text())
        assert store.greeting("jean.dupont", "busy") is None
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("action", "upload")
        form.add_field("file", wav_bytes(1.0), filename="hello.wav", content_type="audio/wav")
        r = await env.client.post("/portal/voicemail/greetings/busy", data=form, allow_redirects=False)
        assert r.status == 303 and store.greeting("jean.dupont", "busy") is not None
        assert (await env.client.get("/portal/voicemail/greetings/busy.wav")).status == 200
        r = await env.client.post("/portal/voicemail/greetings/busy", data={"action": "delete"})
        assert r.status == 403
        r = await env.client.post("/portal/voicemail/greetings/busy", data={"csrf_token": token, "action": "delete"},
                                  allow_redirects=False)
        assert r.status == 303 and store.greeting("jean.dupont", "busy") is None
    finally:
        store.close()


async def test_without_a_store_the_tab_says_so(env: Env) -> None:
    await env.login()
    r = await env.client.get("/portal/voicemail")
    assert r.status == 200 and "pas disponible" in html.unescape(await r.text())
