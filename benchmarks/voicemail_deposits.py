"""Voicemail deposit benchmark: how many callers can leave a message at once, on one core, with clean recordings.

    python benchmarks/voicemail_deposits.py                           # 20, 40, 52, 60 callers at once
    python benchmarks/voicemail_deposits.py --concurrent 52 --rounds 3
    python benchmarks/voicemail_deposits.py --concurrent 80 --workers 20 --core 0

Topology: `callconnect voicemail --workers W` (the pjsua2 worker processes, 4 calls each) pinned to one core
(`--core`, sched_setaffinity, inherited by every worker it spawns); `callconnect serve` with the demo group
(carrier trunk on a free port P) pointed at those workers with `--voicemail-uri`, pinned to the other core(s)
with the SIPp caller. User 202 has DND on, so every call to her DID +3222211202 is diverted to voicemail: the
server tries the workers in turn (a full one answers 486, the next is tried). The caller is a SIPp bound to
the trunk's address (`voicemail_deposit/uac.xml`), which streams a raw mu-law file after the ACK (SIPp's
rtp_stream): silence while the busy greeting and the beep play, then a --tone-seconds 1400 Hz tone (the
message), then a little silence, and hangs up. `-l N` keeps N calls up at once for --rounds rounds (N x rounds
calls in all).

Figures for each N: calls placed and failed, answer time (INVITE -> 200 through the server and the worker's
stage) p50/p99, the workers' CPU (utime+stime of every worker process from /proc) as % of one core over the
steady part, the server's CPU, the workers' total resident memory (VmRSS) with every call up, and the
recordings: each stored message is read back (16-bit WAV) and cut into 20 ms frames; the frames between the
first and the last frame of the tone must all be the tone (Goertzel share > 0.8 and RMS above a third of the
tone's): a missing or late packet shows as a gap, a mixed-in greeting as a non-tone frame. A recording is clean
when it has no such frame and the tone lasts within 0.25 s of what was sent. A step is clean when every call
succeeded and every recording is clean; N is sustained when its step is clean.

Everything is bounded (SIPp -timeout, hard kills by PID) and nothing is asserted about timings: it prints
figures and a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.sipp_results import percentile, read_rtts, read_stats  # noqa: E402
from storage.voicemail import VoicemailStore  # noqa: E402
from tests.helpers.audio import goertzel_power, read_samples, rms  # noqa: E402
from tests.helpers.server import ServerProcess, free_port, media_and_control_ports  # noqa: E402
from tests.helpers.sipp_calls import provision_demo_with_trunk, scenario, set_services  # noqa: E402
from tests.integration.sipp import sipp_binary  # noqa: E402
from voicemail.prompts import BEEP, prompt_path  # noqa: E402
from voicemail.worker import wav_seconds  # noqa: E402

LOCAL = "127.0.0.1"
CALLEE = "marie.martin"
DID = "+3222211202"
TONE_HZ = 1400.0
TONE_AMPLITUDE = 8000
FRAME_SECONDS = 0.02
CALLS_PER_WORKER = 4
DEFAULT_STEPS = (20, 40, 52, 60)


# -- the caller's audio ----------------------------------------------------------------------------------------
def mulaw(sample: int) -> int:
    """One 16-bit linear sample as G.711 mu-law (ITU-T G.711, the bias-and-segment form)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    while exponent > 0 and not magnitude & (0x4000 >> (7 - exponent)):
        exponent -= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def write_caller_audio(path: Path, *, silence: float, tone: float, tail: float) -> Path:
    """Raw 8 kHz mu-law: `silence` s of silence, `tone` s of TONE_HZ, `tail` s of silence."""
    rate = 8000
    out = bytearray()
    out += bytes([mulaw(0)]) * int(silence * rate)
    out += bytes(mulaw(int(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * n / rate)))
                 for n in range(int(tone * rate)))
    out += bytes([mulaw(0)]) * int(tail * rate)
    path.write_bytes(bytes(out))
    return path


# -- reading a recording back ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    seconds: float  # the whole file
    tone_seconds: float  # first tone frame to last tone frame
    bad_frames: int  # frames inside that stretch that are not the tone (gaps, noise)

    def clean(self, expected_tone: float) -> bool:
        return self.bad_frames == 0 and abs(self.tone_seconds - expected_tone) <= 0.25


def analyse(path: Path) -> Recording:
    rate, samples = read_samples(path)
    size = int(rate * FRAME_SECONDS)
    floor = TONE_AMPLITUDE / math.sqrt(2) / 3
    flags: list[bool] = []
    for start in range(0, len(samples) - size + 1, size):
        frame = samples[start:start + size]
        level = rms(frame)
        flags.append(level > floor and goertzel_power(frame, TONE_HZ, rate) / (level * level) > 0.8)
    if True not in flags:
        return Recording(len(samples) / rate, 0.0, 0)
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    return Recording(len(samples) / rate, (last - first + 1) * FRAME_SECONDS, flags[first:last + 1].count(False))


# -- processes -----------------------------------------------------------------------------------------------------
def pin(core: set[int]) -> None:
    os.sched_setaffinity(0, core)


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the worker processes (one may have just exited: it counts as nothing)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_mib(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


@dataclass
class VoicemailWorkers:
    proc: subprocess.Popen[str]
    uris: list[str]

    @property
    def pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                for pid in self.pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
                self.proc.kill()
                self.proc.wait(5)


def start_workers(data_dir: Path, count: int, core: int, workdir: Path, max_message_seconds: float
                  ) -> VoicemailWorkers:
    first = consecutive_free_ports(count)
    log = (workdir / "voicemail.stderr").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipserver", "voicemail", "--data-dir", str(data_dir), "--host", LOCAL,
         "--port", str(first), "--workers", str(count), "--allow", LOCAL,
         "--max-message-seconds", str(max_message_seconds)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, cwd=str(REPO_ROOT),
        preexec_fn=lambda: pin({core}), start_new_session=True)
    workers = VoicemailWorkers(proc, [])
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60 + 2 * count
    while time.monotonic() < deadline and proc.poll() is None:
        ready = [line for line in lines if line.startswith("voicemail workers (give")]
        if ready:
            workers.uris = re.findall(r"sip:\S+", ready[0])
            return workers
        time.sleep(0.1)
    workers.stop()
    raise RuntimeError(f"voicemail workers did not start: {(workdir / 'voicemail.stderr').read_text()[-2000:]}")


def consecutive_free_ports(count: int) -> int:
    for _ in range(200):
        first = free_port(LOCAL)
        if first + count > 65000:
            continue
        ports = range(first, first + count)
        if all(_free(port) for port in ports):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    import socket

    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOCAL, port))
            except OSError:
                return False
    return True


# -- one step --------------------------------------------------------------------------------------------------------
@dataclass
class Step:
    concurrent: int
    workers: int
    placed: int
    failed: int
    answer_p50_ms: float | None
    answer_p99_ms: float | None
    workers_cpu_pct: float
    server_cpu_pct: float
    workers_rss_mib: float
    stored: int
    clean: int
    worst_bad_frames: int
    tone_seconds_min: float
    tone_seconds_max: float
    elapsed: float
    ended_by_itself: bool

    @property
    def ok(self) -> bool:
        return (self.ended_by_itself and self.failed == 0 and self.placed > 0 and self.stored == self.placed
                and self.clean == self.placed)


def run_step(concurrent: int, workers: int, rounds: int, tone_seconds: float, core: int, other_cores: set[int],
             workdir: Path, trace_messages: bool = False) -> Step:
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    trunk_port = free_port(LOCAL)
    provision_demo_with_trunk(data_dir, trunk_port)
    set_services(data_dir, CALLEE, {"dnd": {"active": True}})
    greeting = wav_seconds(prompt_path("greeting_busy", "fr")) + wav_seconds(prompt_path(BEEP, "fr"))
    write_caller_audio(workdir / "caller.ulaw", silence=greeting + 0.6, tone=tone_seconds, tail=0.4)
    hold_ms = int((greeting + 0.6 + tone_seconds + 0.4) * 1000) + 200
    total = concurrent * rounds

    vm = start_workers(data_dir, workers, core, workdir, max_message_seconds=60)
    server: ServerProcess | None = None
    try:
        extra: list[str] = []
        for uri in vm.uris:
            extra += ["--voicemail-uri", uri]
        server = ServerProcess.start(data_dir, demo=False, extra_args=extra, log_dir=workdir, voicemail_workers=0)
        os.sched_setaffinity(server.pid, other_cores)
        rtp, control = media_and_control_ports(trunk_port)
        timeout = int(rounds * (hold_ms / 1000 + 10) + 30)
        args = [sipp_binary(), f"{LOCAL}:{server.port}", "-sf", str(scenario("voicemail_deposit", "uac.xml")),
                "-i", LOCAL, "-bind_local", "-p", str(trunk_port), "-t", "u1", "-ci", LOCAL, "-cp", str(control),
                "-mi", LOCAL, "-mp", str(rtp), "-buff_size", "4194304", "-nostdin", "-s", DID,
                "-d", str(hold_ms), "-r", str(max(1, concurrent // 4)), "-rp", "1000",
                "-l", str(concurrent), "-m", str(total), "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1",
                "-trace_err",
                "-timeout", f"{timeout}s", "-timeout_error", *(["-trace_msg"] if trace_messages else [])]
        before_workers = cpu_seconds(vm.pids)
        before_server = server.cpu_seconds()
        started = time.monotonic()
        sipp = subprocess.Popen(args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=(workdir / "sipp.stderr").open("w"),
                                preexec_fn=lambda: pin(other_cores), start_new_session=True)
        # Steady part: from when all N calls are up (ramp of about 4 s) until the last round starts ending.
        ramp = concurrent / max(1, concurrent // 4) + 1.0
        steady_from = started + ramp
        steady_until = started + max(ramp + 1.0, rounds * hold_ms / 1000 - 1.0)
        opened: tuple[float, float, float] | None = None  # (time, workers' CPU, server's CPU) at steady_from
        steady: tuple[float, float] | None = None  # (workers' CPU, server's CPU) per second of the steady part
        rss = 0.0
        while sipp.poll() is None and time.monotonic() < started + timeout + 10:
            now = time.monotonic()
            if opened is None and now >= steady_from:
                opened = (now, cpu_seconds(vm.pids), server.cpu_seconds())
                rss = rss_mib(vm.pids)
            elif opened is not None and steady is None and now >= steady_until:
                span = now - opened[0]
                steady = ((cpu_seconds(vm.pids) - opened[1]) / span, (server.cpu_seconds() - opened[2]) / span)
            time.sleep(0.1)
        ended = sipp.poll() is not None
        if not ended:
            sipp.kill()
            sipp.wait(5)
        elapsed = time.monotonic() - started
        if steady is not None:
            workers_cpu, server_cpu = steady
        else:  # too short for a steady part: the whole run
            workers_cpu = (cpu_seconds(vm.pids) - before_workers) / elapsed
            server_cpu = (server.cpu_seconds() - before_server) / elapsed
        stats = read_stats(workdir)
        placed = int(stats.get("OutgoingCall(C)", "0") or 0)
        failed = int(stats.get("FailedCall(C)", "0") or 0)
        answers = read_rtts(workdir).get("answer", [])
        store = VoicemailStore(data_dir)
        settle = time.monotonic() + 10.0  # the workers close and store their last recordings
        while len(store.messages(CALLEE)) < placed and time.monotonic() < settle:
            time.sleep(0.2)
        messages = store.messages(CALLEE)
        results = [analyse(store.audio_path(message)) for message in messages]
    finally:
        if server is not None:
            server.stop()
        vm.stop()
    tones = [r.tone_seconds for r in results] or [0.0]
    return Step(concurrent=concurrent, workers=workers, placed=placed, failed=failed,
                answer_p50_ms=percentile(answers, 0.5) if answers else None,
                answer_p99_ms=percentile(answers, 0.99) if answers else None,
                workers_cpu_pct=100 * workers_cpu, server_cpu_pct=100 * server_cpu, workers_rss_mib=rss,
                stored=len(results),
                clean=sum(r.clean(tone_seconds) for r in results),
                worst_bad_frames=max((r.bad_frames for r in results), default=0),
                tone_seconds_min=min(tones), tone_seconds_max=max(tones), elapsed=elapsed, ended_by_itself=ended)


# -- report ----------------------------------------------------------------------------------------------------------
def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(steps: Sequence[Step], tone_seconds: float, rounds: int) -> Iterator[str]:
    yield (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; workers on one core; "
           f"each call {tone_seconds:.0f} s of 1400 Hz after the greeting, {rounds} rounds")
    yield ""
    yield ("| callers at once | workers | calls | failed | answer p50 / p99 ms | workers CPU (% of 1 core) | "
           "server CPU % | workers RSS MiB | stored | clean | worst gap frames | tone s min-max | sustained |")
    yield "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for s in steps:
        yield (f"| {s.concurrent} | {s.workers} | {s.placed} | {s.failed} | {fmt(s.answer_p50_ms)} / "
               f"{fmt(s.answer_p99_ms)} | {s.workers_cpu_pct:.0f} | {s.server_cpu_pct:.0f} | "
               f"{s.workers_rss_mib:.0f} | {s.stored} | "
               f"{s.clean} | {s.worst_bad_frames} | {s.tone_seconds_min:.2f}-{s.tone_seconds_max:.2f} | "
               f"{'yes' if s.ok else 'no'} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=lambda t: tuple(int(x) for x in t.split(",")), default=DEFAULT_STEPS,
                        help="callers at once, comma-separated steps")
    parser.add_argument("--workers", type=int, default=0,
                        help="worker processes (default: enough for the step, 4 calls each, plus one)")
    parser.add_argument("--rounds", type=int, default=2, help="each caller slot is used this many times")
    parser.add_argument("--tone-seconds", type=float, default=6.0)
    parser.add_argument("--core", type=int, default=0, help="the core the voicemail workers are pinned to")
    parser.add_argument("--trace-messages", action="store_true", help="SIPp -trace_msg (with --keep)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep every step's files (logs, SIPp traces, recordings) under this directory")
    args = parser.parse_args(argv)
    cores = set(os.sched_getaffinity(0))
    other = (cores - {args.core}) or cores
    steps: list[Step] = []
    with contextlib.ExitStack() as stack:
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="vm-bench-"))
        for n in args.concurrent:
            workers = args.workers or (n + CALLS_PER_WORKER - 1) // CALLS_PER_WORKER + 1
            step = run_step(n, workers, args.rounds, args.tone_seconds, args.core, other, Path(tmp) / f"n{n}",
                            args.trace_messages)
            steps.append(step)
            print(f"N={n} workers={workers}: placed {step.placed} failed {step.failed} "
                  f"answer p50 {fmt(step.answer_p50_ms)} p99 {fmt(step.answer_p99_ms)} ms, "
                  f"workers CPU {step.workers_cpu_pct:.0f}% server {step.server_cpu_pct:.0f}%, "
                  f"workers RSS {step.workers_rss_mib:.0f} MiB, "
                  f"stored {step.stored} clean {step.clean} worst gap {step.worst_bad_frames} frames, "
                  f"tone {step.tone_seconds_min:.2f}-{step.tone_seconds_max:.2f} s, {step.elapsed:.0f} s"
                  f"{'' if step.ended_by_itself else ' (killed)'}", flush=True)
    print()
    for line in markdown(steps, args.tone_seconds, args.rounds):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
