"""BLF NOTIFY fan-out on one core: 1,000 watched users x 20 watchers each, while their calls change state.

In process, as the server runs it: a real sans-IO `SipStack`, `LiveCalls` and `Notifier`; 20,000 SUBSCRIBEs go
in as bytes (each watcher is another user of the group, with its own phone address), every NOTIFY comes out as
bytes from `pop_outgoing()` and is answered 200 through the stack (so transactions complete, as on the wire).
Then calls run: for a watched user, trying -> early -> confirmed -> terminated, one `LiveCalls.publish()` at a
time, and after each the NOTIFYs produced are drained, answered and checked:

- NOTIFYs/s (wall clock and CPU time of this one thread);
- zero lost state changes: each watcher of the user gets exactly one NOTIFY per change, and per subscription
  the dialog-info `version`s received are 0, 1, 2, ... with no gap or repeat;
- latency from `publish()` of a ringing (early) state to the last of its 20 NOTIFYs being in the outgoing queue
  (p50 / p99 / max) — the time the last watcher's key waits for the shell.

    .venv/bin/python benchmarks/blf_fanout.py [--users 1000] [--watchers 20] [--seconds 10]

Bounded by `--seconds` of call traffic (and `--max-changes`). Prints figures; asserts nothing but the checks.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from blf.notifier import Notifier  # noqa: E402
from provisioning.model import Directory, Enterprise, Group, GroupDescription, User  # noqa: E402
from sipserver.address import Endpoint  # noqa: E402
from sipserver.b2bua.call import LegStateChanged, LocalAddress  # noqa: E402
from sipserver.b2bua.live import LiveCalls  # noqa: E402
from sipserver.events import RequestReceived, ResponseReceived  # noqa: E402
from sipserver.logs import configure_logging  # noqa: E402
from sipserver.message import SipRequest, build_response  # noqa: E402
from sipserver.parser import parse_message  # noqa: E402
from sipserver.stack import SipStack  # noqa: E402

DOMAIN = "bench.example.com"
SERVER = LocalAddress("127.0.0.1", 5060)
VERSION = re.compile(rb'version="(\d+)" state="full"')
STATES = ("trying", "early", "confirmed", "terminated")


def build_directory(users: int) -> Directory:
    people = tuple(User(user_id=f"u{i:05d}", group_id="bench", first_name=f"First{i}", last_name=f"Last{i}",
                        extension=str(10000 + i), sip_username=str(10000 + i)) for i in range(users))
    description = GroupDescription(enterprise=Enterprise(id="bench", name="Bench"),
                                   group=Group(id="bench", enterprise_id="bench", name="Bench", domain=DOMAIN),
                                   users=people)
    return Directory((description,))


def phone_of(index: int) -> Endpoint:
    return Endpoint("udp", f"10.{index // 65000 % 250}.{index // 250 % 260 % 250}.{index % 250 + 1}",
                    5060 + index % 1000)


def subscribe_bytes(watcher: User, target: User, phone: Endpoint, n: int) -> bytes:
    return (f"SUBSCRIBE sip:{target.extension}@{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {phone.host}:{phone.port};branch=z9hG4bK-b{n};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{watcher.sip_username}@{DOMAIN}>;tag=w{n}\r\n"
            f"To: <sip:{target.extension}@{DOMAIN}>\r\n"
            f"Call-ID: sub-{n}@{phone.host}\r\nCSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:{watcher.sip_username}@{phone.host}:{phone.port}>\r\n"
            "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 3600\r\n"
            "Content-Length: 0\r\n\r\n").encode()


class Bench:
    def __init__(self, users: int, watchers: int) -> None:
        self.now = 1000.0
        self.stack = SipStack()
        self.live = LiveCalls()
        self.directory = build_directory(users)
        self.group = self.directory.group_by_id("bench")
        self.notifier = Notifier(stack=self.stack, local_for=lambda peer: SERVER, live=self.live,
                                 directory=lambda: self.directory, now=lambda: self.now)
        self.users = list(self.directory.users_of_group("bench"))
        self.watchers = watchers
        self.versions: dict[str, list[int]] = defaultdict(list)  # subscription Call-ID -> versions received
        self.notifies = 0

    def drain(self) -> int:
        """Answer every NOTIFY queued (200 through the stack), recording its version; returns how many."""
        count = 0
        for data, destination in self.stack.pop_outgoing():
            if not data.startswith(b"NOTIFY "):
                continue
            count += 1
            message = parse_message(data)
            assert isinstance(message, SipRequest)
            found = VERSION.search(data)
            assert found is not None
            self.versions[message.call_id].append(int(found.group(1)))
            response = build_response(message, 200).serialize()
            for event in self.stack.receive(response, destination, self.now):
                if isinstance(event, ResponseReceived):
                    self.notifier.on_response(event)
        self.notifies += count
        return count

    def subscribe_all(self) -> None:
        n = 0
        users = self.users
        assert self.group is not None
        for i, target in enumerate(users):
            for k in range(1, self.watchers + 1):
                watcher = users[(i + k) % len(users)]
                n += 1
                phone = phone_of(n)
                [event] = self.stack.receive(subscribe_bytes(watcher, target, phone, n), phone, self.now)
                assert isinstance(event, RequestReceived)
                self.notifier.on_subscribe(event, watcher, self.group, self.now)
            self.drain()

    def run_calls(self, seconds: float, max_changes: int) -> tuple[int, float, float, float, list[float]]:
        changes = 0
        notifier_time = 0.0
        latencies: list[float] = []
        started, cpu_started = time.perf_counter(), time.process_time()
        self.notifies = 0
        deadline = started + seconds
        call = 0
        while time.perf_counter() < deadline and changes < max_changes:
            target = self.users[call % len(self.users)]
            call += 1
            for state in STATES:
                leg = LegStateChanged(user_id=target.user_id, call_id=f"call-{call}@b2b", local_tag=f"b{call}",
                                      remote_tag=f"p{call}" if state != "trying" else None,
                                      direction="recipient", state=state,
                                      peer=f'"Caller {call}" <sip:+3222{call:06d}@{DOMAIN}>')
                before = time.perf_counter()
                self.live.publish(leg)  # every NOTIFY is rendered and queued in the stack when this returns
                after = time.perf_counter()
                notifier_time += after - before
                if state == "early":
                    latencies.append(after - before)
                sent = self.drain()
                assert sent == self.watchers, f"{target.user_id} {state}: {sent} NOTIFYs, {self.watchers} watchers"
                changes += 1
            self.now += 0.001
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        return changes, wall, cpu, notifier_time, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-changes", type=int, default=200_000)
    args = parser.parse_args()
    configure_logging(json=False, level="warning")
    bench = Bench(args.users, args.watchers)
    t0 = time.perf_counter()
    bench.subscribe_all()
    subscribed = time.perf_counter() - t0
    print(f"subscriptions: {len(bench.notifier.subscriptions):,} ({args.users:,} users x {args.watchers} watchers)"
          f" in {subscribed:.1f} s incl. first NOTIFYs")
    changes, wall, cpu, notifier_time, latencies = bench.run_calls(args.seconds, args.max_changes)
    gaps = sum(1 for versions in bench.versions.values() if versions != list(range(len(versions))))
    expected = changes * args.watchers
    print(f"state changes: {changes:,}; NOTIFYs: {bench.notifies:,} (expected {expected:,});"
          f" subscriptions with a version gap or repeat: {gaps}")
    print(f"NOTIFYs/s of the server's work (state change -> NOTIFYs rendered, in transactions, queued):"
          f" {bench.notifies / notifier_time:,.0f} ({notifier_time / bench.notifies * 1e6:.1f} µs each)")
    print(f"NOTIFYs/s including the simulated phones (parse, answer 200, response through the stack):"
          f" {bench.notifies / wall:,.0f} wall, {bench.notifies / cpu:,.0f} per CPU-second")
    latencies.sort()
    p = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    print(f"ringing state -> all {args.watchers} NOTIFYs queued: p50 {statistics.median(latencies) * 1e3:.2f} ms,"
          f" p99 {p * 1e3:.2f} ms, max {latencies[-1] * 1e3:.2f} ms")
    return 0 if bench.notifies == expected and gaps == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
