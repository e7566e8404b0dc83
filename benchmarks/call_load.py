"""Call load benchmark: SIPp UAC -> callconnect (B2BUA) -> SIPp UAS on UDP loopback, rate stepped up; the same
SIPp pair back to back as the ceiling; and the server's memory per established call.

    python benchmarks/call_load.py                                   # everything, default steps
    python benchmarks/call_load.py --rates 100,200,400 --duration 15 --hold-ms 1000
    python benchmarks/call_load.py --skip-direct --memory 2000       # server series + one memory point
    python benchmarks/call_load.py --skip-server --skip-memory --direct-rates 1000,4000,8000
    python benchmarks/call_load.py --features --skip-direct --skip-memory  # callee with features configured

Topology (performance.md): the server runs with a demo group whose carrier trunk is on a free port P. The
callee is a SIPp registered as user 202 (digest REGISTER, `call_basic/register.xml`), then answering every call
(`call_load/uas.xml`: 180, 200, ACK, BYE -> 200) on the same port. The caller is a SIPp bound to 127.0.0.1:P,
the trunk's trusted source, calling 202's number +3222211202 (`call_load/uac.xml`): trunk calls need no digest
round, so each call is exactly INVITE/100/180/200/ACK + BYE/200 on the A leg and the same on the B leg, 14
messages through the server. Both SIPps use `-buff_size 4194304`.

Each step runs the caller at one rate for --duration s (`-r RATE -rp 1000 -m RATE*DURATION -l LIMIT -d HOLD`,
`-trace_stat -fd 1 -trace_rtt -recv_timeout -timeout`) and reports successful/failed calls, retransmissions,
the INVITE->200 (`setup`) and BYE->200 (`teardown`) response times p50/p99 from the rtt trace, the server's CPU
(utime+stime from /proc/PID/stat) as % of one core over the steady part of the step (after the first hold,
while calls start and end at the same rate) and as CPU microseconds per call over the whole step. A step is
clean when no call failed, every call was placed and the run ended by itself; the server series stops at the
first step that is not clean; the capacity is the highest clean rate (RFC 7501/7502). The direct series runs
the same caller against a SIPp UAS with no server in between (the load generator's ceiling).

Memory: for each N of --memory, a fresh server; after a warm-up of short calls, its VmRSS (/proc/PID/status);
then N calls established with a one-hour hold (`-l N -m N`), waiting until GET /status shows N calls in
progress; VmRSS again; (after - before) / N is the memory per established call (both legs, the call object,
its dialogs and transactions' leftovers, the indexes).

Everything is bounded: each SIPp run by -timeout and a hard kill, every process killed by PID at the end.
It prints figures (and a Markdown summary) and asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.feature_decisions import FEATURED  # noqa: E402
from benchmarks.sipp_results import percentile, read_rtts, read_stats, run_bounded  # noqa: E402
from tests.helpers.server import (  # noqa: E402
    DEMO_USERS,
    ServerError,
    ServerProcess,
    free_port,
    media_and_control_ports,
)
from tests.helpers.sipp_calls import provision_demo_with_trunk, scenario, set_services, wait_udp_bound  # noqa: E402
from tests.integration.sipp import sipp_binary  # noqa: E402

DEFAULT_RATES = (100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1600)
DEFAULT_DIRECT_RATES = (100, 400, 1000, 2000, 4000, 8000)
DEFAULT_MEMORY = (2000, 5000, 10000)
CALLEE = "202"
DID = "+3222211202"
LOCAL = "127.0.0.1"
BUFF = "4194304"


# -- SIPp processes ------------------------------------------------------------------------------------------
def sipp_base(remote: tuple[str, int], scenario_file: Path, local_port: int, timeout: float) -> list[str]:
    rtp, control = media_and_control_ports(local_port)
    return [
        sipp_binary(), f"{remote[0]}:{remote[1]}", "-sf", str(scenario_file),
        "-i", LOCAL, "-bind_local", "-p", str(local_port), "-t", "u1",
        "-ci", LOCAL, "-cp", str(control), "-mi", LOCAL, "-mp", str(rtp),
        "-buff_size", BUFF, "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
    ]


@dataclass
class Background:
    """A SIPp left running (a callee); killed by PID in `stop()`."""

    name: str
    proc: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def start_callee(remote: tuple[str, int], port: int, workdir: Path, *, register: bool, timeout: float
                 ) -> Background:
    """Register 202 from `port` (when `register`), then run call_load/uas.xml there until stopped."""
    workdir.mkdir(parents=True, exist_ok=True)
    if register:
        args = [*sipp_base(remote, scenario("call_basic", "register.xml"), port, 10),
                "-m", "1", "-s", CALLEE, "-au", CALLEE, "-ap", DEMO_USERS[CALLEE], "-trace_err"]
        done = subprocess.run(args, cwd=str(workdir), capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"registration of {CALLEE} failed ({done.returncode}): {done.stderr.decode()[-800:]}")
    args = [*sipp_base(remote, scenario("call_load", "uas.xml"), port, timeout), "-s", CALLEE]
    proc = subprocess.Popen(args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    callee = Background("callee", proc, workdir)
    if not wait_udp_bound(port, alive=lambda: proc.poll() is None):
        callee.stop()
        raise RuntimeError(f"the SIPp callee on port {port} did not start (exit {proc.poll()})")
    return callee


# -- one step ------------------------------------------------------------------------------------------------
@dataclass
class Step:
    series: str  # "server" | "direct"
    target: int
    sent: int
    hold_ms: int
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    created: int = 0
    elapsed: float = 0.0
    setup_p50: float = float("nan")
    setup_p99: float = float("nan")
    teardown_p50: float = float("nan")
    teardown_p99: float = float("nan")
    cpu_total: float = float("nan")       # server CPU seconds over the whole step
    cpu_steady_percent: float = float("nan")
    sipp_exit: int | None = None
    refused_503: int = 0
    command: str = ""

    @property
    def achieved(self) -> float:
        """Calls created per second over the creation period (the run minus one hold and the last setup)."""
        period = self.elapsed - self.hold_ms / 1000.0
        return self.created / period if period > 0 else float("nan")

    @property
    def goodput(self) -> float:
        """Successful calls per second over the same period."""
        period = self.elapsed - self.hold_ms / 1000.0
        return self.successful / period if period > 0 else float("nan")

    @property
    def cpu_us_per_call(self) -> float:
        return 1e6 * self.cpu_total / self.successful if self.successful else float("nan")

    @property
    def clean(self) -> bool:
        """No failed call (RFC 7501's criterion): every call placed and completed, SIPp ended by itself."""
        return self.failed == 0 and self.successful == self.sent and self.sipp_exit == 0

    @property
    def spotless(self) -> bool:
        """Clean and not one retransmission (no answer took longer than T1 = 500 ms)."""
        return self.clean and self.retransmissions == 0


def count_503(workdir: Path) -> int:
    total = 0
    for path in workdir.glob("*_errors.log"):
        with path.open("rb") as handle:
            total += handle.read().count(b"SIP/2.0 503")
    return total


class CpuSampler:
    """Samples the server's CPU seconds every 0.5 s in a thread (for the steady-state window of a step)."""

    def __init__(self, server: ServerProcess | None) -> None:
        self.server = server
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        if self.server is not None and self.server.alive():
            with contextlib.suppress(OSError, ValueError):
                self.samples.append((time.monotonic(), self.server.cpu_seconds()))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def total(self) -> float:
        return self.samples[-1][1] - self.samples[0][1] if len(self.samples) >= 2 else float("nan")

    def percent_between(self, start: float, end: float) -> float:
        window = [s for s in self.samples if start <= s[0] <= end]
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return float("nan")
        return 100.0 * (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def run_step(series: str, remote: tuple[str, int], caller_port: int, rate: int, duration: float, hold_ms: int,
             workdir: Path, server: ServerProcess | None) -> Step:
    workdir.mkdir(parents=True, exist_ok=True)
    total = max(1, int(rate * duration))
    limit = max(200, int(rate * (hold_ms / 1000.0 + 2.0)))
    timeout = duration + hold_ms / 1000.0 + 40
    args = [
        *sipp_base(remote, scenario("call_load", "uac.xml"), caller_port, timeout),
        "-s", DID, "-r", str(rate), "-rp", "1000", "-m", str(total), "-l", str(limit), "-d", str(hold_ms),
        "-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "100", "-trace_err", "-recv_timeout", "8000",
    ]
    step = Step(series, rate, total, hold_ms, command=" ".join(args[1:]))
    started = time.monotonic()
    with CpuSampler(server) as cpu:
        returncode, err = run_bounded(args, workdir, timeout)
    step.elapsed = time.monotonic() - started
    step.sipp_exit = returncode
    stats = read_stats(workdir)
    if not stats:
        raise RuntimeError(f"SIPp wrote no statistics (exit {returncode}): {err.decode()[-1500:]}")
    step.successful = int(stats.get("SuccessfulCall(C)", "0") or 0)
    step.failed = int(stats.get("FailedCall(C)", "0") or 0)
    step.retransmissions = int(stats.get("Retransmissions(C)", "0") or 0)
    step.created = int(stats.get("OutgoingCall(C)", "0") or 0)
    rtts = read_rtts(workdir)
    step.setup_p50, step.setup_p99 = percentile(rtts.get("setup", []), 0.5), percentile(rtts.get("setup", []), 0.99)
    step.teardown_p50 = percentile(rtts.get("teardown", []), 0.5)
    step.teardown_p99 = percentile(rtts.get("teardown", []), 0.99)
    step.cpu_total = cpu.total()
    step.cpu_steady_percent = cpu.percent_between(started + hold_ms / 1000.0 + 1.0, started + duration)
    step.refused_503 = count_503(workdir)
    return step


def format_step(step: Step) -> str:
    cpu = "" if step.series == "direct" else (
        f"server CPU {step.cpu_steady_percent:5.1f}% ({step.cpu_us_per_call:5.0f} us/call)  ")
    refused = f"  503s {step.refused_503}" if step.refused_503 else ""
    verdict = ("CLEAN" if step.spotless else "CLEAN (with retransmissions)") if step.clean else "NOT CLEAN"
    return (f"  {step.series:6s} {step.target:5d}/s  placed {step.achieved:6.0f}/s  goodput {step.goodput:6.0f}/s  "
            f"ok {step.successful:6d}/{step.sent:<6d} failed {step.failed:5d}  retrans {step.retransmissions:5d}  "
            f"{cpu}setup p50 {step.setup_p50:6.1f} ms p99 {step.setup_p99:7.1f} ms  "
            f"bye p50 {step.teardown_p50:5.1f} p99 {step.teardown_p99:6.1f} ms  exit {step.sipp_exit}"
            f"{refused}  {verdict}")


# -- server helpers ------------------------------------------------------------------------------------------
def status(server: ServerProcess) -> dict[str, object]:
    assert server.http_port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/status", timeout=5) as reply:
        data = json.loads(reply.read())
    assert isinstance(data, dict)
    return data


def calls_in_progress(server: ServerProcess) -> int:
    value = status(server).get("calls_in_progress", -1)
    return int(value) if isinstance(value, int) else -1


def wait_calls(server: ServerProcess, predicate: str, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    current = calls_in_progress(server)
    while time.monotonic() < deadline:
        current = calls_in_progress(server)
        if (predicate == "==" and current == count) or (predicate == ">=" and current >= count):
            return current
        time.sleep(0.25)
    return current


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Bench:
    work: Path
    server_args: list[str]
    stack: contextlib.ExitStack
    tracebacks: list[str] = field(default_factory=list)
    features: bool = False  # the callee has forwarding, a schedule criterion and simultaneous ring configured

    def __enter__(self) -> Bench:
        self.stack.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def server(self, name: str) -> tuple[ServerProcess, int]:
        """A fresh server (own data dir, demo group with its trunk on a free port, HTTP for /status)."""
        trunk_port = free_port(LOCAL)
        data_dir = self.work / f"data-{name}"
        provision_demo_with_trunk(data_dir, trunk_port)
        if self.features:
            set_services(data_dir, "marie.martin", FEATURED)
        server = ServerProcess.start(data_dir, demo=False, http=True, extra_args=self.server_args,
                                     log_dir=self.work)

        def stop() -> None:
            with contextlib.suppress(ServerError):
                server.stop()
            count = server.stderr_text().count("Traceback")
            if count:
                self.tracebacks.append(f"{name}: {count} Traceback(s); last lines:\n{server.stderr_tail(40)}")

        self.stack.callback(stop)
        print(f"server pid {server.pid} on udp {server.host}:{server.port}, trunk port {trunk_port} "
              f"({' '.join(server.args[2:])})", flush=True)
        return server, trunk_port

    def callee(self, remote: tuple[str, int], name: str, *, register: bool, timeout: float) -> tuple[Background, int]:
        port = free_port(LOCAL)
        callee = start_callee(remote, port, self.work / name, register=register, timeout=timeout)
        self.stack.callback(callee.stop)
        return callee, port


# -- the three parts -----------------------------------------------------------------------------------------
def server_series(bench: Bench, rates: Sequence[int], duration: float, hold_ms: int, keep_going: bool = False
                  ) -> list[Step]:
    server, trunk_port = bench.server("rates")
    remote = (server.host, server.port)
    callee, _ = bench.callee(remote, "callee-rates", register=True, timeout=3600)
    print(f"server series: UAC (trunk {LOCAL}:{trunk_port}) -> server -> UAS 202, {duration:.0f} s per step, "
          f"hold {hold_ms} ms", flush=True)
    steps: list[Step] = []
    for rate in rates:
        step = run_step("server", remote, trunk_port, rate, duration, hold_ms, bench.work / f"server-{rate}", server)
        steps.append(step)
        print(format_step(step), flush=True)
        if not server.alive():
            print(f"  the server died: {server.describe()}", flush=True)
            break
        if callee.proc.poll() is not None:  # the load generator, not the server: later steps would mean nothing
            print(f"  the SIPp callee exited ({callee.proc.returncode}); series stopped", flush=True)
            break
        left = wait_calls(server, "==", 0, 40)
        if left:
            print(f"  {left} calls still in progress 40 s after the step", flush=True)
        if not step.clean and not keep_going:
            break
    return steps


def direct_series(bench: Bench, rates: Sequence[int], duration: float, hold_ms: int) -> list[Step]:
    port = free_port(LOCAL)
    callee = start_callee((LOCAL, port), port, bench.work / "callee-direct", register=False, timeout=3600)
    bench.stack.callback(callee.stop)
    print(f"direct series (ceiling): UAC -> UAS {LOCAL}:{port}, no server, {duration:.0f} s per step", flush=True)
    steps: list[Step] = []
    for rate in rates:
        step = run_step("direct", (LOCAL, port), free_port(LOCAL), rate, duration, hold_ms,
                        bench.work / f"direct-{rate}", None)
        steps.append(step)
        print(format_step(step), flush=True)
        if not step.clean:
            break
    return steps


@dataclass
class MemoryPoint:
    calls: int
    established: int
    rss_before_kib: int
    rss_after_kib: int  # 3 s after the last call was up: the INVITE transactions (32 s) still alive
    rss_settled_kib: int  # 35 s later: those transactions gone, only the calls themselves
    seconds: float

    def per_call(self, rss_kib: int) -> float:
        return 1024.0 * (rss_kib - self.rss_before_kib) / self.established if self.established else 0.0

    @property
    def bytes_per_call(self) -> float:
        return self.per_call(self.rss_after_kib)

    @property
    def settled_bytes_per_call(self) -> float:
        return self.per_call(self.rss_settled_kib)


SETTLE_S = 35.0  # past Timer L/M (32 s) of the last call's INVITE transactions


def memory_point(bench: Bench, calls: int, rate: int) -> MemoryPoint:
    server, trunk_port = bench.server(f"memory-{calls}")
    remote = (server.host, server.port)
    callee, _ = bench.callee(remote, f"callee-memory-{calls}", register=True, timeout=3600)
    warm = run_step("server", remote, trunk_port, 200, 2.0, 0, bench.work / f"memory-{calls}-warmup", server)
    wait_calls(server, "==", 0, 20)
    time.sleep(1.0)
    before = rss_kib(server.pid)
    started = time.monotonic()
    workdir = bench.work / f"memory-{calls}-hold"
    workdir.mkdir(parents=True, exist_ok=True)
    args = [*sipp_base(remote, scenario("call_load", "uac.xml"), trunk_port, 3600),
            "-s", DID, "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(calls), "-d", "3600000",
            "-trace_err", "-recv_timeout", "8000"]
    proc = subprocess.Popen(args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    holder = Background("holder", proc, workdir)
    bench.stack.callback(holder.stop)
    try:
        established = wait_calls(server, ">=", calls, calls / rate * 3 + 30)
        time.sleep(3.0)
        established = calls_in_progress(server)
        after = rss_kib(server.pid)
        time.sleep(SETTLE_S)  # RFC 6026 Timer L/M (64*T1) ends the INVITE transactions of the last calls
        settled = rss_kib(server.pid)
        established = min(established, calls_in_progress(server))
    finally:
        holder.stop()
        callee.stop()
    point = MemoryPoint(calls, established, before, after, settled, time.monotonic() - started)
    print(f"  memory: {established} established calls (of {calls}; warm-up {warm.successful} calls ok): "
          f"VmRSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB = {point.bytes_per_call / 1024:.2f} KiB "
          f"per call; {SETTLE_S:.0f} s later {settled / 1024:.1f} MiB = "
          f"{point.settled_bytes_per_call / 1024:.2f} KiB per call", flush=True)
    return point


# -- reporting -----------------------------------------------------------------------------------------------
def describe_machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "no uvloop"
    return (f"{os.cpu_count()} vCPU {cpu}, Python {platform.python_version()}, {loop}, "
            f"kernel {platform.release()}")


def markdown(steps: list[Step], memory: list[MemoryPoint]) -> str:
    lines = ["| path | rate/s | goodput/s | calls ok / sent | failed | retrans | setup p50 / p99 ms |"
             " BYE p50 / p99 ms | server CPU (steady) | CPU µs/call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        cpu = ("-", "-") if s.series == "direct" else (f"{s.cpu_steady_percent:.0f} %", f"{s.cpu_us_per_call:.0f}")
        failed = f"{s.failed}" + (f" ({s.refused_503} x 503)" if s.refused_503 else "")
        lines.append(f"| {s.series} | {s.target} | {s.goodput:.0f} | {s.successful} / {s.sent} | {failed} | "
                     f"{s.retransmissions} | "
                     f"{s.setup_p50:.1f} / {s.setup_p99:.1f} | {s.teardown_p50:.1f} / {s.teardown_p99:.1f} | "
                     f"{cpu[0]} | {cpu[1]} |")
    if memory:
        lines += ["", f"| established calls | VmRSS before → 3 s after → {SETTLE_S:.0f} s later | per call at 3 s | "
                      f"per call at {SETTLE_S:.0f} s |", "|---|---|---|---|"]
        for m in memory:
            lines.append(f"| {m.established} | {m.rss_before_kib / 1024:.1f} → {m.rss_after_kib / 1024:.1f} → "
                         f"{m.rss_settled_kib / 1024:.1f} MiB | {m.bytes_per_call / 1024:.1f} KiB | "
                         f"{m.settled_bytes_per_call / 1024:.1f} KiB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", help=f"server series rates, calls/s (default {DEFAULT_RATES})")
    parser.add_argument("--direct-rates", help=f"ceiling series rates (default {DEFAULT_DIRECT_RATES})")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of call creation per step")
    parser.add_argument("--hold-ms", type=int, default=1000, help="hold time of each call (SIPp -d)")
    parser.add_argument("--memory", help=f"established-call counts for the memory test (default {DEFAULT_MEMORY})")
    parser.add_argument("--memory-rate", type=int, default=500, help="call rate while building up the calls")
    parser.add_argument("--features", action="store_true",
                        help="give the callee forwarding on busy/no answer, a schedule criterion and simultaneous "
                             "ring (benchmarks/feature_decisions.py FEATURED): the engine evaluates them every call")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every server step even past the first one with failures (overload behaviour)")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-direct", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--log-level", default="warning", help="server --log-level (default warning)")
    parser.add_argument("--no-uvloop", action="store_true", help="run the server on the default asyncio loop")
    parser.add_argument("--keep", type=Path, help="keep traces and data in this directory")
    args = parser.parse_args(argv)
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2

    def ints(text: str | None, default: Sequence[int]) -> list[int]:
        return [int(x) for x in text.split(",")] if text else list(default)

    with contextlib.ExitStack() as outer:
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(outer.enter_context(tempfile.TemporaryDirectory(prefix="call-load-")))
        print(f"machine: {describe_machine()}", flush=True)
        server_args = ["--log-level", args.log_level] + (["--no-uvloop"] if args.no_uvloop else [])
        steps: list[Step] = []
        memory: list[MemoryPoint] = []
        tracebacks: list[str] = []

        def part() -> Bench:
            """Processes started for one part are stopped (by PID) when its `with` block ends."""
            return Bench(work, server_args, contextlib.ExitStack(), tracebacks, features=args.features)

        if not args.skip_server:
            with part() as bench:
                steps += server_series(bench, ints(args.rates, DEFAULT_RATES), args.duration, args.hold_ms,
                                       args.keep_going)
        if not args.skip_direct:
            with part() as bench:
                steps += direct_series(bench, ints(args.direct_rates, DEFAULT_DIRECT_RATES), args.duration,
                                       args.hold_ms)
        if not args.skip_memory:
            print(f"memory per established call (built up at {args.memory_rate}/s, one-hour hold)", flush=True)
            for calls in ints(args.memory, DEFAULT_MEMORY):
                with part() as bench:
                    memory.append(memory_point(bench, calls, args.memory_rate))
        print("summary:")
        for series in ("server", "direct"):
            ran = [s for s in steps if s.series == series]
            clean = [s for s in ran if s.clean]
            if ran:
                best = max(clean, key=lambda s: s.target) if clean else None
                first_bad = next((s for s in ran if not s.clean), None)
                text = f"highest rate with zero failures {best.target}/s" if best else "no clean step"
                spotless = [s for s in ran if s.spotless]
                if spotless:
                    text += f" (without any retransmission: {max(s.target for s in spotless)}/s)"
                if best and series == "server":
                    text += (f" (server CPU {best.cpu_steady_percent:.0f}% of one core, "
                             f"{best.cpu_us_per_call:.0f} µs per call)")
                if first_bad:
                    text += f"; {first_bad.target}/s: {first_bad.failed} failed of {first_bad.sent}"
                print(f"  {series}: {text}")
        if steps:
            print(f"  caller command (server series, first step): sipp {steps[0].command}")
        print(markdown(steps, memory))
        for text in tracebacks:
            print(f"  the server logged {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
