"""BLF NOTIFY fan-out on one core: 1,000 watched users x 20 watchers each, while their calls change state.

In process, as the server runs it: a real sans-IO `SipStack`, `LiveCalls` and `Notifier`, and around them what
the asyncio shell does (`sipserver/aio/server.py`): every datagram goes through `SipStack.receive()`, its events
to the notifier, then `flush()` - `pop_outgoing()` and the next timer deadline, which asks the stack *and* the
notifier (`Application.next_deadline()`) - and every timer firing runs `stack.on_timer()` then
`notifier.on_timer()`. Only the sockets are missing (no `sendto`, no `recvfrom`).

1. Each of the 1,000 users is watched by the 20 users after it; each watcher's phone (its own address) sends
   one SUBSCRIBE per key, as bytes, handed to `Notifier.on_subscribe()`; every initial NOTIFY is answered 200.
2. Calls run: `--in-progress` calls at a time, each for a different watched user, each going trying -> early
   -> confirmed -> terminated (one `LiveCalls.publish()` per step, a random call of those in progress steps
   next; a finished call is replaced by one for an idle user). The simulated phones parse every NOTIFY and
   answer 200 after `--rtt-ms`; the 200s go back through the stack like any datagram.

Time is the server's CPU time: each piece of server work (a state change and what it queued, one 200
received, one timer firing, and the deadline query after each) is timed with `time.process_time()` and moves
the server's clock (`now` of the stack and the notifier) by that much; the simulated phones' work is not server
time. State changes arrive at `--rate` NOTIFYs/s (Poisson; `--rate 0`: back to back, saturating the core), and
the server takes arrivals, 200s and due timers first come first served, so the latency of a ringing NOTIFY is
its queueing behind earlier work plus its own service, as on a loaded one-core server. When the server falls
behind, a timer firing handles every transaction timer due by the server's clock, as the shell does with
`loop.time()`: NOTIFYs whose 200 is still waiting in the queue are retransmitted (Timer E), and past Timer F
(32 s) their subscriptions would be dropped.

Checked from the bytes of every NOTIFY (start line, Call-ID and CSeq of the subscription dialog, the
dialog-info `version`, `<state>` and `call-id`): each state change gives exactly one NOTIFY to each of the
user's watchers and to no one else, each subscription's versions go 0, 1, 2... with no gap or repeat, and each
body shows the state just published. Printed: NOTIFYs/s per core (1 / server CPU per NOTIFY), CPU per NOTIFY
and where it went, and per state (ringing is `early`) the time from the change's arrival, and from the start of
its `publish()`, to all its NOTIFY bytes being in `pop_outgoing()`: p50 / p99 / max.

    .venv/bin/python benchmarks/blf_fanout.py                     # 1,000 x 20, 10 s, 10,000 NOTIFYs/s offered
    .venv/bin/python benchmarks/blf_fanout.py --rate 0            # back to back: what one core can do
    .venv/bin/python benchmarks/blf_fanout.py --no-shell-scans    # the notifier without the shell's scans
    .venv/bin/python benchmarks/blf_fanout.py --profile           # cProfile of the server work only

`--no-shell-scans` leaves out the two calls the shell makes into the notifier that scan every subscription
(`Notifier.next_deadline()` after every datagram, `Notifier.on_timer()` at every timer), to separate their cost
from the fan-out's. Bounded by `--seconds` of wall time of the call phase and `--max-changes`. Prints figures;
exits 1 when a state change was lost (or a NOTIFY was wrong), never because of a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import random
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from blf.notifier import Notifier  # noqa: E402
from provisioning.model import Directory, Enterprise, Group, GroupDescription, User  # noqa: E402
from sipserver.address import Endpoint  # noqa: E402
from sipserver.aio import gcpolicy  # noqa: E402
from sipserver.b2bua.call import LegStateChanged, LocalAddress  # noqa: E402
from sipserver.b2bua.live import LiveCalls  # noqa: E402
from sipserver.events import ClientTransactionTimedOut, RequestReceived, ResponseReceived  # noqa: E402
from sipserver.logs import configure_logging  # noqa: E402
from sipserver.stack import SipStack  # noqa: E402

DOMAIN = "bench.example.com"
SERVER = LocalAddress("127.0.0.1", 5060)
STATES = ("trying", "early", "confirmed", "terminated")

VERSION = re.compile(rb'<dialog-info [^>]*version="(\d+)" state="full"')
STATE = re.compile(rb"<state>([a-z]+)</state>")
DIALOG_CALL_ID = re.compile(rb' call-id="([^"]*)"')
ECHOED = re.compile(rb"^(?:Via|From|To|Call-ID|CSeq): [^\r]*\r\n", re.MULTILINE)


def header(message: bytes, name: bytes) -> bytes:
    start = message.find(b"\r\n" + name + b": ")
    if start < 0:
        return b""
    start += len(name) + 4
    return message[start:message.find(b"\r\n", start)]


def build_directory(users: int) -> Directory:
    people = tuple(User(user_id=f"u{i:05d}", group_id="bench", first_name=f"First{i}", last_name=f"Last{i}",
                        extension=str(10000 + i), sip_username=str(10000 + i)) for i in range(users))
    description = GroupDescription(enterprise=Enterprise(id="bench", name="Bench"),
                                   group=Group(id="bench", enterprise_id="bench", name="Bench", domain=DOMAIN),
                                   users=people)
    return Directory((description,))


def phone_of(index: int) -> Endpoint:
    """Watcher `index`'s phone (one phone per user, all its BLF keys subscribe from it)."""
    return Endpoint("udp", f"10.{1 + index // 62500}.{index // 250 % 250}.{index % 250 + 1}", 5062)


def subscribe_bytes(watcher: User, target: User, phone: Endpoint, call_id: str) -> bytes:
    return (f"SUBSCRIBE sip:{target.extension}@{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {phone.host}:{phone.port};branch=z9hG4bK-{call_id};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{watcher.sip_username}@{DOMAIN}>;tag=w-{call_id}\r\n"
            f"To: <sip:{target.extension}@{DOMAIN}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:{watcher.sip_username}@{phone.host}:{phone.port}>\r\n"
            "User-Agent: Yealink SIP-T48S 66.86.0.15\r\n"
            "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 3600\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def ok_for(notify: bytes) -> bytes:
    """The phone's 200 to a NOTIFY: its Via, From, To, Call-ID and CSeq echoed (RFC 3261 §8.2.6.2)."""
    head = notify[:notify.find(b"\r\n\r\n") + 2]
    return b"SIP/2.0 200 OK\r\n" + b"".join(ECHOED.findall(head)) + b"Content-Length: 0\r\n\r\n"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


@dataclass(slots=True)
class Change:
    """One state change published (or a subscription's first NOTIFY, `state` "idle"): what its NOTIFYs must
    show, when it reached the server, and how many of its NOTIFYs are still to come."""

    user_id: str
    state: str
    call_id: str | None
    arrived: float
    due: int


@dataclass(slots=True)
class Watch:
    """One subscription as its phone sees it, and the changes whose NOTIFY it still expects, in order (the
    notifier sends a subscription's NOTIFYs one at a time: a change may wait for the 200 of the one before)."""

    resource: str  # the watched user's id
    phone: Endpoint
    version: int = -1  # the last dialog-info version received
    cseq: int = 0  # the last NOTIFY CSeq received
    expected: deque[Change] = field(default_factory=deque)


@dataclass(slots=True)
class Call:
    user: User
    number: int
    step: int = 0  # index in STATES of the next state to publish


@dataclass(slots=True)
class Tally:
    """What the phones saw, and what was wrong with it."""

    notifies: int = 0
    retransmissions: int = 0
    other: int = 0  # datagrams that were neither a NOTIFY nor a 200 to a SUBSCRIBE
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)
        else:
            self.errors[-1] = f"... and more (last: {text})"


@dataclass(slots=True)
class Result:
    """The call phase: counts, server time (s), CPU per kind of work (s), latencies per state (s)."""

    changes: int
    unanswered: int  # 200s the server had not read by the end (overloaded)
    notifies: int
    lost: int
    elapsed: float
    behind: float
    cpu: dict[str, float]
    counts: dict[str, int]
    latency: dict[str, list[float]]
    service: dict[str, list[float]]


class Server:
    """The stack and the notifier with what `sipserver/aio/server.py` and `Application` do around them."""

    def __init__(self, directory: Directory, *, shell_scans: bool) -> None:
        self.clock = 0.0  # the server's clock: its CPU time so far (plus idle gaps)
        self.stack = SipStack()
        self.live = LiveCalls()
        self.directory = directory
        self.notifier = Notifier(stack=self.stack, local_for=lambda peer: SERVER, live=self.live,
                                 directory=lambda: self.directory, now=lambda: self.clock)
        self.shell_scans = shell_scans
        self.deadline: float | None = None
        self.timeouts = 0

    # What the shell does after every datagram and every timer (`SipServer.flush()`): send what was queued, then
    # re-arm its one timer for the earliest deadline. The two halves are timed apart: the NOTIFYs have left
    # before the deadline is looked for.
    def pop(self) -> list[tuple[bytes, Endpoint]]:
        return self.stack.pop_outgoing()

    def arm(self) -> None:
        deadline = self.stack.next_deadline()
        if self.shell_scans:
            own = self.notifier.next_deadline()  # Application.next_deadline() (CallController's is ~free)
            if own is not None and (deadline is None or own < deadline):
                deadline = own
        self.deadline = deadline

    def datagram(self, data: bytes, source: Endpoint, watcher: User | None = None) -> list[tuple[bytes, Endpoint]]:
        """`SipServer._on_message()` with `Application.handle()`: the stack, then the notifier."""
        now = self.clock
        group = self.directory.group_by_id("bench")
        for event in self.stack.receive(data, source, now):
            if isinstance(event, ResponseReceived):
                self.notifier.on_response(event)  # (Application also offers it to the CallController)
            elif isinstance(event, RequestReceived) and watcher is not None and group is not None:
                self.notifier.on_subscribe(event, watcher, group, now)  # (after the digest check)
        return self.pop()

    def timer(self) -> list[tuple[bytes, Endpoint]]:
        """`SipServer._on_timer()`: the stack's timers, then `Application.on_timer()`."""
        now = self.clock
        for event in self.stack.on_timer(now):
            if isinstance(event, ClientTransactionTimedOut):
                self.timeouts += 1
                self.notifier.on_timeout(event, now)
        if self.shell_scans:
            self.notifier.on_timer(now)
        return self.pop()

    def state_change(self, leg: LegStateChanged) -> list[tuple[bytes, Endpoint]]:
        """A call's leg changed state (in the server, while handling the call's message): publish, send."""
        self.live.publish(leg)  # every NOTIFY is rendered and queued in the stack when this returns
        return self.pop()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.server = Server(build_directory(args.users), shell_scans=args.shell_scans)
        self.users = list(self.server.directory.users_of_group("bench"))
        self.index = {user.user_id: i for i, user in enumerate(self.users)}
        self.watches: dict[bytes, Watch] = {}  # subscription Call-ID -> what its phone knows
        self.watchers_of: dict[str, set[bytes]] = {}  # watched user id -> its subscriptions' Call-IDs
        self.tally = Tally()
        self.rtt = args.rtt_ms / 1000
        self.replies: deque[tuple[float, bytes, Endpoint]] = deque()  # 200s on their way, in arrival order
        self.profiler = cProfile.Profile() if args.profile else None
        kinds = ("subscribe", "state change", "200 received", "timer", "deadline")
        self.cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
        self.counts: dict[str, int] = dict.fromkeys(kinds, 0)
        self.latency: dict[str, list[float]] = {state: [] for state in STATES}  # arrival -> its last NOTIFY out

    # -- the server's work, timed --------------------------------------------------------------------------
    def work(self, kind: str, job: Callable[..., list[tuple[bytes, Endpoint]]], *args: object
             ) -> tuple[list[tuple[bytes, Endpoint]], float]:
        """Run one piece of server work and then the shell's deadline query, each timed (CPU); the CPU moves
        the server's clock. Returns what the work queued and when it was in the outgoing queue (server clock)."""
        server, profiler = self.server, self.profiler
        if profiler is not None:
            profiler.enable()
        started = time.process_time()
        out = job(*args)
        middle = time.process_time()
        server.arm()
        ended = time.process_time()
        if profiler is not None:
            profiler.disable()
        queued = server.clock + (middle - started)
        server.clock += ended - started
        self.cpu[kind] += middle - started
        self.counts[kind] += 1
        self.cpu["deadline"] += ended - middle
        self.counts["deadline"] += 1
        return out, queued

    def catch_up(self, until: float, wall_limit: float = math.inf) -> None:
        """Everything that reached the server (a 200) or fell due (its timer) by `until`, in time order (one
        queue, first come first served), each datagram and each timer firing followed by the deadline query."""
        server, replies = self.server, self.replies
        while time.perf_counter() < wall_limit:
            reply = replies[0][0] if replies else math.inf
            timer = server.deadline if server.deadline is not None else math.inf
            at = min(reply, timer)
            if at > until:
                return
            if server.clock < at:
                server.clock = at  # idle until then
            if reply <= timer:
                _, data, source = replies.popleft()
                out, sent = self.work("200 received", server.datagram, data, source)
                self.phones(out, sent)  # the NOTIFY that waited for this 200, if any
            else:
                out, sent = self.work("timer", server.timer)
                self.phones(out, sent, from_timer=True)

    # -- the phones ----------------------------------------------------------------------------------------
    def phones(self, out: list[tuple[bytes, Endpoint]], sent_at: float, *, from_timer: bool = False) -> None:
        """Read what the server sent; answer each NOTIFY 200 after the round trip; check each new one against
        the oldest change its subscription still expects. `from_timer`: sent by a timer (retransmissions)."""
        tally = self.tally
        for data, destination in out:
            if not data.startswith(b"NOTIFY "):
                if not data.startswith(b"SIP/2.0 200 "):
                    tally.other += 1
                continue
            call_id = header(data, b"Call-ID")
            cseq = int(header(data, b"CSeq").split(b" ", 1)[0])
            self.replies.append((sent_at + self.rtt, ok_for(data), destination))
            watch = self.watches.get(call_id)
            if watch is None:
                tally.error(f"NOTIFY for an unknown subscription {call_id!r}")
                continue
            if cseq <= watch.cseq:
                tally.retransmissions += 1  # answered again, not a new state
                continue
            if from_timer:
                tally.error(f"{call_id!r}: a new NOTIFY (CSeq {cseq}) from a timer")
            tally.notifies += 1
            version, state, dialog = VERSION.search(data), STATE.search(data), DIALOG_CALL_ID.search(data)
            if version is None or state is None:
                tally.error(f"{call_id!r}: no dialog-info version/state")
                continue
            if int(version.group(1)) != watch.version + 1:
                tally.error(f"{call_id!r}: version {int(version.group(1))} after {watch.version}")
            if destination != watch.phone:
                tally.error(f"{call_id!r}: NOTIFY sent to {destination}, phone at {watch.phone}")
            if b"\r\nSubscription-State: active;" not in data:
                tally.error(f"{call_id!r}: {header(data, b'Subscription-State')!r}")
            watch.version, watch.cseq = int(version.group(1)), cseq
            if not watch.expected:
                tally.error(f"{call_id!r}: a NOTIFY for no state change of {watch.resource}")
                continue
            change = watch.expected.popleft()
            change.due -= 1
            if change.due == 0 and change.state in self.latency:
                self.latency[change.state].append(sent_at - change.arrived)
            if change.state in ("idle", "terminated"):
                if state.group(1) != b"terminated" or dialog is not None:
                    tally.error(f"{call_id!r}: key not idle ({change.state})")
            elif state.group(1).decode() != change.state or dialog is None \
                    or dialog.group(1).decode() != change.call_id:
                tally.error(f"{call_id!r}: shows {state.group(1)!r}, published {change.state} {change.call_id}")

    # -- 1. subscriptions ----------------------------------------------------------------------------------
    def subscribe_all(self) -> tuple[int, float]:
        server, users, count = self.server, self.users, len(self.users)
        for i, target in enumerate(users):
            for k in range(1, self.args.watchers + 1):
                j = (i + k) % count
                watcher, phone = users[j], phone_of(j)
                call_id = f"blf-{j}-{i}@{phone.host}"
                watch = Watch(resource=target.user_id, phone=phone)
                watch.expected.append(Change(target.user_id, "idle", None, server.clock, due=1))
                self.watches[call_id.encode()] = watch
                self.watchers_of.setdefault(target.user_id, set()).add(call_id.encode())
                data = subscribe_bytes(watcher, target, phone, call_id)
                out, at = self.work("subscribe", server.datagram, data, phone, watcher)
                self.phones(out, at)
                self.catch_up(server.clock)
        self.catch_up(self.replies[-1][0] if self.replies else server.clock)
        return self.counts.pop("subscribe"), self.cpu.pop("subscribe")

    # -- 2. calls ------------------------------------------------------------------------------------------
    def run_calls(self) -> Result:
        args, server, rng = self.args, self.server, self.rng
        tally = self.tally
        idle = list(range(len(self.users)))
        rng.shuffle(idle)
        in_progress: list[Call] = []
        number = 0
        for _ in range(min(args.in_progress, len(idle))):
            number += 1
            in_progress.append(Call(self.users[idle.pop()], number))
        change_rate = args.rate / args.watchers  # state changes per second of server time
        next_arrival = server.clock
        first_clock, first_notifies = server.clock, tally.notifies
        cpu_before, counts_before = dict(self.cpu), dict(self.counts)
        service: dict[str, list[float]] = {state: [] for state in STATES}
        changes = 0
        arrived = server.clock
        wall_deadline = time.perf_counter() + args.seconds
        while changes < args.max_changes and time.perf_counter() < wall_deadline:
            if change_rate > 0:
                self.catch_up(next_arrival, wall_deadline)  # what reached the server before this change
                if server.clock < next_arrival:
                    server.clock = next_arrival  # idle until it comes
                arrived = next_arrival
                next_arrival += rng.expovariate(change_rate)
            else:  # back to back: the next change comes as soon as the server has nothing else to do
                self.catch_up(server.clock, wall_deadline)
                arrived = server.clock
            slot = rng.randrange(len(in_progress))
            call = in_progress[slot]
            state = STATES[call.step]
            leg = LegStateChanged(user_id=call.user.user_id, call_id=f"call-{call.number}@b2bua",
                                  local_tag=f"b{call.number}", remote_tag=None if state == "trying" else
                                  f"p{call.number}", direction="recipient", state=state,
                                  peer=f'"Caller {call.number}" <sip:+3222{call.number % 1000000:06d}@{DOMAIN}>')
            watchers = self.watchers_of.get(call.user.user_id, set())
            change = Change(call.user.user_id, state, leg.call_id, arrived, due=len(watchers))
            for call_id in watchers:
                self.watches[call_id].expected.append(change)
            started = server.clock
            out, queued = self.work("state change", server.state_change, leg)
            changes += 1
            service[state].append(queued - started)
            self.phones(out, queued)
            call.step += 1
            if call.step == len(STATES):
                idle.insert(rng.randrange(len(idle) + 1), self.index[call.user.user_id])
                number += 1
                in_progress[slot] = Call(self.users[idle.pop()], number)
        behind = server.clock - arrived  # how late the server was on the last state change
        wall_limit = time.perf_counter() + max(2.0, args.seconds / 5)
        while self.replies and time.perf_counter() < wall_limit:  # the last 200s and what waited for them
            self.catch_up(self.replies[-1][0], wall_limit)
        elapsed = server.clock - first_clock
        lost = sum(len(watch.expected) for watch in self.watches.values())  # NOTIFYs never sent
        for watch in self.watches.values():
            for change in watch.expected:
                tally.error(f"{watch.resource} {change.state}: no NOTIFY to one of its watchers")
        return Result(changes=changes, unanswered=len(self.replies), notifies=tally.notifies - first_notifies,
                      lost=lost, elapsed=elapsed, behind=behind if change_rate > 0 else 0.0,
                      cpu={kind: self.cpu[kind] - cpu_before[kind] for kind in self.cpu if kind != "subscribe"},
                      counts={kind: self.counts[kind] - counts_before[kind] for kind in self.counts},
                      latency=self.latency, service=service)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000, help="users in the group, each one watched")
    parser.add_argument("--watchers", type=int, default=20, help="watchers per user (the users after it)")
    parser.add_argument("--rate", type=float, default=10_000.0,
                        help="offered NOTIFYs/s (Poisson state changes x watchers); 0: back to back")
    parser.add_argument("--in-progress", type=int, default=100, help="calls in progress at a time")
    parser.add_argument("--rtt-ms", type=float, default=1.0, help="phone round trip for the 200 to a NOTIFY")
    parser.add_argument("--seconds", type=float, default=10.0, help="wall time of the call phase at most")
    parser.add_argument("--max-changes", type=int, default=200_000, help="state changes at most")
    parser.add_argument("--shell-scans", action=argparse.BooleanOptionalAction, default=True,
                        help="include the shell's Notifier.next_deadline() per datagram and on_timer() per timer")
    parser.add_argument("--gc", choices=("server", "default"), default="server",
                        help="server: the server's collection policy (gcpolicy.install); default: CPython's")
    parser.add_argument("--profile", action="store_true", help="cProfile of the server's work of the call phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 0 < args.watchers < args.users or args.in_progress < 1:
        parser.error("need 0 < --watchers < --users and --in-progress >= 1")
    configure_logging(json=False, level="warning")
    bench = Bench(args)
    if args.gc == "server":
        gcpolicy.install()  # as `callconnect serve` does at start-up: no automatic collection
    profiler, bench.profiler = bench.profiler, None  # the call phase only

    started = time.perf_counter()
    subscribes, subscribe_cpu = bench.subscribe_all()
    print(f"subscriptions: {len(bench.server.notifier.subscriptions):,} ({args.users:,} users x {args.watchers}"
          f" watchers) from {subscribes:,} SUBSCRIBEs in {time.perf_counter() - started:.1f} s wall; server CPU"
          f" {subscribe_cpu:.2f} s with the first NOTIFYs ({subscribe_cpu / subscribes * 1e6:.0f} µs per SUBSCRIBE),"
          f" {bench.cpu['200 received']:.2f} s for their 200s, {bench.cpu['deadline']:.2f} s in deadline queries")

    bench.profiler = profiler
    gc_before = sum(stat["collections"] for stat in gc.get_stats())
    wall = time.perf_counter()
    result = bench.run_calls()
    wall = time.perf_counter() - wall
    gcs = sum(stat["collections"] for stat in gc.get_stats()) - gc_before
    tally, cpu, notifies = bench.tally, result.cpu, result.notifies
    server_cpu = sum(cpu.values())
    expected = result.changes * args.watchers
    offered = f"{args.rate:,.0f} NOTIFYs/s offered (Poisson)" if args.rate > 0 else "back to back"
    scans = "with" if args.shell_scans else "WITHOUT"
    print(f"calls: {result.changes:,} state changes, {args.in_progress} calls in progress, {offered}, {scans} the"
          f" shell's per-datagram Notifier.next_deadline() and per-timer on_timer(), gc {args.gc};"
          f" {wall:.1f} s wall, {result.elapsed:.2f} s of server time")
    print(f"NOTIFYs: {notifies:,} (expected {expected:,}), NOTIFYs never sent: {result.lost},"
          f" problems: {len(tally.errors)}, retransmissions: {tally.retransmissions},"
          f" NOTIFY timeouts: {bench.server.timeouts}, other datagrams: {tally.other}")
    for text in tally.errors:
        print(f"  ! {text}")
    if notifies:
        # What one NOTIFY costs the server: its share of a state change, one 200 to read, the deadline query
        # after each of those datagrams and after each timer firing, its share of the timer firings. The same
        # as all the CPU / NOTIFYs once every 200 was read; still right when an overloaded run ends with 200s
        # unread.
        per = {kind: cpu[kind] / result.counts[kind] if result.counts[kind] else 0.0 for kind in cpu}
        needed = {"state change": result.changes / notifies, "200 received": 1.0,
                  "timer": result.counts["timer"] / notifies,
                  "deadline": (result.changes + notifies + result.counts["timer"]) / notifies}
        share = {kind: per[kind] * needed[kind] for kind in cpu}
        each = sum(share.values())
        print(f"NOTIFYs/s per core: {1 / each:,.0f} (server CPU per NOTIFY {each * 1e6:.1f} µs = "
              + " + ".join(f"{kind} {share[kind] * 1e6:.1f}" for kind in cpu) + ")")
        print(f"  achieved {notifies / result.elapsed:,.0f} NOTIFYs/s of server time, core busy"
              f" {server_cpu / result.elapsed:.0%}; " + ", ".join(f"{result.counts[kind]:,} {kind}" for kind in cpu)
              + f" ({per['deadline'] * 1e6:.1f} µs each), {result.unanswered:,} 200s unread at the end;"
              f" {gcs} GC collections")
    for state in STATES:
        lat, svc = result.latency[state], result.service[state]
        if lat:
            print(f"{state:>10} -> {args.watchers} NOTIFYs in pop_outgoing(): p50 {percentile(lat, .5) * 1e3:.2f}"
                  f" / p99 {percentile(lat, .99) * 1e3:.2f} / max {max(lat) * 1e3:.2f} ms with queueing;"
                  f" own work p50 {percentile(svc, .5) * 1e3:.2f} / p99 {percentile(svc, .99) * 1e3:.2f}"
                  f" / max {max(svc) * 1e3:.2f} ms ({len(lat):,})")
    if result.behind > 0.05:
        print(f"OVERLOADED: at the end the server was {result.behind:.1f} s of server time behind the arrivals")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
    ok = notifies == expected and not tally.errors and not bench.server.timeouts and not result.lost
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
