"""When CPython's cyclic garbage collector runs: never on its own, over the whole heap when the server is quiet.

Calls, dialogs, transactions and messages are freed by reference counting the moment they are dropped (the call
path makes no reference cycles; `tests/unit/test_no_reference_cycles.py` holds it to that). The cyclic collector
is only needed for the rare cycle: an exception kept with its traceback, asyncio and aiohttp internals.

CPython's default schedule does not fit a SIP server. Every object that survives a young collection is
scanned again by each collection of the middle generation, and transactions live 32 s after their final
response (RFC 3261 Timer J/K, RFC 6026 Timer L/M): under load the middle generation holds hundreds of thousands
of live objects, and scanning them stalled the loop for 300 ms every few seconds (measured at 600 calls/s:
BENCHMARKS.md), long enough for phones to retransmit and for the overload detector to refuse calls. Collecting
only the young generation still scanned every transaction once, ~6 % of the CPU of a call. So:

- no automatic collection at all: what the call path allocates is freed by reference counting;
- `FullCollectionSchedule` says when to collect everything: when the loop has been quiet (busy below
  `quiet_busy`) and `quiet_interval` has passed since the last full collection, or at the latest after
  `max_interval`, whatever the load, so that the cyclic garbage of the rare paths (a few dozen objects a
  second under load, measured) stays bounded.

The schedule is pure (now and load in, a decision out); `install()` and `collect_all()` touch the `gc` module.
This module knows nothing of SIP.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass


@dataclass(slots=True)
class FullCollectionSchedule:
    quiet_interval: float = 300.0  # s between full collections while the server is quiet
    max_interval: float = 3600.0  # s: a full collection happens by then even under load
    quiet_busy: float = 0.3  # the loop counts as quiet below this share of a core
    last: float = 0.0

    def due(self, now: float, busy: float) -> bool:
        elapsed = now - self.last
        return elapsed >= self.max_interval or (elapsed >= self.quiet_interval and busy < self.quiet_busy)

    def collected(self, now: float) -> None:
        self.last = now


def install() -> None:
    """Collect what start-up left, move it out of the collector's sight, then stop automatic collection."""
    gc.collect()
    gc.freeze()
    gc.disable()


def collect_all() -> int:
    """A full collection (every generation but the frozen start-up objects); returns how many were found."""
    return gc.collect()
