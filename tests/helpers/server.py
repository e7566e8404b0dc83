"""Run the real server (`python -m sipserver serve`) as a subprocess on loopback, for integration tests and
benchmarks, plus a minimal raw-socket SIP client to poke it.

`ServerProcess.start(data_dir)` picks a free port (UDP and TCP), starts the server with `--no-http --demo` (by
default), waits until it answers an OPTIONS over UDP and exposes its `port`. `stop()` sends SIGTERM (and
SIGKILL if it does not exit in time), `kill()` sends SIGKILL (the crash test). Its stderr goes to a file whose
tail is included in every failure message. Only the process started here is ever signalled, by its PID.

`read_bindings(data_dir)` opens the server's SQLite database read-only and lists the `registrations` rows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# sipserver.config.DATABASE_FILE, repeated so that the helpers import no server code
DATABASE_FILE = "callconnect.sqlite3"
DEMO_DOMAIN = "callconnect.local"
DEMO_USERS = {"201": "demo201", "202": "demo202", "203": "demo203", "204": "demo204"}


class ServerError(RuntimeError):
    """The server did not start, did not answer, or died; the message carries the tail of its stderr."""


# -- ports ---------------------------------------------------------------------------------------------------
def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1", *, udp: bool = True, tcp: bool = True) -> int:
    """A port that is free right now for UDP and/or TCP on `host` (bind port 0, check the other kind)."""
    family = _family(host)
    for _ in range(50):
        first_kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        with socket.socket(family, first_kind) as first:
            first.bind((host, 0))
            port = int(first.getsockname()[1])
            if port == 5060:
                continue
            if not (tcp and udp):
                return port
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as second:
                    second.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port found on {host}")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free UDP+TCP ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def udp_port_free(port: int, host: str = "127.0.0.1") -> bool:
    return _port_free(port, host, socket.SOCK_DGRAM)


def tcp_port_free(port: int, host: str = "127.0.0.1") -> bool:
    return _port_free(port, host, socket.SOCK_STREAM)


def _port_free(port: int, host: str, kind: int) -> bool:
    with socket.socket(_family(host), kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def media_port(host: str = "127.0.0.1") -> int:
    """A port P with P..P+3 free for UDP: SIPp binds audio RTP/RTCP and video RTP/RTCP there."""
    for _ in range(200):
        base = free_port(host, tcp=False)
        if base % 2:
            base += 1
        if base + 3 < 65536 and all(udp_port_free(base + i, host) for i in range(4)):
            return base
    raise OSError("no four consecutive free UDP ports found")


def media_and_control_ports(signalling: int, host: str = "127.0.0.1") -> tuple[int, int]:
    """SIPp's `-mp` and `-cp` for a SIPp whose SIP port is `signalling`: P with P..P+3 free (media) and a free
    control port on 127.0.0.1, none of them `signalling` nor overlapping. That SIPp binds all of them after
    they were picked; an overlap once failed a run with EADDRINUSE."""
    for _ in range(200):
        media = media_port(host)
        if media <= signalling <= media + 3:
            continue
        control = free_port("127.0.0.1", tcp=False)
        if control != signalling and not media <= control <= media + 3:
            return media, control
    raise OSError("no free media and control ports found for SIPp")


# -- a tiny raw SIP client -----------------------------------------------------------------------------------
def host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def options_request(host: str, port: int, *, transport: str = "UDP",
                    local: tuple[str, int] | None = None) -> bytes:
    """A well-formed OPTIONS to the server (no authentication needed for OPTIONS)."""
    branch = "z9hG4bK" + uuid.uuid4().hex
    tag = uuid.uuid4().hex[:10]
    via_host = host_for_uri(local[0]) + f":{local[1]}" if local else host_for_uri(host)
    target = host_for_uri(host)
    lines = [
        f"OPTIONS sip:{target}:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport} {via_host};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:probe@{target}>;tag={tag}",
        f"To: <sip:{target}:{port}>",
        f"Call-ID: {uuid.uuid4().hex}@probe",
        "CSeq: 1 OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def status_code(response: bytes | None) -> int | None:
    """The status code of a SIP response (None for no response or not a response)."""
    if not response or not response.startswith(b"SIP/2.0 "):
        return None
    try:
        return int(response[8:11])
    except ValueError:
        return None


def header_values(response: bytes, name: str) -> list[str]:
    """Every value of header `name` (case-insensitive, one per header line; no unfolding of commas)."""
    head = response.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    wanted = name.lower()
    out: list[str] = []
    for line in head.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == wanted:
            out.append(value.strip())
    return out


def udp_exchange(host: str, port: int, data: bytes, *, timeout: float = 2.0,
                 final_only: bool = True) -> bytes | None:
    """Send one datagram and return the first (final, unless `final_only` is False) response, or None."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.sendto(data, (host, port))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sock.settimeout(remaining)
            try:
                reply, _ = sock.recvfrom(65535)
            except TimeoutError:
                return None
            code = status_code(reply)
            if final_only and code is not None and code < 200:
                continue
            return reply


def _read_one_message(sock: socket.socket, buffer: bytearray, deadline: float) -> bytes | None:
    """One Content-Length-framed message from a stream (None on timeout or close before a whole message)."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for name, _, value in (line.partition(b":") for line in bytes(buffer[:end]).split(b"\r\n")[1:]):
                if name.strip().lower() in (b"content-length", b"l"):
                    with contextlib.suppress(ValueError):
                        length = int(value.strip())
            total = end + 4 + length
            if len(buffer) >= total:
                message = bytes(buffer[:total])
                del buffer[:total]
                return message
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        if not chunk:
            return None
        buffer.extend(chunk)


def tcp_exchange(host: str, port: int, data: bytes, *, timeout: float = 2.0,
                 final_only: bool = True) -> bytes | None:
    """Open a connection, send `data`, return the first (final) response, or None (timeout or closed)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        buffer = bytearray()
        while True:
            reply = _read_one_message(sock, buffer, deadline)
            if reply is None:
                return None
            code = status_code(reply)
            if final_only and code is not None and code < 200:
                continue
            return reply


def options_ok(host: str, port: int, *, transport: str = "udp", timeout: float = 1.0) -> bool:
    """Does the server answer an OPTIONS with 200 over `transport`?"""
    try:
        if transport == "udp":
            reply = udp_exchange(host, port, options_request(host, port), timeout=timeout)
        else:
            reply = tcp_exchange(host, port, options_request(host, port, transport="TCP"), timeout=timeout)
    except OSError:
        return False
    return status_code(reply) == 200


# -- the database, read-only ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BindingRow:
    aor: str
    contact: str
    call_id: str
    cseq: int
    expires_at: float
    source: str

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def _user_part(uri: str) -> str:
    return uri.split(":", 1)[-1].split("@", 1)[0]


def read_bindings(data_dir: Path, user: str | None = None) -> list[BindingRow]:
    """Rows of the `registrations` table, read-only; with `user`, only those whose AOR or Contact user part
    is `user` (the AOR may be keyed by an internal user id; our clients' Contacts carry the SIP username)."""
    path = data_dir / DATABASE_FILE
    if not path.exists():
        raise ServerError(f"no database at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = db.execute(
            "SELECT aor, contact, call_id, cseq, expires_at, source FROM registrations ORDER BY aor, contact"
        ).fetchall()
    finally:
        db.close()
    out = [BindingRow(str(r[0]), str(r[1]), str(r[2]), int(r[3]), float(r[4]), str(r[5])) for r in rows]
    if user is not None:
        out = [b for b in out if user in (_user_part(b.aor), _user_part(b.contact))]
    return out


def wait_for(predicate: object, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    """Poll `predicate()` until true (no fixed sleeps); raise TimeoutError naming `what`."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# -- the server process --------------------------------------------------------------------------------------
@dataclass
class ServerProcess:
    data_dir: Path
    host: str
    port: int
    args: list[str]
    stderr_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_listen: list[tuple[str, int]] = field(default_factory=list)
    http_port: int | None = None

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        demo: bool = True,
        nonce_lifetime: float | None = None,
        http: bool = False,
        extra_args: Sequence[str] = (),
        log_dir: Path | None = None,
        startup_timeout: float = 20.0,
        env: dict[str, str] | None = None,
        voicemail_workers: int = 0,
    ) -> ServerProcess:
        """Start the server and wait until it answers OPTIONS over UDP (raises ServerError otherwise). No
        voicemail workers unless asked (`voicemail_workers`): most tests bring their own voicemail agent."""
        data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = log_dir or data_dir.parent
        log_dir.mkdir(parents=True, exist_ok=True)
        server = cls(data_dir=data_dir, host=host, port=port or free_port(host), args=[],
                     stderr_path=log_dir / f"server-{uuid.uuid4().hex[:8]}.stderr")
        args = [sys.executable, "-m", "sipserver", "serve",
                "--sip-listen", f"{host_for_uri(host)}:{server.port}", "--data-dir", str(data_dir)]
        if http:
            server.http_port = free_port("127.0.0.1", udp=False)
            args += ["--http-listen", f"127.0.0.1:{server.http_port}"]
        else:
            args.append("--no-http")
        if demo:
            args.append("--demo")
        if nonce_lifetime is not None:
            args += ["--nonce-lifetime", str(nonce_lifetime)]
        args += ["--voicemail-workers", str(voicemail_workers)]
        args += list(extra_args)
        server.args = args
        server._spawn(env)
        try:
            server.wait_ready(startup_timeout)
        except BaseException:
            server.kill()  # never leave a half-started server behind
            raise
        return server

    def _spawn(self, env: dict[str, str] | None) -> None:
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
        )
        if env:
            full_env.update(env)
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                self.args, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                env=full_env, start_new_session=True,
            )

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines: int = 60) -> str:
        text = self.stderr_text().splitlines()
        return "\n".join(text[-lines:])

    def describe(self) -> str:
        code = None if self.proc is None else self.proc.poll()
        return (f"server pid={self.proc.pid if self.proc else None} exit={code} "
                f"cmd={' '.join(self.args)}\n--- server stderr (tail) ---\n{self.stderr_tail()}")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"server exited before answering OPTIONS\n{self.describe()}")
            if options_ok(self.host, self.port, timeout=0.3):
                return
            time.sleep(0.05)
        raise ServerError(f"server did not answer OPTIONS within {timeout:.0f}s\n{self.describe()}")

    def cpu_seconds(self) -> float:
        """utime + stime of the server process so far (from /proc/PID/stat)."""
        with open(f"/proc/{self.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    # -- stopping -------------------------------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise ServerError(f"server ignored SIGTERM for {timeout:.0f}s\n{self.describe()}") from None
        return int(self.proc.returncode)

    def kill(self) -> int:
        """SIGKILL (simulated crash). Returns the exit status (-9)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def restart(self, *, startup_timeout: float = 20.0) -> None:
        """Start again with the same arguments (same port, same data dir) after stop()/kill()."""
        assert self.proc is not None and self.proc.poll() is not None, "stop the server first"
        self._spawn(None)
        try:
            self.wait_ready(startup_timeout)
        except BaseException:
            self.kill()
            raise

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ServerError):
            self.stop()


@contextlib.contextmanager
def running_server(data_dir: Path, **kwargs: object) -> Iterator[ServerProcess]:
    server = ServerProcess.start(data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        with contextlib.suppress(ServerError):
            server.stop()
