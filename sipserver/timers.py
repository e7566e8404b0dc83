"""SIP timer values (RFC 3261 §17 Table 4, RFC 6026 §8.4/§8.7) and a timer queue keyed by opaque values.

`TimerConfig` holds T1, T2 and T4 and derives every other timer from them:

=======  ===========================  ==========================================
Timer    unreliable transport (UDP)   reliable transport (TCP/TLS)
=======  ===========================  ==========================================
A, E, G  initially T1 (retransmit)    not used (no retransmission, §17.1.1.2)
B, F, H  64*T1                        64*T1
D        32 s  (">32s", §17.1.1.2)    0
I        T4                           0
J        64*T1                        0
K        T4                           0
L, M     64*T1 (RFC 6026)             64*T1
=======  ===========================  ==========================================

`TimerQueue` keeps fixed-delay timers in FIFO lanes (O(1), no comparison) and the others in a binary heap, both
with lazy cancellation: `cancel()` only marks the entry (O(1)); a lane drops its dead entries as they come due
(within one delay), the heap is compacted when more than half of it is dead.

This module never reads a clock: deadlines and `now` are plain floats handed in by the caller. It knows
nothing of messages, transactions, sockets or users.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeAlias, TypeVar

__all__ = ["TimerConfig", "TimerHandle", "TimerQueue"]

K = TypeVar("K")

# An entry `[deadline, sequence, key, in_heap]`. Lists compare element-wise in C, and the unique sequence number
# means two keys are never compared (keys need not be orderable) and equal deadlines pop in schedule order.
TimerHandle: TypeAlias = list[Any]


@dataclass(init=False, unsafe_hash=True, slots=True)
class TimerConfig:
    """RFC 3261 base timers (seconds); every other timer is derived from these three."""

    t1: Final[float]  # RTT estimate
    t2: Final[float]  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: Final[float]  # maximum duration a message remains in the network

    def __init__(self, t1: float = 0.5, t2: float = 4.0, t4: float = 5.0) -> None:
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4

    @property
    def timer_b(self) -> float:
        """INVITE client transaction timeout (§17.1.1.2)."""
        return 64 * self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE client transaction timeout (§17.1.2.2)."""
        return 64 * self.t1

    @property
    def timer_h(self) -> float:
        """Wait time for ACK receipt after a non-2xx final response (§17.2.1)."""
        return 64 * self.t1

    @property
    def timer_l(self) -> float:
        """INVITE server transaction: wait time in Accepted state (RFC 6026 §8.7)."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """INVITE client transaction: wait time in Accepted state (RFC 6026 §8.4)."""
        return 64 * self.t1

    def timer_d(self, reliable: bool) -> float:
        """Wait time for response retransmissions in the INVITE client's Completed state (§17.1.1.2)."""
        return 0.0 if reliable else 32.0

    def timer_i(self, reliable: bool) -> float:
        """Wait time for ACK retransmissions in the INVITE server's Confirmed state (§17.2.1)."""
        return 0.0 if reliable else self.t4

    def timer_j(self, reliable: bool) -> float:
        """Wait time for request retransmissions in the non-INVITE server's Completed state (§17.2.2)."""
        return 0.0 if reliable else 64 * self.t1

    def timer_k(self, reliable: bool) -> float:
        """Wait time for response retransmissions in the non-INVITE client's Completed state (§17.1.2.2)."""
        return 0.0 if reliable else self.t4


_DEAD: Final[Any] = object()  # the key of a cancelled or already fired entry

_COMPACT_MIN: Final = 1024  # never bother compacting a heap smaller than this


def _deadline_then_sequence(entry: TimerHandle) -> tuple[float, int]:
    return entry[0], entry[1]


class TimerQueue(Generic[K]):
    """Deadlines with keys: `schedule(deadline, key)` or `schedule_after(now, delay, key)` -> handle,
    `cancel(handle)`, `pop_due(now) -> [key]`.

    Entries due at the same deadline come out in the order they were scheduled. Cancelling an entry that
    already fired (or was cancelled) is a no-op, so callers may cancel the handles they hold blindly.

    `schedule_after` puts the entry in a FIFO lane of its own delay: SIP uses a handful of delays (T1, 2*T1,
    ... T2, T4, 64*T1), and with `now` never going back, entries of one delay are due in the order they were
    scheduled, so a lane needs no comparison at all. At 1,000 calls/s some 200,000 timers are pending (Timer
    L/M/J last 32 s) and the heap's comparisons were ~10 % of the server's CPU. An entry whose deadline would
    come before the lane's last one (a clock that went back), or a delay beyond `MAX_LANES` distinct ones,
    goes to the heap.
    """

    __slots__ = ("_earliest", "_earliest_known", "_heap", "_heap_dead", "_lanes", "_live", "_seq")

    MAX_LANES = 32

    def __init__(self) -> None:
        self._heap: list[TimerHandle] = []
        self._heap_dead = 0
        self._lanes: dict[float, deque[TimerHandle]] = {}
        self._seq = 0
        self._live = 0
        # next_deadline() runs after every message: it is remembered, lowered by schedule*(), left alone by
        # cancel() (so it may come early) and looked for again only after pop_due().
        self._earliest: float | None = None
        self._earliest_known = True

    def __len__(self) -> int:
        """The number of pending (scheduled, not cancelled, not fired) timers."""
        return self._live

    def schedule(self, deadline: float, key: K) -> TimerHandle:
        entry: TimerHandle = [deadline, self._seq, key, True]  # the last item: "in the heap"
        self._seq += 1
        self._live += 1
        heapq.heappush(self._heap, entry)
        if self._earliest_known and (self._earliest is None or deadline < self._earliest):
            self._earliest = deadline
        return entry

    def schedule_after(self, now: float, delay: float, key: K) -> TimerHandle:
        """Schedule at `now + delay`, in the FIFO lane of `delay` when the order allows it."""
        lane = self._lanes.get(delay)
        if lane is None:
            if len(self._lanes) >= self.MAX_LANES:
                return self.schedule(now + delay, key)
            lane = self._lanes[delay] = deque()
        deadline = now + delay
        if lane and lane[-1][0] > deadline:
            return self.schedule(deadline, key)
        entry: TimerHandle = [deadline, self._seq, key, False]
        self._seq += 1
        self._live += 1
        lane.append(entry)
        if self._earliest_known and (self._earliest is None or deadline < self._earliest):
            self._earliest = deadline
        return entry

    def cancel(self, handle: TimerHandle) -> None:
        if handle[2] is _DEAD:
            return
        handle[2] = _DEAD  # drop the reference to the key now; the entry itself leaves later
        self._live -= 1
        if handle[3]:
            self._heap_dead += 1
            heap = self._heap
            if len(heap) > _COMPACT_MIN and self._heap_dead > len(heap) >> 1:
                heap[:] = [entry for entry in heap if entry[2] is not _DEAD]
                heapq.heapify(heap)
                self._heap_dead = 0

    def pop_due(self, now: float) -> list[K]:
        """Remove and return the keys of every pending timer whose deadline is <= now, earliest first."""
        self._earliest_known = False
        due: list[TimerHandle] = []
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= now:
            entry = pop(heap)
            if entry[2] is _DEAD:
                self._heap_dead -= 1
            else:
                due.append(entry)
        sources = 1 if due else 0
        for lane in self._lanes.values():
            found = False
            while lane and lane[0][0] <= now:
                entry = lane.popleft()
                if entry[2] is not _DEAD:
                    due.append(entry)
                    found = True
            if found:
                sources += 1
        if sources > 1:
            due.sort(key=_deadline_then_sequence)
        out: list[K] = []
        for entry in due:
            out.append(entry[2])
            entry[2] = _DEAD
        self._live -= len(out)
        return out

    def next_deadline(self) -> float | None:
        """When to call pop_due() next: never after the earliest pending deadline, None when nothing is pending.

        It is exact after schedule*() and pop_due(). After a cancel() it may still be the cancelled entry's
        deadline: a pop_due() then returns nothing and makes it exact again. Walking the lanes after every
        cancellation cost 2 % of the CPU at 1,000 calls/s (the oldest live Timer A/E is often the earliest
        entry, and the response that stops it arrives within milliseconds).
        """
        if self._live == 0:
            return None
        if self._earliest_known:
            return self._earliest
        heap = self._heap
        while heap and heap[0][2] is _DEAD:
            heapq.heappop(heap)
            self._heap_dead -= 1
        earliest: float | None = heap[0][0] if heap else None
        for lane in self._lanes.values():
            while lane and lane[0][2] is _DEAD:
                lane.popleft()
            if lane and (earliest is None or lane[0][0] < earliest):
                earliest = lane[0][0]
        self._earliest, self._earliest_known = earliest, True
        return earliest

    def deadline_of(self, handle: TimerHandle) -> float | None:
        """The deadline of a pending entry, None once it fired or was cancelled."""
        return None if handle[2] is _DEAD else float(handle[0])
