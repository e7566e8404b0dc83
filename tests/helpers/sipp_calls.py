"""Run SIPp callers and callees against the real server on loopback, for the call tests and the call benchmark.

A SIPp callee first REGISTERs (a short run of `sipp_scenarios/call_basic/register.xml` with digest auth), then a
second SIPp run on the same local port waits for the INVITE (SIPp cannot take a new Call-ID INVITE inside a UAC
scenario). `SippPeers` starts such processes in the background and kills every one it started (by PID) when its
`with` block ends; `SippPeers.run()` runs one to completion.

Every SIPp gets loopback only (`-i/-mi 127.0.0.1 -bind_local`, `-ci 127.0.0.1 -cp FREE`), `-nostdin`,
`-timeout N -timeout_error`, `-m`, and its own working directory where it writes `-trace_msg`, `-trace_err`
and `-trace_logs` files (`SippRun.explain()` gathers them for assertion messages; `SippRun.logged()` returns
what the scenario's `<log>` actions wrote, as `key=value` pairs). A SIPp binds its media ports at `-mp` and the
three ports after it: `media_and_control_ports()` (tests/helpers/server.py) picks them clear of each other.

`read_call_log()` reads the server's `call_log` table read-only; `wait_call_log()` polls it (the rows are written
asynchronously after the call ends). `provision_demo_with_trunk()` applies a copy of `examples/demo-group.toml`
whose carrier trunk lives on a port of our choosing (the demo's 5090 may be in use by another test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.server import (
    DATABASE_FILE,
    DEMO_USERS,
    REPO_ROOT,
    ServerProcess,
    free_port,
    media_and_control_ports,
    tcp_port_free,
    udp_port_free,
)
from tests.integration.sipp import sipp_binary

SCENARIOS = REPO_ROOT / "sipp_scenarios"
LOCAL_HOST = "127.0.0.1"

# What the demo group presents (provisioning/demo.py): user id, extension, E.164 number, display name.
DEMO_PEOPLE = {
    "201": ("jean.dupont", "+3222211201", "Jean Dupont"),
    "202": ("marie.martin", "+3222211202", "Marie Martin"),
    "203": ("pieter.peeters", "+3222211203", "Pieter Peeters"),
    "204": ("sophie.lambert", "+3222211204", "Sophie Lambert"),
}


def scenario(directory: str, name: str) -> Path:
    path = SCENARIOS / directory / name
    if not path.is_file():
        raise FileNotFoundError(f"no SIPp scenario {path}")
    return path


# -- ports -------------------------------------------------------------------------------------------------------
def wait_udp_bound(port: int, timeout: float = 5.0, host: str = LOCAL_HOST,
                   alive: Callable[[], bool] = lambda: True, *, tcp: bool = False) -> bool:
    """Wait until something has bound UDP (`tcp`: TCP) `host:port` (the SIPp callee is listening), while
    `alive()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if not (tcp_port_free(port, host) if tcp else udp_port_free(port, host)):
            return True
        time.sleep(0.02)
    return False


# -- one SIPp run ------------------------------------------------------------------------------------------------
@dataclass
class SippRun:
    """A finished (or killed) SIPp process and the files it wrote."""

    name: str
    args: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    workdir: Path
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def files(self, suffix: str) -> list[Path]:
        return sorted(self.workdir.glob(f"*{suffix}"))

    def read(self, suffix: str, limit: int = 8000) -> str:
        parts = []
        for path in self.files(suffix):
            text = path.read_text("utf-8", "replace")
            parts.append(f"--- {path.name} ---\n{text[-limit:]}")
        return "\n".join(parts)

    def messages(self) -> str:
        """The whole -trace_msg file (every message sent and received)."""
        return "\n".join(p.read_text("utf-8", "replace") for p in self.files("_messages.log"))

    def received(self, method: str) -> list[str]:
        """Every message this SIPp received whose first line starts with `method` (a request method or
        "SIP/2.0 487"), as raw text, in order (from the -trace_msg file)."""
        out: list[str] = []
        for block in re.split(r"\n-{20,}[^\n]*\n", "\n" + self.messages()):
            head, _, message = block.partition("\n\n")
            if "message received" in head and message.lstrip().startswith(method):
                out.append(message.strip())
        return out

    def header(self, name: str) -> str | None:
        """The first `name:` header value in any message this SIPp sent or received (e.g. its Call-ID)."""
        match = re.search(rf"(?im)^{re.escape(name)}:[ \t]*(.*?)\s*$", self.messages())
        return match.group(1) if match else None

    def log_lines(self) -> list[str]:
        lines: list[str] = []
        for path in self.files("_logs.log"):
            lines.extend(line for line in path.read_text("utf-8", "replace").splitlines() if line.strip())
        return lines

    def logged(self, key: str) -> list[str]:
        """Values the scenario's `<log message="KEY=...">` actions wrote for `key`, in order."""
        values: list[str] = []
        for line in self.log_lines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == key:
                values.append(value.strip())
        return values

    def explain(self) -> str:
        return (
            f"[{self.name}] sipp exit {self.returncode} after {self.elapsed:.1f}s: {' '.join(self.args)}\n"
            f"--- stdout ---\n{self.stdout[-2000:]}\n--- stderr ---\n{self.stderr[-2000:]}\n"
            f"{self.read('_errors.log', 3000)}\n{self.read('_logs.log', 3000)}\n{self.read('_messages.log')}"
        )


@dataclass
class SippProcess:
    name: str
    args: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes]
    timeout: float
    started: float = field(default_factory=time.monotonic)
    result: SippRun | None = None

    @property
    def local_port(self) -> int:
        return int(self.args[self.args.index("-p") + 1])

    def wait(self, timeout: float | None = None) -> SippRun:
        """Wait for SIPp to exit (at most its -timeout plus grace, or `timeout`), killing it if it does not."""
        if self.result is not None:
            return self.result
        limit = timeout if timeout is not None else self.timeout + 10
        note = b""
        try:
            out, err = self.proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            note = f"\n[killed by the test harness after {limit:.0f}s]".encode()
        self.result = SippRun(self.name, self.args, self.proc.returncode, (out + note).decode("utf-8", "replace"),
                              err.decode("utf-8", "replace"), self.workdir, time.monotonic() - self.started)
        return self.result

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        """What its `<log>` actions wrote so far (SIPp flushes each line), while it still runs."""
        return "".join(path.read_text("utf-8", "replace") for path in self.workdir.glob("*_logs.log"))

    def wait_log(self, predicate: Callable[[str], bool], *, timeout: float, what: str) -> None:
        """Poll its `<log>` lines until `predicate(text)` holds; if SIPp exits first or time runs out, fail with
        SIPp's own account (exit code, errors, message trace) instead of a bare timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self.log_text()):
            if not self.running():
                raise AssertionError(f"SIPp ended before {what}:\n{self.wait(1).explain()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}:\n{self.stop().explain()}")
            time.sleep(0.05)

    def stop(self) -> SippRun:
        """SIGUSR1 (SIPp's 'stop gracefully'), then SIGKILL; returns what it wrote."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGUSR1)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait(10)


def sipp_args(
    scenario_file: Path,
    remote: tuple[str, int],
    local_port: int,
    *,
    calls: int = 1,
    timeout: float = 15.0,
    service: str | None = None,
    username: str | None = None,
    password: str | None = None,
    keys: Mapping[str, str] | None = None,
    pause_ms: int | None = None,
    trace: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    rtp, control = media_and_control_ports(local_port)
    args = [
        sipp_binary(), f"{remote[0]}:{remote[1]}", "-sf", str(scenario_file),
        "-i", LOCAL_HOST, "-bind_local", "-p", str(local_port), "-t", "u1",
        "-ci", LOCAL_HOST, "-cp", str(control),
        "-mi", LOCAL_HOST, "-mp", str(rtp),
        "-m", str(calls), "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
    ]
    if trace:
        args += ["-trace_err", "-trace_logs", "-trace_msg"]
    if service is not None:
        args += ["-s", service]
    if username is not None:
        args += ["-au", username, "-ap", password or ""]
    for key, value in (keys or {}).items():
        args += ["-key", key, value]
    if pause_ms is not None:
        args += ["-d", str(pause_ms)]  # the length of every <pause/> without milliseconds
    return args + list(extra)


class SippPeers:
    """Every SIPp process of one test; the ones still running are killed (by PID) on exit."""

    def __init__(self, workdir: Path, server: tuple[str, int]) -> None:
        self.workdir = workdir
        self.server = server
        self.processes: list[SippProcess] = []
        self._count = 0

    def __enter__(self) -> SippPeers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()

    def kill_all(self) -> None:
        for process in self.processes:
            if process.proc.poll() is None:
                process.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.proc.wait(5)
            for stream in (process.proc.stdout, process.proc.stderr):
                if stream is not None:
                    stream.close()

    def start(self, name: str, scenario_file: Path, *, local_port: int | None = None,
              remote: tuple[str, int] | None = None, timeout: float = 15.0, **kwargs: object) -> SippProcess:
        """Start SIPp in the background (its working directory is `<workdir>/<n>-<name>`)."""
        self._count += 1
        workdir = self.workdir / f"{self._count:02d}-{name}"
        workdir.mkdir(parents=True, exist_ok=True)
        port = local_port or free_port(LOCAL_HOST)
        args = sipp_args(scenario_file, remote or self.server, port, timeout=timeout, **kwargs)  # type: ignore[arg-type]
        proc = subprocess.Popen(args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        process = SippProcess(name, args, workdir, proc, timeout)
        self.processes.append(process)
        return process

    def run(self, name: str, scenario_file: Path, **kwargs: object) -> SippRun:
        """Run SIPp to completion (bounded by its -timeout)."""
        return self.start(name, scenario_file, **kwargs).wait()  # type: ignore[arg-type]

    # -- the usual shapes --------------------------------------------------------------------------------
    def register(self, user: str, local_port: int, *, expires_check: bool = True,
                 extra: Sequence[str] = ()) -> SippRun:
        """REGISTER `user` (a demo user) with its demo password from `local_port` (`extra`: e.g. `-t t1` for
        TCP); asserts success."""
        run = self.run(f"register-{user}", scenario("call_basic", "register.xml"), local_port=local_port,
                       service=user, username=user, password=DEMO_USERS[user], timeout=10, extra=extra)
        if not run.ok:
            raise AssertionError(f"registration of {user} from port {local_port} failed\n{run.explain()}")
        return run

    def callee(self, user: str | None, scenario_file: Path, *, local_port: int | None = None,
               register: bool = True, timeout: float = 15.0, keys: Mapping[str, str] | None = None,
               name: str | None = None, calls: int = 1, pause_ms: int | None = None,
               extra: Sequence[str] = (), tcp: bool = False) -> SippProcess:
        """A SIPp callee: REGISTER `user` from a free port (unless `register` is False, e.g. a trunk), then
        start `scenario_file` on that port and wait until it listens (`tcp`: both over TCP, `-t t1`). The
        port is free for an instant between the two runs: when another process took it meanwhile (SIPp:
        "Unable to bind main socket"), the whole thing starts again from another free port (not when the
        test chose the port)."""
        attempts = 0
        while True:
            attempts += 1
            port = local_port or free_port(LOCAL_HOST)
            transport = ("-t", "t1") if tcp else ()
            if register:
                assert user is not None
                self.register(user, port, extra=transport)
            process = self.start(name or f"callee-{user or port}", scenario_file, local_port=port, service=user,
                                 timeout=timeout, keys=keys, calls=calls, pause_ms=pause_ms,
                                 extra=(*extra, *transport))
            if wait_udp_bound(port, alive=process.running, tcp=tcp) and process.running():
                return process
            run = process.wait(1)
            if local_port is not None or attempts == 3 or "Unable to bind main socket" not in run.stderr:
                raise AssertionError(f"SIPp callee on port {port} did not start\n{run.explain()}")

    def caller(self, user: str, scenario_file: Path, *, keys: Mapping[str, str] | None = None,
               timeout: float = 15.0, name: str | None = None, local_port: int | None = None,
               authenticate: bool = True, remote: tuple[str, int] | None = None,
               pause_ms: int | None = None, extra: Sequence[str] = ()) -> SippRun:
        """Run a SIPp caller as demo user `user` (digest credentials unless `authenticate` is False)."""
        credentials: dict[str, object] = {}
        if authenticate:
            credentials = {"username": user, "password": DEMO_USERS[user]}
        return self.run(name or f"caller-{user}", scenario_file, service=user, keys=keys, timeout=timeout,
                        local_port=local_port, remote=remote, pause_ms=pause_ms, extra=extra, **credentials)


# -- the server's view -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallLogEntry:
    user_id: str
    direction: str
    started_at: float
    answered_at: float | None
    ended_at: float | None
    other_number: str
    other_name: str
    call_id: str
    duration: float | None


def read_call_log(data_dir: Path) -> list[CallLogEntry]:
    """Every `call_log` row, oldest first (the database opened read-only)."""
    path = data_dir / DATABASE_FILE
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = db.execute(
            "SELECT user_id, direction, started_at, answered_at, ended_at, other_number, other_name, call_id,"
            " duration FROM call_log ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [CallLogEntry(str(r[0]), str(r[1]), float(r[2]), None if r[3] is None else float(r[3]),
                         None if r[4] is None else float(r[4]), str(r[5] or ""), str(r[6] or ""),
                         str(r[7] or ""), None if r[8] is None else float(r[8])) for r in rows]


def wait_call_log(data_dir: Path, count: int, timeout: float = 5.0, settle: float = 0.3) -> list[CallLogEntry]:
    """Poll until at least `count` rows exist, then wait `settle` s more and return them all (so that an
    unexpected extra row is seen too). Returns what is there when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    rows = read_call_log(data_dir)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = read_call_log(data_dir)
    time.sleep(settle)
    return read_call_log(data_dir)


def rows_by_user(rows: Sequence[CallLogEntry]) -> dict[str, list[CallLogEntry]]:
    out: dict[str, list[CallLogEntry]] = {}
    for row in rows:
        out.setdefault(row.user_id, []).append(row)
    return out


def server_status(server: ServerProcess) -> dict[str, object]:
    """GET /status of a server started with `http=True`."""
    assert server.http_port is not None, "start the server with http=True"
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/status", timeout=5) as reply:
        data = json.loads(reply.read())
    assert isinstance(data, dict)
    return data


# -- provisioning ------------------------------------------------------------------------------------------------
def demo_group_with_trunk(trunk_port: int, numbers: Sequence[str] = ("+",), seconds_per_ring: int = 5) -> str:
    """examples/demo-group.toml with the carrier trunk (and its trusted source) moved to `trunk_port`, and
    `seconds_per_ring` (a ring lasts 5 s in the demo; feature tests make it 1 s)."""
    text = (REPO_ROOT / "examples" / "demo-group.toml").read_text("utf-8")
    text, changed = re.subn(r"(?m)^seconds_per_ring = 5$", f"seconds_per_ring = {seconds_per_ring}", text)
    assert changed == 1, "examples/demo-group.toml: seconds_per_ring line not found"
    text, changed = re.subn(r"(?m)^port = 5090$", f"port = {trunk_port}", text)
    assert changed == 1, "examples/demo-group.toml: trunk port line not found"
    text, changed = re.subn(r'(?m)^inbound_addresses = \["127\.0\.0\.1:5090"\]',
                            f'inbound_addresses = ["127.0.0.1:{trunk_port}"]', text)
    assert changed == 1, "examples/demo-group.toml: trunk inbound_addresses line not found"
    listed = ", ".join(json.dumps(n) for n in numbers)
    text, changed = re.subn(r'(?m)^numbers = \["\+"\]', f"numbers = [{listed}]", text)
    assert changed == 1, "examples/demo-group.toml: trunk numbers line not found"
    return text


def provision_demo_with_trunk(data_dir: Path, trunk_port: int, numbers: Sequence[str] = ("+",),
                              seconds_per_ring: int = 5) -> None:
    """Apply the demo group, trunk on `trunk_port`, to `data_dir` (start the server with demo=False)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir.parent / f"group-{trunk_port}.toml"
    path.write_text(demo_group_with_trunk(trunk_port, numbers, seconds_per_ring), "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sipserver", "provision", "apply", str(path), "--data-dir", str(data_dir)],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"provision apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def set_services(data_dir: Path, user_id: str, settings: Mapping[str, object]) -> None:
    """Change some of a user's service settings in `data_dir` the way the portal does (the subscriber store's
    `update_services`), running server or not: `{"forward_always": {"active": True, "number": "203"}}`."""
    from features.model import ServiceSettings
    from storage.subscribers import SqliteSubscriberStore

    async def update() -> None:
        store = await SqliteSubscriberStore.open(data_dir)
        try:
            user = await store.get_user(user_id)
            assert user is not None, f"no user {user_id}"
            await store.update_services(user_id, ServiceSettings.from_dict({**user.services.to_dict(), **settings}))
        finally:
            await store.close()

    asyncio.run(update())


def read_services(data_dir: Path, user_id: str) -> dict[str, object]:
    """A user's stored service settings (plain form), read from `data_dir` as the portal would."""
    from storage.subscribers import SqliteSubscriberStore

    async def read() -> dict[str, object]:
        store = await SqliteSubscriberStore.open(data_dir)
        try:
            user = await store.get_user(user_id)
            assert user is not None, f"no user {user_id}"
            return user.services.to_dict()
        finally:
            await store.close()

    return asyncio.run(read())


@contextlib.contextmanager
def sipp_peers(workdir: Path, server: ServerProcess) -> Iterator[SippPeers]:
    with SippPeers(workdir, (server.host, server.port)) as peers:
        yield peers


# -- a test bed: a fresh server with the demo group (trunk on a port of ours) and the SIPp peers of one test ------
@dataclass(frozen=True)
class GroupTemplate:
    """A data directory with the demo group applied (trunk on `trunk_port`), copied for every test's server:
    applying the group once saves a second per test over `--demo`."""

    data_dir: Path
    trunk_port: int

    @classmethod
    def create(cls, where: Path, *, seconds_per_ring: int = 5) -> GroupTemplate:
        trunk_port = free_port(LOCAL_HOST)
        data_dir = where / "template-data"
        provision_demo_with_trunk(data_dir, trunk_port, seconds_per_ring=seconds_per_ring)
        return cls(data_dir, trunk_port)

    def copy_to(self, data_dir: Path) -> Path:
        shutil.copytree(self.data_dir, data_dir)
        return data_dir


@dataclass
class CallBed:
    server: ServerProcess
    peers: SippPeers
    trunk_port: int

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def call_log(self, count: int, timeout: float = 5.0) -> list[CallLogEntry]:
        return wait_call_log(self.server.data_dir, count, timeout)


def ok(*runs: SippRun) -> None:
    """Every SIPp run ended well (its explanation is the failure message otherwise)."""
    for run in runs:
        assert run.ok, run.explain()


def rows_of_call(bed: CallBed, caller: SippRun, count: int) -> list[CallLogEntry]:
    """The call-log rows of the caller's call (the A leg's Call-ID), waiting for `count` of them."""
    call_id = caller.header("Call-ID")
    assert call_id, caller.explain()
    everything = bed.call_log(count)
    rows = [r for r in everything if r.call_id == call_id]
    assert len(rows) == count, f"expected {count} call_log rows for {call_id}, got {rows}\nall rows: {everything}"
    return rows
