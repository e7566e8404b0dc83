"""Test helpers for the sans-IO core: a fake clock, a deterministic lossy in-memory wire, two (or more)
transaction layers joined by that wire, and small message builders.

Everything is deterministic: the wire draws from a seeded `random.Random`, time only moves when
`Network.run_until` moves it, and nothing sleeps. The wire may drop, duplicate and reorder (delay by a random
extra latency) every datagram; stream transports (TCP/TLS) are never lossy, as in real life.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sipserver.address import Endpoint
from sipserver.message import Headers, SipRequest, SipResponse
from sipserver.parser import parse_message
from sipserver.transaction import (
    Incoming,
    ResponseMatch,
    StrayResponse,
    TransactionLayer,
    TxnEvent,
    new_branch,
)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        if now < self.now:
            raise ValueError(f"time cannot go back: {now} < {self.now}")
        self.now = now


@dataclass(frozen=True, slots=True)
class Sent:
    """One datagram or stream message handed to the wire (before loss)."""

    time: float
    data: bytes
    source: Endpoint
    destination: Endpoint

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()


class LossyWire:
    """An in-memory network. `send()` schedules a delivery after `latency` plus, with probability `reorder`,
    a uniform extra delay up to `max_extra_delay` (so later datagrams overtake it); with probability `drop` a
    datagram is lost and with probability `duplicate` a second copy is scheduled independently.

    `sent` logs every message as it was handed over, lost or not (count retransmissions there).
    """

    def __init__(
        self,
        seed: int | random.Random = 0,
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        latency: float = 0.01,
        max_extra_delay: float = 0.3,
    ) -> None:
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.drop = drop
        self.duplicate = duplicate
        self.reorder = reorder
        self.latency = latency
        self.max_extra_delay = max_extra_delay
        self.sent: list[Sent] = []
        self.dropped = 0
        self._queue: list[tuple[float, int, Sent]] = []
        self._seq = itertools.count()

    def send(self, data: bytes, source: Endpoint, destination: Endpoint, now: float) -> None:
        item = Sent(now, data, source, destination)
        self.sent.append(item)
        if destination.reliable:
            self._schedule(now + self.latency, item)
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            if self.rng.random() < self.drop:
                self.dropped += 1
                continue
            delay = self.latency
            if self.rng.random() < self.reorder:
                delay += self.rng.uniform(0.0, self.max_extra_delay)
            self._schedule(now + delay, item)

    def _schedule(self, when: float, item: Sent) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), item))

    def next_delivery(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def pop_due(self, now: float) -> list[Sent]:
        out: list[Sent] = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def sends_from(self, source: Endpoint, first_line_prefix: str = "") -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.source.host == source.host
            and s.source.port == source.port
            and s.first_line.startswith(first_line_prefix)
        ]


# What a node's TU sees, in order: (time, outcome). An outcome is an Incoming, a ResponseMatch, a
# StrayResponse or a timer event.
Observed = Incoming | ResponseMatch | StrayResponse | TxnEvent
Handler = Callable[["Node", Observed, float], None]


@dataclass
class Node:
    """A transaction layer at an address, with a TU callback and a log of everything it passed up."""

    name: str
    address: Endpoint
    layer: TransactionLayer
    handler: Handler | None = None
    seen: list[tuple[float, Observed]] = field(default_factory=list)

    def of_type(self, kind: type) -> list[Observed]:
        return [o for _, o in self.seen if isinstance(o, kind)]


class Network:
    """Nodes joined by a wire and driven by one fake clock: `run_until(t)` delivers messages and fires timers
    in time order, calling each node's handler for what its layer passes up."""

    def __init__(self, wire: LossyWire | None = None, clock: FakeClock | None = None) -> None:
        self.wire = wire or LossyWire()
        self.clock = clock or FakeClock()
        self.nodes: list[Node] = []
        self._calls: list[tuple[float, int, Callable[[float], object]]] = []
        self._seq = itertools.count()

    def add(
        self, name: str, address: Endpoint, layer: TransactionLayer, handler: Handler | None = None
    ) -> Node:
        node = Node(name, address, layer, handler)
        self.nodes.append(node)
        return node

    def call_at(self, when: float, fn: Callable[[float], object]) -> None:
        """Run `fn(now)` at fake time `when` (a TU's delayed action)."""
        heapq.heappush(self._calls, (when, next(self._seq), fn))

    def flush(self) -> None:
        now = self.clock.now
        for node in self.nodes:
            for data, destination in node.layer.pop_outgoing():
                source = node.address
                if destination.reliable:
                    source = Endpoint(destination.transport, source.host, source.port)
                self.wire.send(data, source, destination, now)

    def _node_at(self, destination: Endpoint) -> Node | None:
        for node in self.nodes:
            if node.address.host == destination.host and node.address.port == destination.port:
                return node
        return None

    def _next_time(self) -> float | None:
        times = [self.wire.next_delivery(), *(n.layer.next_deadline() for n in self.nodes)]
        if self._calls:
            times.append(self._calls[0][0])
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _observe(self, node: Node, outcome: Observed | None, now: float) -> None:
        if outcome is None:
            return
        node.seen.append((now, outcome))
        if node.handler is not None:
            node.handler(node, outcome, now)

    def step(self, now: float) -> None:
        """Everything due at `now`: wire deliveries, TU calls, then timers."""
        for item in self.wire.pop_due(now):
            node = self._node_at(item.destination)
            if node is None:
                continue
            # What the receiver sees as the source: the sender's address; streams carry a connection id.
            source = item.source
            if item.destination.reliable:
                source = Endpoint(source.transport, source.host, source.port, connection_id=source.port)
            msg = parse_message(item.data, datagram=not item.destination.reliable)
            if isinstance(msg, SipRequest):
                self._observe(node, node.layer.on_request(msg, source, now), now)
            else:
                self._observe(node, node.layer.on_response(msg, source, now), now)
            self.flush()
        while self._calls and self._calls[0][0] <= now:
            _, _, fn = heapq.heappop(self._calls)
            fn(now)
            self.flush()
        for node in self.nodes:
            for event in node.layer.on_timer(now):
                self._observe(node, event, now)
            self.flush()

    def run_until(self, end: float) -> None:
        self.flush()
        while True:
            t = self._next_time()
            if t is None or t > end:
                self.clock.set(max(self.clock.now, end))
                return
            self.clock.set(max(self.clock.now, t))
            self.step(self.clock.now)


# ----------------------------------------------------------------------------------------------------
# Message builders
# ----------------------------------------------------------------------------------------------------
_call_ids = itertools.count(1)


def make_request(
    method: str,
    *,
    uri: str = "sip:bob@192.0.2.2",
    via: Endpoint = Endpoint("udp", "192.0.2.1", 5060),  # noqa: B008
    branch: str | None = None,
    rport: bool = False,
    call_id: str | None = None,
    cseq: int = 1,
    from_tag: str | None = "alice-tag",
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipRequest:
    """A well-formed request; `branch=None` means a fresh `new_branch()`; pass `branch=""` for no branch."""
    if branch is None:
        branch = new_branch()
    via_value = f"SIP/2.0/{via.transport.upper()} {via.host}:{via.port}"
    if branch:
        via_value += f";branch={branch}"
    if rport:
        via_value += ";rport"
    from_value = "<sip:alice@192.0.2.1>" + (f";tag={from_tag}" if from_tag else "")
    to_value = "<sip:bob@192.0.2.2>" + (f";tag={to_tag}" if to_tag else "")
    fields = [
        ("Via", via_value),
        ("Max-Forwards", "70"),
        ("From", from_value),
        ("To", to_value),
        ("Call-ID", call_id or f"call-{next(_call_ids)}@test"),
        ("CSeq", f"{cseq} {method}"),
        *extra,
    ]
    if method == "INVITE":
        fields.append(("Contact", f"<sip:alice@{via.host}:{via.port}>"))
    return SipRequest(method, uri, Headers(fields), body)


def make_invite(**kwargs: object) -> SipRequest:
    return make_request("INVITE", **kwargs)  # type: ignore[arg-type]


def reparse(msg: SipRequest | SipResponse) -> SipRequest | SipResponse:
    """The message as the peer would see it (serialized then parsed)."""
    return parse_message(msg.serialize())
