"""SIP load benchmark: SIPp on UDP loopback against a real `python -m sipserver serve`, rate stepped up.

    python benchmarks/sip_load.py                       # all three series, default steps
    python benchmarks/sip_load.py --series register --rates 1000,3000,5000 --duration 5
    python benchmarks/sip_load.py --users 4             # the demo users only (no provisioning)

(a) authenticated REGISTER (sipp_scenarios/register_load: REGISTER -> 401 -> REGISTER + digest -> 200, a
distinct user per call from an -inf CSV of --users provisioned users), (b) OPTIONS (sipp_scenarios/options),
(c) baseline: the same OPTIONS load against a SIPp UAS (sipp_scenarios/options/uas.xml) instead of the server,
the ceiling of the load generator and the jitter of the machine, measured in the same run. Each series gets a
fresh server (its own data directory).
Each step runs SIPp at one rate for --duration seconds (`-r RATE -rp 1000 -m RATE*DURATION -l LIMIT`,
`-buff_size 4194304`, `-trace_stat -fd 1`, `-trace_rtt`, `-recv_timeout`, `-timeout`), then reads SIPp's
statistics (successful/failed calls, retransmissions), the response times of its rtt trace (p50/p99), and the
server's CPU time from /proc/PID/stat (utime + stime before and after). Capacity, as in RFC 7501/7502, is the
highest step with zero failed calls whose achieved rate is within 5 % of the target, here also with zero
retransmissions (an answer later than T1 = 500 ms means queueing); the series stops at the first step that is
not clean. It prints figures and never asserts anything about timings.

Everything is bounded: each SIPp run by -timeout and a hard kill, the server stopped (by PID) at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.sipp_results import percentile, read_rtts, read_stats, run_bounded  # noqa: E402
from tests.helpers.server import DEMO_USERS, ServerError, ServerProcess, free_port  # noqa: E402
from tests.integration.sipp import auth_injection_file, scenario_path, sipp_binary  # noqa: E402

DEFAULT_REGISTER_RATES = (500, 1000, 1500, 2000, 3000, 5000, 7000)
DEFAULT_OPTIONS_RATES = (1000, 2000, 3000, 5000, 8000, 12000)


class Target(Protocol):
    """What a step runs against: the server, or the SIPp UAS of the baseline."""

    host: str
    port: int

    def cpu_seconds(self) -> float: ...

    def alive(self) -> bool: ...

    def describe(self) -> str: ...


class SippUas:
    """sipp_scenarios/options/uas.xml in a SIPp process: the load generator's own ceiling (baseline)."""

    def __init__(self, work: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        args = [sipp_binary(), "-sf", str(scenario_path("options").with_name("uas.xml")),
                "-i", self.host, "-bind_local", "-p", str(self.port), "-t", "u1",
                "-ci", "127.0.0.1", "-cp", str(free_port(tcp=False)),
                "-mi", "127.0.0.1", "-mp", str(free_port(tcp=False)),
                "-nostdin", "-buff_size", "4194304", "-timeout", "1800s"]
        self.proc = subprocess.Popen(args, cwd=str(work), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)  # SIPp binds at once; nothing to poll without sending it a message

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe(self) -> str:
        return f"sipp uas pid {self.pid} exit {self.proc.poll()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@dataclass
class Step:
    series: str
    target: int
    sent: int
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    p50_ms: dict[str, float]
    p99_ms: dict[str, float]
    server_cpu: float
    sipp_exit: int

    @property
    def achieved(self) -> float:
        return self.successful / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.server_cpu / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_us_per_call(self) -> float:
        return 1e6 * self.server_cpu / self.successful if self.successful else float("nan")

    @property
    def clean(self) -> bool:
        """Zero failed calls (RFC 7501), the rate held (within 5 %), and no retransmission: a retransmission
        means an answer took longer than T1 = 500 ms, i.e. requests were queueing past the knee."""
        return (self.failed == 0 and self.successful == self.sent and self.retransmissions == 0
                and self.achieved >= 0.95 * self.target)


# -- provisioning --------------------------------------------------------------------------------------------
def provision_users(data_dir: Path, count: int, work: Path) -> list[tuple[str, str]]:
    """A group of `count` users (u10000...) written as a provisioning file and applied to `data_dir`."""
    users = [(f"u{10000 + i}", f"pw{10000 + i}x") for i in range(count)]
    lines = [
        '[enterprise]\nid = "bench"\nname = "Benchmark"\n',
        '[group]\nid = "bench"\nname = "Benchmark group"\ndomain = "callconnect.local"\n',
    ]
    for user, password in users:
        lines.append(f'[[users]]\nuser_id = "{user}"\nfirst_name = "Load"\nlast_name = "{user}"\n'
                     f'sip_password = "{password}"\n')
    path = work / "bench-group.toml"
    path.write_text("\n".join(lines))
    done = subprocess.run(
        [sys.executable, "-m", "sipserver", "provision", "apply", str(path), "--data-dir", str(data_dir)],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"provision apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return users


# -- one step ------------------------------------------------------------------------------------------------
def run_step(server: Target, series: str, rate: int, duration: float, workdir: Path,
             inject: Path | None) -> Step:
    workdir.mkdir(parents=True, exist_ok=True)
    total = max(1, int(rate * duration))
    scenario = scenario_path("register_load" if series == "register" else "options")  # options, baseline
    timeout = int(duration * 2 + 20)
    args = [
        sipp_binary(), f"{server.host}:{server.port}", "-sf", str(scenario),
        "-i", "127.0.0.1", "-bind_local", "-p", str(free_port()),
        "-ci", "127.0.0.1", "-cp", str(free_port(tcp=False)),
        "-mi", "127.0.0.1", "-mp", str(free_port(tcp=False)),
        "-t", "u1", "-r", str(rate), "-rp", "1000", "-m", str(total), "-l", str(max(200, rate)),
        "-buff_size", "4194304", "-trace_stat", "-fd", "1", "-trace_rtt", "-trace_err",
        "-recv_timeout", "5000", "-nostdin", "-timeout", f"{timeout}s", "-timeout_error",
    ]
    if inject is not None:
        args += ["-inf", str(inject)]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    returncode, err = run_bounded(args, workdir, timeout)
    elapsed_wall = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu_before
    stats = read_stats(workdir)
    if not stats:
        raise RuntimeError(f"SIPp wrote no statistics (exit {returncode}): {err.decode()[-2000:]}")
    elapsed = _span_seconds(stats) or _elapsed_seconds(stats.get("ElapsedTime(C)", "")) or elapsed_wall
    rtts = read_rtts(workdir)
    return Step(
        series=series, target=rate, sent=total,
        successful=int(stats.get("SuccessfulCall(C)", "0") or 0),
        failed=int(stats.get("FailedCall(C)", "0") or 0),
        retransmissions=int(stats.get("Retransmissions(C)", "0") or 0),
        elapsed=elapsed,
        p50_ms={k: percentile(v, 0.50) for k, v in rtts.items()},
        p99_ms={k: percentile(v, 0.99) for k, v in rtts.items()},
        server_cpu=cpu, sipp_exit=returncode,
    )


def _span_seconds(stats: dict[str, str]) -> float | None:
    """CurrentTime - StartTime of SIPp's last statistics line (each ends with the epoch, in microseconds)."""
    try:
        start = float(stats["StartTime"].split("\t")[-1])
        end = float(stats["CurrentTime"].split("\t")[-1])
    except (KeyError, ValueError):
        return None
    return end - start if end > start else None


def _elapsed_seconds(text: str) -> float | None:
    """SIPp's `HH:MM:SS` or `HH:MM:SS:micro` elapsed time."""
    parts = text.strip().split(":")
    try:
        if len(parts) >= 3:
            seconds = float(int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2]))
            if len(parts) == 4:
                seconds += int(parts[3]) / 1e6
            return float(seconds) if seconds > 0 else None
    except ValueError:
        return None
    return None


# -- reporting -----------------------------------------------------------------------------------------------
def describe_machine() -> dict[str, str]:
    try:
        import uvloop

        uv = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        uv = "no uvloop (plain asyncio)"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    sipp_version = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([sipp_binary(), "-v"], capture_output=True, text=True, timeout=10, check=False)
        lines = (out.stdout + out.stderr).splitlines()
        sipp_version = next((ln.strip() for ln in lines if "SIPp v" in ln), "?")
    return {
        "nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
        "implementation": platform.python_implementation(), "loop": uv, "sipp": sipp_version,
        "kernel": platform.release(),
    }


def format_step(step: Step) -> str:
    rtds = " ".join(f"{name}: p50 {step.p50_ms[name]:.0f} ms / p99 {step.p99_ms[name]:.0f} ms"
                    for name in sorted(step.p50_ms))
    return (f"  {step.series:8s} target {step.target:6d}/s  achieved {step.achieved:8.0f}/s  "
            f"ok {step.successful:7d}/{step.sent:<7d} failed {step.failed:5d}  "
            f"retrans {step.retransmissions:5d}  "
            f"target CPU {step.cpu_percent:5.1f}% ({step.cpu_us_per_call:6.0f} us/call)  {rtds}  "
            f"sipp exit {step.sipp_exit}  {'CLEAN' if step.clean else 'NOT CLEAN'}")


def run_series(server: Target, series: str, rates: list[int], duration: float, work: Path,
               inject: Path | None) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        step = run_step(server, series, rate, duration, work / f"{series}-{rate}", inject)
        steps.append(step)
        print(format_step(step), flush=True)
        if not server.alive():
            print(f"  the target died: {server.describe()}", flush=True)
            break
        if not step.clean:
            break
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", choices=["register", "options", "both", "baseline", "all"], default="all",
                        help="both = register + options; all = both + baseline (SIPp UAC -> SIPp UAS)")
    parser.add_argument("--rates", help="comma-separated REGISTER rates (calls/s)")
    parser.add_argument("--options-rates", help="comma-separated OPTIONS rates (requests/s)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per step (default 10)")
    parser.add_argument("--users", type=int, default=1000,
                        help="provisioned users for REGISTER (4: the demo users only)")
    parser.add_argument("--log-level", default="warning", help="server --log-level (default warning)")
    parser.add_argument("--no-uvloop", action="store_true", help="run the server on the default asyncio loop")
    parser.add_argument("--keep", type=Path, help="keep traces and data in this directory")
    args = parser.parse_args(argv)

    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    reg_rates = [int(x) for x in args.rates.split(",")] if args.rates else list(DEFAULT_REGISTER_RATES)
    opt_rates = [int(x) for x in args.options_rates.split(",")] if args.options_rates \
        else list(DEFAULT_OPTIONS_RATES)

    with contextlib.ExitStack() as stack:
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sip-load-")))
        machine = describe_machine()
        print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
        extra = ["--log-level", args.log_level] + (["--no-uvloop"] if args.no_uvloop else [])
        results: list[Step] = []
        tracebacks: list[str] = []

        def fresh_server(name: str, users: int) -> tuple[ServerProcess, list[tuple[str, str]]]:
            """A new server (its own data directory) for one series, so that series do not disturb each
            other; `users` > 4 provisions that many users first, else the demo group is used."""
            data_dir = work / f"data-{name}"
            demo = users <= len(DEMO_USERS)
            accounts: list[tuple[str, str]] = list(DEMO_USERS.items())
            if not demo:
                started = time.monotonic()
                accounts = provision_users(data_dir, users, work)
                print(f"provisioned {len(accounts)} users in {time.monotonic() - started:.1f}s", flush=True)
            server = ServerProcess.start(data_dir, demo=demo, extra_args=extra, log_dir=work)

            def stop_server() -> None:
                with contextlib.suppress(ServerError):
                    server.stop()
                count = server.stderr_text().count("Traceback")
                if count:
                    tracebacks.append(f"{name}: {count} Traceback(s); last lines:\n{server.stderr_tail(40)}")

            stack.callback(stop_server)
            print(f"server pid {server.pid} on udp {server.host}:{server.port} "
                  f"({' '.join(server.args[2:])})", flush=True)
            return server, accounts

        if args.series in ("register", "both", "all"):
            server, users = fresh_server("register", args.users)
            inject = auth_injection_file(work / "users.csv", users)
            print(f"(a) authenticated REGISTER, {len(users)} users, {args.duration:.0f} s per step", flush=True)
            results += run_series(server, "register", reg_rates, args.duration, work, inject)
        if args.series in ("options", "both", "all"):
            server, _ = fresh_server("options", len(DEMO_USERS))
            print(f"(b) OPTIONS, {args.duration:.0f} s per step", flush=True)
            results += run_series(server, "options", opt_rates, args.duration, work, None)
        if args.series in ("baseline", "all"):
            uas = SippUas(work / "uas")
            stack.callback(uas.stop)
            print(f"(c) baseline: the same OPTIONS load against a SIPp UAS (pid {uas.pid}), the ceiling of the "
                  f"load generator on this machine", flush=True)
            results += run_series(uas, "baseline", opt_rates, args.duration, work, None)
        stack.close()  # stop the servers before the summary
        print("summary:")
        for series in ("register", "options", "baseline"):
            clean = [s for s in results if s.series == series and s.clean]
            if any(s.series == series for s in results):
                if clean:
                    best = max(clean, key=lambda s: s.target)
                    print(f"  {series}: capacity >= {best.target}/s clean (achieved {best.achieved:.0f}/s, "
                          f"target CPU {best.cpu_percent:.0f}% of one core, "
                          f"{best.cpu_us_per_call:.0f} us/call)")
                else:
                    print(f"  {series}: no clean step")
        for text in tracebacks:
            print(f"  the server logged {text}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
