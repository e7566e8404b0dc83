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

Every event line is `NAME ARG...`; the first word names it, so a driver can wait for a given name. Commands
planned for calls fit the same shape: `call URI` -> `ok call ID` then `call ID STATE CODE`; `answer [CODE]`,
`hangup`, `hold`, `unhold`, `dtmf DIGITS` -> `ok CMD` / `error CMD MESSAGE`; incoming calls announce
themselves as `incoming ID FROM`. They are not implemented yet (they answer `error CMD not implemented`).

The agent exits by itself after `--max-lifetime` seconds or when stdin closes, so a crashed test never leaves
it running. `PjsuaAgent` (below) is the test-side driver; it does not import pjsua2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

IMPLEMENTED = ("register", "unregister", "quit")
PLANNED = ("call", "answer", "hangup", "hold", "unhold", "dtmf")


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
    args = parser.parse_args(argv)
    _take_stdout_for_protocol()

    import gc

    import pjsua2 as pj

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # we call libHandleEvents ourselves
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = args.log_level
    cfg.logConfig.consoleLevel = args.log_level
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()

    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = args.bind
    tcfg.publicAddress = args.bind
    kind = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
    tp = ep.transportCreate(kind, tcfg)
    ep.libStart()
    local = ep.transportGetInfo(tp).localName

    class Account(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:  # pjsua2's callback name
            reason = prm.reason or "-"
            _emit("reg", prm.code, prm.expiration, reason)

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
    acfg.natConfig.iceEnabled = False
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    accounts = [Account()]  # a list so that it can be emptied (and collected) before libDestroy()
    accounts[0].create(acfg)
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

    # Orderly shutdown: drop the account (pjsua unregisters it if registered), let pjsip send, destroy.
    with contextlib.suppress(Exception):
        accounts[0].shutdown()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        ep.libHandleEvents(10)
    accounts.clear()
    gc.collect()
    ep.libDestroy()
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
    ) -> PjsuaAgent:
        log_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = log_dir / f"pjsua-{user}-{transport}-{os.getpid()}-{time.monotonic_ns()}.log"
        args = [sys.executable, str(Path(__file__).resolve()), "--user", user, "--password", password,
                "--registrar", registrar, "--transport", transport, "--domain", domain,
                "--expires", str(expires), "--log-level", str(log_level), "--max-lifetime", str(max_lifetime)]
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
