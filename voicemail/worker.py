"""A voicemail media worker: one pjsua2 endpoint (null audio device, no sound card) in its own process.

It answers the INVITEs the server sends it (`voicemail/request.py` says what each asks for), runs one
`voicemail.session.Session` per call and carries out its actions with pjmedia: prompt files played one after
the other to the caller, the caller's audio recorded into the store's `.part.wav` file, DTMF (RFC 4733 or SIP
INFO, as pjsua reports them) fed back as digits; finished recordings become messages or greetings through
`storage.voicemail.VoicemailStore` (whose counts light the MWI lamps). Silence-only or sub-second messages
are not kept.

pjsua handles at most 4 calls per process (PJSUA_MAX_CALLS of the wheel): the service runs several workers
and the server tries them in turn (a full worker answers 486). Only the server may call it: INVITEs from any
other address get 403. Everything runs on this process's main thread: `libHandleEvents()` in a loop, which
also drives the sessions' timers and the playlists (a prompt ends when its duration has passed, so no pjmedia
callback runs Python from the media thread). Knows nothing of users or features beyond what the INVITE says.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import faulthandler
import gc
import math
import os
import signal
import struct
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

import pjsua2 as pj
import structlog

from storage.voicemail import StoreError, VoicemailStore, check_user_id, finalize_wav
from voicemail.request import BadRequest, VoicemailRequest, parse_invite
from voicemail.session import (
    Action,
    DeleteMessage,
    FinishRecording,
    Hangup,
    MarkHeard,
    Play,
    Record,
    ResetGreetings,
    Session,
    SetPin,
    StopPlayback,
)

log = structlog.get_logger("voicemail")

MAX_CALLS: Final = 4
MIN_MESSAGE_SECONDS: Final = 1.0
SILENCE_RMS: Final = 60.0  # of 32,768: below it a "message" is line noise
_PLAYER_RETIRE_SECONDS: Final = 2.0  # a finished player lives on this long (see Worker._release)
_WRITER_CLOSE_WAIT: Final = 2.0  # seconds pjmedia gets to close a recording before we take it as it is


def wav_seconds(path: Path) -> float:
    """Duration of a PCM or G.711 WAV file (sizes as written; 0 for a file pjmedia could not read either)."""
    try:
        with wave.open(str(path)) as wav:
            return float(wav.getnframes()) / float(wav.getframerate())
    except (wave.Error, EOFError, OSError):
        return _raw_seconds(path)


def _raw_seconds(path: Path) -> float:
    try:
        raw = path.read_bytes()
    except OSError:
        return 0.0
    pos = 12
    rate, width = 8000, 1
    while pos + 8 <= len(raw):
        chunk, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if chunk == b"fmt ":
            _, _, rate, byte_rate, _, _ = struct.unpack_from("<HHIIHH", raw, pos + 8)
            width = max(1, byte_rate // max(rate, 1))
        elif chunk == b"data":
            return float(min(size, len(raw) - pos - 8)) / float(rate * width)
        pos += 8 + size + (size & 1)
    return 0.0


def is_silent(path: Path) -> bool:
    """True when a 16-bit recording holds no voice: its RMS (every 4th sample) stays under SILENCE_RMS."""
    try:
        with wave.open(str(path)) as wav:
            if wav.getsampwidth() != 2:
                return False
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError):
        return True
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    picked = samples[::4]
    if not picked:
        return True
    return math.sqrt(sum(s * s for s in picked) / len(picked)) < SILENCE_RMS


@dataclass
class _ClosingRecording:
    path: Path
    purpose: str | None
    keep: bool
    request: VoicemailRequest
    since: float


def _writer_done(path: Path) -> bool:
    """pjmedia has closed a WAV it wrote: the data chunk's size field now matches the bytes in the file."""
    try:
        with open(path, "rb") as wav:
            header = wav.read(44)
            total = wav.seek(0, os.SEEK_END)
    except OSError:
        return True
    if len(header) < 44 or header[36:40] != b"data":
        return False
    data_size = int.from_bytes(header[40:44], "little")
    return data_size > 0 and data_size == total - 44


@dataclass
class _Playback:
    files: list[Path]
    player: Any = None
    ends_at: float = 0.0


@dataclass
class _CallState:
    request: VoicemailRequest
    session: Session
    media: Any = None
    playback: _Playback | None = None
    recorder: Any = None
    recording_path: Path | None = None
    recording_purpose: str | None = None
    started: bool = False
    ended: bool = False
    digits: list[str] = field(default_factory=list)


class VoicemailCall(pj.Call):  # type: ignore[misc]
    def __init__(self, worker: Worker, account: pj.Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.state: _CallState | None = None

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.worker.on_disconnected(self)
            # pjsua frees this call's slot when the callback returns and gives it to the next INVITE. The
            # C++ object must be gone by then: its destructor hangs up whatever call holds its slot number.
            self.worker.forget(self)

    def onCallMediaState(self, prm: Any) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.worker.on_media(self, self.getAudioMedia(index))
                return

    def onDtmfDigit(self, prm: Any) -> None:
        if self.state is not None:
            self.state.digits.extend(prm.digit)


class VoicemailAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker

    def onIncomingCall(self, prm: Any) -> None:
        self.worker.on_incoming(self, prm)


class Worker:
    def __init__(self, *, data_dir: Path, host: str, port: int, allowed: frozenset[str],
                 max_message_seconds: float = 120.0, log_level: int = 1, rtp_port: int = 4000) -> None:
        self.log_level = log_level
        self.rtp_port = rtp_port
        self.store = VoicemailStore(data_dir)
        self.host = host
        self.port = port
        self.allowed = allowed
        self.max_message_seconds = max_message_seconds
        self.calls: list[VoicemailCall] = []
        self.retired: list[tuple[float, Any]] = []  # (destroy after, player)
        self.closing: list[_ClosingRecording] = []
        self.stopping = False
        self.ep = pj.Endpoint()
        self.account: VoicemailAccount | None = None

    # -- life cycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        removed = self.store.sweep(older_than=self.max_message_seconds + 60)
        ep = self.ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "callconnect-voicemail"
        cfg.logConfig.level = self.log_level
        cfg.logConfig.consoleLevel = self.log_level
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        cfg.medConfig.sndAutoCloseTime = -1  # the null device clocks the bridge (RTP, RFC 4733): never idle it
        cfg.medConfig.ecTailLen = 0
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            name = codec.codecId
            priority = 255 if name.startswith("PCMA/") else 254 if name.startswith("PCMU/") else \
                200 if name.startswith("G722/") else 0
            ep.codecSetPriority(name, priority)
        for kind in (pj.PJSIP_TRANSPORT_UDP, pj.PJSIP_TRANSPORT_TCP):
            tcfg = pj.TransportConfig()
            tcfg.port = self.port
            tcfg.boundAddress = tcfg.publicAddress = self.host
            ep.transportCreate(kind, tcfg)
        ep.libStart()
        acfg = pj.AccountConfig()
        host = f"[{self.host}]" if ":" in self.host else self.host
        acfg.idUri = f"sip:voicemail@{host}:{self.port}"
        acfg.mediaConfig.transportConfig.boundAddress = self.host
        acfg.mediaConfig.transportConfig.port = self.rtp_port
        acfg.natConfig.iceEnabled = False
        acfg.natConfig.sdpNatRewriteUse = 0
        acfg.natConfig.viaRewriteUse = 0
        acfg.natConfig.contactRewriteUse = 0
        self.account = VoicemailAccount(self)
        self.account.create(acfg, True)
        log.info("voicemail_worker_started", address=f"{host}:{self.port}", swept=removed)

    def run(self, ready: IO[str] | None = None) -> None:
        """Serve until SIGTERM/SIGINT; `READY <port>` on `ready` once calls can come."""
        self.start()
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        if ready is not None:
            ready.write(f"READY {self.port}\n")
            ready.flush()
        parent, next_check = os.getppid(), 0.0
        try:
            while not self.stopping:
                self.ep.libHandleEvents(10)
                now = time.monotonic()
                self.step(now)
                if now >= next_check:  # the service (or server) that started us is gone: so are we
                    next_check = now + 1.0
                    if os.getppid() != parent:
                        log.warning("voicemail_worker_orphaned")
                        self.stopping = True
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for call in list(self.calls):
            state = call.state
            if state is not None and not state.ended:
                self._carry_out(call, state.session.hung_up(time.monotonic()))
                self._stop_media(call)
            try:
                call.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
        deadline = time.monotonic() + _WRITER_CLOSE_WAIT + 0.5
        while (self.calls or self.closing) and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
            self.step(time.monotonic())
        for closing in self.closing:
            self._store_recording(closing)
        self.calls.clear()
        self.retired.clear()
        self.account = None
        gc.collect()
        self.ep.libDestroy()
        self.store.close()

    # -- pjsua callbacks ---------------------------------------------------------------------------------
    def on_incoming(self, account: VoicemailAccount, prm: Any) -> None:
        call = VoicemailCall(self, account, prm.callId)
        self.calls.append(call)
        answer = pj.CallOpParam()
        source = str(prm.rdata.srcAddress).rsplit(":", 1)[0].strip("[]")
        if source not in self.allowed:
            answer.statusCode = 403
            log.warning("voicemail_refused_source", source=source)
            call.answer(answer)
            return
        request = parse_invite(str(prm.rdata.wholeMsg).encode("utf-8", "surrogateescape"))
        if isinstance(request, BadRequest):
            answer.statusCode = request.status
            call.answer(answer)
            return
        try:
            check_user_id(request.mailbox)
        except StoreError:
            answer.statusCode = 404
            call.answer(answer)
            return
        session = Session(mode="deposit" if request.mode == "deposit" else "access", mailbox=request.mailbox,
                          language=request.language, reader=self.store, reason=request.reason,
                          max_message_seconds=self.max_message_seconds, zone=ZoneInfo(request.time_zone))
        call.state = _CallState(request=request, session=session)
        answer.statusCode = 200
        call.answer(answer)
        log.info("voicemail_call", mode=request.mode, mailbox=request.mailbox, reason=request.reason,
                 caller=request.caller_number)

    def on_media(self, call: VoicemailCall, media: Any) -> None:
        state = call.state
        if state is None or state.ended:
            return
        state.media = media
        if not state.started:
            state.started = True
            self._carry_out(call, state.session.start(time.monotonic()))

    def on_disconnected(self, call: VoicemailCall) -> None:
        state = call.state
        if state is not None:
            log.info("voicemail_call_ended", mailbox=state.request.mailbox, caller=state.request.caller_number)
        if state is not None and not state.ended:
            self._carry_out(call, state.session.hung_up(time.monotonic()))
            state.ended = True
            self._stop_media(call)

    def forget(self, call: VoicemailCall) -> None:
        """Drop the worker's reference to a disconnected call (the caller's is the last one)."""
        with contextlib.suppress(ValueError):
            self.calls.remove(call)

    # -- the loop ----------------------------------------------------------------------------------------
    def step(self, now: float) -> None:
        for call in list(self.calls):
            state = call.state
            if state is None or state.ended or not state.started:
                continue
            while state.digits and not state.ended:
                self._carry_out(call, state.session.digit(state.digits.pop(0), now))
            playback = state.playback
            if playback is not None and now >= playback.ends_at:
                if playback.files:
                    self._play_next(state, now)
                else:
                    self._stop_playback(state)
                    self._carry_out(call, state.session.played(now))
            deadline = state.session.next_deadline
            if deadline is not None and now >= deadline:
                self._carry_out(call, state.session.tick(now))
        if self.closing:
            self._settle_recordings(now)
        if self.retired and self.retired[0][0] <= now:
            self.retired = [(at, port) for at, port in self.retired if at > now]

    # -- carrying actions out ----------------------------------------------------------------------------
    def _carry_out(self, call: VoicemailCall, actions: list[Action]) -> None:
        state = call.state
        if state is None:
            return
        now = time.monotonic()
        for action in actions:
            if isinstance(action, Play):
                self._stop_playback(state)
                state.playback = _Playback(files=list(action.files))
                self._play_next(state, now)
            elif isinstance(action, StopPlayback):
                self._stop_playback(state)
            elif isinstance(action, Record):
                self._start_recording(state, action.purpose)
            elif isinstance(action, FinishRecording):
                self._finish_recording(state, keep=action.keep)
            elif isinstance(action, MarkHeard):
                self.store.mark_heard(state.request.mailbox, action.message_id)
            elif isinstance(action, DeleteMessage):
                self.store.delete(state.request.mailbox, action.message_id)
            elif isinstance(action, ResetGreetings):
                for kind in ("busy", "no-answer"):
                    self.store.delete_greeting(state.request.mailbox, kind)
            elif isinstance(action, SetPin):
                self.store.set_pin(state.request.mailbox, action.pin)
            elif isinstance(action, Hangup):
                state.ended = True
                self._stop_media(call)
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass

    def _play_next(self, state: _CallState, now: float) -> None:
        playback = state.playback
        if playback is None:
            return
        if playback.player is not None:
            self._release(playback.player, state.media)
            playback.player = None
        while playback.files:
            path = playback.files.pop(0)
            seconds = wav_seconds(path)
            if seconds <= 0 or state.media is None:
                continue
            player = pj.AudioMediaPlayer()
            try:
                player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(state.media)
            except pj.Error as error:
                log.warning("voicemail_play_failed", file=str(path), error=str(error.info()))
                continue
            playback.player = player
            playback.ends_at = now + seconds
            return
        playback.ends_at = now  # nothing (left) to play: played() at the next step

    def _stop_playback(self, state: _CallState) -> None:
        playback, state.playback = state.playback, None
        if playback is not None and playback.player is not None:
            self._release(playback.player, state.media)

    def _release(self, port: Any, media: Any) -> None:
        """Stop a player now; destroy it later. At its end of file pjsua2 queues a job holding the player's
        address, run by a later libHandleEvents(): a player destroyed before that job ran crashed the worker
        (SIGSEGV, seen with 100 deposits at once)."""
        try:
            if media is not None:
                port.stopTransmit(media)
        except pj.Error:
            pass
        self.retired.append((time.monotonic() + _PLAYER_RETIRE_SECONDS, port))

    def _start_recording(self, state: _CallState, purpose: str) -> None:
        if state.media is None:
            return
        path = self.store.new_recording(state.request.mailbox)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        state.media.startTransmit(recorder)
        state.recorder, state.recording_path, state.recording_purpose = recorder, path, purpose

    def _finish_recording(self, state: _CallState, *, keep: bool) -> None:
        recorder, path, purpose = state.recorder, state.recording_path, state.recording_purpose
        state.recorder = state.recording_path = state.recording_purpose = None
        if recorder is None or path is None:
            return
        try:
            if state.media is not None:
                state.media.stopTransmit(recorder)
        except pj.Error:
            pass
        # pjmedia removes a port from its conference bridge asynchronously (in the clock thread) and flushes and
        # closes the file only then: the recording is handled once the writer has finished with it.
        del recorder
        self.closing.append(_ClosingRecording(path, purpose, keep, state.request, time.monotonic()))

    def _settle_recordings(self, now: float) -> None:
        still: list[_ClosingRecording] = []
        for closing in self.closing:
            if not _writer_done(closing.path) and now - closing.since < _WRITER_CLOSE_WAIT:
                still.append(closing)
                continue
            self._store_recording(closing)
        self.closing = still

    def _store_recording(self, closing: _ClosingRecording) -> None:
        path, purpose, request = closing.path, closing.purpose, closing.request
        mailbox = request.mailbox
        try:
            if not closing.keep:
                self.store.discard(path)
                return
            seconds = finalize_wav(path)
            if purpose == "message":
                if seconds < MIN_MESSAGE_SECONDS or is_silent(path):
                    log.info("voicemail_empty_message_dropped", mailbox=mailbox, seconds=round(seconds, 2))
                    self.store.discard(path)
                    return
                message = self.store.deposit(mailbox, path, caller_number=request.caller_number,
                                             caller_name=request.caller_name, reason=request.reason)
                log.info("voicemail_message_left", mailbox=mailbox, message=message.id, seconds=message.duration)
            elif purpose in ("busy", "no-answer"):
                if seconds < MIN_MESSAGE_SECONDS:
                    self.store.discard(path)
                    return
                self.store.save_greeting(mailbox, purpose, path)  # type: ignore[arg-type]
                log.info("voicemail_greeting_saved", mailbox=mailbox, kind=purpose)
        except (StoreError, OSError) as error:
            log.error("voicemail_store_failed", mailbox=mailbox, error=str(error))
            self.store.discard(path)

    def _stop_media(self, call: VoicemailCall) -> None:
        state = call.state
        if state is None:
            return
        self._stop_playback(state)
        if state.recorder is not None:
            self._finish_recording(state, keep=False)
        state.media = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="callconnect-voicemail-worker", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--allow", action="append", default=[],
                        help="an address the server sends from (default: the --host address)")
    parser.add_argument("--max-message-seconds", type=float, default=120.0)
    parser.add_argument("--log-level", type=int, default=1, help="pjsip's log level (to stderr), 0..6")
    parser.add_argument("--rtp-port", type=int, default=4000,
                        help="first RTP port tried (RTP on even ports, RTCP above; taken ones are skipped)")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a crash in pjsua's C code leaves the Python stack on stderr
    from sipserver.logs import configure_logging
    # stdout carries only READY; pjsip's C-level console log (fd 1) and ours go to stderr.
    sys.stdout.flush()
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    configure_logging()
    Worker(data_dir=args.data_dir, host=args.host, port=args.port, allowed=frozenset(args.allow or [args.host]),
           max_message_seconds=args.max_message_seconds, log_level=args.log_level, rtp_port=args.rtp_port).run(ready)


if __name__ == "__main__":
    main()
