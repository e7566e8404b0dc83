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

`TimerQueue` is a binary heap with lazy cancellation: `cancel()` only marks the entry (O(1)) and the heap is
compacted when more than half of it is dead, so 10^5 pending timers cost O(log n) per schedule and pop and
memory stays proportional to the live timers.

This module never reads a clock: deadlines and `now` are plain floats handed in by the caller. It knows
nothing of messages, transactions, sockets or users.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

__all__ = ["TimerConfig", "TimerHandle", "TimerQueue"]

K = TypeVar("K")

# A heap entry `[deadline, sequence, key]`. Lists compare element-wise in C, and the unique sequence number
# means two keys are never compared (keys need not be orderable) and equal deadlines pop in schedule order.
TimerHandle: TypeAlias = list[Any]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 base timers (seconds); every other timer is derived from these three."""

    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # maximum duration a message remains in the network

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


_DEAD: Any = object()  # the key of a cancelled or already fired entry

_COMPACT_MIN = 1024  # never bother compacting a heap smaller than this


class TimerQueue(Generic[K]):
    """Deadlines with keys: `schedule(deadline, key) -> handle`, `cancel(handle)`, `pop_due(now) -> [key]`.

    Entries due at the same deadline come out in the order they were scheduled. Cancelling an entry that
    already fired (or was cancelled) is a no-op, so callers may cancel the handles they hold blindly.
    """

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[TimerHandle] = []
        self._seq = 0
        self._live = 0

    def __len__(self) -> int:
        """The number of pending (scheduled, not cancelled, not fired) timers."""
        return self._live

    def schedule(self, deadline: float, key: K) -> TimerHandle:
        entry: TimerHandle = [deadline, self._seq, key]
        self._seq += 1
        self._live += 1
        heapq.heappush(self._heap, entry)
        return entry

    def cancel(self, handle: TimerHandle) -> None:
        if handle[2] is _DEAD:
            return
        handle[2] = _DEAD  # drop the reference to the key now; the entry itself leaves the heap later
        self._live -= 1
        heap = self._heap
        if len(heap) > _COMPACT_MIN and self._live < len(heap) >> 1:
            heap[:] = [entry for entry in heap if entry[2] is not _DEAD]
            heapq.heapify(heap)

    def pop_due(self, now: float) -> list[K]:
        """Remove and return the keys of every pending timer whose deadline is <= now, earliest first."""
        heap = self._heap
        out: list[K] = []
        pop = heapq.heappop
        while heap and heap[0][0] <= now:
            entry = pop(heap)
            key = entry[2]
            if key is _DEAD:
                continue
            entry[2] = _DEAD
            self._live -= 1
            out.append(key)
        return out

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None when nothing is pending."""
        heap = self._heap
        while heap and heap[0][2] is _DEAD:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def deadline_of(self, handle: TimerHandle) -> float | None:
        """The deadline of a pending entry, None once it fired or was cancelled."""
        return None if handle[2] is _DEAD else float(handle[0])
