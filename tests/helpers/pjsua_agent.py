"""A pjsua2 user agent in its own process, driven by a line protocol (pjsua is a singleton: one per process).

Run as a program (`python tests/helpers/pjsua_agent.py --user 201 --password demo201 --registrar
sip:127.0.0.1:5070 --transport udp`), it creates one Endpoint (no sound card, no worker thread, everything on
127.0.0.1), one transport and one account, prints `ready ...` and then reads commands, one per line, on stdin,
and writes events, one per line, on stdout (its pjsip log goes to stderr):

    commands (stdin)              events (stdout)
    register                      ok register            then  reg CODE EXPIRES REASON...   (onRegState)
    unregister                    ok unregister          then  reg CODE 0 REASON...
    quit                          bye                    (and exit status 0)
    <anything else>               error CMD MESSAGE

Every event line is `NAME ARG...`; the first word names it, so a driver can wait for a given name.

Calls (INVITEs go through `--proxy`, e.g. `sip:127.0.0.1:5070;lr`; ID is the agent's own call number, 1, 2, ...
never reused; commands that take an optional ID act on the latest call still up, else on the latest call):

    commands (stdin)              events (stdout)
    call URI                      ok call ID             then  call ID STATE CODE REASON...   (onCallState)
    answer [CODE] [ID]            ok answer ID           (200 by default; 486, 603... reject the call)
    hangup [ID]                   ok hangup ID           (CANCEL while ringing, BYE once answered)
    hold [ID] / unhold [ID]       ok hold ID             (re-INVITE a=sendonly / a=sendrecv)
    dtmf DIGITS [ID]              ok dtmf ID             (RFC 4733 telephone-events)
    dtmf-info DIGITS [ID]         ok dtmf-info ID        (SIP INFO, application/dtmf-relay)
    stats [ID]                    ok stats ID  then  stats ID RX_PACKETS TX_PACKETS   (RTP so far)
    (an incoming INVITE)          incoming ID REMOTE...  (the From as the callee sees it; 180 sent at once)
    (a call is created)           callid ID SIP-CALL-ID  (after `ok call ID`, or after `incoming ID ...`)
    (media changes)               media ID STATUS DIR    (STATUS: none active local_hold remote_hold error)
    (DTMF received)               digit ID DIGIT
    (in-dialog transactions)      tsx ID uac|uas METHOD CODE     (re-INVITE, UPDATE, BYE... once final)
    (with --mwi, a NOTIFY)        mwi WAITING NEW OLD    (message-summary: yes/no, voice messages new/old)
    (with --record-dir)           recording ID PATH      then  recorded ID PATH  (WAV finalised, call over)

STATE is one of CALLING INCOMING EARLY CONNECTING CONFIRMED DISCONNECTED. With `--play WAV`, the WAV is played
(looped) into every call once its audio is active; with `--record-dir DIR`, what arrives from the far end is
recorded into `DIR/USER-call-ID.wav`. `--codecs G722/16000,PCMU/8000` offers and accepts only those codecs (pjsua's
default list starts with speex, which turned a pure test tone into loud noise in one of the first calls tried).

The agent exits by itself after `--max-lifetime` seconds or when stdin closes, so a crashed test never leaves
it running. `PjsuaAgent` (below) is the test-side driver; it does not import pjsua2.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

IMPLEMENTED = ("register", "unregister", "quit", "call", "answer", "hangup", "hold", "unhold", "dtmf", "dtmf-info",
               "stats")
PLANNED: tuple[str, ...] = ()
CALL_COMMANDS = ("call", "answer", "hangup", "hold", "unhold", "dtmf", "dtmf-info", "stats")


# ====================================================================================================
# The agent process
# ====================================================================================================
_protocol_out: IO[str] = sys.stdout


def _emit(*words: object) -> None:
    _protocol_out.write(" ".join(str(w) for w in words).replace("\n", " ") + "\n")
    _protocol_out.flush()


def _take_stdout_for_protocol() -> None:
    """Keep the real stdout for protocol lines only; pjsip's C-level console log (fd 1) goes to stderr."""
    global _protocol_out
    sys.stdout.flush()
    _protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)


def _describe_error(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    if callable(info):
        try:
            return str(info())
        except Exception:
            pass
    return f"{type(exc).__name__}: {exc}"


_CALL_STATES = {0: "NULL", 1: "CALLING", 2: "INCOMING", 3: "EARLY", 4: "CONNECTING", 5: "CONFIRMED",
                6: "DISCONNECTED"}
_MEDIA_STATUS = {0: "none", 1: "active", 2: "local_hold", 3: "remote_hold", 4: "error"}
_MEDIA_DIR = {0: "none", 1: "sendonly", 2: "recvonly", 3: "sendrecv"}  # pjmedia_dir: ENCODING = send


class _Calls:  # pragma: no cover - runs in the child process
    """The calls of one agent: pjsua2 `Call` objects (kept referenced until libDestroy: one collected inside
    its own callback or after libDestroy aborts the process), their players and recorders, and the commands."""

    def __init__(self, pj: Any, *, user: str, play: str | None, record_dir: str | None) -> None:
        self.pj = pj
        self.user = user
        self.play = play
        self.record_dir = record_dir
        self.calls: dict[int, Any] = {}  # our ID -> pj.Call, never removed before shutdown()
        self.ended: set[int] = set()
        self.players: dict[int, Any] = {}
        self.recorders: dict[int, tuple[Any, str]] = {}
        self.to_finish: list[int] = []  # recorders to destroy (finalising their WAV) outside the callbacks
        self.next_id = 1
        self.account: Any = None
        self.call_class = self._make_call_class()

    # -- pjsua2 objects -------------------------------------------------------------------------------------
    def _make_call_class(self) -> type:
        pj = self.pj
        calls = self

        class Call(pj.Call):  # type: ignore[misc,name-defined]
            def __init__(self, account: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
                super().__init__(account, call_id)
                self.handle = calls.next_id
                calls.next_id += 1
                calls.calls[self.handle] = self
                self.disconnected = False

            def onCallState(self, prm: Any) -> None:
                calls.on_state(self)

            def onCallMediaState(self, prm: Any) -> None:
                calls.on_media(self)

            def onDtmfDigit(self, prm: Any) -> None:
                _emit("digit", self.handle, prm.digit)

            def onCallTsxState(self, prm: Any) -> None:
                calls.on_tsx(self, prm)

        return Call

    def incoming(self, account: Any, call_id: int) -> None:
        call = self.call_class(account, call_id)
        info = call.getInfo()
        _emit("incoming", call.handle, info.remoteUri)
        _emit("callid", call.handle, info.callIdString)
        prm = self.pj.CallOpParam()
        prm.statusCode = 180
        call.answer(prm)

    def on_state(self, call: Any) -> None:
        info = call.getInfo()
        state = _CALL_STATES.get(info.state, str(info.state))
        _emit("call", call.handle, state, info.lastStatusCode, info.lastReason or "-")
        if info.state == self.pj.PJSIP_INV_STATE_DISCONNECTED and not call.disconnected:
            call.disconnected = True
            self.ended.add(call.handle)
            self.to_finish.append(call.handle)

    def on_media(self, call: Any) -> None:
        pj = self.pj
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            _emit("media", call.handle, _MEDIA_STATUS.get(media.status, str(media.status)),
                  _MEDIA_DIR.get(media.dir, str(media.dir)))
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self._connect_audio(call, index)

    def _connect_audio(self, call: Any, index: int) -> None:
        pj = self.pj
        audio = call.getAudioMedia(index)
        if self.play:
            player = self.players.get(call.handle)
            if player is None:
                player = pj.AudioMediaPlayer()
                player.createPlayer(self.play, 0)  # 0: loop for as long as the call lasts
                self.players[call.handle] = player
            player.startTransmit(audio)
        if self.record_dir:
            entry = self.recorders.get(call.handle)
            if entry is None:
                path = os.path.join(self.record_dir, f"{self.user}-call-{call.handle}.wav")
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(path)
                entry = self.recorders[call.handle] = (recorder, path)
                _emit("recording", call.handle, path)
            audio.startTransmit(entry[0])

    def on_tsx(self, call: Any, prm: Any) -> None:
        pj = self.pj
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = event.body.tsxState.tsx
        if tsx.state not in (pj.PJSIP_TSX_STATE_COMPLETED, pj.PJSIP_TSX_STATE_TERMINATED) \
                or tsx.statusCode < 200 or tsx.state == event.body.tsxState.prevState:
            return
        if tsx.state == pj.PJSIP_TSX_STATE_TERMINATED and \
                event.body.tsxState.prevState == pj.PJSIP_TSX_STATE_COMPLETED:
            return  # already reported at COMPLETED
        role = "uac" if tsx.role == pj.PJSIP_ROLE_UAC else "uas"
        _emit("tsx", call.handle, role, tsx.method, tsx.statusCode)

    def tick(self) -> None:
        """Work deferred out of the callbacks: finalise the WAV of calls that ended."""
        while self.to_finish:
            handle = self.to_finish.pop(0)
            player = self.players.pop(handle, None)
            del player
            entry = self.recorders.pop(handle, None)
            if entry is not None:
                recorder, path = entry
                del recorder, entry  # pjsua_recorder_destroy: the WAV header gets its final sizes
                _emit("recorded", handle, path)

    def shutdown(self, ep: Any) -> None:
        """Hang up whatever is up, let pjsip send, then drop every pjsua object (before libDestroy)."""
        if any(h not in self.ended for h in self.calls):
            with contextlib.suppress(Exception):
                ep.hangupAllCalls()
            end = time.monotonic() + 0.5
            while time.monotonic() < end and any(h not in self.ended for h in self.calls):
                ep.libHandleEvents(10)
        self.to_finish.extend(h for h in list(self.recorders) + list(self.players) if h not in self.to_finish)
        self.tick()
        self.calls.clear()

    # -- commands -------------------------------------------------------------------------------------------
    def _pick(self, words: list[str]) -> Any:
        if words:
            handle = int(words[0])
            if handle not in self.calls:
                raise ValueError(f"no call {handle}")
            return self.calls[handle]
        if not self.calls:
            raise ValueError("no call")
        live = [h for h in self.calls if h not in self.ended]
        return self.calls[max(live) if live else max(self.calls)]

    def command(self, cmd: str, words: list[str]) -> None:
        pj = self.pj
        if cmd == "call":
            if len(words) != 1:
                raise ValueError("usage: call URI")
            call = self.call_class(self.account)
            prm = pj.CallOpParam(True)
            try:
                call.makeCall(words[0], prm)
            except Exception:
                self.ended.add(call.handle)  # never started: not "the latest call still up"
                raise
            _emit("ok", "call", call.handle)
            _emit("callid", call.handle, call.getInfo().callIdString)
        elif cmd == "answer":
            code = int(words[0]) if words else 200
            call = self._pick(words[1:])
            prm = pj.CallOpParam(True)
            prm.statusCode = code
            call.answer(prm)
            _emit("ok", "answer", call.handle)
        elif cmd == "hangup":
            call = self._pick(words)
            call.hangup(pj.CallOpParam(True))
            _emit("ok", "hangup", call.handle)
        elif cmd == "hold":
            call = self._pick(words)
            call.setHold(pj.CallOpParam(True))
            _emit("ok", "hold", call.handle)
        elif cmd == "unhold":
            call = self._pick(words)
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(prm)
            _emit("ok", "unhold", call.handle)
        elif cmd == "dtmf":
            if not words:
                raise ValueError("usage: dtmf DIGITS [ID]")
            call = self._pick(words[1:])
            call.dialDtmf(words[0])
            _emit("ok", "dtmf", call.handle)
        elif cmd == "dtmf-info":
            if not words:
                raise ValueError("usage: dtmf-info DIGITS [ID]")
            call = self._pick(words[1:])
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = words[0]
            call.sendDtmf(prm)
            _emit("ok", "dtmf-info", call.handle)
        elif cmd == "stats":
            call = self._pick(words)
            rx = tx = 0
            info = call.getInfo()
            for index, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status != pj.PJSUA_CALL_MEDIA_NONE:
                    with contextlib.suppress(Exception):
                        stat = call.getStreamStat(index).rtcp
                        rx += stat.rxStat.pkt
                        tx += stat.txStat.pkt
            _emit("ok", "stats", call.handle)
            _emit("stats", call.handle, rx, tx)
        else:
            raise ValueError(f"unknown call command {cmd}")


def agent_main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - runs in the child process
    parser = argparse.ArgumentParser(description="pjsua2 user agent driven over stdin/stdout")
    parser.add_argument("--user", required=True, help="SIP username (and AOR user part)")
    parser.add_argument("--password", required=True)
    parser.add_argument("--domain", default="127.0.0.1", help="host part of the AOR (sip:USER@DOMAIN)")
    parser.add_argument("--registrar", required=True, help="e.g. sip:127.0.0.1:5070")
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--expires", type=int, default=300)
    parser.add_argument("--log-level", type=int, default=3)
    parser.add_argument("--max-lifetime", type=float, default=120.0)
    parser.add_argument("--register-on-start", action="store_true")
    parser.add_argument("--proxy", help="outbound proxy for calls, e.g. sip:127.0.0.1:5070;lr")
    parser.add_argument("--play", help="a WAV played (looped) into every call once its audio is active")
    parser.add_argument("--record-dir", help="record what arrives in each call to DIR/USER-call-ID.wav")
    parser.add_argument("--rtp-port", type=int, default=0, help="first RTP port (0: pjsua picks one)")
    parser.add_argument("--mwi", action="store_true", help="subscribe to message-summary; report `mwi` events")
    parser.add_argument("--codecs", help="only these codecs, in this order (e.g. G722/16000,PCMU/8000)")
    args = parser.parse_args(argv)
    _take_stdout_for_protocol()
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # describe() asks where a stuck agent is

    import gc

    import pjsua2 as pj

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # we call libHandleEvents ourselves
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = args.log_level
    cfg.logConfig.consoleLevel = args.log_level
    # The null sound device is the conference bridge's clock, which drives RTP and RFC 4733 DTMF: never close it
    # when idle (by default it closes after 1 s without a player, and DTMF then stops mid-string); no VAD, so
    # that RTP keeps flowing during silence (a call without a tone still shows packets arriving).
    cfg.medConfig.sndAutoCloseTime = -1
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    if args.codecs:
        wanted = [c.strip() for c in args.codecs.split(",") if c.strip()]
        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)  # disabled unless listed
        for rank, codec in enumerate(wanted):
            ep.codecSetPriority(codec, 255 - rank)

    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = args.bind
    tcfg.publicAddress = args.bind
    kind = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
    tp = ep.transportCreate(kind, tcfg)
    ep.libStart()
    local = ep.transportGetInfo(tp).localName

    calls = _Calls(pj, user=args.user, play=args.play, record_dir=args.record_dir)

    class Account(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:  # pjsua2's callback name
            reason = prm.reason or "-"
            _emit("reg", prm.code, prm.expiration, reason)

        def onIncomingCall(self, prm: Any) -> None:
            calls.incoming(self, prm.callId)

        def onMwiInfo(self, prm: Any) -> None:
            body = str(prm.rdata.wholeMsg).partition("\r\n\r\n")[2]
            waiting = "yes" if "messages-waiting: yes" in body.lower() else "no"
            counts = re.search(r"(?im)^voice-message:\s*(\d+)/(\d+)", body)
            _emit("mwi", waiting, *(counts.groups() if counts else ("0", "0")))

    registrar = args.registrar
    if args.transport == "tcp" and "transport=" not in registrar:
        registrar += ";transport=tcp"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{args.domain}"
    acfg.regConfig.registrarUri = registrar
    acfg.regConfig.registerOnAdd = args.register_on_start
    acfg.regConfig.retryIntervalSec = 0
    acfg.regConfig.timeoutSec = args.expires
    acfg.sipConfig.transportId = tp
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.mediaConfig.transportConfig.boundAddress = args.bind
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    if args.proxy:
        proxy = args.proxy
        if args.transport == "tcp" and "transport=" not in proxy:
            proxy += ";transport=tcp"
        acfg.sipConfig.proxies.append(proxy)
    acfg.mwiConfig.enabled = args.mwi  # SUBSCRIBE to message-summary (RFC 3842) like a desk phone
    acfg.natConfig.iceEnabled = False
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    accounts = [Account()]  # a list so that it can be emptied (and collected) before libDestroy()
    accounts[0].create(acfg)
    calls.account = accounts[0]
    _emit("ready", args.transport, local)

    def handle(line: str) -> bool:
        words = line.split()
        if not words:
            return True
        cmd = words[0]
        try:
            if cmd == "register":
                _emit("ok", "register")
                accounts[0].setRegistration(True)
            elif cmd == "unregister":
                _emit("ok", "unregister")
                accounts[0].setRegistration(False)
            elif cmd == "quit":
                return False
            elif cmd in CALL_COMMANDS:
                calls.command(cmd, words[1:])
            elif cmd in PLANNED:
                _emit("error", cmd, "not implemented")
            else:
                _emit("error", cmd, "unknown command")
        except Exception as exc:  # pjsua2 raises pj.Error; report it and keep going
            _emit("error", cmd, _describe_error(exc))
        return True

    deadline = time.monotonic() + args.max_lifetime
    fd = sys.stdin.fileno()
    pending = b""
    running = True
    while running:
        ep.libHandleEvents(10)
        calls.tick()
        if time.monotonic() > deadline:
            _emit("error", "timeout", f"max lifetime {args.max_lifetime}s reached")
            break
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break  # stdin closed: the driver is gone
        pending += chunk
        while b"\n" in pending and running:
            line, pending = pending.split(b"\n", 1)
            running = handle(line.decode("utf-8", "replace").strip())

    # Orderly shutdown: hang up, drop the account (pjsua unregisters it if registered), let pjsip send, destroy.
    calls.shutdown(ep)
    with contextlib.suppress(Exception):
        accounts[0].shutdown()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        ep.libHandleEvents(10)
    accounts.clear()
    calls.account = None
    gc.collect()
    # Everything was sent and answered above: NO_NETWORK skips pjsua_destroy's own hang-up/unregister round and its
    # fixed 1 s wait for the answers.
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    _emit("bye")
    return 0


# ====================================================================================================
# The test-side driver
# ====================================================================================================
class AgentError(RuntimeError):
    """The agent died, timed out or answered `error`; the message carries its stderr tail."""


@dataclass
class Event:
    name: str
    args: list[str]
    line: str

    @property
    def code(self) -> int:
        """The status code of a `reg` event."""
        return int(self.args[0])


@dataclass
class PjsuaAgent:
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    events: deque[Event] = field(default_factory=deque)
    seen: list[str] = field(default_factory=list)
    local: str = ""
    _lines: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        *,
        user: str,
        password: str,
        registrar: str,
        transport: str = "udp",
        domain: str = "127.0.0.1",
        log_dir: Path,
        expires: int = 300,
        log_level: int = 4,
        max_lifetime: float = 90.0,
        startup_timeout: float = 15.0,
        proxy: str | None = None,
        play: Path | None = None,
        record_dir: Path | None = None,
        codecs: Sequence[str] = (),
        mwi: bool = False,
    ) -> PjsuaAgent:
        log_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = log_dir / f"pjsua-{user}-{transport}-{os.getpid()}-{time.monotonic_ns()}.log"
        args = [sys.executable, str(Path(__file__).resolve()), "--user", user, "--password", password,
                "--registrar", registrar, "--transport", transport, "--domain", domain,
                "--expires", str(expires), "--log-level", str(log_level), "--max-lifetime", str(max_lifetime)]
        if proxy is not None:
            args += ["--proxy", proxy]
        if play is not None:
            args += ["--play", str(play)]
        if codecs:
            args += ["--codecs", ",".join(codecs)]
        if mwi:
            args.append("--mwi")
        if record_dir is not None:
            record_dir.mkdir(parents=True, exist_ok=True)
            args += ["--record-dir", str(record_dir)]
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
            )
        agent = cls(proc=proc, stderr_path=stderr_path)
        agent._reader = threading.Thread(target=agent._read_stdout, name=f"pjsua-{user}", daemon=True)
        agent._reader.start()
        try:
            ready = agent.expect("ready", timeout=startup_timeout)
        except AgentError:
            agent.close()
            raise
        agent.local = ready.args[1] if len(ready.args) > 1 else ""
        return agent

    def _read_stdout(self) -> None:
        stdout: IO[bytes] | None = self.proc.stdout
        assert stdout is not None
        for raw in stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._lines.append(line)

    def _drain(self) -> None:
        with self._lock:
            while self._lines:
                line = self._lines.popleft()
                self.seen.append(line)
                words = line.split()
                if words:
                    self.events.append(Event(words[0], words[1:], line))

    def stderr_tail(self, lines: int = 80) -> str:
        try:
            text = self.stderr_path.read_text("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])

    def describe(self) -> str:
        if self.proc.poll() is None:  # alive but not answering: its Python stacks go to its stderr
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGUSR1)
            time.sleep(0.3)
        return (f"pjsua agent pid={self.proc.pid} exit={self.proc.poll()}\n--- events ---\n"
                + "\n".join(self.seen[-40:]) + f"\n--- pjsua log (tail) ---\n{self.stderr_tail()}")

    def send(self, command: str) -> None:
        if self.proc.poll() is not None or self.proc.stdin is None:
            raise AgentError(f"agent is not running; cannot send {command!r}\n{self.describe()}")
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, name: str, *, timeout: float = 10.0,
               where: Callable[[Event], bool] | None = None) -> Event:
        """The next event called `name` (and matching `where`); earlier other events are kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            while self.events:
                event = self.events.popleft()
                if event.name == name and (where is None or where(event)):
                    return event
                if event.name == "error":
                    raise AgentError(f"agent reported {event.line!r} while waiting for {name!r}\n"
                                     f"{self.describe()}")
            if self.proc.poll() is not None and not self._lines:
                raise AgentError(f"agent exited while waiting for {name!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AgentError(f"no {name!r} event within {timeout:.0f}s\n{self.describe()}")
            time.sleep(0.02)

    def register(self, timeout: float = 10.0) -> Event:
        """Send `register` and return the first final `reg` event (code >= 200)."""
        self.send("register")
        self.expect("ok", timeout=timeout)
        return self.expect("reg", timeout=timeout, where=lambda e: e.code >= 200)

    def unregister(self, timeout: float = 10.0) -> Event:
        self.send("unregister")
        self.expect("ok", timeout=timeout)
        return self.expect("reg", timeout=timeout, where=lambda e: e.code >= 200)

    # -- calls ------------------------------------------------------------------------------------------------
    # The methods below look events up in the whole history (`seen`) from a position, without consuming the
    # queue that `expect()` reads: a test can wait for a call state, then for a media event that came first.
    def mark(self) -> int:
        """A position in the event history: pass it as `after` to only look at later events."""
        self._drain()
        return len(self.seen)

    def wait_event(self, name: str, *, after: int = 0, timeout: float = 10.0,
                   where: Callable[[Event], bool] | None = None) -> Event:
        """The first event called `name` (matching `where`) at or after position `after` of the history."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            for line in self.seen[after:]:
                words = line.split()
                if words and words[0] == name:
                    event = Event(words[0], words[1:], line)
                    if where is None or where(event):
                        return event
            if self.proc.poll() is not None and not self._lines:
                raise AgentError(f"agent exited while waiting for {name!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AgentError(f"no {name!r} event within {timeout:.1f}s\n{self.describe()}")
            time.sleep(0.02)

    def events_named(self, name: str, *, after: int = 0, call: str | None = None) -> list[Event]:
        """Every event called `name` so far (of call `call` if given), from position `after`."""
        self._drain()
        out = []
        for line in self.seen[after:]:
            words = line.split()
            if words and words[0] == name and (call is None or words[1:2] == [call]):
                out.append(Event(words[0], words[1:], line))
        return out

    def call(self, uri: str, timeout: float = 10.0) -> str:
        """Place a call; returns its ID (then wait for `call ID STATE` events with `wait_call_state`)."""
        return self.call_command(f"call {uri}", timeout)

    def call_command(self, line: str, timeout: float = 10.0) -> str:
        """Send a call command (`answer 486`, `hangup 2`, `hold`, `dtmf 123#`...); returns the call's ID."""
        cmd = line.split()[0]
        start = self.mark()
        self.send(line)
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            for line_seen in self.seen[start:]:
                words = line_seen.split()
                if words[:2] == ["ok", cmd]:
                    return words[2] if len(words) > 2 else ""
                if words[:2] == ["error", cmd]:
                    raise AgentError(f"agent refused {line!r}: {line_seen}\n{self.describe()}")
            if self.proc.poll() is not None and not self._lines:
                raise AgentError(f"agent exited after {line!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AgentError(f"no answer to {line!r} within {timeout:.1f}s\n{self.describe()}")
            time.sleep(0.02)

    def wait_call_state(self, call_id: str, state: str, *, after: int = 0, timeout: float = 10.0) -> Event:
        """The `call ID STATE CODE REASON` event of `call_id` reaching `state` (CONFIRMED, DISCONNECTED...)."""
        return self.wait_event("call", after=after, timeout=timeout,
                               where=lambda e: e.args[:2] == [call_id, state])

    def wait_incoming(self, *, after: int = 0, timeout: float = 10.0) -> tuple[str, str]:
        """(call ID, remote URI as shown to this callee) of the next incoming call."""
        event = self.wait_event("incoming", after=after, timeout=timeout)
        return event.args[0], " ".join(event.args[1:])

    def sip_call_id(self, call_id: str, timeout: float = 5.0) -> str:
        """The SIP Call-ID of the agent's call `call_id` (its dialog with the server)."""
        return self.wait_event("callid", timeout=timeout, where=lambda e: e.args[:1] == [call_id]).args[1]

    def wait_media(self, call_id: str, status: str, *, after: int = 0, timeout: float = 10.0) -> Event:
        """The `media ID STATUS DIR` event of `call_id` with `status` (active, local_hold, remote_hold...)."""
        return self.wait_event("media", after=after, timeout=timeout,
                               where=lambda e: e.args[:2] == [call_id, status])

    def rtp_stats(self, call_id: str, timeout: float = 5.0) -> tuple[int, int]:
        """(RTP packets received, sent) of the call's audio stream so far."""
        start = self.mark()
        self.call_command(f"stats {call_id}", timeout)  # its reply is the `stats` event, or an `error`
        event = self.wait_event("stats", after=start, timeout=timeout, where=lambda e: e.args[:1] == [call_id])
        return int(event.args[1]), int(event.args[2])

    def request_quit(self) -> None:
        """Send `quit` without waiting (to shut several agents down in parallel, then `close()` each)."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, AgentError):
                self.send("quit")

    def close(self, timeout: float = 10.0) -> int:
        """`quit`, wait for the exit; SIGKILL if it does not go. Returns the exit status."""
        if self.proc.poll() is None:
            self.request_quit()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self._reader is not None:
            self._reader.join(2)
        self._drain()
        return int(self.proc.returncode)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(agent_main())
