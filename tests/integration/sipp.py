"""Run SIPp (3.6.1, `/usr/bin/sipp`) against the server on loopback, bounded in time and count.

Follows `shared/reference/real-clients.md`: every socket on 127.0.0.1 (`-i -bind_local -ci -cp -mi -mp -p`),
`-nostdin`, `-timeout` with `-timeout_error`, `-m`. Each run works in its own directory, where SIPp writes its
error/message/statistics/rtt traces; `SippResult.explain()` gathers them for assertion messages.

SIPp exit status: 0 all calls succeeded, 1 at least one call failed, 97 exit on an internal command, 99 normal
exit without any call processed, 255 (-1) fatal error, 254 (-2) fatal error binding a socket.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.server import REPO_ROOT, free_port, host_for_uri, media_and_control_ports

SCENARIOS = REPO_ROOT / "sipp_scenarios"


class SippMissing(RuntimeError):
    """SIPp is not installed: integration tests must fail loudly, not skip."""


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippMissing("sipp not found on PATH: install Debian's `sip-tester` (./scripts/test does it)")
    return path


def scenario_path(name: str) -> Path:
    path = SCENARIOS / name / "uac.xml"
    if not path.is_file():
        raise FileNotFoundError(f"no SIPp scenario {path}")
    return path


@dataclass
class SippResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    elapsed: float

    def files(self, suffix: str) -> list[Path]:
        return sorted(self.workdir.glob(f"*{suffix}"))

    def read(self, suffix: str, limit: int = 6000) -> str:
        parts = []
        for path in self.files(suffix):
            text = path.read_text("utf-8", "replace")
            parts.append(f"--- {path.name} ---\n{text[-limit:]}")
        return "\n".join(parts)

    def log_lines(self) -> list[str]:
        """Lines the scenario's <log> actions wrote (the -trace_logs file)."""
        lines: list[str] = []
        for path in self.files("_logs.log"):
            lines.extend(path.read_text("utf-8", "replace").splitlines())
        return lines

    def explain(self) -> str:
        return (
            f"sipp exit {self.returncode} after {self.elapsed:.1f}s: {' '.join(self.args)}\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}\n"
            f"{self.read('_errors.log')}\n{self.read('_messages.log', 8000)}"
        )


def run_sipp(
    scenario: str | Path,
    server_host: str,
    server_port: int,
    workdir: Path,
    *,
    transport: str = "udp",
    service: str | None = None,
    username: str | None = None,
    password: str | None = None,
    calls: int = 1,
    rate: float | None = None,
    rate_period_ms: int | None = None,
    limit: int | None = None,
    timeout: float = 20.0,
    pause_ms: int | None = None,
    inject: Path | None = None,
    trace_messages: bool = True,
    extra: Sequence[str] = (),
    local_port: int | None = None,
) -> SippResult:
    """Run one SIPp UAC against `server_host:server_port`; never longer than `timeout` (+ a grace period)."""
    workdir.mkdir(parents=True, exist_ok=True)
    local_host = "127.0.0.1" if ":" not in server_host else "::1"
    sf = scenario if isinstance(scenario, Path) else scenario_path(scenario)
    local_port = local_port or free_port(local_host)
    media, control = media_and_control_ports(local_port, local_host)
    args = [
        sipp_binary(), f"{host_for_uri(server_host)}:{server_port}", "-sf", str(sf),
        "-i", local_host, "-bind_local", "-p", str(local_port),
        "-ci", "127.0.0.1", "-cp", str(control),
        "-mi", local_host, "-mp", str(media),
        "-t", {"udp": "u1", "tcp": "t1"}[transport],
        "-m", str(calls), "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
        "-trace_err", "-trace_logs",
    ]
    if trace_messages:
        args.append("-trace_msg")
    if service is not None:
        args += ["-s", service]
    if username is not None:
        args += ["-au", username]
    if password is not None:
        args += ["-ap", password]
    if rate is not None:
        args += ["-r", str(rate)]
    if rate_period_ms is not None:
        args += ["-rp", str(rate_period_ms)]
    if limit is not None:
        args += ["-l", str(limit)]
    if pause_ms is not None:
        args += ["-d", str(pause_ms)]
    if inject is not None:
        args += ["-inf", str(inject)]
    args += list(extra)
    started = time.monotonic()
    proc = subprocess.Popen(
        args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        out += b"\n[killed by the test harness: sipp outlived its -timeout]"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return SippResult(args, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                      workdir, time.monotonic() - started)


def auth_injection_file(path: Path, users: Sequence[tuple[str, str]]) -> Path:
    """A SIPp -inf file for sipp_scenarios/register_load: `user;[authentication username=U password=P];`."""
    lines = ["SEQUENTIAL"]
    for user, password in users:
        if ";" in user + password or "]" in user + password or " " in user + password:
            raise ValueError(f"user/password unusable in a SIPp CSV: {user!r}")
        lines.append(f"{user};[authentication username={user} password={password}];")
    path.write_text("\n".join(lines) + "\n")
    return path
