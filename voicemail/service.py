"""The voicemail service: a pool of pjsua2 worker processes (`voicemail/worker.py`) kept running.

Each worker handles up to 4 calls (pjsua's limit in the wheel), so the service runs `count` of them, one SIP
port each on `host`, and the server tries them in turn (a full worker answers 486, a dead one refuses the TCP
connection: the call moves on to the next). A worker that exits is started again after a back-off (0.5 s
doubling to 10 s, reset once it stayed up a minute) on the same port when it can, on a fresh one otherwise;
`on_change` hears the new list of worker URIs. Worker k looks for RTP ports from `rtp_base` + 16 k up, so
workers do not probe through each other's ports at every call. Media work never runs in the server's process:
this module only spawns, watches and stops processes. It knows nothing of calls or mailboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

log: Final = structlog.get_logger("callconnect.voicemail")

START_TIMEOUT: Final = 20.0  # seconds a worker gets to print READY
BACKOFF_FIRST: Final = 0.5
BACKOFF_MAX: Final = 10.0
STABLE_AFTER: Final = 60.0  # seconds up after which a worker's back-off starts over
STOP_GRACE: Final = 5.0  # seconds between SIGTERM and SIGKILL (a worker finishes its recordings first)
RTP_PORT_BASE: Final = 20000  # worker k's RTP ports start at RTP_PORT_BASE + k * RTP_PORTS_PER_WORKER
RTP_PORTS_PER_WORKER: Final = 16  # 4 calls x RTP + RTCP, twice over for ports found taken


def free_port(host: str) -> int:
    """A port free for both TCP and UDP on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise OSError(f"no free port on {host}")


def worker_uri(host: str, port: int) -> str:
    """How the server addresses a worker: over TCP, so a dead worker is known at once (connection refused)."""
    shown = f"[{host}]" if ":" in host else host
    return f"sip:voicemail@{shown}:{port};transport=tcp"


@dataclass
class _Worker:
    index: int
    port: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST


class VoicemailPool:
    """Start, watch and stop `count` voicemail workers."""

    def __init__(self, *, data_dir: Path, count: int, host: str = "127.0.0.1", ports: Sequence[int] = (),
                 allowed: Sequence[str] = (), max_message_seconds: float = 120.0, log_level: int = 1,
                 on_change: Callable[[tuple[str, ...]], None] | None = None, rtp_base: int = RTP_PORT_BASE) -> None:
        if count < 1:
            raise ValueError("at least one voicemail worker")
        self.data_dir = data_dir
        self.host = host
        self.allowed = tuple(allowed) or (host,)
        self.max_message_seconds = max_message_seconds
        self.log_level = log_level
        self.on_change = on_change
        self.rtp_base = rtp_base
        self._workers = [_Worker(i, ports[i] if i < len(ports) else 0) for i in range(count)]
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.restarts = 0

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def uris(self) -> tuple[str, ...]:
        return tuple(worker_uri(self.host, w.port) for w in self._workers)

    @property
    def pids(self) -> tuple[int | None, ...]:
        return tuple(w.process.pid if w.process is not None else None for w in self._workers)

    async def start(self) -> None:
        """Start every worker and wait until each one answers calls. Raises RuntimeError if one cannot."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for worker in self._workers:
                if not await self._spawn(worker, attempts=5):
                    raise RuntimeError(f"voicemail worker {worker.index} did not start (see its log above)")
        except BaseException:
            await self.stop()
            raise
        for worker in self._workers:
            self._watchers.append(asyncio.create_task(self._watch(worker), name=f"voicemail-{worker.index}"))
        log.info("voicemail_started", workers=len(self._workers), uris=self.uris)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
        await asyncio.gather(*(self._terminate(w) for w in self._workers))

    # -- one worker --------------------------------------------------------------------------------------
    async def _spawn(self, worker: _Worker, *, attempts: int) -> bool:
        """Start `worker` (its port first, a fresh one if that is taken); True once it printed READY."""
        for attempt in range(attempts):
            if worker.port == 0 or attempt > 0:
                worker.port = free_port(self.host)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "voicemail.worker", "--data-dir", str(self.data_dir), "--host", self.host,
                "--port", str(worker.port), *(a for address in self.allowed for a in ("--allow", address)),
                "--max-message-seconds", str(self.max_message_seconds), "--log-level", str(self.log_level),
                "--rtp-port", str(self.rtp_base + worker.index * RTP_PORTS_PER_WORKER),
                stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, env=_worker_env())
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
            except TimeoutError:
                line = b""
            if line.startswith(b"READY "):
                worker.process = process
                worker.started_at = asyncio.get_running_loop().time()
                log.info("voicemail_worker_ready", index=worker.index, port=worker.port, pid=process.pid)
                return True
            log.warning("voicemail_worker_failed_to_start", index=worker.index, port=worker.port,
                        returncode=process.returncode)
            await _kill(process)
            if self._stopping:
                return False
        return False

    async def _watch(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            process = worker.process
            if process is not None:
                assert process.stdout is not None
                await process.stdout.read()  # nothing more comes on it: EOF when the worker exits
                returncode = await process.wait()
                worker.process = None
                if self.stopping:
                    return
                up_for = loop.time() - worker.started_at
                if up_for > STABLE_AFTER:
                    worker.backoff = BACKOFF_FIRST
                log.warning("voicemail_worker_exited", index=worker.index, pid=process.pid, returncode=returncode,
                            restart_in=worker.backoff)
            await asyncio.sleep(worker.backoff)
            worker.backoff = min(worker.backoff * 2, BACKOFF_MAX)
            port = worker.port
            self.restarts += 1
            if await self._spawn(worker, attempts=3) and worker.port != port and self.on_change is not None:
                self.on_change(self.uris)

    async def _terminate(self, worker: _Worker) -> None:
        process, worker.process = worker.process, None
        if process is not None:
            await _kill(process, grace=STOP_GRACE)


async def _kill(process: asyncio.subprocess.Process, grace: float = 0.0) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace or 1.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _worker_env() -> dict[str, str]:
    """The worker imports this project: make sure its root is on the path however the server was started."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env
